package postgres

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/store"
)

func TestEmbeddedMigrations(t *testing.T) {
	migs, err := loadMigrations(migrationFiles, "migrations")
	if err != nil {
		t.Fatalf("embedded migrations: %v", err)
	}
	for i, m := range migs {
		if m.Version != int64(i+1) || strings.TrimSpace(m.SQL) == "" {
			t.Errorf("migration %d: %+v", i, m.Name)
		}
	}
}

// appliedMigrations describes the schema_migrations table of s's schema.
func appliedMigrations(t *testing.T, s *Store) string {
	t.Helper()
	var desc string
	if err := s.pool.QueryRow(t.Context(), `SELECT string_agg(version || ':' || name || ':' || applied_at, ',' ORDER BY version)
		FROM schema_migrations`).Scan(&desc); err != nil {
		t.Fatal(err)
	}
	return desc
}

// TestConcurrentOpen starts many processes' worth of stores on one new
// schema at once: the advisory lock lets exactly one of them migrate.
func TestConcurrentOpen(t *testing.T) {
	t.Parallel()
	schema := newSchema(t)
	const n = 8
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = Open(t.Context(), config(t, schema)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
			continue
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	if t.Failed() {
		return
	}
	migs, err := loadMigrations(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if got := queryInt(t, stores[0], `SELECT count(*) FROM schema_migrations`); got != int64(len(migs)) {
		t.Errorf("schema_migrations has %d rows, want %d", got, len(migs))
	}
	createOrg(t, stores[0], "acme")
	if _, err := stores[n-1].Org(t.Context(), "acme"); err != nil {
		t.Errorf("Org from another store on the schema: %v", err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	schema := newSchema(t)
	s, err := Open(ctx, config(t, schema))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	createOrg(t, s, "acme")
	if err := s.AddKey(ctx, key("acme", 2)); err != nil {
		t.Fatalf("AddKey: %v", err)
	}
	want, err := s.Keys(ctx, "acme")
	if err != nil {
		t.Fatalf("Keys: %v", err)
	}
	migrations := appliedMigrations(t, s)
	s.Close()
	for i := range 2 {
		s, err := Open(ctx, config(t, schema))
		if err != nil {
			t.Fatalf("reopen %d: %v", i, err)
		}
		got, err := s.Keys(ctx, "acme")
		if err != nil || len(got) != len(want) {
			t.Fatalf("reopen %d: Keys: got %v, %v; want %d versions", i, got, err, len(want))
		}
		for j := range got {
			if got[j].State != want[j].State || string(got[j].Wrapped) != string(want[j].Wrapped) ||
				!got[j].UpdatedAt.Equal(want[j].UpdatedAt) {
				t.Errorf("reopen %d: version %d: got %+v, want %+v", i, j+1, got[j], want[j])
			}
		}
		if again := appliedMigrations(t, s); again != migrations {
			t.Errorf("reopen %d: schema_migrations %q, want unchanged %q", i, again, migrations)
		}
		s.Close()
	}
}

func TestFutureSchemaRefused(t *testing.T) {
	t.Parallel()
	schema := newSchema(t)
	s := openSchema(t, schema)
	exec(t, s, `INSERT INTO schema_migrations (version, name)
		SELECT max(version) + 1, 'from_the_future.sql' FROM schema_migrations`)
	s2, err := Open(t.Context(), config(t, schema))
	if err == nil {
		s2.Close()
		t.Fatal("Open of a newer schema succeeded")
	}
	if !errors.Is(err, ErrSchemaTooNew) || errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Open of a newer schema: got error %v, want %v", err, ErrSchemaTooNew)
	}
}

// TestForeignMigrationTable: a schema whose schema_migrations belongs to
// another tool (Rails keeps a text version) is refused, and left alone.
func TestForeignMigrationTable(t *testing.T) {
	t.Parallel()
	schema := newSchema(t)
	conn := connect(t)
	q := pgx.Identifier{schema}.Sanitize()
	for _, stmt := range []string{
		`CREATE SCHEMA ` + q,
		`CREATE TABLE ` + q + `.schema_migrations (version varchar PRIMARY KEY)`,
		`INSERT INTO ` + q + `.schema_migrations VALUES ('20240101000000')`,
	} {
		if _, err := conn.Exec(t.Context(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	s, err := Open(t.Context(), config(t, schema))
	if err == nil {
		s.Close()
		t.Fatal("Open of a schema with another tool's schema_migrations succeeded")
	}
	if !strings.Contains(err.Error(), "another tool") {
		t.Errorf("Open: got error %v, want one naming another tool's table", err)
	}
	var tables int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_tables WHERE schemaname = $1`, schema).Scan(&tables); err != nil || tables != 1 {
		t.Errorf("schema has %d tables (%v), want its 1 table untouched", tables, err)
	}
}
