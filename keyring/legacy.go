package keyring

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/keyward/keyward/format/fernet"
	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/store"
)

// Imported legacy keys (Fernet) on the read side.
//
// A legacy key is only needed when a caller decrypts a Fernet token, which
// is off the hot path, so the cache is simple: one entry per organization
// holding all its usable legacy keys (or none: an organization without
// legacy keys is remembered too, so stray tokens do not hit the store), a
// TTL and a bound like the DEK cache's, and the same invalidation: Invalidate
// (this process's changes) and the change feed (other processes').

// ErrShredded reports an organization whose keys were all destroyed at once
// (org shred): its data is unrecoverable. Errors wrapping it also wrap
// ErrDestroyed.
var ErrShredded = errors.New("organization is shredded")

// LegacyKey is one usable imported Fernet key of an organization.
type LegacyKey struct {
	Org    string
	ID     uint32
	Fernet *fernet.Key
}

// LegacySet is what an organization holds in legacy keys for decryption.
type LegacySet struct {
	// Keys are the decrypt-only keys, newest (highest id) first.
	Keys []LegacyKey
	// Retired and Destroyed count the keys that no longer decrypt.
	Retired, Destroyed int
	// RetiredKeys are the retired keys, newest first, for telling which
	// key signed a token (reference counting) only: they never decrypt.
	// RetiredErr is set instead when one of them could not be unwrapped.
	RetiredKeys []LegacyKey
	RetiredErr  error
}

type legacyEntry struct {
	set     LegacySet
	expires time.Time // zero: never
}

type legacyCache struct {
	mu  sync.Mutex
	gen uint64
	max int
	ttl time.Duration
	m   map[string]legacyEntry
}

func newLegacyCache(max int, ttl time.Duration) *legacyCache {
	return &legacyCache{max: max, ttl: ttl, m: make(map[string]legacyEntry)}
}

func (c *legacyCache) get(org string) (LegacySet, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[org]
	if !ok || (!e.expires.IsZero() && time.Now().After(e.expires)) {
		return LegacySet{}, false
	}
	return e.set, true
}

func (c *legacyCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *legacyCache) put(org string, set LegacySet, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen || c.m == nil {
		return
	}
	if _, ok := c.m[org]; !ok && len(c.m) >= c.max {
		for o := range c.m { // drop any one
			delete(c.m, o)
			break
		}
	}
	e := legacyEntry{set: set}
	if c.ttl > 0 {
		e.expires = time.Now().Add(c.ttl)
	}
	c.m[org] = e
}

func (c *legacyCache) invalidate(org string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.m, org)
}

func (c *legacyCache) invalidateAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.m)
}

func (c *legacyCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.m = nil
}

// invalidateAll drops every cached key, DEKs and legacy keys.
func (k *Keyring) invalidateAll() {
	k.cache.invalidateAll()
	k.legacy.invalidateAll()
}

// Legacy returns org's usable legacy keys, newest first, from the cache or
// the store. A store without legacy keys (no store.LegacyKeyStore) gives an
// empty set. An unknown organization is ErrUnknownOrg.
func (k *Keyring) Legacy(ctx context.Context, org string) (LegacySet, error) {
	if set, ok := k.legacy.get(org); ok {
		return set, nil
	}
	if k.closed.Load() {
		return LegacySet{}, ErrClosed
	}
	if err := ValidateOrgID(org); err != nil {
		return LegacySet{}, err
	}
	// Org ids cannot hold a space, so this never names a DEK load.
	ch := k.flight.DoChan("legacy "+org, func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
		defer cancel()
		return k.fetchLegacy(lctx, org)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return LegacySet{}, r.Err
		}
		return r.Val.(LegacySet), nil
	case <-ctx.Done():
		return LegacySet{}, ctx.Err()
	}
}

func (k *Keyring) fetchLegacy(ctx context.Context, org string) (LegacySet, error) {
	if err := k.ensureBaseline(ctx); err != nil {
		return LegacySet{}, fmt.Errorf("keyring: read change feed: %w", err)
	}
	gen := k.legacy.generation()
	ls, ok := k.store.(store.LegacyKeyStore)
	if !ok {
		return LegacySet{}, nil
	}
	stored, err := ls.LegacyKeys(ctx, org)
	if errors.Is(err, store.ErrNotFound) {
		return LegacySet{}, k.notFound(ctx, org, 0)
	}
	if err != nil {
		return LegacySet{}, fmt.Errorf("keyring: read legacy keys of org %q: %w", org, err)
	}
	var set LegacySet
	for i := len(stored) - 1; i >= 0; i-- {
		lk := stored[i]
		switch lk.State {
		case store.StateRetired:
			set.Retired++
			if fk, err := UnwrapLegacy(ctx, k.kek, lk); err != nil {
				set.RetiredErr = err
			} else {
				set.RetiredKeys = append(set.RetiredKeys, LegacyKey{Org: org, ID: lk.ID, Fernet: fk})
			}
			k.unwraps.Add(1)
			continue
		case store.StateDestroyed:
			set.Destroyed++
			continue
		}
		fk, err := UnwrapLegacy(ctx, k.kek, lk)
		k.unwraps.Add(1)
		if err != nil {
			return LegacySet{}, err
		}
		set.Keys = append(set.Keys, LegacyKey{Org: org, ID: lk.ID, Fernet: fk})
	}
	k.legacy.put(org, set, gen)
	return set, nil
}

// UnwrapLegacy unwraps one stored Fernet key with kek.
func UnwrapLegacy(ctx context.Context, kek kms.KEK, lk store.LegacyKey) (*fernet.Key, error) {
	raw, err := kek.Unwrap(ctx, kms.Wrapped{KEKID: lk.KEKID, KEKVersion: lk.KEKVersion, Ciphertext: lk.Wrapped},
		kms.LegacyKeyAAD(lk.Kind, lk.Org, lk.ID))
	if err != nil {
		return nil, fmt.Errorf("keyring: unwrap org %q fernet key %d: %w", lk.Org, lk.ID, err)
	}
	defer clear(raw)
	fk, err := fernet.NewKey(raw)
	if err != nil {
		return nil, fmt.Errorf("keyring: org %q fernet key %d: %w", lk.Org, lk.ID, err)
	}
	return fk, nil
}

// shredded returns an error wrapping ErrShredded and ErrDestroyed if org
// was shredded, nil if not (or if the store cannot shred).
func (k *Keyring) shredded(ctx context.Context, org string) error {
	sh, ok := k.store.(store.Shredder)
	if !ok {
		return nil
	}
	at, err := sh.ShreddedAt(ctx, org)
	if err != nil || at.IsZero() {
		return nil
	}
	return shreddedErr(org, at)
}

func shreddedErr(org string, at time.Time) error {
	return fmt.Errorf("%w: org %q was shredded at %s; every key is destroyed and its data is unrecoverable (%w)",
		ErrShredded, org, at.UTC().Format(time.RFC3339), ErrDestroyed)
}
