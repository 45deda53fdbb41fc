package secretstore

import (
	"fmt"
	"strings"
)

// MaxNameLen is the longest secret name, in bytes.
const MaxNameLen = 256

// aadPrefix starts the encryption context of every secret.
const aadPrefix = "secret:"

// AADContext returns the encryption context that binds a secret's
// ciphertext to its name: "secret:" followed by the name. The engine adds
// the organization and key version to the AAD.
func AADContext(name string) string { return aadPrefix + name }

// ValidateName checks name against the grammar (see the package
// documentation) and returns an error wrapping ErrInvalidName that says
// what is wrong, or nil.
func ValidateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrInvalidName)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: %d bytes, at most %d allowed", ErrInvalidName, len(name), MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		if !nameByte(name[i]) && name[i] != '/' {
			return fmt.Errorf("%w: %q: byte %#02x at %d; use letters, digits, '.', '_', '-' and '/' between segments",
				ErrInvalidName, name, name[i], i)
		}
	}
	for seg := range strings.SplitSeq(name, "/") {
		switch {
		case seg == "":
			return fmt.Errorf("%w: %q: empty segment (no leading, trailing or doubled '/')", ErrInvalidName, name)
		case strings.Trim(seg, ".") == "":
			return fmt.Errorf("%w: %q: segment %q is made of dots only", ErrInvalidName, name, seg)
		}
	}
	return nil
}

// nameByte reports whether b may appear in a name segment.
func nameByte(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' ||
		b == '.' || b == '_' || b == '-'
}
