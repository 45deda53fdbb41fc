package audit

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/store"
)

// keyAADLabel binds the wrapped audit key to its purpose. The AAD is
// u8 len(label) ‖ label: a data key's AAD (kms.DEKAAD) starts with another
// length and label, so neither wrap can be passed off as the other.
const keyAADLabel = "keyward/audit-key/v1"

// valueKeyInfo is the HKDF info of the key behind Log.MAC.
const valueKeyInfo = "keyward/audit/value-mac/v1"

// keySize is the audit key's length.
const keySize = 32

// KeyAAD returns the additional authenticated data of the audit key's wrap.
func KeyAAD() []byte { return append([]byte{byte(len(keyAADLabel))}, keyAADLabel...) }

// errNoKey reports a store without an audit key (nothing was ever logged).
var errNoKey = errors.New("audit: no audit key in the store")

// loadKey returns the store's audit key, unwrapped. With create it makes,
// wraps and stores a new key when there is none (the first process to
// store one wins; the others use it).
func loadKey(ctx context.Context, st store.AuditStore, kek kms.KEK, create bool) ([]byte, error) {
	k, err := st.AuditKey(ctx)
	if errors.Is(err, store.ErrNotFound) {
		if !create {
			return nil, errNoKey
		}
		fresh := make([]byte, keySize)
		_, _ = rand.Read(fresh)
		w, err := kek.Wrap(ctx, fresh, KeyAAD())
		clear(fresh)
		if err != nil {
			return nil, fmt.Errorf("audit: wrap a new audit key: %w", err)
		}
		k, err = st.InitAuditKey(ctx, store.AuditKey{KEKID: w.KEKID, KEKVersion: w.KEKVersion, Wrapped: w.Ciphertext})
		if err != nil {
			return nil, fmt.Errorf("audit: store the new audit key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("audit: read the audit key: %w", err)
	}
	key, err := kek.Unwrap(ctx, kms.Wrapped{KEKID: k.KEKID, KEKVersion: k.KEKVersion, Ciphertext: k.Wrapped}, KeyAAD())
	if err != nil {
		return nil, fmt.Errorf("audit: unwrap the audit key (KEK %s version %d): %w", k.KEKID, k.KEKVersion, err)
	}
	if len(key) != keySize {
		clear(key)
		return nil, fmt.Errorf("audit: the audit key is %d bytes, want %d", len(key), keySize)
	}
	return key, nil
}

// valueKey derives the key of Log.MAC from the audit key.
func valueKey(key []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, key, nil, valueKeyInfo, sha256.Size)
}
