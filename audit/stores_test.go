package audit_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // raw access to the store's file, as an attacker would

	"github.com/keyward/keyward/kms/kmstest"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/postgres"
	"github.com/keyward/keyward/store/sqlite"
)

// testStore is an audit store under test with raw SQL access to its
// database (bypassing keyward, as someone with database access could).
type testStore struct {
	store.AuditStore
	// raw runs statements directly on the database, in one transaction.
	raw func(t testing.TB, stmts ...string)
	// reopen opens a second store on the same database (another process).
	reopen func(t testing.TB) store.AuditStore
}

// kind is one store implementation the audit tests run on.
type kind struct {
	name string
	open func(t testing.TB) testStore
}

func kinds() []kind {
	return []kind{{"sqlite", openSQLite}, {"postgres", openPostgres}}
}

func openSQLite(t testing.TB) testStore {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keyward.db")
	open := func(t testing.TB) store.AuditStore {
		s, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	return testStore{
		AuditStore: open(t),
		reopen:     open,
		raw: func(t testing.TB, stmts ...string) {
			t.Helper()
			db, err := sql.Open("sqlite", "file://"+path+"?_busy_timeout=5000")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			tx, err := db.Begin()
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range stmts {
				if _, err := tx.Exec(s); err != nil {
					tx.Rollback()
					t.Fatalf("%s: %v", s, err)
				}
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		},
	}
}

// pgURL returns the test database URL, or skips the test.
func pgURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("KEYWARD_TEST_DATABASE_URL")
	if u == "" {
		t.Skip("KEYWARD_TEST_DATABASE_URL is not set: set it to a PostgreSQL URL without password, " +
			"e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable, to run the PostgreSQL audit tests")
	}
	return u
}

func openPostgres(t testing.TB) testStore {
	t.Helper()
	url := pgURL(t)
	b := make([]byte, 8)
	rand.Read(b)
	schema := "kwtest_audit_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	open := func(t testing.TB) store.AuditStore {
		s, err := postgres.Open(t.Context(), postgres.Config{URL: url, Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	return testStore{
		AuditStore: open(t),
		reopen:     open,
		raw: func(t testing.TB, stmts ...string) {
			t.Helper()
			ctx := t.Context()
			conn, err := pgx.Connect(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			tx, err := conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			stmts = append([]string{`SET LOCAL search_path TO ` + pgx.Identifier{schema}.Sanitize()}, stmts...)
			for _, s := range stmts {
				if _, err := tx.Exec(ctx, s); err != nil {
					tx.Rollback(ctx)
					t.Fatalf("%s: %v", s, err)
				}
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		},
	}
}

// newKEK returns an in-memory KEK.
func newKEK(t testing.TB) *kmstest.Fake {
	t.Helper()
	k, err := kmstest.NewFake()
	if err != nil {
		t.Fatal(err)
	}
	return k
}
