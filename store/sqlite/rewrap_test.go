package sqlite

import (
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

// TestMigrateKEKRewrap: a database written by a keyward that knew migrations
// up to 0002 is upgraded by 0003: its versions can be listed, counted and
// rewrapped at once, and its destroyed versions are guarded like new ones.
func TestMigrateKEKRewrap(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "keyward.db")
	migs, err := loadMigrations(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if len(migs) < 3 {
		t.Fatalf("%d migrations, want 0003 among them", len(migs))
	}
	abs, err := createFile(path)
	if err != nil {
		t.Fatal(err)
	}
	old, err := openPool(ctx, dsn(abs, writerParams), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, old, migs[:2], time.Now()); err != nil {
		t.Fatalf("migrate to 0002: %v", err)
	}
	if _, err := old.ExecContext(ctx, `
		INSERT INTO orgs VALUES ('acme', 1000);
		INSERT INTO key_versions (org_id, version, state, kek_id, kek_version, wrapped, created_at, updated_at)
			VALUES ('acme', 1, 'active', 'k', 1, x'01', 1000, 1000);
		UPDATE key_versions SET state = 'decrypt-only', updated_at = 2000 WHERE version = 1;
		INSERT INTO key_versions (org_id, version, state, kek_id, kek_version, wrapped, created_at, updated_at)
			VALUES ('acme', 2, 'active', 'k', 1, x'02', 2000, 2000);
		UPDATE key_versions SET state = 'decrypt-only', updated_at = 3000 WHERE version = 2;
		INSERT INTO key_versions (org_id, version, state, kek_id, kek_version, wrapped, created_at, updated_at)
			VALUES ('acme', 3, 'active', 'k', 2, x'03', 3000, 3000);
		UPDATE key_versions SET state = 'destroyed', wrapped = NULL, updated_at = 4000 WHERE version = 1`,
	); err != nil {
		t.Fatalf("write a 0002 database: %v", err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open of a 0002 database: %v", err)
	}
	defer s.Close()
	last, err := s.LastChange(ctx)
	if err != nil {
		t.Fatal(err)
	}
	counts, err := s.KEKCounts(ctx)
	want := []store.KEKCount{{KEK: store.KEKRef{ID: "k", Version: 1}, Count: 1}, {KEK: store.KEKRef{ID: "k", Version: 2}, Count: 1}}
	if err != nil || !slices.Equal(counts, want) {
		t.Errorf("KEKCounts after upgrade: %+v, %v; want %+v", counts, err, want)
	}
	target := store.KEKRef{ID: "k", Version: 2}
	todo, err := s.KeysToRewrap(ctx, target, "", 0, 10)
	if err != nil || len(todo) != 1 || todo[0].Version != 2 {
		t.Fatalf("KeysToRewrap after upgrade: %+v, %v; want acme v2", todo, err)
	}
	if err := s.RewrapKey(ctx, "acme", 2, store.KEKRef{ID: "k", Version: 1}, target, []byte{0x22}); err != nil {
		t.Fatalf("RewrapKey after upgrade: %v", err)
	}
	if err := s.RewrapKey(ctx, "acme", 1, store.KEKRef{ID: "k", Version: 1}, target, []byte{0x11}); !errors.Is(err, store.ErrStale) {
		t.Errorf("RewrapKey of the destroyed v1: got error %v, want %v", err, store.ErrStale)
	}
	err = s.write(ctx, "raw", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE key_versions SET kek_version = 2 WHERE org_id = 'acme' AND version = 1`)
		return err
	})
	if !errors.Is(err, store.ErrInvalidTransition) {
		t.Errorf("raw rewrap of the destroyed v1: got error %v, want %v", err, store.ErrInvalidTransition)
	}
	if todo, err := s.KeysToRewrap(ctx, target, "", 0, 10); err != nil || len(todo) != 0 {
		t.Errorf("KeysToRewrap after the rewrap: %+v, %v; want none", todo, err)
	}
	if now, err := s.LastChange(ctx); err != nil || now != last {
		t.Errorf("LastChange after the rewrap: %d, %v; want %d (no change)", now, err, last)
	}
}
