package gcpkms

import (
	"errors"
	"fmt"
	"strings"

	"github.com/keyward/keyward/kms"
)

// ParseURI parses a KEK URI of the form
//
//	gcpkms:projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY
//
// into a Config with KeyName set (the scheme is case-insensitive, the rest is
// kept byte for byte). It refuses a crypto key version name, a leading "//",
// and anything but the six-segment resource name. Errors wrap
// kms.ErrInvalidURI.
func ParseURI(s string) (Config, error) {
	u, err := kms.ParseURI(s)
	if err != nil {
		return Config{}, err
	}
	if u.Scheme != Scheme {
		return Config{}, fmt.Errorf("%w: scheme %q is not %s", kms.ErrInvalidURI, u.Scheme, Scheme)
	}
	if err := checkKeyName(u.Opaque); err != nil {
		return Config{}, fmt.Errorf("%w: %w", kms.ErrInvalidURI, err)
	}
	return Config{KeyName: u.Opaque}, nil
}

// URI returns the KEK URI for cfg's key: "gcpkms:" and KeyName.
func (cfg Config) URI() string { return Scheme + ":" + cfg.KeyName }

// checkKeyName checks that name is a crypto key resource name whose segments
// Cloud KMS could have issued. Strictness keeps anything that would change
// the request URL (/, ?, #, %, "..") out of it.
func checkKeyName(name string) error {
	const want = "want projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY"
	parts := strings.Split(name, "/")
	if len(parts) == 10 && parts[8] == "cryptoKeyVersions" {
		return fmt.Errorf("gcpkms: key name %q names a crypto key version; name the crypto key (Encrypt uses its primary version, Decrypt finds the version in the ciphertext)", clean(name))
	}
	if len(parts) != 8 || parts[0] != "projects" || parts[2] != "locations" || parts[4] != "keyRings" || parts[6] != "cryptoKeys" {
		return fmt.Errorf("gcpkms: key name %q: %s", clean(name), want)
	}
	for _, seg := range []struct {
		what, value string
		max         int
		ok          func(byte) bool
	}{
		{"project", parts[1], 100, func(c byte) bool { return isAlnum(c) || c == '-' || c == '.' || c == ':' || c == '_' }},
		{"location", parts[3], 63, func(c byte) bool { return isAlnum(c) || c == '-' }},
		{"key ring", parts[5], 63, func(c byte) bool { return isAlnum(c) || c == '-' || c == '_' }},
		{"crypto key", parts[7], 63, func(c byte) bool { return isAlnum(c) || c == '-' || c == '_' }},
	} {
		if err := checkSegment(seg.what, seg.value, seg.max, seg.ok); err != nil {
			return fmt.Errorf("gcpkms: key name %q: %w", clean(name), err)
		}
	}
	return nil
}

func checkSegment(what, s string, maxLen int, ok func(byte) bool) error {
	if s == "" || len(s) > maxLen {
		return fmt.Errorf("%s id of %d bytes, want 1 to %d", what, len(s), maxLen)
	}
	if s == "." || s == ".." {
		return errors.New(what + " id is a dot segment")
	}
	for i := range len(s) {
		if !ok(s[i]) {
			return fmt.Errorf("%s id contains %q", what, s[i])
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
