// Package config reads keyward's configuration file: a small TOML file that
// names where the wrapped keys live (the store), which key-encryption key
// wraps them (the KEK) and how the engine is tuned — and never holds a
// secret.
//
// A config file is copied into repositories, tickets and backups far more
// freely than a secret may be, so a secret never goes into it. The database
// password is named by password_file, password_fd or password_credential and
// loaded by package credential when the store is opened; a key that looks
// like it holds a secret (password, pin, passphrase, secret, token, key…),
// a PostgreSQL URL with a password in it, or a KEK URI carrying a PIN is
// refused with [ErrInlineSecret], and the error says where the secret goes
// instead. Errors name keys and line numbers, never values that may be
// secret.
//
// Parsing is strict: unknown keys, wrong types, bad durations, out-of-range
// numbers and anything but exactly one store are refused with [ErrInvalid],
// so a typo never silently falls back to a default. Relative paths (the
// SQLite database, the password file, a local: KEK) are relative to the
// directory of the config file, so a config works from any working
// directory.
//
// [Open] turns a Config into a [Deployment]: an open store, the KEK and the
// engine options, ready for keyward.Open. [ForDataDir] is the embedded
// default (keyward init's data directory) expressed as a Config, so the
// data-directory and config-file paths share one code path. The file format
// is documented in docs/CONFIG.md.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/credential"
	"github.com/keyward/keyward/datadir"
	"github.com/keyward/keyward/kms"
)

// Sentinel errors. Every error from Load, Parse and Validate wraps
// ErrInvalid; an inline secret also wraps ErrInlineSecret.
var (
	// ErrInvalid reports a config file or Config that keyward cannot use.
	ErrInvalid = errors.New("invalid configuration")
	// ErrInlineSecret reports a secret written into the config itself.
	ErrInlineSecret = errors.New("inline secret")
)

// Limits on tuning values. Below or above them a value is a mistake.
const (
	// MaxNonceThreshold is the highest nonce.threshold: random 96-bit nonces
	// are safe for 2^32 encryptions under one key.
	MaxNonceThreshold = 1 << 32
	// MaxUsageBlock is the largest nonce.block the engine accepts.
	MaxUsageBlock = 1 << 40
	// MaxConns bounds store.max_conns.
	MaxConns = 1000
	// MinCacheTTL is the shortest cache.ttl.
	MinCacheTTL = time.Second
	// MinChangePoll is the shortest changes.poll.
	MinChangePoll = 10 * time.Millisecond
)

// Config is a parsed configuration. Paths in it are resolved (absolute when
// the config came from Load). Zero tuning values select the engine's
// defaults.
type Config struct {
	// Path is the file the config was loaded from; "" if it was not.
	Path string
	// Store names where wrapped keys live.
	Store Store
	// KEK names the key-encryption key.
	KEK KEK
	// Cache tunes the cache of unwrapped data keys.
	Cache Cache
	// Nonce tunes the per-key encryption budget.
	Nonce Nonce
	// Changes tunes how other instances' key changes are noticed.
	Changes Changes
}

// Store is the [store] table: exactly one of SQLite and Postgres is set.
type Store struct {
	// SQLite is the path of the embedded SQLite database.
	SQLite string
	// Postgres is a postgres:// connection URL without a password.
	Postgres string
	// Password names where the PostgreSQL password comes from; zero for
	// passwordless authentication (trust, peer, cert).
	Password credential.Source
	// MaxConns bounds the PostgreSQL connection pool; 0 selects the
	// store's default.
	MaxConns int32
	// Schema is the PostgreSQL schema holding keyward's tables; "" selects
	// the store's default.
	Schema string
}

// KEK is the [kek] table.
type KEK struct {
	// URI names the key-encryption key, e.g. local:PATH (development only).
	URI string
}

// Cache is the [cache] table.
type Cache struct {
	// Size bounds the number of unwrapped data keys held; 0 is the default.
	Size int
	// TTL bounds how long an unwrapped key stays cached; 0 is the default,
	// negative disables expiry ("off" in the file).
	TTL time.Duration
}

// Nonce is the [nonce] table.
type Nonce struct {
	// Threshold is the number of encryptions after which an organization's
	// data key is rotated; 0 is the default (2^30).
	Threshold uint64
	// Block is how many encryptions are reserved from the store at a time;
	// 0 is the default (65,536).
	Block uint64
}

// Changes is the [changes] table.
type Changes struct {
	// Poll is how often the store is polled for other instances' key
	// changes; 0 is the default, negative disables polling ("off").
	Poll time.Duration
}

// Load reads and validates the config file at path. Relative paths in it
// are resolved against the file's directory.
func Load(path string) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w: %w", ErrInvalid, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("config: %w: %w", ErrInvalid, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("config %s: %w: not a regular file", path, ErrInvalid)
	}
	if fi.Size() > maxFileSize {
		return nil, fmt.Errorf("config %s: %w: %d bytes; a config file is at most %d", path, ErrInvalid, fi.Size(), maxFileSize)
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("config: %w: %w", ErrInvalid, err)
	}
	c, err := parse(data, filepath.Dir(abs))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c.Path = abs
	return c, nil
}

// Parse parses and validates config data as Load does; dir resolves
// relative paths ("" leaves them relative to the working directory).
func Parse(data []byte, dir string) (*Config, error) {
	c, err := parse(data, dir)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

// ForDataDir returns the embedded default for the data directory dir: the
// SQLite store dir/keyward.db and the development KEK local:dir/kek.key
// (see package datadir), with default tuning.
func ForDataDir(dir string) *Config {
	return &Config{
		Store: Store{SQLite: filepath.Join(dir, datadir.DBFile)},
		KEK:   KEK{URI: "local:" + filepath.Join(dir, datadir.KEKFile)},
	}
}

// EngineOptions returns the engine tuning the config asks for.
func (c *Config) EngineOptions() keyward.Options {
	return keyward.Options{
		CacheSize:      c.Cache.Size,
		CacheTTL:       c.Cache.TTL,
		NonceThreshold: c.Nonce.Threshold,
		UsageBlock:     c.Nonce.Block,
		ChangePoll:     c.Changes.Poll,
	}
}

// schemaName is what store.schema accepts: a lower-case, unquoted
// PostgreSQL identifier.
var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Validate checks a Config however it was built: exactly one store, the
// password rules, no inline secret, a KEK URI keyward knows, tuning values
// in range. Load and Parse validate what they return; Open validates again.
func (c *Config) Validate() error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

func (c *Config) validate() error {
	if err := c.validateStore(); err != nil {
		return err
	}
	if err := checkKEKURI(c.KEK.URI); err != nil {
		return err
	}
	switch {
	case c.Cache.Size < 0:
		return invalid("cache.size is %d; it must be 1 or more (omit it for the default, 10000)", c.Cache.Size)
	case c.Cache.TTL > 0 && c.Cache.TTL < MinCacheTTL:
		return invalid("cache.ttl is %s; it must be at least %s, or \"off\"", c.Cache.TTL, MinCacheTTL)
	case c.Nonce.Threshold > MaxNonceThreshold:
		return invalid("nonce.threshold is %d; random nonces are safe for at most 2^32 (%d) encryptions per key", c.Nonce.Threshold, uint64(MaxNonceThreshold))
	case c.Nonce.Block > MaxUsageBlock:
		return invalid("nonce.block is %d; it must be at most 2^40", c.Nonce.Block)
	case c.Nonce.Block > 0 && c.Nonce.Threshold > 0 && c.Nonce.Block > c.Nonce.Threshold:
		return invalid("nonce.block (%d) is larger than nonce.threshold (%d); a block is reserved at once, so keep it below the threshold", c.Nonce.Block, c.Nonce.Threshold)
	case c.Changes.Poll > 0 && c.Changes.Poll < MinChangePoll:
		return invalid("changes.poll is %s; it must be at least %s, or \"off\"", c.Changes.Poll, MinChangePoll)
	}
	return nil
}

func (c *Config) validateStore() error {
	s := c.Store
	switch {
	case s.SQLite == "" && s.Postgres == "":
		return invalid("no store: set sqlite = \"PATH\" or postgres = \"URL\" in [store]")
	case s.SQLite != "" && s.Postgres != "":
		return invalid("store.sqlite and store.postgres are both set; keep exactly one")
	}
	if s.SQLite != "" {
		switch {
		case !s.Password.IsZero():
			return invalid("store.password_file, password_fd and password_credential apply to postgres only; remove them")
		case s.MaxConns != 0:
			return invalid("store.max_conns applies to postgres only; remove it")
		case s.Schema != "":
			return invalid("store.schema applies to postgres only; remove it")
		}
		return nil
	}
	if err := checkPostgres(s.Postgres); err != nil {
		return err
	}
	if !s.Password.IsZero() {
		if err := s.Password.Check(); err != nil {
			return fmt.Errorf("%w: store password: %w", ErrInvalid, err)
		}
	}
	if s.MaxConns < 0 || s.MaxConns > MaxConns {
		return invalid("store.max_conns is %d; it must be between 1 and %d", s.MaxConns, MaxConns)
	}
	if s.Schema != "" && (!schemaName.MatchString(s.Schema) || len(s.Schema) >= 3 && s.Schema[:3] == "pg_") {
		return invalid("store.schema %q is not a plain lower-case identifier ([a-z_][a-z0-9_]*, at most 63 bytes, not starting with pg_)", s.Schema)
	}
	return nil
}

// invalid returns an error wrapping ErrInvalid. Callers never pass a value
// that may be secret.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// checkKEKURI validates the KEK URI: no inline PIN or other secret first
// (before any message could quote it), then the provider scheme.
func checkKEKURI(uri string) error {
	if uri == "" {
		return invalid("no kek: set uri in [kek] (e.g. uri = \"local:PATH\" for development)")
	}
	if err := checkURISecrets(uri); err != nil {
		return err
	}
	if !strings.Contains(uri, ":") { // kms.ParseURI would quote it
		return fmt.Errorf("%w: kek.uri: %w: no scheme (want e.g. local:PATH or pkcs11:token=…;object=…)", ErrInvalid, kms.ErrInvalidURI)
	}
	if _, err := kms.ParseURI(uri); err != nil {
		return fmt.Errorf("%w: kek.uri: %w", ErrInvalid, err)
	}
	return nil
}
