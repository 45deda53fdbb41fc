package secretstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/kms/localkms"
	"github.com/keyward/keyward/secretstore"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/postgres"
	"github.com/keyward/keyward/store/sqlite"
)

// fixture is a secret store on a real engine and a real store, with an
// organization "acme" and "globex".
type fixture struct {
	ss  *secretstore.Store
	eng *keyward.Engine
	// raw is the store underneath, for tests that reach around the secret
	// store (moving ciphertexts between rows).
	raw store.SecretStore
	// dir holds the SQLite files; "" on PostgreSQL.
	dir string
}

// backend opens a fresh store and registers its cleanup.
type backend struct {
	name string
	open func(t testing.TB) (store.Store, string)
}

func backends() []backend {
	return []backend{
		{"SQLite", openSQLite},
		{"PostgreSQL", openPostgres},
	}
}

func openSQLite(t testing.TB) (store.Store, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, dir
}

func openPostgres(t testing.TB) (store.Store, string) {
	t.Helper()
	url := os.Getenv("KEYWARD_TEST_DATABASE_URL")
	if url == "" {
		t.Skip("KEYWARD_TEST_DATABASE_URL is not set: set it to a PostgreSQL URL without password, e.g. " +
			"postgres://postgres@127.0.0.1:5432/test?sslmode=disable, to run the PostgreSQL secret store tests")
	}
	b := make([]byte, 8)
	rand.Read(b)
	schema := "kwtest_secrets_" + hex.EncodeToString(b)
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
	st, err := postgres.Open(context.Background(), postgres.Config{URL: url, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, ""
}

// newFixture opens a fixture on b.
func newFixture(t testing.TB, b backend) *fixture {
	t.Helper()
	st, dir := b.open(t)
	kek, err := localkms.Create(filepath.Join(t.TempDir(), "kek.key"))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := keyward.Open(st, kek, &keyward.Options{ChangePoll: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	for _, org := range []string{"acme", "globex"} {
		if _, err := eng.CreateOrg(context.Background(), org); err != nil {
			t.Fatal(err)
		}
	}
	raw := st.(store.SecretStore)
	ss, err := secretstore.New(eng, raw)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{ss: ss, eng: eng, raw: raw, dir: dir}
}

// each runs fn once per backend, as subtests.
func each(t *testing.T, fn func(t *testing.T, f *fixture)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) { fn(t, newFixture(t, b)) })
	}
}
