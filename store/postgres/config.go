package postgres

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Config says how to reach the database. Only URL is required.
type Config struct {
	// URL is a postgres:// (or postgresql://) URL naming host, port, user,
	// database and options such as sslmode, as libpq understands them. It
	// must not contain a password, neither in the user info nor as a
	// password, passfile or sslpassword parameter: Open refuses it.
	URL string
	// Password is the database password, from the caller's secure loader (a
	// password_file, a file descriptor or $CREDENTIALS_DIRECTORY). It is
	// never logged nor put into an error, and String and LogValue redact it.
	// PGPASSWORD and ~/.pgpass are ignored: this is the only source.
	Password string `json:"-"`
	// Schema is the schema that holds keyward's tables, created if missing;
	// empty means public. Tests use a schema of their own for isolation.
	Schema string
	// MaxConns bounds the connection pool; 0 is the pgxpool default (the
	// greater of 4 and the number of CPUs). Listen uses one more connection
	// of its own.
	MaxConns int32
}

// defaultConnectTimeout bounds each connection attempt when the URL sets no
// connect_timeout, so a call against an unreachable host fails with
// store.ErrUnavailable instead of waiting for the operating system's TCP
// timeout (the caller's context can end it sooner).
const defaultConnectTimeout = 10 * time.Second

// maxIdentifier is PostgreSQL's limit on identifiers (NAMEDATALEN - 1
// bytes); longer ones would be silently truncated.
const maxIdentifier = 63

// errPasswordInURL is the error for a URL that carries a secret.
var errPasswordInURL = errors.New("the url must not contain a password: set Config.Password " +
	"from a password_file, a file descriptor or $CREDENTIALS_DIRECTORY")

// secretParams are URL parameters that carry a secret or point to one.
var secretParams = []string{"password", "passfile", "sslpassword"}

// redacted stands in for a secret in printed output.
const redacted = "[redacted]"

// String describes c without its password.
func (c Config) String() string {
	pw := "none"
	if c.Password != "" {
		pw = redacted
	}
	return fmt.Sprintf("postgres.Config{URL: %q, Password: %s, Schema: %q, MaxConns: %d}",
		redactURL(c.URL), pw, c.Schema, c.MaxConns)
}

// GoString is String, so %#v redacts the password too.
func (c Config) GoString() string { return c.String() }

// LogValue implements slog.LogValuer without the password.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("url", redactURL(c.URL)),
		slog.Bool("password_set", c.Password != ""),
		slog.String("schema", c.Schema),
		slog.Int("max_conns", int(c.MaxConns)),
	)
}

// redactURL returns raw with any password in it replaced, for printing a
// Config that Open would refuse.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if raw == "" {
			return ""
		}
		return "(malformed url)"
	}
	q := u.Query()
	for _, k := range secretParams {
		if q.Has(k) {
			q.Set(k, redacted)
			u.RawQuery = q.Encode()
		}
	}
	return u.Redacted()
}

// settings is what Open derives from a Config.
type settings struct {
	pool    *pgxpool.Config
	schema  string // the schema name, unquoted
	appName string // application_name of the pool's connections
	channel string // the LISTEN/NOTIFY channel of the schema
}

// settings validates c and builds the pool configuration.
func (c Config) settings() (settings, error) {
	if err := checkURL(c.URL); err != nil {
		return settings{}, err
	}
	schema := c.Schema
	if schema == "" {
		schema = "public"
	}
	if !storable(schema) || len(schema) > maxIdentifier {
		return settings{}, fmt.Errorf("schema %q: want 1 to %d bytes of UTF-8 without NUL", schema, maxIdentifier)
	}
	if c.MaxConns < 0 {
		return settings{}, fmt.Errorf("max conns %d: want 0 (the default) or more", c.MaxConns)
	}
	pc, err := pgxpool.ParseConfig(c.URL)
	if err != nil {
		// pgconn redacts passwords in its parse errors, and checkURL has
		// refused any password already.
		return settings{}, fmt.Errorf("parse url: %w", err)
	}
	// The caller's password is the only source: whatever ParseConfig found
	// in PGPASSWORD or a .pgpass file is overwritten.
	pc.ConnConfig.Password = c.Password
	if pc.ConnConfig.ConnectTimeout == 0 {
		pc.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	if c.MaxConns > 0 {
		pc.MaxConns = c.MaxConns
	}
	params := pc.ConnConfig.RuntimeParams
	appName, ok := params["application_name"]
	if !ok || appName == "" {
		appName = "keyward/" + schema
		params["application_name"] = appName
	}
	// Every connection resolves keyward's tables in the schema, and only
	// there (pg_catalog is always searched first).
	params["search_path"] = pgx.Identifier{schema}.Sanitize()
	return settings{pool: pc, schema: schema, appName: appName, channel: channelName(schema)}, nil
}

// checkURL accepts a postgres:// URL without a password.
func checkURL(raw string) error {
	if raw == "" {
		return errors.New("empty url: want postgres://user@host:port/database?sslmode=…")
	}
	if !strings.HasPrefix(raw, "postgres://") && !strings.HasPrefix(raw, "postgresql://") {
		return errors.New("url: want postgres://user@host:port/database?sslmode=… " +
			"(keyword/value connection strings are not accepted)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's error quotes the whole URL, which may hold a password.
		return errors.New("malformed url")
	}
	if _, ok := u.User.Password(); ok {
		return errPasswordInURL
	}
	q := u.Query()
	if q.Has("sslpassword") {
		return errors.New("the url must not contain sslpassword: use a client key file that is not encrypted (mode 0600)")
	}
	if q.Has("password") || q.Has("passfile") {
		return errPasswordInURL
	}
	return nil
}

// channelName is the LISTEN/NOTIFY channel of schema, as the migration's
// key_versions_append_change computes it: "keyward_changes:" and the schema
// name, or "keyward_changes#" and 32 hex digits of its SHA-256 when that
// would be longer than an identifier may be.
func channelName(schema string) string {
	name := "keyward_changes:" + schema
	if len(name) <= maxIdentifier {
		return name
	}
	sum := sha256.Sum256([]byte(schema))
	return "keyward_changes#" + hex.EncodeToString(sum[:16])
}

// storable reports whether s can be stored in a PostgreSQL text column:
// valid UTF-8 without NUL bytes.
func storable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}
