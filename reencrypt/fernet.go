package reencrypt

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/fernet/fernet-go"
)

// This file reads legacy Fernet tokens (Python cryptography's Fernet and
// MultiFernet) with keys given to this process only (--fernet-key-file),
// through github.com/fernet/fernet-go. It is the one place that knows the
// library, so it can give way to keyward's own Fernet reader.

// ErrFernet reports a Fernet token that no given key opens (wrong key,
// altered or truncated token): one opaque error, like keyward.ErrDecrypt.
var ErrFernet = errors.New("fernet token did not verify under any given key")

// ErrFernetKeys reports a Fernet key file that holds no valid key.
var ErrFernetKeys = errors.New("invalid fernet key file")

// fernetMinToken is the shortest raw Fernet token: version, timestamp, IV,
// one AES block and the HMAC-SHA256 tag.
const fernetMinToken = 1 + 8 + 16 + 16 + 32

// FernetKeys are the keys of a MultiFernet, newest first.
type FernetKeys struct {
	keys []*fernet.Key
}

// ParseFernetKeys reads urlsafe-base64 Fernet keys, one per line, newest
// first (as MultiFernet takes them). Blank lines and lines starting with #
// are ignored. Errors name the line, never its content.
func ParseFernetKeys(data []byte) (*FernetKeys, error) {
	var fk FernetKeys
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		k, err := fernet.DecodeKey(string(line))
		if err != nil {
			return nil, fmt.Errorf("%w: line %d is not a urlsafe-base64 32-byte key", ErrFernetKeys, n)
		}
		fk.keys = append(fk.keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFernetKeys, err)
	}
	if len(fk.keys) == 0 {
		return nil, fmt.Errorf("%w: no key in it", ErrFernetKeys)
	}
	return &fk, nil
}

// Len is the number of keys.
func (fk *FernetKeys) Len() int { return len(fk.keys) }

// IsFernet reports whether v has the shape of a Fernet token: urlsafe
// base64 whose first byte decodes to the version 0x80. It does not verify.
func IsFernet(v []byte) bool {
	if len(v) < 4 || v[0] != 'g' {
		return false
	}
	var b [3]byte
	n, err := base64.URLEncoding.Decode(b[:], v[:4])
	return err == nil && n == 3 && b[0] == 0x80
}

// Decrypt opens a Fernet token with the first key that verifies it (no TTL:
// old tokens are exactly what a migration reads) and returns the plaintext
// and that key's index in the file. Every failure is ErrFernet.
func (fk *FernetKeys) Decrypt(tok []byte) ([]byte, int, error) {
	if base64.URLEncoding.DecodedLen(len(tok)) < fernetMinToken {
		return nil, 0, ErrFernet
	}
	if _, err := base64.URLEncoding.DecodeString(string(tok)); err != nil {
		return nil, 0, ErrFernet
	}
	for i, k := range fk.keys {
		if msg := fernet.VerifyAndDecrypt(tok, 0, []*fernet.Key{k}); msg != nil {
			return msg, i, nil
		}
	}
	return nil, 0, ErrFernet
}
