package keyring

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/keyward/keyward/format"
	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/store"
)

// ErrActiveVersion reports an attempt to retire or destroy the version that
// encrypts; rotate first.
var ErrActiveVersion = errors.New("key version is active")

// maxRotateAttempts bounds the retries when concurrent rotations of one
// organization race for the next version number.
const maxRotateAttempts = 8

// Manager performs the administrative operations on organizations and their
// key versions. Every change invalidates the keyring's cached keys of the
// organization it touches.
type Manager struct {
	store store.Store
	kek   kms.KEK
	ring  *Keyring
}

// NewManager returns a Manager writing to st, wrapping new keys with kek and
// invalidating ring (which may be nil when no keyring shares the process).
func NewManager(st store.Store, kek kms.KEK, ring *Keyring) (*Manager, error) {
	if st == nil || kek == nil {
		return nil, errors.New("keyring: store and kek are required")
	}
	return &Manager{store: st, kek: kek, ring: ring}, nil
}

// CreateOrg creates an organization with a fresh DEK as its active version 1.
func (m *Manager) CreateOrg(ctx context.Context, org string) (store.KeyVersion, error) {
	if err := ValidateOrgID(org); err != nil {
		return store.KeyVersion{}, err
	}
	kv, err := m.newVersion(ctx, org, 1)
	if err != nil {
		return store.KeyVersion{}, err
	}
	if err := m.store.CreateOrg(ctx, store.Org{ID: org}, kv); err != nil {
		return store.KeyVersion{}, fmt.Errorf("keyring: create org %q: %w", org, err)
	}
	m.invalidate(org)
	return m.store.Key(ctx, org, 1)
}

// Rotate adds a new active version to org; the previous active version
// becomes decrypt-only. It returns the new version.
func (m *Manager) Rotate(ctx context.Context, org string) (uint32, error) {
	if err := ValidateOrgID(org); err != nil {
		return 0, err
	}
	defer m.invalidate(org)
	for range maxRotateAttempts {
		keys, err := m.Keys(ctx, org)
		if err != nil {
			return 0, err
		}
		next := keys[len(keys)-1].Version + 1
		if next == 0 {
			return 0, fmt.Errorf("keyring: org %q has exhausted its key versions", org)
		}
		kv, err := m.newVersion(ctx, org, next)
		if err != nil {
			return 0, err
		}
		err = m.store.AddKey(ctx, kv)
		if errors.Is(err, store.ErrVersionConflict) {
			continue // another rotation won the race; read again
		}
		if err != nil {
			if serr := m.shreddedErr(ctx, org); serr != nil {
				return 0, serr
			}
			return 0, fmt.Errorf("keyring: rotate org %q: %w", org, err)
		}
		return next, nil
	}
	return 0, fmt.Errorf("keyring: rotate org %q: %w after %d attempts", org, store.ErrVersionConflict, maxRotateAttempts)
}

// RotateFrom rotates org only if version is still its active version, and
// reports whether it did. Concurrent callers (several processes that all saw
// the same key reach its nonce threshold) rotate once between them.
func (m *Manager) RotateFrom(ctx context.Context, org string, version uint32) (bool, error) {
	keys, err := m.Keys(ctx, org)
	if err != nil {
		return false, err
	}
	last := keys[len(keys)-1]
	if last.Version != version || last.State != store.StateActive || version == ^uint32(0) {
		return false, nil
	}
	kv, err := m.newVersion(ctx, org, version+1)
	if err != nil {
		return false, err
	}
	defer m.invalidate(org)
	err = m.store.AddKey(ctx, kv)
	if errors.Is(err, store.ErrVersionConflict) {
		return false, nil // another process rotated first
	}
	if err != nil {
		return false, fmt.Errorf("keyring: rotate org %q: %w", org, err)
	}
	return true, nil
}

// Retire makes a decrypt-only version refuse to decrypt. It is reversible
// with Reinstate.
func (m *Manager) Retire(ctx context.Context, org string, version uint32) error {
	return m.setState(ctx, org, version, store.StateRetired)
}

// Reinstate returns a retired version to decrypt-only.
func (m *Manager) Reinstate(ctx context.Context, org string, version uint32) error {
	return m.setState(ctx, org, version, store.StateDecryptOnly)
}

// Destroy erases the wrapped key of a decrypt-only or retired version.
// Everything encrypted under it becomes unrecoverable. It cannot be undone.
func (m *Manager) Destroy(ctx context.Context, org string, version uint32) error {
	if _, err := m.version(ctx, org, version); err != nil {
		return err
	}
	defer m.invalidate(org)
	if err := m.store.DestroyKey(ctx, org, version); err != nil {
		return m.stateErr(ctx, org, version, "destroy", err)
	}
	return nil
}

// Keys returns every version of org in ascending order.
func (m *Manager) Keys(ctx context.Context, org string) ([]store.KeyVersion, error) {
	if err := ValidateOrgID(org); err != nil {
		return nil, err
	}
	keys, err := m.store.Keys(ctx, org)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %q (create it with org create)", ErrUnknownOrg, org)
	}
	if err != nil {
		return nil, fmt.Errorf("keyring: read keys of org %q: %w", org, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("keyring: org %q has no key versions", org)
	}
	return keys, nil
}

// Orgs lists up to limit organizations after the id after, in id order.
func (m *Manager) Orgs(ctx context.Context, after string, limit int) ([]store.Org, error) {
	orgs, err := m.store.ListOrgs(ctx, after, limit)
	if err != nil {
		return nil, fmt.Errorf("keyring: list orgs: %w", err)
	}
	return orgs, nil
}

func (m *Manager) setState(ctx context.Context, org string, version uint32, to store.KeyState) error {
	if _, err := m.version(ctx, org, version); err != nil {
		return err
	}
	defer m.invalidate(org)
	if err := m.store.SetKeyState(ctx, org, version, to); err != nil {
		return m.stateErr(ctx, org, version, string(to), err)
	}
	return nil
}

// version checks that org has version and returns it, with the package's
// own errors for unknown organizations and versions.
func (m *Manager) version(ctx context.Context, org string, version uint32) (store.KeyVersion, error) {
	keys, err := m.Keys(ctx, org)
	if err != nil {
		return store.KeyVersion{}, err
	}
	for _, kv := range keys {
		if kv.Version == version {
			return kv, nil
		}
	}
	return store.KeyVersion{}, fmt.Errorf("%w: org %q has no version %d", ErrUnknownVersion, org, version)
}

func (m *Manager) stateErr(ctx context.Context, org string, version uint32, op string, err error) error {
	if errors.Is(err, store.ErrInvalidTransition) {
		kv, kerr := m.store.Key(ctx, org, version)
		if kerr == nil && kv.State == store.StateActive {
			return fmt.Errorf("%w: org %q version %d encrypts new data; rotate first", ErrActiveVersion, org, version)
		}
		if kerr == nil {
			return fmt.Errorf("keyring: cannot %s org %q version %d: it is %s: %w", op, org, version, kv.State, err)
		}
	}
	return fmt.Errorf("keyring: %s org %q version %d: %w", op, org, version, err)
}

// newVersion generates a DEK and wraps it for (org, version). The plaintext
// key is zeroed before it returns.
func (m *Manager) newVersion(ctx context.Context, org string, version uint32) (store.KeyVersion, error) {
	dek := make([]byte, format.KeySize)
	defer clear(dek)
	if _, err := rand.Read(dek); err != nil {
		return store.KeyVersion{}, fmt.Errorf("keyring: generate key: %w", err)
	}
	w, err := m.kek.Wrap(ctx, dek, kms.DEKAAD(org, version))
	if err != nil {
		return store.KeyVersion{}, fmt.Errorf("keyring: wrap key of org %q version %d: %w", org, version, err)
	}
	return store.KeyVersion{
		Org:        org,
		Version:    version,
		State:      store.StateActive,
		KEKID:      w.KEKID,
		KEKVersion: w.KEKVersion,
		Wrapped:    w.Ciphertext,
	}, nil
}

func (m *Manager) invalidate(org string) {
	if m.ring != nil {
		m.ring.Invalidate(org)
	}
}
