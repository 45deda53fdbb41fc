package keyring

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/store"
)

// KEK rotation covers imported legacy keys too: they are wrapped by the KEK
// like DEKs, so an old KEK version may be retired only once neither wraps
// anything under it. KEKCounts adds them in; RewrapAll walks them after the
// DEKs.

// mergeKEKCounts adds b's counts into a, keeping the order by KEK id and
// version.
func mergeKEKCounts(a, b []store.KEKCount) []store.KEKCount {
	out := slices.Clone(a)
	for _, c := range b {
		i := slices.IndexFunc(out, func(x store.KEKCount) bool { return x.KEK == c.KEK })
		if i >= 0 {
			out[i].Count += c.Count
			continue
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(x, y store.KEKCount) int {
		if x.KEK.ID != y.KEK.ID {
			if x.KEK.ID < y.KEK.ID {
				return -1
			}
			return 1
		}
		return int(int64(x.KEK.Version) - int64(y.KEK.Version))
	})
	return out
}

// legacyKEKCounts returns the legacy keys' counts by KEK version (none for
// a store without legacy keys).
func (m *Manager) legacyKEKCounts(ctx context.Context) ([]store.KEKCount, error) {
	ls, ok := m.store.(store.LegacyKeyStore)
	if !ok {
		return nil, nil
	}
	c, err := ls.LegacyKEKCounts(ctx)
	if err != nil {
		return nil, fmt.Errorf("keyring: count legacy keys by kek: %w", err)
	}
	return c, nil
}

// rewrapLegacyAll moves every legacy key to target, as RewrapAll does for
// DEKs, continuing st.
func (m *Manager) rewrapLegacyAll(ctx context.Context, st RewrapStats, batch int, progress func(RewrapStats)) (RewrapStats, error) {
	ls, ok := m.store.(store.LegacyKeyStore)
	if !ok {
		return st, nil
	}
	afterOrg, afterID := "", uint32(0)
	for {
		keys, err := ls.LegacyKeysToRewrap(ctx, st.Target, afterOrg, afterID, batch)
		if err != nil {
			return st, fmt.Errorf("keyring: list legacy keys to rewrap: %w", err)
		}
		for _, k := range keys {
			moved, err := m.rewrapLegacy(ctx, ls, k, st.Target)
			if err != nil {
				return st, err
			}
			if moved {
				st.Rewrapped++
			} else {
				st.Skipped++
			}
			afterOrg, afterID = k.Org, k.ID
		}
		if progress != nil && len(keys) > 0 {
			progress(st)
		}
		if len(keys) < batch {
			return st, nil
		}
	}
}

func (m *Manager) rewrapLegacy(ctx context.Context, ls store.LegacyKeyStore, k store.LegacyKey, target store.KEKRef) (bool, error) {
	if k.KEKID != m.kek.ID() {
		return false, fmt.Errorf("keyring: org %q fernet:%d is wrapped by kek %s, not the configured %s: %w",
			k.Org, k.ID, k.KEKID, m.kek.ID(), kms.ErrUnknownKEK)
	}
	aad := kms.LegacyKeyAAD(k.Kind, k.Org, k.ID)
	raw, err := m.kek.Unwrap(ctx, kms.Wrapped{KEKID: k.KEKID, KEKVersion: k.KEKVersion, Ciphertext: k.Wrapped}, aad)
	if err != nil {
		return false, fmt.Errorf("keyring: unwrap org %q fernet:%d: %w", k.Org, k.ID, err)
	}
	w, err := m.kek.Wrap(ctx, raw, aad)
	clear(raw)
	if err != nil {
		return false, fmt.Errorf("keyring: wrap org %q fernet:%d: %w", k.Org, k.ID, err)
	}
	if (store.KEKRef{ID: w.KEKID, Version: w.KEKVersion}) != target {
		return false, fmt.Errorf("keyring: kek wrapped under %s#%d, not the target %s#%d (rotated again meanwhile? run it again)",
			w.KEKID, w.KEKVersion, target.ID, target.Version)
	}
	err = ls.RewrapLegacyKey(ctx, k.Org, k.ID, store.KEKRef{ID: k.KEKID, Version: k.KEKVersion}, target, w.Ciphertext)
	if errors.Is(err, store.ErrStale) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("keyring: store rewrapped org %q fernet:%d: %w", k.Org, k.ID, err)
	}
	return true, nil
}
