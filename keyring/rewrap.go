package keyring

import (
	"context"
	"errors"
	"fmt"

	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/store"
)

// ErrNotRotatable reports a KEK that cannot create versions on demand (a
// cloud KMS key rotates inside the provider, with nothing to rewrap).
var ErrNotRotatable = errors.New("kek cannot rotate on demand")

// RewrapStats reports the progress of a rewrap walk.
type RewrapStats struct {
	// Target is the KEK version every data key is moved to.
	Target store.KEKRef
	// Total is the number of versions that needed rewrapping at the start.
	Total int64
	// Rewrapped counts versions moved to Target; Skipped counts versions
	// that changed underneath (destroyed, or rewrapped by another process).
	Rewrapped, Skipped int64
}

// RotateKEK creates a new KEK version; the data keys are then moved to it
// with RewrapAll.
func (m *Manager) RotateKEK(ctx context.Context) (uint32, error) {
	r, ok := m.kek.(kms.Rotator)
	if !ok {
		return 0, fmt.Errorf("%w: %s (use the provider's own rotation)", ErrNotRotatable, m.kek.ID())
	}
	v, err := r.Rotate(ctx)
	if err != nil {
		return 0, fmt.Errorf("keyring: rotate kek %s: %w", m.kek.ID(), err)
	}
	return v, nil
}

// KEKTarget is the KEK version that wraps new data keys now.
func (m *Manager) KEKTarget() store.KEKRef {
	t := store.KEKRef{ID: m.kek.ID(), Version: 1}
	if r, ok := m.kek.(kms.Rotator); ok {
		t.Version = r.Version()
	}
	return t
}

// KEKCounts reports how many data key versions and imported legacy keys
// each KEK version wraps.
func (m *Manager) KEKCounts(ctx context.Context) ([]store.KEKCount, error) {
	c, err := m.store.KEKCounts(ctx)
	if err != nil {
		return nil, fmt.Errorf("keyring: count keys by kek: %w", err)
	}
	legacy, err := m.legacyKEKCounts(ctx)
	if err != nil || len(legacy) == 0 {
		return c, err
	}
	return mergeKEKCounts(c, legacy), nil
}

// RewrapAll moves every data key version, then every imported legacy key,
// that is not wrapped by the KEK's current version to it, batch versions at a time, calling progress after
// each batch. The data keys do not change, so cached keys stay valid and
// encryption and decryption go on throughout. Each move is a
// compare-and-swap, so a version destroyed or rewrapped meanwhile is skipped,
// never overwritten. After a crash, calling RewrapAll again resumes: only
// versions not yet on the target remain.
func (m *Manager) RewrapAll(ctx context.Context, batch int, progress func(RewrapStats)) (RewrapStats, error) {
	if batch < 1 {
		return RewrapStats{}, fmt.Errorf("keyring: rewrap batch %d must be positive", batch)
	}
	st := RewrapStats{Target: m.KEKTarget()}
	counts, err := m.KEKCounts(ctx)
	if err != nil {
		return st, err
	}
	for _, c := range counts {
		if c.KEK != st.Target {
			st.Total += c.Count
		}
	}
	if progress != nil {
		progress(st)
	}
	afterOrg, afterVersion := "", uint32(0)
	for {
		keys, err := m.store.KeysToRewrap(ctx, st.Target, afterOrg, afterVersion, batch)
		if err != nil {
			return st, fmt.Errorf("keyring: list keys to rewrap: %w", err)
		}
		for _, kv := range keys {
			moved, err := m.rewrap(ctx, kv, st.Target)
			if err != nil {
				return st, err
			}
			if moved {
				st.Rewrapped++
			} else {
				st.Skipped++
			}
			afterOrg, afterVersion = kv.Org, kv.Version
		}
		if progress != nil && len(keys) > 0 {
			progress(st)
		}
		if len(keys) < batch {
			return m.rewrapLegacyAll(ctx, st, batch, progress)
		}
	}
}

// rewrap moves one version to target; false when it changed underneath.
func (m *Manager) rewrap(ctx context.Context, kv store.KeyVersion, target store.KEKRef) (bool, error) {
	if kv.KEKID != m.kek.ID() {
		return false, fmt.Errorf("keyring: org %q version %d is wrapped by kek %s, not the configured %s: %w",
			kv.Org, kv.Version, kv.KEKID, m.kek.ID(), kms.ErrUnknownKEK)
	}
	aad := kms.DEKAAD(kv.Org, kv.Version)
	dek, err := m.kek.Unwrap(ctx, kms.Wrapped{KEKID: kv.KEKID, KEKVersion: kv.KEKVersion, Ciphertext: kv.Wrapped}, aad)
	if err != nil {
		return false, fmt.Errorf("keyring: unwrap org %q version %d: %w", kv.Org, kv.Version, err)
	}
	w, err := m.kek.Wrap(ctx, dek, aad)
	clear(dek)
	if err != nil {
		return false, fmt.Errorf("keyring: wrap org %q version %d: %w", kv.Org, kv.Version, err)
	}
	if (store.KEKRef{ID: w.KEKID, Version: w.KEKVersion}) != target {
		return false, fmt.Errorf("keyring: kek wrapped under %s#%d, not the target %s#%d (rotated again meanwhile? run it again)",
			w.KEKID, w.KEKVersion, target.ID, target.Version)
	}
	from := store.KEKRef{ID: kv.KEKID, Version: kv.KEKVersion}
	err = m.store.RewrapKey(ctx, kv.Org, kv.Version, from, target, w.Ciphertext)
	if errors.Is(err, store.ErrStale) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("keyring: store rewrapped org %q version %d: %w", kv.Org, kv.Version, err)
	}
	return true, nil
}
