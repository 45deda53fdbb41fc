package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/storetest"
)

// envURL names the environment variable with the URL of the PostgreSQL
// server the tests use. Each test works in a schema of its own, so tests
// run in parallel and next to other users of the database.
const envURL = "KEYWARD_TEST_DATABASE_URL"

// testURL returns the test database URL, or skips the test.
func testURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(envURL)
	if u == "" {
		t.Skipf("%s is not set: set it to a PostgreSQL URL without password, e.g. "+
			"postgres://postgres@127.0.0.1:5432/test?sslmode=disable, to run the PostgreSQL store tests", envURL)
	}
	return u
}

// cleanupTimeout bounds each cleanup step: t.Context() is already done
// when cleanups run.
const cleanupTimeout = 30 * time.Second

// connect opens a raw connection to the test database for setup and
// checks, closed at cleanup.
func connect(t testing.TB) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), testURL(t))
	if err != nil {
		t.Fatalf("connect to %s: %v", envURL, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		conn.Close(ctx)
	})
	return conn
}

// newSchema returns a fresh schema name, dropped with everything in it at
// cleanup (after the stores opened on it later are closed).
func newSchema(t testing.TB) string {
	t.Helper()
	return newSchemaNamed(t, "")
}

// newSchemaNamed is newSchema with suffix appended to the random name.
func newSchemaNamed(t testing.TB, suffix string) string {
	t.Helper()
	url := testURL(t)
	b := make([]byte, 8)
	rand.Read(b)
	schema := "kwtest_" + hex.EncodeToString(b) + suffix
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
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
	return schema
}

// config returns the Config of a store on schema in the test database.
func config(t testing.TB, schema string) Config {
	t.Helper()
	return Config{URL: testURL(t), Schema: schema}
}

// openConfig opens a store, closed at cleanup.
func openConfig(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Open(%v): %v", cfg, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// openSchema opens a store on schema, closed at cleanup.
func openSchema(t testing.TB, schema string) *Store {
	t.Helper()
	return openConfig(t, config(t, schema))
}

// openStore opens a store on a fresh schema of its own.
func openStore(t testing.TB) *Store {
	t.Helper()
	return openSchema(t, newSchema(t))
}

// exec runs query on the store's pool (its search_path names its schema).
func exec(t testing.TB, s *Store, query string, args ...any) {
	t.Helper()
	if _, err := s.pool.Exec(t.Context(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// queryInt runs a query returning one integer on the store's pool.
func queryInt(t testing.TB, s *Store, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := s.pool.QueryRow(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// key returns an active key version for the tests of this package.
func key(org string, version uint32) store.KeyVersion {
	return store.KeyVersion{
		Org: org, Version: version, State: store.StateActive,
		KEKID: "test:kek", KEKVersion: 1, Wrapped: []byte("wrapped-" + org),
	}
}

// org returns the organization with id.
func org(id string) store.Org { return store.Org{ID: id} }

// createOrg creates org with its version 1 or fails the test.
func createOrg(t testing.TB, s *Store, org string) {
	t.Helper()
	if err := s.CreateOrg(t.Context(), store.Org{ID: org}, key(org, 1)); err != nil {
		t.Fatalf("CreateOrg(%q): %v", org, err)
	}
}

func TestConformance(t *testing.T) {
	testURL(t)
	storetest.Run(t, func(t *testing.T) store.Store { return openStore(t) })
}
