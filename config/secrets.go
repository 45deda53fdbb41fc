package config

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// Inline-secret detection. A config never holds a secret; these checks catch
// the usual ways one slips in — a key named for it, a password in the
// database URL, a PIN in a PKCS#11 URI — and refuse it with an error that
// names the key or parameter but never quotes the value.

// secretWord reports whether a word of a key name names a secret: alone
// ("pin", "db_pass") or, for the longer ones, inside a word too
// ("dbpassword", "clientsecret").
func secretWord(w string) bool {
	switch w {
	case "pin", "pins", "pwd", "pass", "key", "keys", "token", "tokens", "apikey", "privatekey", "credentials":
		return true
	}
	for _, p := range [...]string{"password", "passwd", "passphrase", "secret"} {
		if strings.Contains(w, p) {
			return true
		}
	}
	return false
}

// referenceWord reports whether a key name's last word makes it a
// reference to a secret rather than the secret: password_file, pin_fd,
// key_id.
func referenceWord(w string) bool {
	switch w {
	case "file", "fd", "credential", "path", "dir", "source", "name", "id", "uri", "url", "label", "type":
		return true
	}
	return false
}

// keyWords splits a key name into lower-case words of letters and digits.
func keyWords(k string) []string {
	return strings.FieldsFunc(strings.ToLower(k), func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < '0' || r > '9')
	})
}

// secretKeyName reports whether a key (or one dotted component of one)
// names a secret value.
func secretKeyName(k string) bool {
	words := keyWords(k)
	if len(words) == 0 || referenceWord(words[len(words)-1]) {
		return false
	}
	return slices.ContainsFunc(words, secretWord)
}

// knownSecretKey reports whether k holds a secret, or travels with one,
// although its name ends like a reference (…_id): the keys of an AWS
// credentials file (the access key id alone is not secret, but it goes
// with the secret key into the file credentials_file names) and Vault
// AppRole's secret_id.
func knownSecretKey(k string) bool {
	switch strings.ToLower(k) {
	case "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "secret_id":
		return true
	}
	return false
}

// inlineSecret reports whether an unknown key would hold a secret.
func inlineSecret(k toml.Key) bool {
	return slices.ContainsFunc(k, secretKeyName) || knownSecretKey(k[len(k)-1])
}

// secretHome names the keys that name, instead, the secret a refused key k
// would hold, for the error message.
func secretHome(k toml.Key) string {
	var words []string
	for _, c := range k {
		words = append(words, keyWords(c)...)
	}
	has := func(ws ...string) bool {
		return slices.ContainsFunc(words, func(w string) bool { return slices.Contains(ws, w) })
	}
	switch {
	case has("pin", "pins", "pinvalue"):
		return "pin_file (or pin_fd, pin_credential) in [kek]"
	case has("aws", "credentials", "access", "client", "private", "privatekey", "apikey", "json"):
		return "credentials_file (or credentials_fd, credentials_credential) in [kek]"
	case has("token", "tokens"):
		return "token_file (or token_fd, token_credential) in [kek]"
	case k[0] == "kek":
		return "pin_file (pkcs11:), token_file (transit:) or credentials_file (awskms:, gcpkms:) in [kek], " +
			"or their _fd and _credential forms"
	}
	return "password_file (or password_fd, password_credential) in [store]"
}

// usePasswordFile is the advice every database-password error ends with.
const usePasswordFile = "write the password to a file with mode 600 and set password_file " +
	"(or password_fd, password_credential) in [store]"

// checkPostgres validates store.postgres: a postgres:// URL with no
// password in it. A libpq keyword/value string is refused (the store takes
// URLs only), but searched for a password first, so that the error about
// the password, the more important one, comes first. The value is never
// quoted.
func checkPostgres(s string) error {
	lower := strings.ToLower(s)
	if strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://") {
		if err := checkPostgresURL(s); err != nil {
			return err
		}
		if strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") {
			return nil
		}
		return invalid("store.postgres: write the scheme in lower case, postgres://")
	}
	if strings.Contains(s, "=") {
		if err := checkKeywordValue(s); err != nil {
			return err
		}
	}
	return invalid("store.postgres must be a URL: postgres://USER@HOST:PORT/DATABASE?sslmode=verify-full " +
		"(keyword/value connection strings are not accepted)")
}

// checkPostgresURL looks for a password in the user info and in the query
// before parsing the URL as a whole: url.Parse errors quote the input.
func checkPostgresURL(s string) error {
	rest := s[strings.Index(s, "://")+3:]
	authority, _, _ := strings.Cut(rest, "/")
	authority, _, _ = strings.Cut(authority, "?")
	authority, _, _ = strings.Cut(authority, "#")
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		if _, pw, ok := strings.Cut(authority[:at], ":"); ok && pw != "" {
			return fmt.Errorf("%w: %w: store.postgres carries a password (user:PASSWORD@host); remove it from the URL, %s",
				ErrInvalid, ErrInlineSecret, usePasswordFile)
		}
	}
	if _, query, ok := strings.Cut(rest, "?"); ok {
		query, _, _ = strings.Cut(query, "#")
		params, _ := url.ParseQuery(query) // keeps what parses
		for name := range params {
			if err := checkPostgresParam(name); err != nil {
				return err
			}
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		detail := ""
		var ue *url.Error
		if !strings.Contains(s, "@") && errors.As(err, &ue) {
			detail = ": " + ue.Err.Error()
		}
		return invalid("store.postgres is not a valid URL%s (percent-encode special characters)", detail)
	}
	if pw, ok := u.User.Password(); ok && pw != "" { // unreachable after the scan above; kept as a guard
		return fmt.Errorf("%w: %w: store.postgres carries a password; %s", ErrInvalid, ErrInlineSecret, usePasswordFile)
	}
	return nil
}

// checkKeywordValue checks a libpq keyword/value string
// ("host=db user=keyward sslmode=verify-full") for password keywords.
func checkKeywordValue(s string) error {
	for _, k := range keywordKeys(s) {
		if err := checkPostgresParam(k); err != nil {
			return err
		}
	}
	return nil
}

// checkPostgresParam refuses a connection parameter that carries a secret,
// or that makes the driver read a password file keyward does not check.
func checkPostgresParam(name string) error {
	lower := strings.ToLower(name)
	switch {
	case secretKeyName(lower):
		return fmt.Errorf("%w: %w: store.postgres sets %s; remove it, %s", ErrInvalid, ErrInlineSecret, lower, usePasswordFile)
	case lower == "passfile":
		return invalid("store.postgres sets passfile; keyward reads the password itself, so that it can check the file's mode: use password_file in [store] instead")
	}
	return nil
}

// keywordKeys returns the keywords of a libpq keyword/value string, up to
// where it stops parsing. Values may be single-quoted, with backslash
// escapes.
func keywordKeys(s string) []string {
	var keys []string
	i := 0
	space := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
	}
	for {
		space()
		if i >= len(s) {
			return keys
		}
		start := i
		for i < len(s) && s[i] != '=' && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' {
			i++
		}
		key := s[start:i]
		space()
		if key == "" || i >= len(s) || s[i] != '=' {
			return keys
		}
		keys = append(keys, key)
		i++
		space()
		if i < len(s) && s[i] == '\'' {
			for i++; ; i++ {
				if i >= len(s) {
					return keys
				}
				if s[i] == '\\' {
					i++
					continue
				}
				if s[i] == '\'' {
					i++
					break
				}
			}
			continue
		}
		for i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' {
			if s[i] == '\\' {
				i++
			}
			i++
		}
	}
}

// checkURISecrets refuses a KEK URI that embeds a secret: a PIN (PKCS#11
// URIs allow pin-value=), a password in the user info of an embedded URL
// (transit:https://user:pw@vault…), or a parameter named for a secret
// (token=, secret_id=). PKCS#11's token= names the token label and its
// pin-source= names a file, so both are allowed there.
func checkURISecrets(uri string) error {
	scheme, rest, _ := strings.Cut(uri, ":")
	scheme = strings.ToLower(scheme)
	if i := strings.Index(rest, "://"); i >= 0 {
		authority := rest[i+3:]
		if j := strings.IndexAny(authority, "/?#"); j >= 0 {
			authority = authority[:j]
		}
		if at := strings.LastIndex(authority, "@"); at >= 0 && strings.Contains(authority[:at], ":") {
			return fmt.Errorf("%w: %w: kek.uri carries a password (user:PASSWORD@host); remove it: keyward reads KEK credentials "+
				"from a file, a file descriptor or a systemd credential, never from the URI", ErrInvalid, ErrInlineSecret)
		}
	}
	for _, attr := range strings.FieldsFunc(rest, func(r rune) bool { return r == ';' || r == '?' || r == '&' }) {
		name, _, ok := strings.Cut(attr, "=")
		if !ok {
			continue
		}
		if n, err := url.PathUnescape(name); err == nil {
			name = n
		}
		name = strings.ToLower(strings.TrimSpace(name))
		var secret bool
		switch {
		case name == "pin-value" || name == "pin" || name == "pin_value" || name == "pinvalue":
			secret = true
		case scheme == "pkcs11":
			// Other PKCS#11 attributes (token, object, type, id, pin-source,
			// module-path…) name things; none holds a secret.
		default:
			secret = name != "key" && secretKeyName(name)
		}
		if secret {
			return fmt.Errorf("%w: %w: kek.uri carries a secret in %s=; remove it: keyward reads an HSM PIN or other KEK "+
				"credentials from a file, a file descriptor or a systemd credential, never from the URI or the config", ErrInvalid, ErrInlineSecret, name)
		}
	}
	return nil
}
