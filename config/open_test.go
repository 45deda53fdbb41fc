package config_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/config"
	"github.com/keyward/keyward/credential"
	"github.com/keyward/keyward/datadir"
	"github.com/keyward/keyward/kms/localkms"
	"github.com/keyward/keyward/store/sqlite"
)

// env returns a getenv over vars.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// writeConfig writes a config file into dir and returns its path.
func writeConfig(t *testing.T, dir, text string) string {
	t.Helper()
	path := filepath.Join(dir, "keyward.toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// roundTrip opens an engine on d, creates org and encrypts and decrypts one
// value.
func roundTrip(t *testing.T, d *config.Deployment, org string) {
	t.Helper()
	ctx := context.Background()
	eng, err := keyward.Open(d.Store, d.KEK, &d.Options)
	if err != nil {
		t.Fatalf("keyward.Open: %v", err)
	}
	defer eng.Close()
	if _, err := eng.CreateOrg(ctx, org); err != nil {
		t.Fatalf("CreateOrg: %v", err)
	}
	ct, err := eng.EncryptText(ctx, org, []byte("sk_live_123"), "integrations.stripe_key")
	if err != nil {
		t.Fatalf("EncryptText: %v", err)
	}
	pt, err := eng.Decrypt(ctx, org, []byte(ct), "integrations.stripe_key")
	if err != nil || string(pt) != "sk_live_123" {
		t.Fatalf("Decrypt = %q, %v", pt, err)
	}
}

func TestOpenSQLite(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := localkms.Create(filepath.Join(data, "kek.key")); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(data, "keyward.db")) // what keyward init does
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	path := writeConfig(t, dir, `
[store]
sqlite = "data/keyward.db"

[kek]
uri = "local:data/kek.key"

[cache]
size = 100
ttl = "1m"

[nonce]
threshold = 1000000
block = 16

[changes]
poll = "off"
`)
	// Loaded from another working directory: paths follow the file.
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := config.Open(ctx, c, env(nil))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if d.Options != c.EngineOptions() || d.Options.UsageBlock != 16 {
		t.Errorf("Options = %+v, want %+v", d.Options, c.EngineOptions())
	}
	roundTrip(t, d, "acme")
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	// The data is still there on the next Open.
	d, err = config.Open(ctx, c, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Store.Org(ctx, "acme"); err != nil {
		t.Errorf("org after reopen: %v", err)
	}
}

func TestOpenForDataDir(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "keyward-data")
	if err := datadir.Init(ctx, dir); err != nil {
		t.Fatal(err)
	}
	d, err := config.Open(ctx, config.ForDataDir(dir), env(nil))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer d.Close()
	roundTrip(t, d, "globex")
}

func TestOpenRefusesSecretEnv(t *testing.T) {
	dir := t.TempDir()
	if err := datadir.Init(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range config.SecretEnv() {
		t.Run(name, func(t *testing.T) {
			d, err := config.Open(context.Background(), config.ForDataDir(dir), env(map[string]string{name: canary}))
			if err == nil {
				d.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, credential.ErrSecretInEnv) {
				t.Fatalf("err = %v, want ErrSecretInEnv", err)
			}
			if !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "password_file") {
				t.Errorf("error %q does not name %s and password_file", err, name)
			}
			if strings.Contains(err.Error(), canary) {
				t.Errorf("error contains the secret: %v", err)
			}
		})
	}
}

func TestOpenMissingSQLite(t *testing.T) {
	dir := t.TempDir()
	if _, err := localkms.Create(filepath.Join(dir, "kek.key")); err != nil {
		t.Fatal(err)
	}
	c := config.ForDataDir(dir) // kek.key exists, keyward.db does not
	_, err := config.Open(context.Background(), c, env(nil))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "keyward init") {
		t.Fatalf("err = %v, want fs.ErrNotExist naming keyward init", err)
	}
	if _, err := os.Stat(c.Store.SQLite); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open created %s: %v", c.Store.SQLite, err)
	}
}

func TestOpenKEKErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := datadir.Init(ctx, dir); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, datadir.DBFile)
	// A hand-built config without the secret its provider needs is refused
	// before anything is opened.
	for _, uri := range []string{
		"pkcs11:token=keyward;object=kek",
		"awskms:" + awsARN,
		"gcpkms:projects/p/locations/global/keyRings/r/cryptoKeys/k",
		"transit:https://vault:8200/transit/kek",
	} {
		k := config.KEK{URI: uri}
		if strings.HasPrefix(uri, "pkcs11:") {
			k.Module = "/usr/lib/p11.so"
		}
		c := &config.Config{Store: config.Store{SQLite: db}, KEK: k}
		_, err := config.Open(ctx, c, env(nil))
		if !errors.Is(err, config.ErrInvalid) || !errors.Is(err, credential.ErrNoSource) {
			t.Errorf("%s: err = %v, want ErrInvalid and credential.ErrNoSource", uri, err)
		}
	}

	c := &config.Config{Store: config.Store{SQLite: db}, KEK: config.KEK{URI: "local:" + filepath.Join(dir, "missing.key")}}
	if _, err := config.Open(ctx, c, env(nil)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing key file: err = %v, want fs.ErrNotExist", err)
	}
	// An insecure key file is refused by localkms.
	if err := os.Chmod(filepath.Join(dir, datadir.KEKFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Open(ctx, config.ForDataDir(dir), env(nil)); !errors.Is(err, localkms.ErrInsecureFile) {
		t.Errorf("0644 key file: err = %v, want localkms.ErrInsecureFile", err)
	}
}

func TestOpenInvalid(t *testing.T) {
	ctx := context.Background()
	if _, err := config.Open(ctx, nil, nil); !errors.Is(err, config.ErrInvalid) {
		t.Errorf("nil config: err = %v, want ErrInvalid", err)
	}
	c := &config.Config{Store: config.Store{Postgres: "postgres://u:" + canary + "@db/k"}, KEK: config.KEK{URI: "local:k"}}
	_, err := config.Open(ctx, c, env(nil))
	if !errors.Is(err, config.ErrInlineSecret) || strings.Contains(err.Error(), canary) {
		t.Errorf("hand-built config with a URL password: err = %v, want ErrInlineSecret without the secret", err)
	}
}

// The password is loaded, and refused, before any connection is tried.
func TestOpenPostgresPasswordRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := localkms.Create(filepath.Join(dir, "kek.key")); err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(dir, "db-password")
	if err := os.WriteFile(pw, []byte(canary+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(pw, 0o644); err != nil {
		t.Fatal(err)
	}
	path := writeConfig(t, dir, `
[store]
postgres = "postgres://keyward@127.0.0.1:1/keyward?connect_timeout=1"
password_file = "db-password"
[kek]
uri = "local:kek.key"
`)
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = config.Open(ctx, c, env(nil))
	if !errors.Is(err, credential.ErrInsecureFile) || !strings.Contains(err.Error(), "chmod 600 "+pw) {
		t.Fatalf("err = %v, want ErrInsecureFile with chmod 600", err)
	}
	if strings.Contains(err.Error(), canary) {
		t.Errorf("error contains the secret: %v", err)
	}

	c.Store.Password = credential.Source{Credential: "db-password"}
	_, err = config.Open(ctx, c, env(nil))
	if !errors.Is(err, credential.ErrInvalidSource) || !strings.Contains(err.Error(), "LoadCredential=") {
		t.Fatalf("credential without $CREDENTIALS_DIRECTORY: err = %v", err)
	}
}
