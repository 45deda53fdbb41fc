package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestCLIConfigPostgres drives the binary with a config file that names a
// PostgreSQL store (a fresh schema) and the local KEK of a data directory.
func TestCLIConfigPostgres(t *testing.T) {
	url := os.Getenv("KEYWARD_TEST_DATABASE_URL")
	if url == "" {
		t.Skip("KEYWARD_TEST_DATABASE_URL is not set: skipping the PostgreSQL CLI test (.ci/run sets it)")
	}
	suffix := make([]byte, 6)
	rand.Read(suffix)
	schema := "kwcli_" + hex.EncodeToString(suffix)
	t.Cleanup(func() {
		if c, err := pgx.Connect(context.Background(), url); err == nil {
			c.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			c.Close(context.Background())
		}
	})
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	kw(t, data, "", "init").ok(t) // provides the local KEK file
	conf := filepath.Join(dir, "keyward.toml")
	writeFile(t, conf, fmt.Sprintf("[store]\npostgres = %q\nschema = %q\n\n[kek]\nuri = \"local:data/kek.key\"\n", url, schema))

	kw(t, "", "", "--config", conf, "org", "create", "acme").ok(t)
	ct := strings.TrimSpace(kw(t, "", "s3cret", "--config", conf, "encrypt", "--org", "acme", "--context", "smtp.password").ok(t).stdout)
	if got := kw(t, "", ct, "--config", conf, "decrypt", "--org", "acme", "--context", "smtp.password").ok(t).stdout; got != "s3cret" {
		t.Fatalf("decrypt through postgres: got %q", got)
	}
	kw(t, "", "", "--config", conf, "rotate", "dek", "--org", "acme").ok(t)
	var keys struct {
		Keys []struct {
			Version uint32 `json:"version"`
			State   string `json:"state"`
			Usage   uint64 `json:"usage"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(kw(t, "", "", "--config", conf, "keys", "--org", "acme", "--json").ok(t).stdout), &keys); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(keys.Keys), "[{1 decrypt-only 1} {2 active 0}]"; got != want {
		t.Fatalf("keys: got %s, want %s (one encryption counted exactly under v1)", got, want)
	}
	// The embedded store of the data directory was not touched.
	if got := kw(t, data, "", "org", "list").ok(t).stdout; got != "" {
		t.Fatalf("data directory store has orgs %q; want none", got)
	}
	kw(t, "", "", "--config", conf, "--data", data, "org", "list").failed(t, "exclusive")
}

func TestCLIConfigRefusesInlineSecrets(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, body, want string }{
		{"password key", "[store]\npostgres = \"postgres://kw@127.0.0.1/kw\"\npassword = \"canary-pw\"\n[kek]\nuri = \"local:k\"\n", "password_file"},
		{"password in url", "[store]\npostgres = \"postgres://kw:canary-pw@127.0.0.1/kw\"\n[kek]\nuri = \"local:k\"\n", "password_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".toml")
			writeFile(t, conf, tt.body)
			r := kw(t, "", "", "--config", conf, "org", "list")
			r.failed(t, tt.want)
			if strings.Contains(r.stderr, "canary-pw") {
				t.Fatalf("error repeats the secret: %q", r.stderr)
			}
		})
	}
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}
