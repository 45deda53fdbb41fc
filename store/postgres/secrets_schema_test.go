package postgres

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/store"
)

// TestSecretsSchema writes around the Go checks, straight into the secrets
// table, and expects the schema to refuse every write that would break an
// invariant, with the error mapped to the right sentinel.
func TestSecretsSchema(t *testing.T) {
	t.Parallel()
	const insert = `INSERT INTO secrets (org_id, name, kind, hint, ciphertext, key_version) VALUES `
	tests := []struct {
		name  string
		query string
		want  error
	}{
		{"UnknownOrg", insert + `('nope', 'b', 'generic', '', '\x01', 1)`, store.ErrNotFound},
		{"Duplicate", insert + `('acme', 'a', 'generic', '', '\x01', 1)`, store.ErrInvalidArgument},
		{"EmptyName", insert + `('acme', '', 'generic', '', '\x01', 1)`, store.ErrInvalidArgument},
		{"EmptyKind", insert + `('acme', 'b', '', '', '\x01', 1)`, store.ErrInvalidArgument},
		{"EmptyCiphertext", insert + `('acme', 'b', 'generic', '', '', 1)`, store.ErrInvalidArgument},
		{"NullCiphertext", insert + `('acme', 'b', 'generic', '', NULL, 1)`, store.ErrInvalidArgument},
		{"KeyVersionZero", insert + `('acme', 'b', 'generic', '', '\x01', 0)`, store.ErrInvalidArgument},
		{"KeyVersionTooLarge", insert + `('acme', 'b', 'generic', '', '\x01', 4294967296)`, store.ErrInvalidArgument},
		{"RevisionZero", `INSERT INTO secrets (org_id, name, kind, ciphertext, key_version, revision)
			VALUES ('acme', 'b', 'generic', '\x01', 1, 0)`, store.ErrInvalidArgument},
		{"Move", `UPDATE secrets SET org_id = 'globex', revision = revision + 1`, store.ErrInvalidArgument},
		{"Rename", `UPDATE secrets SET name = 'b', revision = revision + 1`, store.ErrInvalidArgument},
		{"Backdate", `UPDATE secrets SET created_at = 'epoch', revision = revision + 1`, store.ErrInvalidArgument},
		{"SameRevision", `UPDATE secrets SET ciphertext = '\x02'`, store.ErrInvalidArgument},
		{"OlderRevision", `UPDATE secrets SET ciphertext = '\x02', revision = 1`, store.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := openStore(t)
			ctx := t.Context()
			for _, org := range []string{"acme", "globex"} {
				createOrg(t, s, org)
			}
			sec := store.Secret{Org: "acme", Name: "a", Kind: "generic", Ciphertext: []byte{1}, KeyVersion: 1}
			if _, err := s.PutSecret(ctx, sec, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := s.PutSecret(ctx, sec, 1); err != nil { // revision 2
				t.Fatal(err)
			}
			err := s.write(ctx, "raw", func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, tt.query)
				return err
			})
			if !errors.Is(err, tt.want) {
				t.Errorf("%s: got error %v, want %v", tt.query, err, tt.want)
			}
		})
	}
}

// TestSecretsQueryPlans: listing and counting can read indexes in their
// order, without a sort. The tables are tiny, so sequential and bitmap
// scans are disabled to ask whether an ordered index path exists at all.
func TestSecretsQueryPlans(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	tests := []struct {
		query, want string
	}{
		{`SELECT key_version, count(*) FROM secrets WHERE org_id = 'acme' GROUP BY key_version ORDER BY key_version`,
			"using secrets_key_version"},
		{`SELECT ` + secretColumns + ` FROM secrets WHERE org_id = 'acme' AND name > 'a' ORDER BY name LIMIT 10`,
			"Index Scan using secrets_pkey"},
	}
	for _, tt := range tests {
		var plan []string
		err := s.write(t.Context(), "explain", func(tx pgx.Tx) error {
			if _, err := tx.Exec(t.Context(), `SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off`); err != nil {
				return err
			}
			rows, err := tx.Query(t.Context(), "EXPLAIN "+tt.query)
			if err != nil {
				return err
			}
			plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(plan, "\n")
		if !strings.Contains(got, tt.want) || strings.Contains(got, "Sort") {
			t.Errorf("plan of %s:\n%s\nwant %q and no sort", tt.query, got, tt.want)
		}
	}
}
