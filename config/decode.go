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
		URI string `toml:"uri"`
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
}

// tableKeys returns the keys of a table of the format, in the order
// docs/CONFIG.md documents them, and whether the table exists. Keys are
// case-sensitive.
func tableKeys(table string) ([]string, bool) {
	switch table {
	case "store":
		return []string{"sqlite", "postgres", "password_file", "password_fd", "password_credential", "max_conns", "schema"}, true
	case "kek":
		return []string{"uri"}, true
	case "cache":
		return []string{"size", "ttl"}, true
	case "nonce":
		return []string{"threshold", "block"}, true
	case "changes":
		return []string{"poll"}, true
	}
	return nil, false
}

// integerKey reports whether a key's value is an integer; every other key
// holds a string, every table is a plain table.
func integerKey(k string) bool {
	switch k {
	case "store.password_fd", "store.max_conns", "cache.size", "nonce.threshold", "nonce.block":
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
			if k[1] == "ttl" || k[1] == "poll" {
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
		if !isKnown(k) && slices.ContainsFunc(k, secretKeyName) {
			return inlineSecretKey(k.String())
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
		return invalid("unknown key %s (tables: [store], [kek], [cache], [nonce], [changes])", k)
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
// the key, never the value.
func inlineSecretKey(key string) error {
	return fmt.Errorf("%w: %w: key %s would put a secret in the config file; keyward reads secrets only from a file, "+
		"a file descriptor or a systemd credential: remove the key, write the secret to a file with mode 600 and name it "+
		"with password_file (or password_fd, password_credential) in [store]", ErrInvalid, ErrInlineSecret, key)
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
		if k := pe.LastKey; k != "" && slices.ContainsFunc(strings.Split(k, "."), secretKeyName) {
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
	if def("store", "password_file") {
		if s.PasswordFile == "" {
			return nil, invalid("store.password_file is empty; give the path of the password file")
		}
		c.Store.Password.File = resolve(dir, s.PasswordFile)
	}
	if def("store", "password_fd") {
		if s.PasswordFD < 3 || s.PasswordFD > 1<<20 {
			return nil, invalid("store.password_fd is %d; it must be an inherited descriptor, 3 or above", s.PasswordFD)
		}
		c.Store.Password.FD = int(s.PasswordFD)
	}
	if def("store", "password_credential") && s.PasswordCredential == "" {
		return nil, invalid("store.password_credential is empty; give the credential name from LoadCredential=")
	}
	c.Store.Password.Credential = s.PasswordCredential
	if n := countSet(def("store", "password_file"), def("store", "password_fd"), def("store", "password_credential")); n > 1 {
		return nil, fmt.Errorf("%w: %w: set at most one of store.password_file, password_fd and password_credential", ErrInvalid, credential.ErrAmbiguous)
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

	c.KEK.URI = resolveKEK(dir, f.KEK.URI)

	var err error
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
	return c, nil
}

func countSet(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
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
