package reencrypt

import (
	"errors"
	"fmt"

	"github.com/keyward/keyward/format/fernet"
)

// This file holds the Fernet keys given to a migration in a file
// (--fernet-key-file): used in this process only, never imported. Tokens
// are read by keyward's own Fernet reader (package format/fernet).

// ErrFernetKeys reports a Fernet key file that holds no valid key.
var ErrFernetKeys = errors.New("invalid fernet key file")

// FernetKeys are the keys of a MultiFernet, newest first.
type FernetKeys struct {
	keys []*fernet.Key
}

// ParseFernetKeys reads urlsafe-base64 Fernet keys, one per line, newest
// first (as MultiFernet takes them). Blank lines and lines starting with #
// are ignored. Errors name the line, never its content.
func ParseFernetKeys(data []byte) (*FernetKeys, error) {
	keys, err := fernet.ParseKeyFile(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFernetKeys, err)
	}
	return &FernetKeys{keys: keys}, nil
}

// Len is the number of keys.
func (fk *FernetKeys) Len() int { return len(fk.keys) }

// Keys returns the keys, newest first (nil for a nil FernetKeys).
func (fk *FernetKeys) Keys() []*fernet.Key {
	if fk == nil {
		return nil
	}
	return fk.keys
}

// IsFernet reports whether v has the shape of a Fernet token. It does not
// verify it.
func IsFernet(v []byte) bool { return fernet.LooksLike(v) }

// Decrypt opens a Fernet token with the first key that verifies it and
// returns the plaintext and that key's index in the file. A token no key
// opens is keyward.ErrDecrypt; one that is no Fernet token at all wraps
// keyward.ErrMalformed.
func (fk *FernetKeys) Decrypt(tok []byte) ([]byte, int, error) {
	return fernet.Decrypt(tok, fk.keys...)
}

// match returns the index of the key that signed tok, or -1.
func (fk *FernetKeys) match(tok []byte) int {
	t, err := fernet.Parse(tok)
	if err != nil {
		return -1
	}
	return fernet.Match(t, fk.keys...)
}
