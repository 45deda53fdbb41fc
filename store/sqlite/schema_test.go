package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/keyward/keyward/store"
)

// openInternal opens a store for the white-box tests of this package.
func openInternal(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "keyward.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestSchemaEnforcesInvariants writes around the Go checks, straight into
// the tables, and expects the schema to refuse every write that would break
// an invariant, with the error mapped to the right sentinel.
func TestSchemaEnforcesInvariants(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  error
	}{
		{"SecondActive",
			`INSERT INTO key_versions VALUES ('acme', 3, 'active', 'k', 1, x'01', 0, 0, 0)`, store.ErrVersionConflict},
		{"VersionGap",
			`INSERT INTO key_versions VALUES ('acme', 4, 'active', 'k', 1, x'01', 0, 0, 0)`, store.ErrVersionConflict},
		{"VersionReuse",
			`INSERT INTO key_versions VALUES ('acme', 2, 'active', 'k', 1, x'01', 0, 0, 0)`, store.ErrVersionConflict},
		{"VersionZero",
			`UPDATE key_versions SET version = 0 WHERE version = 1`, store.ErrInvalidArgument},
		{"InsertNotActive",
			`UPDATE key_versions SET state = 'decrypt-only' WHERE version = 2;
			 INSERT INTO key_versions VALUES ('acme', 3, 'retired', 'k', 1, x'01', 0, 0, 0)`, store.ErrInvalidTransition},
		// The transition trigger fires before the CHECK on state.
		{"UnknownState",
			`UPDATE key_versions SET state = 'enabled' WHERE version = 1`, store.ErrInvalidTransition},
		{"VersionTooLarge",
			`UPDATE key_versions SET version = 4294967296 WHERE version = 1`, store.ErrInvalidArgument},
		{"UnknownOrg",
			`INSERT INTO key_versions VALUES ('nope', 1, 'active', 'k', 1, x'01', 0, 0, 0)`, store.ErrNotFound},
		{"DuplicateOrg",
			`INSERT INTO orgs VALUES ('acme', 0)`, store.ErrOrgExists},
		{"EmptyOrg",
			`INSERT INTO orgs VALUES ('', 0)`, store.ErrInvalidArgument},
		{"TextVersion",
			`UPDATE key_versions SET version = 'one' WHERE version = 1`, store.ErrInvalidArgument},
		{"ActivateOld",
			`UPDATE key_versions SET state = 'active' WHERE version = 1`, store.ErrInvalidTransition},
		{"DestroyActive",
			`UPDATE key_versions SET state = 'destroyed', wrapped = NULL WHERE version = 2`, store.ErrInvalidTransition},
		{"DestroyKeepingWrapped",
			`UPDATE key_versions SET state = 'destroyed' WHERE version = 1`, store.ErrInvalidArgument},
		{"EraseWithoutDestroy",
			`UPDATE key_versions SET wrapped = NULL WHERE version = 1`, store.ErrInvalidArgument},
		{"EmptyWrapped",
			`UPDATE key_versions SET wrapped = x'' WHERE version = 1`, store.ErrInvalidArgument},
		{"Revive",
			`UPDATE key_versions SET state = 'destroyed', wrapped = NULL WHERE version = 1;
			 UPDATE key_versions SET state = 'decrypt-only', wrapped = x'01' WHERE version = 1`, store.ErrInvalidTransition},
		// A destroyed version is final: not rewrapped either (0003).
		{"RewrapDestroyed",
			`UPDATE key_versions SET state = 'destroyed', wrapped = NULL WHERE version = 1;
			 UPDATE key_versions SET kek_id = 'other', kek_version = 2, wrapped = x'01' WHERE version = 1`, store.ErrInvalidTransition},
		{"RekeyDestroyed",
			`UPDATE key_versions SET state = 'destroyed', wrapped = NULL WHERE version = 1;
			 UPDATE key_versions SET kek_id = 'other' WHERE version = 1`, store.ErrInvalidTransition},
		{"RekeyVersionDestroyed",
			`UPDATE key_versions SET state = 'destroyed', wrapped = NULL WHERE version = 1;
			 UPDATE key_versions SET kek_version = 8 WHERE version = 1`, store.ErrInvalidTransition},
		{"RewrapEmpty",
			`UPDATE key_versions SET kek_id = 'other', wrapped = x'' WHERE version = 1`, store.ErrInvalidArgument},
		{"RewrapNoKEK",
			`UPDATE key_versions SET kek_id = '', wrapped = x'01' WHERE version = 1`, store.ErrInvalidArgument},
		{"MoveVersion",
			`UPDATE key_versions SET org_id = 'globex' WHERE version = 1`, store.ErrInvalidArgument},
		{"Delete",
			`DELETE FROM key_versions WHERE version = 1`, store.ErrInvalidArgument},
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
			if err := s.AddKey(ctx, newKey("acme", 2)); err != nil {
				t.Fatalf("AddKey: %v", err)
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

func TestPragmas(t *testing.T) {
	s := openInternal(t)
	ctx := t.Context()
	checks := []struct {
		pool  string
		query string
		want  string
	}{
		{"writer", "PRAGMA journal_mode", "wal"},
		{"writer", "PRAGMA synchronous", "2"}, // FULL
		{"writer", "PRAGMA foreign_keys", "1"},
		{"writer", "PRAGMA busy_timeout", "5000"},
		{"writer", "PRAGMA secure_delete", "1"},
		{"writer", "PRAGMA query_only", "0"},
		{"writer", "PRAGMA application_id", strconv.Itoa(applicationID)},
		{"reader", "PRAGMA journal_mode", "wal"},
		{"reader", "PRAGMA query_only", "1"},
		{"reader", "PRAGMA busy_timeout", "5000"},
	}
	for _, c := range checks {
		db := s.w
		if c.pool == "reader" {
			db = s.r
		}
		var got string
		if err := db.QueryRowContext(ctx, c.query).Scan(&got); err != nil {
			t.Errorf("%s %s: %v", c.pool, c.query, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s %s: got %q, want %q", c.pool, c.query, got, c.want)
		}
	}
	if _, err := s.r.ExecContext(ctx, `INSERT INTO orgs VALUES ('sneaky', 0)`); err == nil {
		t.Error("reader pool accepted a write")
	}
	if got := s.w.Stats().MaxOpenConnections; got != 1 {
		t.Errorf("writer pool: %d connections, want 1", got)
	}
}

func TestCanceledWhileWaitingForWriter(t *testing.T) {
	s := openInternal(t)
	// Hold the only writer connection, so the next write queues for it.
	conn, err := s.w.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.CreateOrg(ctx, store.Org{ID: "acme"}, newKey("acme", 1)) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("CreateOrg canceled while queued: got error %v, want %v", err, context.Canceled)
	}
}

func newKey(org string, version uint32) store.KeyVersion {
	return store.KeyVersion{
		Org: org, Version: version, State: store.StateActive,
		KEKID: "test:kek", KEKVersion: 1, Wrapped: []byte("wrapped"),
	}
}
