package audit

import (
	"context"
	"errors"
	"fmt"

	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/store"
)

// rewrapAttempts bounds how often RewrapKey starts again after losing its
// compare-and-swap to another process.
const rewrapAttempts = 3

// RewrapKey moves the stored audit key to the KEK's current version, so an
// older KEK version can be retired: it unwraps the key (with the audit
// key's AAD), wraps it again and stores the new wrap with a compare-and-swap
// (store.AuditStore.RewrapAuditKey). The key itself does not change, so
// processes that hold it go on appending, and the chain verifies as before.
// The plaintext key is zeroed before RewrapKey returns.
//
// It reports whether it moved the key. It moves nothing, and returns false,
// when the store has no audit key yet (nothing was ever logged; the first
// Open will wrap a new one under the current version) or the key is wrapped
// by the current version already, so calling it again after a success or a
// crash is safe: it is idempotent and resumable. If another process moves
// the key meanwhile, RewrapKey reads it again and starts over. A key wrapped
// by another KEK than kek is an error wrapping kms.ErrUnknownKEK.
func RewrapKey(ctx context.Context, st store.AuditStore, kek kms.KEK) (rewrapped bool, err error) {
	for attempt := 1; ; attempt++ {
		moved, err := rewrapOnce(ctx, st, kek)
		if errors.Is(err, store.ErrStale) && attempt < rewrapAttempts {
			continue // moved by another process meanwhile: look again
		}
		return moved, err
	}
}

// rewrapOnce is one read, rewrap and compare-and-swap of the audit key. It
// returns an error wrapping store.ErrStale when it lost the swap.
func rewrapOnce(ctx context.Context, st store.AuditStore, kek kms.KEK) (bool, error) {
	k, err := st.AuditKey(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("audit: rewrap the audit key: read it: %w", err)
	}
	from := store.KEKRef{ID: k.KEKID, Version: k.KEKVersion}
	if k.KEKID != kek.ID() {
		return false, fmt.Errorf("audit: the audit key is wrapped by kek %s, not the configured %s: %w",
			k.KEKID, kek.ID(), kms.ErrUnknownKEK)
	}
	if r, ok := kek.(kms.Rotator); ok && r.Version() == k.KEKVersion {
		return false, nil // current already: no KMS call needed
	}
	key, err := kek.Unwrap(ctx, kms.Wrapped{KEKID: k.KEKID, KEKVersion: k.KEKVersion, Ciphertext: k.Wrapped}, KeyAAD())
	if err != nil {
		return false, fmt.Errorf("audit: rewrap the audit key: unwrap it (KEK %s version %d): %w", k.KEKID, k.KEKVersion, err)
	}
	if len(key) != keySize {
		clear(key)
		return false, fmt.Errorf("audit: rewrap the audit key: it is %d bytes, want %d", len(key), keySize)
	}
	w, err := kek.Wrap(ctx, key, KeyAAD())
	clear(key)
	if err != nil {
		return false, fmt.Errorf("audit: rewrap the audit key: wrap it: %w", err)
	}
	to := store.KEKRef{ID: w.KEKID, Version: w.KEKVersion}
	if to == from {
		return false, nil // a KEK that does not rotate on demand: nothing to move
	}
	if err := st.RewrapAuditKey(ctx, from, to, w.Ciphertext); err != nil {
		return false, fmt.Errorf("audit: rewrap the audit key from KEK %s version %d to version %d: %w",
			from.ID, from.Version, to.Version, err)
	}
	return true, nil
}
