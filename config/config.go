// Package config reads keyward's configuration file: a small TOML file that
// names where the wrapped keys live (the store), which key-encryption key
// wraps them (the KEK) and how the engine is tuned — and never holds a
// secret.
//
// A config file is copied into repositories, tickets and backups far more
// freely than a secret may be, so a secret never goes into it. Every secret
// is named by a trio of keys, NAME_file, NAME_fd or NAME_credential, and
// loaded by package credential when the store or the KEK is opened: the
// database password (password_* in [store]), an HSM PIN (pin_*), a Vault
// token (token_*) and cloud credentials (credentials_* in [kek]). A key
// that looks like it holds a secret (password, pin, passphrase, secret,
// token, key, aws_secret_access_key…), a PostgreSQL URL with a password in
// it, or a KEK URI carrying a PIN is refused with [ErrInlineSecret], and the
// error says which key names the secret instead. Errors name keys and line
// numbers, never values that may be secret.
//
// Parsing is strict: unknown keys, wrong types, bad durations, out-of-range
// numbers and anything but exactly one store are refused with [ErrInvalid],
// so a typo never silently falls back to a default. Relative paths (the
// SQLite database, the password file, a local: KEK) are relative to the
// directory of the config file, so a config works from any working
// directory. Each KEK provider has its own keys in [kek] (module and pin_*
// for pkcs11:, token_* for transit:, credentials_* for awskms: and gcpkms:);
// a key of another provider's is refused.
//
// [Open] turns a Config into a [Deployment]: an open store, the KEK and the
// engine options, ready for keyward.Open. [ProvisionKEK] creates the KEK of
// a local: or pkcs11: config (keyward kek create). [ForDataDir] is the embedded
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
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/credential"
	"github.com/keyward/keyward/datadir"
)

// Sentinel errors. Every error from Load, Parse and Validate wraps
// ErrInvalid; an inline secret also wraps ErrInlineSecret.
var (
	// ErrInvalid reports a config file or Config that keyward cannot use.
	ErrInvalid = errors.New("invalid configuration")
	// ErrInlineSecret reports a secret written into the config itself.
	ErrInlineSecret = errors.New("inline secret")
	// ErrCredentials reports KEK credentials, loaded by Open, that keyward
	// cannot use: a malformed AWS credentials file or profile, or a JSON
	// file that is not a Google service-account key.
	ErrCredentials = errors.New("unusable kek credentials")
	// ErrExternalKEK reports a KEK that ProvisionKEK does not create: a
	// transit:, awskms: or gcpkms: key is created with the provider's tools.
	ErrExternalKEK = errors.New("the kek is created with the provider's own tools")
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
	// Server tunes keyward serve: address, TLS, limits, timeouts.
	Server Server
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

// KEK is the [kek] table: the URI naming the key-encryption key and what
// its provider needs to reach it. A field that the URI's scheme does not use
// must be zero; secrets are named by a [credential.Source], never held.
type KEK struct {
	// URI names the key-encryption key: local:PATH (development only),
	// pkcs11:token=…;object=…, transit:https://HOST/MOUNT/KEY,
	// awskms:arn:… or gcpkms:projects/….
	URI string

	// Module is the absolute path of the PKCS#11 library (pkcs11:,
	// required).
	Module string
	// PIN names where the token's user PIN comes from (pkcs11:, required).
	PIN credential.Source
	// Sessions is the size of the PKCS#11 session pool, 1 to 64 (pkcs11:);
	// 0 selects the provider's default.
	Sessions int

	// Token names where the Vault token comes from (transit:, required).
	Token credential.Source
	// Namespace is the Vault Enterprise / OpenBao namespace (transit:).
	Namespace string
	// CAFile is a PEM file of CA certificates to trust instead of the
	// system roots (transit:).
	CAFile string

	// Credentials names where the cloud credentials come from (awskms: and
	// gcpkms:, required): an AWS shared credentials file, or a Google
	// service-account JSON key.
	Credentials credential.Source
	// Profile is the profile of the AWS credentials to use (awskms:); ""
	// selects "default".
	Profile string
	// Endpoint overrides the KMS endpoint (awskms: and gcpkms:), e.g. a VPC
	// or Private Service Connect endpoint: https://HOST[:PORT].
	Endpoint string
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
// password rules, no inline secret, a KEK URI keyward knows with the fields
// its provider needs (and no other provider's), tuning values in range. It
// reads no file and contacts nothing. Load and Parse validate what they return; Open validates again.
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
	if err := validateKEK(c.KEK); err != nil {
		return err
	}
	if err := c.validateServer(); err != nil {
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
