package config_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/config"
	"github.com/keyward/keyward/credential"
	"github.com/keyward/keyward/kms/localkms"
)

// testDatabaseEnv names the PostgreSQL server the postgres tests use, e.g.
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable. Without it they
// are skipped.
const testDatabaseEnv = "KEYWARD_TEST_DATABASE_URL"

// pgSchema returns a fresh schema name and drops the schema when the test
// ends, connecting with pgx directly.
func pgSchema(t *testing.T, url string) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "kwconfig_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("cleanup: connect: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("cleanup: drop schema %s: %v", schema, err)
		}
	})
	return schema
}

func TestOpenPostgres(t *testing.T) {
	url := os.Getenv(testDatabaseEnv)
	if url == "" {
		t.Skipf("set %s (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to test the postgres store", testDatabaseEnv)
	}
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := localkms.Create(filepath.Join(dir, "kek.key")); err != nil {
		t.Fatal(err)
	}
	// The test server trusts local connections, so any password works; what
	// is tested is that each source is read and handed over.
	if err := os.WriteFile(filepath.Join(dir, "db-password"), []byte(canary+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		source func(t *testing.T) credential.Source
		getenv func(string) string
	}{
		{"passwordless", func(*testing.T) credential.Source { return credential.Source{} }, env(nil)},
		{"password_file", func(*testing.T) credential.Source {
			return credential.Source{File: filepath.Join(dir, "db-password")}
		}, env(nil)},
		{"password_credential", func(*testing.T) credential.Source {
			return credential.Source{Credential: "db-password"}
		}, env(map[string]string{credential.CredentialsDirEnv: dir})},
		{"password_fd", func(t *testing.T) credential.Source {
			if runtime.GOOS == "windows" {
				t.Skip("no descriptors on windows")
			}
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			if _, err := w.WriteString(canary + "\n"); err != nil {
				t.Fatal(err)
			}
			w.Close()
			return credential.Source{FD: int(r.Fd())}
		}, env(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			schema := pgSchema(t, url)
			text := "[store]\npostgres = " + strconv.Quote(url) + "\nschema = " + strconv.Quote(schema) + "\nmax_conns = 4\n"
			src := tt.source(t)
			switch {
			case src.File != "":
				text += "password_file = \"db-password\"\n"
			case src.Credential != "":
				text += "password_credential = " + strconv.Quote(src.Credential) + "\n"
			case src.FD != 0:
				text += "password_fd = " + strconv.Itoa(src.FD) + "\n"
			}
			text += "[kek]\nuri = \"local:kek.key\"\n"
			c, err := config.Parse([]byte(text), dir)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if c.Store.Password != src {
				t.Fatalf("password source = %v, want %v", c.Store.Password, src)
			}
			d, err := config.Open(ctx, c, tt.getenv)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer d.Close()
			roundTrip(t, d, "acme")
		})
	}
}
