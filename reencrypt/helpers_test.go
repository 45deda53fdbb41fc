package reencrypt_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/format"
	"github.com/keyward/keyward/kms/localkms"
	"github.com/keyward/keyward/store/sqlite"
)

const envURL = "KEYWARD_TEST_DATABASE_URL"

// appPool returns a pool on a fresh schema of the test database (the
// application's database), dropped at cleanup.
func appPool(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	url := os.Getenv(envURL)
	if url == "" {
		t.Skipf("%s is not set: set it to a PostgreSQL URL without password, e.g. "+
			"postgres://postgres@127.0.0.1:5432/test?sslmode=disable, to run the migration tests", envURL)
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "kwre_" + hex.EncodeToString(b)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(t.Context(), `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("drop schema: %v", err)
		}
		pool.Close()
	})
	return pool, schema
}

// engine opens an engine on a fresh SQLite store with a local KEK.
func engine(t testing.TB) (*keyward.Engine, *sqlite.Store) {
	t.Helper()
	dir := t.TempDir()
	kek, err := localkms.Create(filepath.Join(dir, "kek.key"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(t.Context(), filepath.Join(dir, "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := keyward.Open(st, kek, &keyward.Options{ChangePoll: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(); st.Close() })
	return eng, st
}

// version returns the key version of a keyward ciphertext, or 0.
func version(v []byte) uint32 {
	f, err := format.Parse(v)
	if err != nil {
		return 0
	}
	return f.KeyVersion
}

func plaintext(i int) string { return fmt.Sprintf("secret-value-%d", i) }

// unhex decodes PostgreSQL's hex text form of bytea, \x…
func unhex(t testing.TB, v []byte) []byte {
	t.Helper()
	b, err := hex.DecodeString(string(v[2:]))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
