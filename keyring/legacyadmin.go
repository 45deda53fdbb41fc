package keyring

import (
	"context"
	"errors"
	"fmt"

	"github.com/keyward/keyward/format/fernet"
	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/store"
)

// ErrNoLegacySupport reports a store that cannot keep legacy keys, reference
// counts or shred organizations.
var ErrNoLegacySupport = errors.New("store does not support this operation")

// ErrUnknownLegacyKey reports a legacy key id the organization never had.
var ErrUnknownLegacyKey = errors.New("unknown legacy key")

func (m *Manager) legacyStore() (store.LegacyKeyStore, error) {
	ls, ok := m.store.(store.LegacyKeyStore)
	if !ok {
		return nil, fmt.Errorf("%w: %T keeps no legacy keys", ErrNoLegacySupport, m.store)
	}
	return ls, nil
}

// ImportFernet wraps the encoded Fernet key (URL-safe base64, 44
// characters) with the KEK and stores it as org's next legacy key,
// decrypt-only. A key the organization already holds returns an error
// wrapping store.ErrKeyExists that names its id. The raw key is cleared
// before return; errors never quote it.
func (m *Manager) ImportFernet(ctx context.Context, org string, encoded []byte) (store.LegacyKey, error) {
	if err := ValidateOrgID(org); err != nil {
		return store.LegacyKey{}, err
	}
	ls, err := m.legacyStore()
	if err != nil {
		return store.LegacyKey{}, err
	}
	raw, err := fernet.DecodeKey(encoded)
	if err != nil {
		return store.LegacyKey{}, err
	}
	defer clear(raw)
	fk, err := fernet.NewKey(raw)
	if err != nil {
		return store.LegacyKey{}, err
	}
	defer m.invalidate(org)
	for range maxRotateAttempts {
		existing, err := m.LegacyKeys(ctx, org)
		if err != nil {
			return store.LegacyKey{}, err
		}
		next := uint32(1)
		for _, k := range existing {
			if k.Fingerprint == fk.Fingerprint() {
				return k, fmt.Errorf("%w: org %q already holds this fernet key as fernet:%d (%s)", store.ErrKeyExists, org, k.ID, k.State)
			}
			next = k.ID + 1
		}
		w, err := m.kek.Wrap(ctx, raw, kms.LegacyKeyAAD(store.LegacyFernet, org, next))
		if err != nil {
			return store.LegacyKey{}, fmt.Errorf("keyring: wrap fernet key of org %q: %w", org, err)
		}
		k, err := ls.AddLegacyKey(ctx, store.LegacyKey{
			Org: org, ID: next, Kind: store.LegacyFernet, State: store.StateDecryptOnly,
			Fingerprint: fk.Fingerprint(), KEKID: w.KEKID, KEKVersion: w.KEKVersion, Wrapped: w.Ciphertext,
		})
		switch {
		case errors.Is(err, store.ErrVersionConflict):
			continue // another import won the id; read again
		case errors.Is(err, store.ErrInvalidTransition):
			if serr := m.shreddedErr(ctx, org); serr != nil {
				return store.LegacyKey{}, serr
			}
		}
		if err != nil {
			return store.LegacyKey{}, fmt.Errorf("keyring: import fernet key to org %q: %w", org, err)
		}
		return k, nil
	}
	return store.LegacyKey{}, fmt.Errorf("keyring: import fernet key to org %q: %w after %d attempts", org, store.ErrVersionConflict, maxRotateAttempts)
}

// LegacyKeys returns org's legacy keys in id order, without key material.
func (m *Manager) LegacyKeys(ctx context.Context, org string) ([]store.LegacyKey, error) {
	if err := ValidateOrgID(org); err != nil {
		return nil, err
	}
	ls, ok := m.store.(store.LegacyKeyStore)
	if !ok {
		if _, err := m.Keys(ctx, org); err != nil {
			return nil, err
		}
		return nil, nil
	}
	keys, err := ls.LegacyKeys(ctx, org)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %q (create it with org create)", ErrUnknownOrg, org)
	}
	if err != nil {
		return nil, fmt.Errorf("keyring: read legacy keys of org %q: %w", org, err)
	}
	for i := range keys {
		keys[i].Wrapped = nil
	}
	return keys, nil
}

// LegacyKey returns one legacy key of org, without key material.
func (m *Manager) LegacyKey(ctx context.Context, org string, id uint32) (store.LegacyKey, error) {
	keys, err := m.LegacyKeys(ctx, org)
	if err != nil {
		return store.LegacyKey{}, err
	}
	for _, k := range keys {
		if k.ID == id {
			return k, nil
		}
	}
	return store.LegacyKey{}, fmt.Errorf("%w: org %q has no fernet:%d (see keyward fernet list)", ErrUnknownLegacyKey, org, id)
}

// RetireLegacy makes a legacy key refuse to decrypt (reversible).
func (m *Manager) RetireLegacy(ctx context.Context, org string, id uint32) error {
	return m.setLegacyState(ctx, org, id, store.StateRetired)
}

// ReinstateLegacy returns a retired legacy key to decrypt-only.
func (m *Manager) ReinstateLegacy(ctx context.Context, org string, id uint32) error {
	return m.setLegacyState(ctx, org, id, store.StateDecryptOnly)
}

func (m *Manager) setLegacyState(ctx context.Context, org string, id uint32, to store.KeyState) error {
	k, err := m.LegacyKey(ctx, org, id)
	if err != nil {
		return err
	}
	ls, err := m.legacyStore()
	if err != nil {
		return err
	}
	defer m.invalidate(org)
	if err := ls.SetLegacyKeyState(ctx, org, id, to); err != nil {
		if errors.Is(err, store.ErrInvalidTransition) {
			return fmt.Errorf("keyring: cannot set org %q fernet:%d to %s: it is %s: %w", org, id, to, k.State, err)
		}
		return fmt.Errorf("keyring: set org %q fernet:%d to %s: %w", org, id, to, err)
	}
	return nil
}

// DestroyLegacy erases a legacy key: tokens only it opens become
// unrecoverable. It cannot be undone.
func (m *Manager) DestroyLegacy(ctx context.Context, org string, id uint32) error {
	if _, err := m.LegacyKey(ctx, org, id); err != nil {
		return err
	}
	ls, err := m.legacyStore()
	if err != nil {
		return err
	}
	defer m.invalidate(org)
	if err := ls.DestroyLegacyKey(ctx, org, id); err != nil {
		return fmt.Errorf("keyring: destroy org %q fernet:%d: %w", org, id, err)
	}
	return nil
}

// Shred destroys every key of org at once, the active version and legacy
// keys included: everything sealed for org becomes unrecoverable, and org
// can never encrypt again. Other processes learn of it through the change
// feed.
func (m *Manager) Shred(ctx context.Context, org string) error {
	if err := ValidateOrgID(org); err != nil {
		return err
	}
	sh, ok := m.store.(store.Shredder)
	if !ok {
		return fmt.Errorf("%w: %T cannot shred organizations", ErrNoLegacySupport, m.store)
	}
	defer m.invalidate(org)
	err := sh.ShredOrg(ctx, org)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %q", ErrUnknownOrg, org)
	}
	if err != nil {
		return fmt.Errorf("keyring: shred org %q: %w", org, err)
	}
	return nil
}

// ShreddedErr returns an error wrapping ErrShredded if org was shredded,
// nil otherwise.
func (m *Manager) shreddedErr(ctx context.Context, org string) error {
	sh, ok := m.store.(store.Shredder)
	if !ok {
		return nil
	}
	at, err := sh.ShreddedAt(ctx, org)
	if err != nil || at.IsZero() {
		return nil
	}
	return shreddedErr(org, at)
}
