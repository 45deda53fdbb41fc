package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/sqlite"
	"github.com/keyward/keyward/store/storetest"
)

// open opens a store in a fresh temporary directory, closed at cleanup.
func open(t *testing.T) store.Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "keyward.db"))
}

// openAt opens the store at path, closed at cleanup.
func openAt(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, open)
}

func TestFileMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keyward.db")
	s := openAt(t, path)
	if err := s.CreateOrg(t.Context(), store.Org{ID: "acme"}, key("acme", 1)); err != nil {
		t.Fatalf("CreateOrg: %v", err)
	}
	// The -wal and -shm files exist while the store is open.
	for _, name := range []string{"keyward.db", "keyward.db-wal", "keyward.db-shm"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("stat %s: %v", name, err)
			continue
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s mode: got %#o, want %#o", name, got, 0o600)
		}
	}
}

func TestPathWithURICharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a dir?x=1#frag%41")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "key?ward.db")
	s := openAt(t, path)
	if err := s.CreateOrg(t.Context(), store.Org{ID: "acme"}, key("acme", 1)); err != nil {
		t.Fatalf("CreateOrg: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at %s: %v", path, err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "keyward.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.CreateOrg(ctx, store.Org{ID: "acme"}, key("acme", 1)); err != nil {
		t.Fatalf("CreateOrg: %v", err)
	}
	if err := s.AddKey(ctx, key("acme", 2)); err != nil {
		t.Fatalf("AddKey: %v", err)
	}
	want, err := s.Keys(ctx, "acme")
	if err != nil {
		t.Fatalf("Keys: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	migrations := appliedMigrations(t, path)

	for i := range 2 {
		s := openAt(t, path)
		got, err := s.Keys(ctx, "acme")
		if err != nil {
			t.Fatalf("reopen %d: Keys: %v", i, err)
		}
		if len(got) != len(want) {
			t.Fatalf("reopen %d: got %d versions, want %d", i, len(got), len(want))
		}
		for j := range got {
			if got[j].State != want[j].State || string(got[j].Wrapped) != string(want[j].Wrapped) ||
				!got[j].UpdatedAt.Equal(want[j].UpdatedAt) {
				t.Errorf("reopen %d: version %d: got %+v, want %+v", i, j+1, got[j], want[j])
			}
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if again := appliedMigrations(t, path); again != migrations {
			t.Errorf("reopen %d: schema_migrations %q, want unchanged %q", i, again, migrations)
		}
	}
}

func TestFutureSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyward.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	rawExec(t, path, `INSERT INTO schema_migrations (version, name, applied_at)
		SELECT max(version) + 1, 'from_the_future.sql', 0 FROM schema_migrations`)
	s, err = sqlite.Open(t.Context(), path)
	if !errors.Is(err, sqlite.ErrSchemaTooNew) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("Open of a newer schema: got error %v, want %v", err, sqlite.ErrSchemaTooNew)
	}
}

func TestForeignDatabaseRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	rawExec(t, path, `CREATE TABLE notes (body TEXT)`)
	s, err := sqlite.Open(t.Context(), path)
	if !errors.Is(err, sqlite.ErrNotKeyward) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("Open of another application's database: got error %v, want %v", err, sqlite.ErrNotKeyward)
	}
	var n int
	db := rawDB(t, path)
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_schema`).Scan(&n); err != nil || n != 1 {
		t.Errorf("foreign database has %d schema objects (%v), want its 1 table untouched", n, err)
	}
}

func TestNotADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "garbage.db")
	if err := os.WriteFile(path, []byte("this is not a sqlite database, not even close......"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := sqlite.Open(t.Context(), path); err == nil {
		s.Close()
		t.Fatal("Open of a non-database file succeeded")
	}
}

func TestOpenInvalidPath(t *testing.T) {
	for _, path := range []string{"", t.TempDir(), filepath.Join(t.TempDir(), "missing", "keyward.db")} {
		if s, err := sqlite.Open(t.Context(), path); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", path)
		}
	}
}

func TestCloseThenUse(t *testing.T) {
	ctx := t.Context()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "keyward.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.CreateOrg(ctx, store.Org{ID: "acme"}, key("acme", 1)); err != nil {
		t.Fatalf("CreateOrg: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	calls := map[string]func() error{
		"CreateOrg": func() error { return s.CreateOrg(ctx, store.Org{ID: "b"}, key("b", 1)) },
		"Org":       func() error { _, err := s.Org(ctx, "acme"); return err },
		"ListOrgs":  func() error { _, err := s.ListOrgs(ctx, "", 1); return err },
		"ActiveKey": func() error { _, err := s.ActiveKey(ctx, "acme"); return err },
		"Key":       func() error { _, err := s.Key(ctx, "acme", 1); return err },
		"Keys":      func() error { _, err := s.Keys(ctx, "acme"); return err },
		"AddKey":    func() error { return s.AddKey(ctx, key("acme", 2)) },
		"SetKeyState": func() error {
			return s.SetKeyState(ctx, "acme", 1, store.StateRetired)
		},
		"DestroyKey": func() error { return s.DestroyKey(ctx, "acme", 1) },
		"ReserveUsage": func() error {
			_, err := s.ReserveUsage(ctx, "acme", 1, 1)
			return err
		},
		"Changes":    func() error { _, err := s.Changes(ctx, 0, 10); return err },
		"LastChange": func() error { _, err := s.LastChange(ctx); return err },
		"KeysToRewrap": func() error {
			_, err := s.KeysToRewrap(ctx, store.KEKRef{ID: "other", Version: 1}, "", 0, 10)
			return err
		},
		"RewrapKey": func() error {
			return s.RewrapKey(ctx, "acme", 1, store.KEKRef{ID: "test:kek", Version: 1},
				store.KEKRef{ID: "other", Version: 1}, []byte("rewrapped"))
		},
		"KEKCounts": func() error { _, err := s.KEKCounts(ctx); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, sqlite.ErrClosed) {
			t.Errorf("%s after Close: got error %v, want %v", name, err, sqlite.ErrClosed)
		}
	}
}

// key returns an active key version for the tests of this package.
func key(org string, version uint32) store.KeyVersion {
	return store.KeyVersion{
		Org: org, Version: version, State: store.StateActive,
		KEKID: "test:kek", KEKVersion: 1, Wrapped: []byte("wrapped-" + org),
	}
}

// rawDB opens path directly, without the store, closed at cleanup.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// rawExec runs query on path directly and closes the connection.
func rawExec(t *testing.T, path, query string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(context.Background(), query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// appliedMigrations describes the schema_migrations table of path.
func appliedMigrations(t *testing.T, path string) string {
	t.Helper()
	var s string
	err := rawDB(t, path).QueryRow(
		`SELECT group_concat(version || ':' || name || ':' || applied_at, ',') FROM schema_migrations`,
	).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
