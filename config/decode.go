package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/keyward/keyward/credential"
)

// maxFileSize bounds a config file; real ones are a few hundred bytes.
const maxFileSize = 1 << 20

// file mirrors the TOML file. Durations are strings so that "5m" and "off"
// are the only forms (the TOML library would read a bare integer as
// nanoseconds); numbers are int64 so that negative values reach the range
// checks with a clear message.
type file struct {
	Store struct {
		SQLite             string `toml:"sqlite"`
		Postgres           string `toml:"postgres"`
		PasswordFile       string `toml:"password_file"`
		PasswordFD         int64  `toml:"password_fd"`
		PasswordCredential string `toml:"password_credential"`
		MaxConns           int64  `toml:"max_conns"`
		Schema             string `toml:"schema"`
	} `toml:"store"`
	KEK struct {
		URI                   string `toml:"uri"`
		Module                string `toml:"module"`
		PINFile               string `toml:"pin_file"`
		PINFD                 int64  `toml:"pin_fd"`
		PINCredential         string `toml:"pin_credential"`
		Sessions              int64  `toml:"sessions"`
		TokenFile             string `toml:"token_file"`
		TokenFD               int64  `toml:"token_fd"`
		TokenCredential       string `toml:"token_credential"`
		Namespace             string `toml:"namespace"`
		CAFile                string `toml:"ca_file"`
		CredentialsFile       string `toml:"credentials_file"`
		CredentialsFD         int64  `toml:"credentials_fd"`
		CredentialsCredential string `toml:"credentials_credential"`
		Profile               string `toml:"profile"`
		Endpoint              string `toml:"endpoint"`
	} `toml:"kek"`
	Cache struct {
		Size int64  `toml:"size"`
		TTL  string `toml:"ttl"`
	} `toml:"cache"`
	Nonce struct {
		Threshold int64 `toml:"threshold"`
		Block     int64 `toml:"block"`
	} `toml:"nonce"`
	Changes struct {
		Poll string `toml:"poll"`
	} `toml:"changes"`
	Server struct {
		Addr            string `toml:"addr"`
		TLSCertFile     string `toml:"tls_cert_file"`
		TLSKeyFile      string `toml:"tls_key_file"`
		ClientCAFile    string `toml:"client_ca_file"`
		MaxBody         int64  `toml:"max_body"`
		MaxBatch        int64  `toml:"max_batch"`
		RateLimit       int64  `toml:"rate_limit"`
		RateBurst       int64  `toml:"rate_burst"`
		ReadTimeout     string `toml:"read_timeout"`
		WriteTimeout    string `toml:"write_timeout"`
		IdleTimeout     string `toml:"idle_timeout"`
		ShutdownTimeout string `toml:"shutdown_timeout"`
	} `toml:"server"`
}

// tableKeys returns the keys of a table of the format, in the order
// docs/CONFIG.md documents them, and whether the table exists. Keys are
// case-sensitive.
func tableKeys(table string) ([]string, bool) {
	switch table {
	case "store":
		return []string{"sqlite", "postgres", "password_file", "password_fd", "password_credential", "max_conns", "schema"}, true
	case "kek":
		return []string{"uri",
			"module", "pin_file", "pin_fd", "pin_credential", "sessions", // pkcs11:
			"token_file", "token_fd", "token_credential", "namespace", "ca_file", // transit:
			"credentials_file", "credentials_fd", "credentials_credential", "profile", "endpoint", // awskms:, gcpkms:
		}, true
	case "cache":
		return []string{"size", "ttl"}, true
	case "nonce":
		return []string{"threshold", "block"}, true
	case "changes":
		return []string{"poll"}, true
	case "server":
		return []string{"addr", "tls_cert_file", "tls_key_file", "client_ca_file", "max_body", "max_batch",
			"rate_limit", "rate_burst", "read_timeout", "write_timeout", "idle_timeout", "shutdown_timeout"}, true
	}
	return nil, false
}

// integerKey reports whether a key's value is an integer; every other key
// holds a string, every table is a plain table.
func integerKey(k string) bool {
	switch k {
	case "store.password_fd", "store.max_conns", "cache.size", "nonce.threshold", "nonce.block",
		"kek.pin_fd", "kek.sessions", "kek.token_fd", "kek.credentials_fd",
		"server.max_body", "server.max_batch", "server.rate_limit", "server.rate_burst":
		return true
	}
	return false
}

// checkTypes checks the TOML type of every (known) key, so the messages
// name the key and the expected form rather than Go types.
func checkTypes(md toml.MetaData) error {
	for _, k := range md.Keys() {
		got := md.Type(k...)
		switch {
		case len(k) == 1 && got != "Hash":
			return invalid("%s must be a table ([%s]), not %s", k, k, tomlType(got))
		case len(k) == 2 && integerKey(k.String()) && got != "Integer":
			return invalid("%s must be an integer, not %s", k, tomlType(got))
		case len(k) == 2 && !integerKey(k.String()) && got != "String":
			hint := ""
			if k[1] == "ttl" || k[1] == "poll" || strings.HasSuffix(k[1], "_timeout") {
				hint = " such as \"5m\" or \"off\""
			}
			return invalid("%s must be a string%s, not %s", k, hint, tomlType(got))
		}
	}
	return nil
}

// tomlType names a toml.MetaData.Type result for a message.
func tomlType(t string) string {
	switch t {
	case "Hash":
		return "a table"
	case "ArrayHash":
		return "an array of tables"
	case "Array":
		return "an array"
	case "Integer":
		return "an integer"
	case "Float":
		return "a float"
	case "Bool":
		return "a boolean"
	case "String":
		return "a string"
	case "Datetime", "DatetimeLocal", "DateLocal", "TimeLocal":
		return "a date or time"
	}
	return strings.ToLower(t)
}

// parse decodes and validates data; dir resolves relative paths. Its errors
// carry no "config:" prefix: Load and Parse add it, with the file name.
func parse(data []byte, dir string) (*Config, error) {
	if len(data) > maxFileSize {
		return nil, invalid("%d bytes; a config file is at most %d", len(data), maxFileSize)
	}
	// First pass: keys only (into an empty struct nothing is decoded, so no
	// type error can come first). Inline secrets are refused before any
	// other complaint, and before any message could quote a value.
	md, err := toml.Decode(string(data), &struct{}{})
	if err != nil {
		return nil, syntaxError(err)
	}
	if err := checkKeys(md.Keys()); err != nil {
		return nil, err
	}
	if err := checkTypes(md); err != nil {
		return nil, err
	}
	var f file
	md, err = toml.Decode(string(data), &f)
	if err != nil {
		return nil, syntaxError(err)
	}
	if u := md.Undecoded(); len(u) > 0 { // checkKeys refused these already
		return nil, invalid("unknown key %s", u[0])
	}
	c, err := build(&f, md, dir)
	if err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// checkKeys refuses keys that would hold a secret, then any key the format
// does not have (exact, case-sensitive match).
func checkKeys(keys []toml.Key) error {
	for _, k := range keys {
		if !isKnown(k) && inlineSecret(k) {
			return inlineSecretKey(k)
		}
	}
	for _, k := range keys {
		if isKnown(k) {
			continue
		}
		if len(k) >= 2 {
			if keys, ok := tableKeys(k[0]); ok {
				return invalid("unknown key %s (keys in [%s]: %s)", k, k[0], strings.Join(keys, ", "))
			}
		}
		return invalid("unknown key %s (tables: [store], [kek], [cache], [nonce], [changes], [server])", k)
	}
	return nil
}

func isKnown(k toml.Key) bool {
	keys, ok := tableKeys(k[0])
	switch len(k) {
	case 1:
		return ok
	case 2:
		return slices.Contains(keys, k[1])
	}
	return false
}

// inlineSecretKey is the error for a key that would hold a secret. It names
// the key and the key that names such a secret instead, never the value.
func inlineSecretKey(k toml.Key) error {
	return fmt.Errorf("%w: %w: key %s would put a secret in the config file; keyward reads secrets only from a file, "+
		"a file descriptor or a systemd credential: remove the key, write the secret to a file with mode 600 and name it "+
		"with %s", ErrInvalid, ErrInlineSecret, k, secretHome(k))
}

// quoted matches the quoted fragments a TOML syntax error may copy from the
// input. The short alternative comes first so that single characters in
// single quotes ('=', ']', '\n') are matched, and kept, one by one.
var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'[^']{0,2}'|'[^']*'`)

// unquote replaces the quoted fragments of msg with "…", keeping short
// single-quoted tokens.
func unquote(msg string) string {
	return quoted.ReplaceAllStringFunc(msg, func(q string) string {
		if q[0] == '\'' && len(q) <= 4 {
			return q
		}
		return "…"
	})
}

// syntaxError turns a TOML error into one that quotes nothing from the
// input: the value at fault may be a secret written where it does not
// belong. It keeps the line number and the message without quoted parts.
func syntaxError(err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		if k := toml.Key(strings.Split(pe.LastKey, ".")); pe.LastKey != "" && inlineSecret(k) {
			return inlineSecretKey(k)
		}
		return invalid("line %d: %s", pe.Position.Line, unquote(pe.Message))
	}
	// Type errors name the key and the two types, never the value.
	return invalid("%s", strings.TrimPrefix(err.Error(), "toml: "))
}

// build turns the decoded file into a Config, resolving relative paths
// against dir and checking the file-level rules (forms and ranges that a
// Config holds differently).
func build(f *file, md toml.MetaData, dir string) (*Config, error) {
	def := func(key ...string) bool { return md.IsDefined(key...) }
	c := &Config{}

	s := f.Store
	if def("store", "sqlite") {
		if s.SQLite == "" {
			return nil, invalid("store.sqlite is empty; give the database path")
		}
		c.Store.SQLite = resolve(dir, s.SQLite)
	}
	if def("store", "postgres") && s.Postgres == "" {
		return nil, invalid("store.postgres is empty; give a postgres:// URL")
	}
	c.Store.Postgres = s.Postgres
	var err error
	if c.Store.Password, err = source(def, dir, "store", "password", sourceKeys{s.PasswordFile, s.PasswordFD, s.PasswordCredential}); err != nil {
		return nil, err
	}
	if def("store", "max_conns") {
		if s.MaxConns < 1 || s.MaxConns > MaxConns {
			return nil, invalid("store.max_conns is %d; it must be between 1 and %d", s.MaxConns, MaxConns)
		}
		c.Store.MaxConns = int32(s.MaxConns)
	}
	if def("store", "schema") && s.Schema == "" {
		return nil, invalid("store.schema is empty; omit it for the default")
	}
	c.Store.Schema = s.Schema

	if c.KEK, err = buildKEK(f, def, dir); err != nil {
		return nil, err
	}

	if def("cache", "size") {
		if f.Cache.Size < 1 || int64(int(f.Cache.Size)) != f.Cache.Size {
			return nil, invalid("cache.size is %d; it must be 1 or more", f.Cache.Size)
		}
		c.Cache.Size = int(f.Cache.Size)
	}
	if def("cache", "ttl") {
		if c.Cache.TTL, err = duration("cache.ttl", f.Cache.TTL); err != nil {
			return nil, err
		}
	}
	if def("nonce", "threshold") {
		if f.Nonce.Threshold < 1 || f.Nonce.Threshold > MaxNonceThreshold {
			return nil, invalid("nonce.threshold is %d; it must be between 1 and 2^32 (%d)", f.Nonce.Threshold, int64(MaxNonceThreshold))
		}
		c.Nonce.Threshold = uint64(f.Nonce.Threshold)
	}
	if def("nonce", "block") {
		if f.Nonce.Block < 1 || f.Nonce.Block > MaxUsageBlock {
			return nil, invalid("nonce.block is %d; it must be between 1 and 2^40", f.Nonce.Block)
		}
		c.Nonce.Block = uint64(f.Nonce.Block)
	}
	if def("changes", "poll") {
		if c.Changes.Poll, err = duration("changes.poll", f.Changes.Poll); err != nil {
			return nil, err
		}
	}
	if c.Server, err = buildServer(f, def, dir); err != nil {
		return nil, err
	}
	return c, nil
}

// buildKEK builds the [kek] table. Which keys a scheme takes is checked
// later, by validate, on the Config.
func buildKEK(f *file, def func(...string) bool, dir string) (KEK, error) {
	k := f.KEK
	c := KEK{URI: resolveKEK(dir, k.URI), Namespace: k.Namespace, Profile: k.Profile, Endpoint: k.Endpoint, Module: k.Module}
	for _, s := range []struct{ key, value, want string }{
		{"module", k.Module, "the absolute path of the PKCS#11 library"},
		{"namespace", k.Namespace, "the Vault namespace, or omit it"},
		{"ca_file", k.CAFile, "the path of a PEM file of CA certificates, or omit it for the system roots"},
		{"profile", k.Profile, "a profile name, or omit it for \"default\""},
		{"endpoint", k.Endpoint, "https://HOST[:PORT], or omit it for the provider's public endpoint"},
	} {
		if def("kek", s.key) && s.value == "" {
			return KEK{}, invalid("kek.%s is empty; give %s", s.key, s.want)
		}
	}
	if k.CAFile != "" {
		c.CAFile = resolve(dir, k.CAFile)
	}
	if def("kek", "sessions") {
		if k.Sessions < 1 || k.Sessions > maxSessions {
			return KEK{}, invalid("kek.sessions is %d; it must be between 1 and %d", k.Sessions, maxSessions)
		}
		c.Sessions = int(k.Sessions)
	}
	var err error
	if c.PIN, err = source(def, dir, "kek", "pin", sourceKeys{k.PINFile, k.PINFD, k.PINCredential}); err != nil {
		return KEK{}, err
	}
	if c.Token, err = source(def, dir, "kek", "token", sourceKeys{k.TokenFile, k.TokenFD, k.TokenCredential}); err != nil {
		return KEK{}, err
	}
	if c.Credentials, err = source(def, dir, "kek", "credentials", sourceKeys{k.CredentialsFile, k.CredentialsFD, k.CredentialsCredential}); err != nil {
		return KEK{}, err
	}
	return c, nil
}

// sourceKeys are the decoded values of one NAME_file, NAME_fd,
// NAME_credential trio.
type sourceKeys struct {
	File       string
	FD         int64
	Credential string
}

// source turns the trio table.NAME_file, NAME_fd and NAME_credential into a
// credential.Source: at most one of them, the file resolved against dir, the
// descriptor 3 or above. Every secret of the format is named this way.
// Whether the secret is required is checked by validate.
func source(def func(...string) bool, dir, table, name string, v sourceKeys) (credential.Source, error) {
	fileKey, fdKey, credKey := name+"_file", name+"_fd", name+"_credential"
	var src credential.Source
	n := 0
	if def(table, fileKey) {
		if v.File == "" {
			return src, invalid("%s.%s is empty; give the path of the file holding the secret", table, fileKey)
		}
		src.File = resolve(dir, v.File)
		n++
	}
	if def(table, fdKey) {
		if v.FD < 3 || v.FD > 1<<20 {
			return src, invalid("%s.%s is %d; it must be an inherited descriptor, 3 or above", table, fdKey, v.FD)
		}
		src.FD = int(v.FD)
		n++
	}
	if def(table, credKey) {
		if v.Credential == "" {
			return src, invalid("%s.%s is empty; give the credential name from LoadCredential=", table, credKey)
		}
		src.Credential = v.Credential
		n++
	}
	if n > 1 {
		return src, fmt.Errorf("%w: %w: set at most one of %s.%s, %s and %s", ErrInvalid, credential.ErrAmbiguous, table, fileKey, fdKey, credKey)
	}
	return src, nil
}

// duration parses a positive Go duration ("90s", "5m", "1h30m") or "off",
// which returns -1 (disabled).
func duration(key, s string) (time.Duration, error) {
	if s == "off" {
		return -1, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, invalid("%s is not a positive duration such as \"90s\" or \"5m\" (or \"off\")", key)
	}
	return d, nil
}

// resolve makes a relative path relative to dir.
func resolve(dir, path string) string {
	if dir == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}

// resolveKEK resolves the path of a local: KEK URI against dir; other
// schemes are returned unchanged.
func resolveKEK(dir, uri string) string {
	scheme, rest, ok := strings.Cut(uri, ":")
	if !ok || !strings.EqualFold(scheme, "local") || rest == "" {
		return uri
	}
	return scheme + ":" + resolve(dir, rest)
}
