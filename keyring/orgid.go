package keyring

import "fmt"

// MaxOrgIDLen is the longest organization id keyward accepts.
const MaxOrgIDLen = 64

// ValidateOrgID checks that id is a usable organization id: 1 to 64 bytes of
// ASCII letters, digits, '.', '_' or '-', starting with a letter or digit.
// UUIDs, slugs and numeric ids all fit; whitespace, slashes, control
// characters and non-ASCII do not, so an id is safe in paths, logs and URLs.
func ValidateOrgID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty (pass --org ORG)", ErrInvalidOrg)
	}
	if len(id) > MaxOrgIDLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidOrg, MaxOrgIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case (c == '.' || c == '_' || c == '-') && i > 0:
		default:
			return fmt.Errorf("%w: %q: use letters, digits, '.', '_' or '-', starting with a letter or digit", ErrInvalidOrg, id)
		}
	}
	return nil
}
