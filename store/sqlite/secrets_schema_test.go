package sqlite

import (
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/keyward/keyward/store"
)

// TestSecretsSchema writes around the Go checks, straight into the secrets
// table, and expects the schema to refuse every write that would break an
// invariant, with the error mapped to the right sentinel.
func TestSecretsSchema(t *testing.T) {
	const insert = `INSERT INTO secrets (org_id, name, kind, hint, ciphertext, key_version, revision, created_at, updated_at) VALUES `
	tests := []struct {
		name  string
		query string
		want  error
	}{
		{"UnknownOrg", insert + `('nope', 'b', 'generic', '', x'01', 1, 1, 0, 0)`, store.ErrNotFound},
		{"Duplicate", insert + `('acme', 'a', 'generic', '', x'01', 1, 1, 0, 0)`, store.ErrInvalidArgument},
		{"EmptyName", insert + `('acme', '', 'generic', '', x'01', 1, 1, 0, 0)`, store.ErrInvalidArgument},
		{"EmptyKind", insert + `('acme', 'b', '', '', x'01', 1, 1, 0, 0)`, store.ErrInvalidArgument},
		{"EmptyCiphertext", insert + `('acme', 'b', 'generic', '', x'', 1, 1, 0, 0)`, store.ErrInvalidArgument},
		{"NullCiphertext", insert + `('acme', 'b', 'generic', '', NULL, 1, 1, 0, 0)`, store.ErrInvalidArgument},
		{"TextCiphertext", insert + `('acme', 'b', 'generic', '', 'plain', 1, 1, 0, 0)`, store.ErrInvalidArgument},
		{"KeyVersionZero", insert + `('acme', 'b', 'generic', '', x'01', 0, 1, 0, 0)`, store.ErrInvalidArgument},
		{"KeyVersionTooLarge", insert + `('acme', 'b', 'generic', '', x'01', 4294967296, 1, 0, 0)`, store.ErrInvalidArgument},
		{"RevisionZero", insert + `('acme', 'b', 'generic', '', x'01', 1, 0, 0, 0)`, store.ErrInvalidArgument},
		{"Move", `UPDATE secrets SET org_id = 'globex', revision = revision + 1`, store.ErrInvalidArgument},
		{"Rename", `UPDATE secrets SET name = 'b', revision = revision + 1`, store.ErrInvalidArgument},
		{"Backdate", `UPDATE secrets SET created_at = 1, revision = revision + 1`, store.ErrInvalidArgument},
		{"SameRevision", `UPDATE secrets SET ciphertext = x'02'`, store.ErrInvalidArgument},
		{"OlderRevision", `UPDATE secrets SET ciphertext = x'02', revision = 1`, store.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openInternal(t)
			ctx := t.Context()
			for _, org := range []string{"acme", "globex"} {
				if err := s.CreateOrg(ctx, store.Org{ID: org}, newKey(org, 1)); err != nil {
					t.Fatalf("CreateOrg: %v", err)
				}
			}
			sec := store.Secret{Org: "acme", Name: "a", Kind: "generic", Ciphertext: []byte{1}, KeyVersion: 1}
			if _, err := s.PutSecret(ctx, sec, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := s.PutSecret(ctx, sec, 1); err != nil { // revision 2
				t.Fatal(err)
			}
			err := s.write(ctx, "raw", func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, tt.query)
				return err
			})
			if !errors.Is(err, tt.want) {
				t.Errorf("%s: got error %v, want %v", tt.query, err, tt.want)
			}
		})
	}
}

// TestSecretsQueryPlans: listing and counting read indexes, not the table
// in full.
func TestSecretsQueryPlans(t *testing.T) {
	s := openInternal(t)
	tests := []struct {
		query, want string
	}{
		{`SELECT key_version, count(*) FROM secrets WHERE org_id = 'acme' GROUP BY key_version ORDER BY key_version`,
			"USING COVERING INDEX secrets_key_version (org_id=?)"},
		{`SELECT ` + secretColumns + ` FROM secrets WHERE org_id = 'acme' AND name > 'a' ORDER BY name LIMIT 10`,
			"USING INDEX sqlite_autoindex_secrets_1 (org_id=? AND name>?)"},
		{`SELECT ` + secretColumns + ` FROM secrets WHERE org_id = 'acme' AND name = 'a'`,
			"USING INDEX sqlite_autoindex_secrets_1 (org_id=? AND name=?)"},
	}
	for _, tt := range tests {
		rows, err := s.r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+tt.query)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		got := strings.Join(plan, "; ")
		if !strings.Contains(got, tt.want) || strings.Contains(got, "TEMP B-TREE") {
			t.Errorf("plan of %s:\n got %s\nwant %s, without a temporary sort", tt.query, got, tt.want)
		}
	}
}
