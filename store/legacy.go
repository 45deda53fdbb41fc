package store

import (
	"context"
	"errors"
	"time"
)

// Legacy keys: keys of an older encryption format that an application used
// before keyward (Fernet), imported so keyward can read what they sealed
// while the data migrates. A legacy key is stored like a DEK — wrapped by the
// KEK, with an AAD of its own (kms.LegacyKeyAAD) — but it never encrypts: it
// enters decrypt-only and moves on to retired (reversible) and destroyed
// (final), like a DEK version.

// LegacyFernet is the Kind of an imported Fernet key (and of a KeyRef naming
// one).
const LegacyFernet = "fernet"

// ErrKeyExists reports a legacy key that the organization already holds
// (same fingerprint, in any state): nothing was added.
var ErrKeyExists = errors.New("store: key already imported")

// LegacyKey is one imported legacy key of an organization, as stored:
// wrapped.
type LegacyKey struct {
	Org string
	// ID numbers the organization's legacy keys 1, 2, 3… in import order,
	// with no gap and no reuse.
	ID uint32
	// Kind is the legacy format; LegacyFernet is the only one so far.
	Kind string
	// State is decrypt-only, retired or destroyed; never active.
	State KeyState
	// Fingerprint names the key without revealing it (for Fernet:
	// fernet.Key.Fingerprint); it is unique per organization and kept after
	// destruction, so a destroyed key cannot be imported again unnoticed.
	Fingerprint string
	// KEKID and KEKVersion name the KEK version that wrapped the key.
	KEKID      string
	KEKVersion uint32
	// Wrapped is the key encrypted under the KEK; nil once destroyed.
	Wrapped   []byte
	CreatedAt time.Time
	UpdatedAt time.Time
}

// LegacyKeyStore keeps imported legacy keys. Every call that changes a key
// appends one Change for its organization to the feed of Store.Changes, so
// other processes drop the keys they cached.
type LegacyKeyStore interface {
	// AddLegacyKey stores k, decrypt-only, and returns it as stored (times
	// set by the store). k.ID must be the organization's highest legacy id
	// plus one (1 for the first), else ErrVersionConflict; k.State must be
	// decrypt-only; Kind, Fingerprint, KEKID and Wrapped must be set
	// (ErrInvalidArgument). An unknown organization is ErrNotFound, a
	// fingerprint it already has ErrKeyExists, and a shredded organization
	// ErrInvalidTransition.
	AddLegacyKey(ctx context.Context, k LegacyKey) (LegacyKey, error)
	// LegacyKeys returns every legacy key of org in ascending id order
	// (none is an empty slice), or ErrNotFound for an unknown organization.
	LegacyKeys(ctx context.Context, org string) ([]LegacyKey, error)
	// SetLegacyKeyState moves a legacy key between decrypt-only and
	// retired; setting its current state is a no-op. Any other move is
	// ErrInvalidTransition; an unknown key ErrNotFound.
	SetLegacyKeyState(ctx context.Context, org string, id uint32, to KeyState) error
	// DestroyLegacyKey erases a legacy key's wrapped bytes and marks it
	// destroyed (final); destroying a destroyed key is a no-op.
	DestroyLegacyKey(ctx context.Context, org string, id uint32) error

	// LegacyKeysToRewrap is KeysToRewrap for legacy keys: up to limit keys
	// that are not destroyed and not wrapped by target, ordered by (org, id)
	// after the cursor (afterOrg, afterID).
	LegacyKeysToRewrap(ctx context.Context, target KEKRef, afterOrg string, afterID uint32, limit int) ([]LegacyKey, error)
	// RewrapLegacyKey is RewrapKey for legacy keys (compare-and-swap on
	// from; ErrStale if the key changed; appends no change).
	RewrapLegacyKey(ctx context.Context, org string, id uint32, from, to KEKRef, wrapped []byte) error
	// LegacyKEKCounts is KEKCounts for legacy keys.
	LegacyKEKCounts(ctx context.Context) ([]KEKCount, error)
}

// Shredder destroys an organization's keys all at once (crypto-shredding).
type Shredder interface {
	// ShredOrg destroys, in one transaction, every key of org — every DEK
	// version, the active one included, and every legacy key — erasing the
	// wrapped bytes, and records the organization as shredded: it can never
	// hold a key again (AddKey and AddLegacyKey return
	// ErrInvalidTransition) and every piece of data sealed for it is
	// unrecoverable. The organization's id stays taken. It appends at least
	// one Change for org. Shredding a shredded organization is a no-op; an
	// unknown one is ErrNotFound.
	ShredOrg(ctx context.Context, org string) error
	// ShreddedAt returns when org was shredded, or the zero time if it was
	// not; ErrNotFound for an unknown organization.
	ShreddedAt(ctx context.Context, org string) (time.Time, error)
}
