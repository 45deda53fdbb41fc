package pkcs11

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/keyward/keyward/kms"
)

// Limits on the names a URI and a Config carry.
const (
	// MaxTokenLabel is the size of CK_TOKEN_INFO.label: a token label is at
	// most 32 bytes.
	MaxTokenLabel = 32
	// MaxObjectLabel bounds the key label (CKA_LABEL has no fixed size).
	MaxObjectLabel = 255
	// DefaultObject is the key label used when a URI or Config names none.
	DefaultObject = "kek"
)

// ParseURI parses a KEK URI in the style of RFC 7512,
//
//	pkcs11:token=keyward;object=kek
//	pkcs11:token=keyward;object=kek;type=secret-key;version=3
//
// into a Config with Token, Object and Version set. The caller adds Module
// (the path of the PKCS#11 library, from keyward's configuration) and PIN
// (loaded with package credential): a URI names a key, it never says which
// code to load or carries a secret.
//
// Path attributes, separated by ';', are:
//
//   - token (required): the token label, at most 32 bytes;
//   - object: the key label, default "kek";
//   - type: if present, must be secret-key;
//   - version: a KEK version from 1 that Wrap uses instead of the highest
//     one (see [Config.Version]).
//
// Values are percent-decoded (%3B for ';'). Every other attribute is refused
// with an error wrapping [kms.ErrInvalidURI] that says why: pin-value and
// pin-source (the PIN comes from a file, descriptor or systemd credential
// through package credential), module-path and module-name (the module path is
// configuration, not part of the key's name), id (keyward uses CKA_ID for
// version numbers), and any attribute keyward does not interpret, since
// ignoring one would select a key other than the one the URI names. Errors
// never echo attribute values, which might hold a PIN.
func ParseURI(uri string) (Config, error) {
	u, err := kms.ParseURI(uri)
	if err != nil {
		return Config{}, err
	}
	if u.Scheme != "pkcs11" {
		return Config{}, fmt.Errorf("%w: scheme %q is not pkcs11", kms.ErrInvalidURI, u.Scheme)
	}
	path, query, hasQuery := strings.Cut(u.Opaque, "?")
	if hasQuery {
		for attr := range strings.SplitSeq(query, "&") {
			name, _, _ := strings.Cut(attr, "=")
			return Config{}, refuseAttr(name)
		}
	}
	var cfg Config
	seen := map[string]bool{}
	for attr := range strings.SplitSeq(path, ";") {
		name, raw, ok := strings.Cut(attr, "=")
		if !ok || name == "" {
			// Do not echo the text: without '=' it may be a value, even a PIN.
			return Config{}, fmt.Errorf("%w: pkcs11 uri attribute is not name=value", kms.ErrInvalidURI)
		}
		switch name {
		case "token", "object", "type", "version":
		default:
			return Config{}, refuseAttr(name)
		}
		if seen[name] {
			return Config{}, fmt.Errorf("%w: pkcs11 uri attribute %s appears twice", kms.ErrInvalidURI, name)
		}
		seen[name] = true
		value, err := unescape(raw)
		if err != nil {
			return Config{}, fmt.Errorf("%w: pkcs11 uri attribute %s: %w", kms.ErrInvalidURI, name, err)
		}
		if value == "" {
			return Config{}, fmt.Errorf("%w: pkcs11 uri attribute %s is empty", kms.ErrInvalidURI, name)
		}
		switch name {
		case "token":
			cfg.Token = value
		case "object":
			cfg.Object = value
		case "type":
			if value != "secret-key" {
				return Config{}, fmt.Errorf("%w: pkcs11 uri type must be secret-key (an AES key)", kms.ErrInvalidURI)
			}
		case "version":
			v, err := parseVersion(value)
			if err != nil {
				return Config{}, fmt.Errorf("%w: pkcs11 uri version: %w", kms.ErrInvalidURI, err)
			}
			cfg.Version = v
		}
	}
	if cfg.Object == "" {
		cfg.Object = DefaultObject
	}
	if err := checkLabels(cfg.Token, cfg.Object); err != nil {
		return Config{}, fmt.Errorf("%w: %w", kms.ErrInvalidURI, err)
	}
	return cfg, nil
}

// refuseAttr explains why a pkcs11 URI attribute is not accepted. It names
// the attribute, never its value.
func refuseAttr(name string) error {
	var why string
	switch name {
	case "pin-value", "pin-source":
		why = "a kek uri never names the pin; load it from a file, descriptor or systemd credential (package credential) and pass it as Config.PIN"
	case "module-path", "module-name":
		why = "the module path comes from keyward's configuration, not the kek uri"
	case "id":
		why = "keyward keeps the kek version in CKA_ID; name the key by token and object (and version)"
	case "slot-id", "slot-description", "slot-manufacturer", "serial", "model", "manufacturer",
		"library-manufacturer", "library-description", "library-version":
		why = "not supported; name the token by its label (token=)"
	default:
		if !validName(name) {
			return fmt.Errorf("%w: malformed pkcs11 uri attribute name", kms.ErrInvalidURI)
		}
		why = "unknown attribute (known: token, object, type, version)"
	}
	return fmt.Errorf("%w: pkcs11 uri attribute %s refused: %s", kms.ErrInvalidURI, name, why)
}

// validName reports whether name looks like an attribute name, so that a
// stray value is not echoed in an error.
func validName(name string) bool {
	if name == "" || len(name) > 32 {
		return false
	}
	for i := range len(name) {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// parseVersion parses a decimal version from 1 to 2³²−1 without sign,
// leading zeros or spaces.
func parseVersion(s string) (uint32, error) {
	if s == "" || s[0] == '0' || s[0] == '+' || s[0] == '-' {
		return 0, fmt.Errorf("want a decimal number from 1 without leading zeros")
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("want a decimal number from 1 to %d", uint32(1<<32-1))
	}
	return uint32(v), nil
}

// checkLabels validates a token and key label: non-empty UTF-8 without
// control characters, within the size limits; a token label also may not end
// in a space (PKCS#11 pads labels with spaces, so it could never match).
func checkLabels(token, object string) error {
	switch {
	case token == "":
		return fmt.Errorf("no token label (token=)")
	case len(token) > MaxTokenLabel:
		return fmt.Errorf("token label of %d bytes exceeds %d", len(token), MaxTokenLabel)
	case strings.HasSuffix(token, " "):
		return fmt.Errorf("token label ends in a space")
	case !printable(token):
		return fmt.Errorf("token label is not printable utf-8")
	case object == "":
		return fmt.Errorf("no key label (object=)")
	case len(object) > MaxObjectLabel:
		return fmt.Errorf("key label of %d bytes exceeds %d", len(object), MaxObjectLabel)
	case !printable(object):
		return fmt.Errorf("key label is not printable utf-8")
	}
	return nil
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

// unescape percent-decodes an attribute value. It refuses a malformed
// escape; it does not echo the value.
func unescape(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return "", fmt.Errorf("malformed percent escape")
		}
		b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
		i += 2
	}
	return b.String(), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// escape percent-encodes an attribute value for a pkcs11 URI path: RFC 3986
// unreserved characters and RFC 7512's pk11-path-res-avail stay, everything
// else (';', '?', '%', '/', '#', spaces, non-ASCII) is encoded.
func escape(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := range len(s) {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("-._~:[]@!$'()*+,=&", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// kekID returns the KEK id for a token and key label:
// "pkcs11:token=LABEL;object=LABEL", percent-encoded so ParseURI reads it
// back. It carries no secret and no version.
func kekID(token, object string) string {
	return "pkcs11:token=" + escape(token) + ";object=" + escape(object)
}
