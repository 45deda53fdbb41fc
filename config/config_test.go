package config_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/config"
	"github.com/keyward/keyward/credential"
	"github.com/keyward/keyward/kms"
)

// canary is a secret that must never appear in an error.
const canary = "canary-s3cr3t-7f1d"

// kekLine completes a store-only snippet into a valid config.
const kekLine = "\n[kek]\nuri = \"local:kek.key\"\n"

func TestLoadFixtures(t *testing.T) {
	dir, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}

	c, err := config.Load("testdata/sqlite.toml")
	if err != nil {
		t.Fatalf("sqlite.toml: %v", err)
	}
	want := config.Config{
		Path:  filepath.Join(dir, "sqlite.toml"),
		Store: config.Store{SQLite: filepath.Join(dir, "keyward-data", "keyward.db")},
		KEK:   config.KEK{URI: "local:" + filepath.Join(dir, "keyward-data", "kek.key")},
	}
	if *c != want {
		t.Errorf("sqlite.toml =\n%+v\nwant\n%+v", *c, want)
	}

	c, err = config.Load("testdata/postgres.toml")
	if err != nil {
		t.Fatalf("postgres.toml: %v", err)
	}
	want = config.Config{
		Path: filepath.Join(dir, "postgres.toml"),
		Store: config.Store{
			Postgres: "postgres://keyward@db.internal:5432/keyward?sslmode=verify-full",
			Password: credential.Source{File: "/etc/keyward/db-password"},
			MaxConns: 20,
			Schema:   "keyward",
		},
		KEK:     config.KEK{URI: "local:/var/lib/keyward/kek.key"},
		Cache:   config.Cache{Size: 10000, TTL: 5 * time.Minute},
		Nonce:   config.Nonce{Threshold: 1 << 30, Block: 4096},
		Changes: config.Changes{Poll: time.Second},
	}
	if *c != want {
		t.Errorf("postgres.toml =\n%+v\nwant\n%+v", *c, want)
	}

	c, err = config.Load("testdata/systemd.toml")
	if err != nil {
		t.Fatalf("systemd.toml: %v", err)
	}
	if c.Store.Password != (credential.Source{Credential: "db-password"}) || c.Cache.TTL >= 0 || c.Changes.Poll >= 0 {
		t.Errorf("systemd.toml = %+v; want credential db-password, ttl and poll off (negative)", *c)
	}

	for _, name := range []string{"inline-password.toml", "url-password.toml", "inline-aws-secret.toml"} {
		_, err := config.Load(filepath.Join("testdata", name))
		if !errors.Is(err, config.ErrInlineSecret) || !errors.Is(err, config.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInlineSecret and ErrInvalid", name, err)
			continue
		}
		if !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
		if strings.Contains(err.Error(), canary) {
			t.Errorf("%s: error contains the secret: %v", name, err)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := config.Load(filepath.Join(t.TempDir(), "none.toml"))
	if !errors.Is(err, config.ErrInvalid) {
		t.Errorf("err = %v, want ErrInvalid", err)
	}
	_, err = config.Load(t.TempDir())
	if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: err = %v, want ErrInvalid, not a regular file", err)
	}
}

func TestParseInvalid(t *testing.T) {
	const pg = "[store]\npostgres = \"postgres://keyward@db/keyward\"\n"
	const lite = "[store]\nsqlite = \"k.db\"\n"
	tests := []struct {
		name    string
		in      string
		wantMsg string
	}{
		{"empty file", "", "no store"},
		{"missing store", kekLine, "no store: set sqlite"},
		{"missing kek", lite, "no kek: set uri in [kek]"},
		{"two stores", "[store]\nsqlite = \"k.db\"\npostgres = \"postgres://db/k\"\n" + kekLine, "both set"},
		{"empty sqlite", "[store]\nsqlite = \"\"\n" + kekLine, "store.sqlite is empty"},
		{"empty postgres", "[store]\npostgres = \"\"\n" + kekLine, "store.postgres is empty"},
		{"unknown table", lite + kekLine + "[http]\naddr = \":8080\"\n", "unknown key http"},
		{"unknown top-level key", "debug = true\n" + lite + kekLine, "unknown key debug"},
		{"unknown key lists the table's keys", lite + "sqlite_path = \"x\"\n" + kekLine, "unknown key store.sqlite_path (keys in [store]: sqlite, postgres, password_file"},
		{"keys are case-sensitive", "[store]\nSQLite = \"k.db\"\n" + kekLine, "unknown key store.SQLite"},
		{"tables are case-sensitive", "[Store]\nsqlite = \"k.db\"\n" + kekLine, "unknown key Store"},
		{"nested table", lite + kekLine + "[cache.extra]\nx = 1\n", "unknown key cache.extra"},
		{"array of tables", "[[store]]\nsqlite = \"k.db\"\n" + kekLine, "store must be a table ([store]), not an array of tables"},
		{"table as value", "store = \"k.db\"\n" + kekLine, "store must be a table ([store]), not a string"},
		{"syntax error", "[store\nsqlite = \"k.db\"\n", "line 2: expected '.' or ']' to end table name"},
		{"syntax error quotes nothing", lite + "[kek]\nuri = local:kek.key\n", "line 4: expected value but found … instead"},
		{"wrong type", lite + kekLine + "[cache]\nsize = \"big\"\n", "cache.size must be an integer, not a string"},
		{"float", lite + kekLine + "[cache]\nsize = 1.5\n", "cache.size must be an integer, not a float"},
		{"duration as integer", lite + kekLine + "[cache]\nttl = 300\n", "cache.ttl must be a string such as \"5m\" or \"off\", not an integer"},
		{"path as array", "[store]\nsqlite = [\"k.db\"]\n" + kekLine, "store.sqlite must be a string, not an array"},
		{"bad duration", lite + kekLine + "[cache]\nttl = \"5x\"\n", "cache.ttl is not a positive duration"},
		{"zero duration", lite + kekLine + "[cache]\nttl = \"0s\"\n", "cache.ttl is not a positive duration"},
		{"negative duration", lite + kekLine + "[changes]\npoll = \"-1s\"\n", "changes.poll is not a positive duration"},
		{"short ttl", lite + kekLine + "[cache]\nttl = \"10ms\"\n", "at least 1s"},
		{"short poll", lite + kekLine + "[changes]\npoll = \"1ms\"\n", "at least 10ms"},
		{"negative cache size", lite + kekLine + "[cache]\nsize = -1\n", "cache.size is -1"},
		{"zero cache size", lite + kekLine + "[cache]\nsize = 0\n", "cache.size is 0"},
		{"negative threshold", lite + kekLine + "[nonce]\nthreshold = -5\n", "nonce.threshold is -5"},
		{"threshold above 2^32", lite + kekLine + "[nonce]\nthreshold = 4294967297\n", "between 1 and 2^32"},
		{"zero block", lite + kekLine + "[nonce]\nblock = 0\n", "nonce.block is 0"},
		{"block above threshold", lite + kekLine + "[nonce]\nthreshold = 1000\nblock = 4096\n", "larger than nonce.threshold"},
		{"password with sqlite", lite + "password_file = \"/etc/pw\"\n" + kekLine, "apply to postgres only"},
		{"max_conns with sqlite", lite + "max_conns = 5\n" + kekLine, "store.max_conns applies to postgres only"},
		{"schema with sqlite", lite + "schema = \"kw\"\n" + kekLine, "store.schema applies to postgres only"},
		{"two password sources", pg + "password_file = \"/etc/pw\"\npassword_fd = 3\n" + kekLine, "at most one of"},
		{"password_fd stdin", pg + "password_fd = 0\n" + kekLine, "store.password_fd is 0"},
		{"password_fd stderr", pg + "password_fd = 2\n" + kekLine, "store.password_fd is 2"},
		{"empty password_file", pg + "password_file = \"\"\n" + kekLine, "store.password_file is empty"},
		{"credential with a slash", pg + "password_credential = \"../pw\"\n" + kekLine, "not a plain file name"},
		{"max_conns zero", pg + "max_conns = 0\n" + kekLine, "between 1 and 1000"},
		{"max_conns too large", pg + "max_conns = 5000\n" + kekLine, "between 1 and 1000"},
		{"schema with capitals", pg + "schema = \"Keyward\"\n" + kekLine, "not a plain lower-case identifier"},
		{"schema pg_", pg + "schema = \"pg_keyward\"\n" + kekLine, "not starting with pg_"},
		{"schema injection", pg + "schema = \"kw; drop table x\"\n" + kekLine, "not a plain lower-case identifier"},
		{"postgres not a url", "[store]\npostgres = \"db.internal\"\n" + kekLine, "store.postgres must be a URL"},
		{"postgres keyword/value", "[store]\npostgres = \"host=db user=keyward dbname=keyward\"\n" + kekLine, "keyword/value connection strings are not accepted"},
		{"postgres bad keyword/value", "[store]\npostgres = \"host=db user='x\"\n" + kekLine, "store.postgres must be a URL"},
		{"postgres upper-case scheme", "[store]\npostgres = \"POSTGRES://db/x\"\n" + kekLine, "lower case"},
		{"postgres bad url", "[store]\npostgres = \"postgres://db:port/x\"\n" + kekLine, "not a valid URL"},
		{"postgres passfile", "[store]\npostgres = \"postgres://db/x?passfile=/root/.pgpass\"\n" + kekLine, "use password_file"},
		{"kek unknown scheme", lite + "[kek]\nuri = \"vault:kek\"\n", "unknown scheme"},
		{"kek no scheme", lite + "[kek]\nuri = \"kek.key\"\n", "no scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse([]byte(tt.in), "/etc/keyward")
			if !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("Parse = %+v, %v; want ErrInvalid", c, err)
			}
			if errors.Is(err, config.ErrInlineSecret) {
				t.Errorf("not an inline secret, but: %v", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
			if !strings.HasPrefix(err.Error(), "config: ") {
				t.Errorf("error %q lacks the config: prefix", err)
			}
		})
	}
}

func TestParseInlineSecrets(t *testing.T) {
	const pgStore = "[store]\npostgres = \"postgres://keyward@db/keyward\"\n"
	tests := []struct {
		name string
		in   string
		// advice the error must give: password_file for the database,
		// a file descriptor for KEK credentials.
		wantMsg string
	}{
		{"store.password", pgStore + "password = \"" + canary + "\"\n" + kekLine, "password_file"},
		{"top-level password", "password = \"" + canary + "\"\n" + pgStore + kekLine, "password_file"},
		{"upper-case PASSWORD", pgStore + "PASSWORD = \"" + canary + "\"\n" + kekLine, "password_file"},
		{"db_password", pgStore + "db_password = \"" + canary + "\"\n" + kekLine, "password_file"},
		{"dbPassword", pgStore + "dbPassword = \"" + canary + "\"\n" + kekLine, "password_file"},
		{"passwd", pgStore + "passwd = \"" + canary + "\"\n" + kekLine, "password_file"},
		{"passphrase", pgStore + kekLine + "passphrase = \"" + canary + "\"\n", "pin_file (pkcs11:), token_file (transit:) or credentials_file"},
		{"kek pin", pgStore + kekLine + "pin = \"" + canary + "\"\n", "pin_file (or pin_fd, pin_credential) in [kek]"},
		{"kek numeric pin", pgStore + kekLine + "pin = 7140531\n", "pin_file"},
		{"kek key", pgStore + kekLine + "key = \"" + canary + "\"\n", "pin_file (pkcs11:), token_file (transit:) or credentials_file"},
		{"token", pgStore + kekLine + "token = \"" + canary + "\"\n", "token_file (or token_fd, token_credential) in [kek]"},
		{"secret table", pgStore + kekLine + "[secrets]\ndb = \"" + canary + "\"\n", "password_file"},
		{"client_secret", pgStore + kekLine + "client_secret = \"" + canary + "\"\n", "credentials_file (or credentials_fd, credentials_credential) in [kek]"},
		{"dotted key", pgStore + "db.password = \"" + canary + "\"\n" + kekLine, "password_file"},
		{"unquoted value", pgStore + "password = " + canary + "\n" + kekLine, "password_file"},
		{"unterminated value", pgStore + "password = \"" + canary + "\n" + kekLine, "password_file"},
		{"wrong type", pgStore + "password = [\"" + canary + "\"]\n" + kekLine, "password_file"},
		{"url userinfo", "[store]\npostgres = \"postgres://keyward:" + canary + "@db/keyward\"\n" + kekLine, "password_file"},
		{"postgresql url userinfo", "[store]\npostgres = \"postgresql://keyward:" + canary + "@db:5432,db2:5432/keyward\"\n" + kekLine, "password_file"},
		{"url userinfo with @", "[store]\npostgres = \"postgres://keyward:" + canary + "@x@db/keyward\"\n" + kekLine, "password_file"},
		{"url userinfo bad escape", "[store]\npostgres = \"postgres://keyward:" + canary + "%zz@db/keyward\"\n" + kekLine, "password_file"},
		{"upper-case scheme userinfo", "[store]\npostgres = \"POSTGRES://keyward:" + canary + "@db/keyward\"\n" + kekLine, "password_file"},
		{"url query password", "[store]\npostgres = \"postgres://keyward@db/keyward?sslmode=require&password=" + canary + "\"\n" + kekLine, "password_file"},
		{"url query Password", "[store]\npostgres = \"postgres://keyward@db/keyward?Password=" + canary + "\"\n" + kekLine, "password_file"},
		{"url query encoded name", "[store]\npostgres = \"postgres://keyward@db/keyward?pass%77ord=" + canary + "\"\n" + kekLine, "password_file"},
		{"url query sslpassword", "[store]\npostgres = \"postgres://keyward@db/keyward?sslpassword=" + canary + "\"\n" + kekLine, "password_file"},
		{"keyword/value password", "[store]\npostgres = \"host=db user=keyward password=" + canary + "\"\n" + kekLine, "password_file"},
		{"keyword/value quoted", "[store]\npostgres = \"host=db password = '" + canary + " x' dbname=k\"\n" + kekLine, "password_file"},
		{"keyword/value unterminated", "[store]\npostgres = \"host=db password='" + canary + "\"\n" + kekLine, "password_file"},
		{"pkcs11 pin-value", "[store]\nsqlite = \"k.db\"\n[kek]\nuri = \"pkcs11:token=keyward;object=kek?pin-value=" + canary + "\"\n", "file descriptor"},
		{"pkcs11 pin-value in path", "[store]\nsqlite = \"k.db\"\n[kek]\nuri = \"pkcs11:token=keyward;pin-value=" + canary + ";object=kek\"\n", "file descriptor"},
		{"pkcs11 PIN", "[store]\nsqlite = \"k.db\"\n[kek]\nuri = \"PKCS11:token=keyward;object=kek?PIN=" + canary + "\"\n", "file descriptor"},
		{"transit token", "[store]\nsqlite = \"k.db\"\n[kek]\nuri = \"transit:https://vault:8200/transit/keys/kek?token=" + canary + "\"\n", "file descriptor"},
		{"transit userinfo", "[store]\nsqlite = \"k.db\"\n[kek]\nuri = \"transit:https://kw:" + canary + "@vault:8200/transit/keys/kek\"\n", "file descriptor"},
		{"local pin", "[store]\nsqlite = \"k.db\"\n[kek]\nuri = \"local:kek.key?pin=" + canary + "\"\n", "file descriptor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse([]byte(tt.in), "/etc/keyward")
			if !errors.Is(err, config.ErrInlineSecret) || !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("Parse = %+v, %v; want ErrInlineSecret and ErrInvalid", c, err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
			for _, leak := range []string{canary, "7140531"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error contains the secret: %v", err)
				}
			}
		})
	}
}

// Keys and parameters that refer to a secret, or merely resemble one, are
// not inline secrets.
func TestParseNotSecrets(t *testing.T) {
	for _, in := range []string{
		"[store]\npostgres = \"postgres://keyward@db/keyward?sslkey=/etc/keyward/client.key&sslmode=verify-full\"\npassword_file = \"pw\"\n" + kekLine,
		"[store]\npostgres = \"postgres://keyward:@db/keyward\"\n" + kekLine, // empty password: none
		"[store]\npostgres = \"postgres://[::1]:5432/keyward\"\n" + kekLine,
		"[store]\npostgres = \"postgres:///keyward?host=/run/postgresql\"\n" + kekLine,
		"[store]\npostgres = \"postgresql://keyward@db/keyward?sslcert=/c&sslkey=/k\"\npassword_fd = 3\n" + kekLine,
		"[store]\nsqlite = \"k.db\"\n[kek]\nuri = \"pkcs11:token=keyward;object=kek;type=secret-key\"\nmodule = \"/usr/lib/p11.so\"\npin_file = \"pin\"\n",
		"[store]\nsqlite = \"k.db\"\n[kek]\nuri = \"transit:https://vault:8200/transit/kek\"\ntoken_file = \"vault-token\"\n",
		"[store]\nsqlite = \"k.db\"\n[kek]\nuri = \"awskms:" + awsARN + "\"\ncredentials_file = \"aws\"\n",
		"[store]\nsqlite = \"k.db\"\n[kek]\nuri = \"gcpkms:projects/p/locations/global/keyRings/r/cryptoKeys/k\"\ncredentials_file = \"sa.json\"\n",
	} {
		if _, err := config.Parse([]byte(in), ""); err != nil {
			t.Errorf("Parse(%q): %v", in, err)
		}
	}
}

func TestParseResolvesRelativePaths(t *testing.T) {
	in := []byte("[store]\npostgres = \"postgres://db/k\"\npassword_file = \"secrets/pw\"\n[kek]\nuri = \"local:data/kek.key\"\n")
	c, err := config.Parse(in, "/etc/keyward")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Store.Password.File, filepath.FromSlash("/etc/keyward/secrets/pw"); got != want {
		t.Errorf("password_file = %q, want %q", got, want)
	}
	if got, want := c.KEK.URI, "local:"+filepath.FromSlash("/etc/keyward/data/kek.key"); got != want {
		t.Errorf("kek.uri = %q, want %q", got, want)
	}

	c, err = config.Parse([]byte("[store]\nsqlite = \"../db/k.db\"\n[kek]\nuri = \"LOCAL:/abs/kek.key\"\n"), "/etc/keyward")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Store.SQLite, filepath.FromSlash("/etc/db/k.db"); got != want {
		t.Errorf("sqlite = %q, want %q", got, want)
	}
	if got, want := c.KEK.URI, "LOCAL:/abs/kek.key"; got != want {
		t.Errorf("absolute kek.uri = %q, want %q", got, want)
	}

	// No directory: paths stay relative to the working directory.
	c, err = config.Parse([]byte("[store]\nsqlite = \"k.db\"\n[kek]\nuri = \"local:kek.key\"\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.SQLite != "k.db" || c.KEK.URI != "local:kek.key" || c.Path != "" {
		t.Errorf("Parse without dir = %+v", *c)
	}
}

func TestForDataDir(t *testing.T) {
	c := config.ForDataDir("/var/lib/keyward")
	want := config.Config{
		Store: config.Store{SQLite: filepath.FromSlash("/var/lib/keyward/keyward.db")},
		KEK:   config.KEK{URI: "local:" + filepath.FromSlash("/var/lib/keyward/kek.key")},
	}
	if *c != want {
		t.Errorf("ForDataDir = %+v, want %+v", *c, want)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if (c.EngineOptions() != keyward.Options{}) {
		t.Errorf("EngineOptions = %+v, want the defaults (zero)", c.EngineOptions())
	}
}

func TestEngineOptions(t *testing.T) {
	c, err := config.Load("testdata/postgres.toml")
	if err != nil {
		t.Fatal(err)
	}
	want := keyward.Options{
		CacheSize:      10000,
		CacheTTL:       5 * time.Minute,
		NonceThreshold: 1 << 30,
		UsageBlock:     4096,
		ChangePoll:     time.Second,
	}
	if got := c.EngineOptions(); got != want {
		t.Errorf("EngineOptions = %+v, want %+v", got, want)
	}
	c, err = config.Load("testdata/systemd.toml")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.EngineOptions(); got.CacheTTL >= 0 || got.ChangePoll >= 0 {
		t.Errorf("\"off\" maps to %+v, want negative CacheTTL and ChangePoll", got)
	}
}

func TestValidate(t *testing.T) {
	good := func() *config.Config { return config.ForDataDir("/d") }
	tests := []struct {
		name   string
		modify func(*config.Config)
		want   error
	}{
		{"no store", func(c *config.Config) { c.Store.SQLite = "" }, config.ErrInvalid},
		{"two stores", func(c *config.Config) { c.Store.Postgres = "postgres://db/k" }, config.ErrInvalid},
		{"no kek", func(c *config.Config) { c.KEK.URI = "" }, config.ErrInvalid},
		{"kek pin", func(c *config.Config) { c.KEK.URI = "pkcs11:object=k?pin-value=" + canary }, config.ErrInlineSecret},
		{"url password", func(c *config.Config) {
			c.Store = config.Store{Postgres: "postgres://u:" + canary + "@db/k"}
		}, config.ErrInlineSecret},
		{"ambiguous password", func(c *config.Config) {
			c.Store = config.Store{Postgres: "postgres://db/k", Password: credential.Source{File: "/pw", FD: 3}}
		}, credential.ErrAmbiguous},
		{"negative cache size", func(c *config.Config) { c.Cache.Size = -1 }, config.ErrInvalid},
		{"threshold above 2^32", func(c *config.Config) { c.Nonce.Threshold = 1<<32 + 1 }, config.ErrInvalid},
		{"block above 2^40", func(c *config.Config) { c.Nonce.Block = 1<<40 + 1 }, config.ErrInvalid},
		{"negative max_conns", func(c *config.Config) {
			c.Store = config.Store{Postgres: "postgres://db/k", MaxConns: -1}
		}, config.ErrInvalid},
		{"unsupported kek scheme", func(c *config.Config) { c.KEK.URI = "hsm:x" }, kms.ErrInvalidURI},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good()
			tt.modify(c)
			err := c.Validate()
			if !errors.Is(err, tt.want) || !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("Validate = %v, want %v (and ErrInvalid)", err, tt.want)
			}
			if strings.Contains(err.Error(), canary) {
				t.Errorf("error contains the secret: %v", err)
			}
		})
	}
	// Negative durations mean "off" in a Config.
	c := good()
	c.Cache.TTL, c.Changes.Poll = -1, -1
	if err := c.Validate(); err != nil {
		t.Errorf("off durations: %v", err)
	}
}
