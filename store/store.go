// Package store defines where keyward keeps its state: organizations and the
// wrapped versions of their data keys, with each version's lifecycle state.
//
// The store never sees a plaintext key or a plaintext field: data keys arrive
// already wrapped by a KEK (package kms). Implementations (the embedded SQLite
// store in store/sqlite, PostgreSQL in store/postgres) must pass the conformance
// suite in store/storetest, which fixes the semantics below.
//
// Invariants every implementation enforces atomically:
//   - an organization is created together with its version 1, which is active;
//   - an organization has exactly one active version at any time, until it
//     is shredded (Shredder, legacy.go): then every version is destroyed;
//   - versions are 1, 2, 3… with no gap and no reuse; adding version n+1 makes
//     it active and moves version n to decrypt-only in the same transaction;
//   - states move forward only (active → decrypt-only → retired → destroyed),
//     except that retired may return to decrypt-only;
//   - destroying a version erases its wrapped key; destroyed is final.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Implementations wrap them with %w.
var (
	// ErrNotFound reports an organization or key version that does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrOrgExists reports an attempt to create an organization twice.
	ErrOrgExists = errors.New("store: organization already exists")
	// ErrVersionConflict reports an added version that is not exactly one more
	// than the organization's highest version (another writer got there first).
	ErrVersionConflict = errors.New("store: key version conflict")
	// ErrInvalidTransition reports a state change the lifecycle does not allow.
	ErrInvalidTransition = errors.New("store: invalid key state transition")
	// ErrInvalidArgument reports a malformed request (empty id, version 0, a
	// key without wrapped bytes or KEK id, an unknown state, a list limit
	// below 1); nothing was changed.
	ErrInvalidArgument = errors.New("store: invalid argument")
	// ErrStale reports a compare-and-swap that lost: the row changed since
	// it was read (RewrapKey). Nothing was changed; read again.
	ErrStale = errors.New("store: row changed since it was read")
	// ErrUnavailable reports that the database could not be reached; the call
	// may be retried.
	ErrUnavailable = errors.New("store: unavailable")
)

// KeyState is the lifecycle state of one DEK version.
type KeyState string

// The lifecycle states, in their forward order.
const (
	// StateActive is the one version per organization that encrypts.
	StateActive KeyState = "active"
	// StateDecryptOnly versions still decrypt but never encrypt.
	StateDecryptOnly KeyState = "decrypt-only"
	// StateRetired versions refuse to decrypt; the state is reversible.
	StateRetired KeyState = "retired"
	// StateDestroyed versions have no wrapped key any more: data under them is
	// unrecoverable.
	StateDestroyed KeyState = "destroyed"
)

// Valid reports whether s is one of the four lifecycle states.
func (s KeyState) Valid() bool {
	switch s {
	case StateActive, StateDecryptOnly, StateRetired, StateDestroyed:
		return true
	}
	return false
}

// CanDecrypt reports whether a version in state s may be used to decrypt.
func (s KeyState) CanDecrypt() bool { return s == StateActive || s == StateDecryptOnly }

// Org is one organization (tenant).
type Org struct {
	ID        string
	CreatedAt time.Time
}

// KeyVersion is one version of an organization's data key, as stored: wrapped.
type KeyVersion struct {
	Org     string
	Version uint32
	State   KeyState
	// KEKID and KEKVersion name the key-encryption key that wrapped this DEK.
	KEKID      string
	KEKVersion uint32
	// Wrapped is the DEK encrypted under the KEK; nil once destroyed.
	Wrapped []byte
	// Usage is the number of encryptions reserved under this version (see
	// Store.ReserveUsage): an upper bound of those performed.
	Usage     uint64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Store persists organizations and their wrapped key versions. Implementations
// are safe for concurrent use, including from several processes sharing one
// database. Times are stored with at least millisecond precision in UTC.
type Store interface {
	// CreateOrg creates org with first as its version 1 in one transaction.
	// first.Org must be org.ID, first.Version 1 and first.State active;
	// org.CreatedAt and first's CreatedAt and UpdatedAt are set by the store,
	// and first.Usage is ignored (a new version starts at 0).
	// It returns ErrOrgExists if the id is taken.
	CreateOrg(ctx context.Context, org Org, first KeyVersion) error
	// Org returns one organization or ErrNotFound.
	Org(ctx context.Context, id string) (Org, error)
	// ListOrgs returns up to limit organizations with id greater than after,
	// in ascending id order (keyset pagination; after "" starts at the top).
	// Ids compare bytewise. A limit below 1 is ErrInvalidArgument.
	ListOrgs(ctx context.Context, after string, limit int) ([]Org, error)

	// ActiveKey returns the organization's active version, or ErrNotFound if
	// the organization does not exist.
	ActiveKey(ctx context.Context, org string) (KeyVersion, error)
	// Key returns one version, or ErrNotFound.
	Key(ctx context.Context, org string, version uint32) (KeyVersion, error)
	// Keys returns every version of the organization in ascending order, or
	// ErrNotFound if the organization does not exist.
	Keys(ctx context.Context, org string) ([]KeyVersion, error)
	// AddKey adds kv as the organization's new active version and moves the
	// previous active version to decrypt-only, atomically. kv.State must be
	// active; the store sets the times and ignores kv.Usage (a new version
	// starts at 0). kv.Version must be exactly the highest existing version
	// plus one, else ErrVersionConflict.
	AddKey(ctx context.Context, kv KeyVersion) error
	// SetKeyState moves a version between decrypt-only and retired. Any other
	// change returns ErrInvalidTransition (activation happens only through
	// AddKey, destruction only through DestroyKey). Setting a decrypt-only or
	// retired version to its current state is a no-op.
	SetKeyState(ctx context.Context, org string, version uint32, to KeyState) error
	// DestroyKey erases the wrapped key of a decrypt-only or retired version
	// and marks it destroyed. The active version cannot be destroyed
	// (ErrInvalidTransition); destroying a destroyed version is a no-op.
	DestroyKey(ctx context.Context, org string, version uint32) error

	// ReserveUsage atomically adds n to the number of encryptions reserved
	// under (org, version) and returns the new total. Engines reserve in
	// blocks before they encrypt, so the stored count is never below the
	// number of encryptions performed, across any number of processes. It
	// returns ErrNotFound for an unknown version and ErrInvalidArgument for
	// n == 0. Only an active or decrypt-only version takes reservations (a
	// process may still encrypt under a version another process just
	// rotated); a retired or destroyed one returns ErrInvalidTransition. A
	// total beyond what the store can count (at least 2^63-1) returns
	// ErrInvalidArgument: the count never wraps around. A refused call
	// changes nothing. A reservation is not a key change: it appends no
	// Change. KeyVersion.Usage reports the total.
	ReserveUsage(ctx context.Context, org string, version uint32, n uint64) (uint64, error)

	// Changes returns up to limit changes with Seq greater than after, in
	// ascending Seq order. Every call of CreateOrg, AddKey, SetKeyState and
	// DestroyKey that changes something appends exactly one Change for its
	// organization, in the same transaction, so a process that polls Changes
	// learns of every key change made by any process (cache invalidation).
	// A limit below 1 is ErrInvalidArgument.
	Changes(ctx context.Context, after int64, limit int) ([]Change, error)
	// LastChange returns the highest Seq so far, or 0 when there is none.
	LastChange(ctx context.Context) (int64, error)

	// KeysToRewrap returns up to limit key versions that still hold a
	// wrapped key (not destroyed) and are not wrapped by target, complete as
	// Key returns them, ordered by (org, version) (ids compare bytewise) and
	// starting after the cursor (afterOrg, afterVersion); ("", 0) starts at
	// the top. It drives KEK rotation: rewrapping every result makes the
	// next call return none, so the walk resumes after a crash by simply
	// starting again. An empty target id, a target version 0 (KEK versions
	// start at 1) and a limit below 1 are ErrInvalidArgument.
	KeysToRewrap(ctx context.Context, target KEKRef, afterOrg string, afterVersion uint32, limit int) ([]KeyVersion, error)
	// RewrapKey replaces the wrapped key of (org, version) with wrapped under
	// to, if and only if it is still wrapped by from and not destroyed
	// (compare-and-swap); otherwise it returns ErrStale and changes nothing.
	// An unknown version is ErrNotFound; an empty org, KEK id or wrapped
	// key, version 0 and to.Version 0 are ErrInvalidArgument. The state and
	// usage stay as they are; UpdatedAt is set. The data key itself is
	// unchanged, so it appends no change to the feed.
	RewrapKey(ctx context.Context, org string, version uint32, from, to KEKRef, wrapped []byte) error
	// KEKCounts returns how many non-destroyed key versions each KEK
	// version wraps, ordered by KEK id (bytewise) and version; a KEK version
	// that wraps none is not listed.
	KEKCounts(ctx context.Context) ([]KEKCount, error)

	// Close releases the store's resources.
	Close() error
}

// KEKRef names one version of a key-encryption key.
type KEKRef struct {
	ID      string
	Version uint32
}

// KEKCount is the number of wrapped data keys under one KEK version.
type KEKCount struct {
	KEK   KEKRef
	Count int64
}

// Change records that an organization's keys changed (created, rotated,
// retired, reinstated or destroyed). Seq increases strictly with commit order
// as seen by a reader that polls with Changes(after = last Seq seen): a
// change committed later never carries a Seq below one already returned.
type Change struct {
	Seq int64
	Org string
}

// Notifier is implemented by stores that can push change notifications
// (PostgreSQL LISTEN/NOTIFY) so other processes learn of key changes at
// once rather than at their next poll.
type Notifier interface {
	// Listen blocks until ctx ends or the notification connection fails,
	// calling notify (from Listen's goroutine) after each committed change
	// by any process. It calls ready once the subscription is live, so the
	// caller can poll Changes to cover what happened before. It returns
	// ctx.Err() or the connection error; callers re-invoke it to reconnect.
	Listen(ctx context.Context, ready func(), notify func(Change)) error
}
