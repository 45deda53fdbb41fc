// Package keyring turns an organization id into the data key (DEK) that
// encrypts its fields.
//
// Every organization has numbered DEK versions, stored wrapped by a KEK (see
// package store and package kms). Exactly one version is active and encrypts;
// older versions are decrypt-only until they are retired (refused, reversible)
// or destroyed (the wrapped key is erased: crypto-shredding).
//
// The package has two faces:
//   - [Keyring], read-only, for the hot path: Active and Version return a ready
//     AES-256-GCM cipher from a bounded cache (LRU + TTL). Concurrent misses
//     for the same key share one store read and one KEK unwrap (single-flight),
//     and the unwrapped key bytes are zeroed as soon as the cipher is built.
//   - [Manager], for administration: create organizations, rotate, retire,
//     reinstate and destroy versions. It invalidates the Keyring's cache for
//     every organization it changes.
package keyring

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/keyward/keyward/format"
	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/store"
)

// Sentinel errors for the decisions a caller makes.
var (
	// ErrInvalidOrg reports an organization id that breaks the id rules.
	ErrInvalidOrg = errors.New("invalid organization id")
	// ErrUnknownOrg reports an organization that does not exist.
	ErrUnknownOrg = errors.New("unknown organization")
	// ErrUnknownVersion reports a key version the organization never had.
	ErrUnknownVersion = errors.New("unknown key version")
	// ErrRetired reports a key version that is retired and refuses to decrypt.
	ErrRetired = errors.New("key version is retired")
	// ErrDestroyed reports a key version whose key was destroyed: data under it
	// is unrecoverable.
	ErrDestroyed = errors.New("key version is destroyed")
	// ErrClosed reports use of a closed keyring.
	ErrClosed = errors.New("keyring closed")
)

// Defaults for [Options].
const (
	DefaultCacheSize = 10000
	DefaultCacheTTL  = 5 * time.Minute
	// DefaultNonceThreshold rotates a key after 2^30 encryptions, well below
	// the 2^32 bound for random 96-bit GCM nonces.
	DefaultNonceThreshold = 1 << 30
	// DefaultUsageBlock is the number of encryptions reserved at a time.
	DefaultUsageBlock = 1 << 16
	// loadTimeout bounds one shared store read + unwrap, which runs detached
	// from any single caller's cancellation so that one impatient caller
	// does not fail the others waiting on the same load.
	loadTimeout = 30 * time.Second
)

// Key is one usable DEK version of an organization.
type Key struct {
	Org     string
	Version uint32
	// AEAD is the data key: AES-256-GCM with random nonces (format.NewAEAD).
	AEAD *format.AEAD
	// AADPrefix is format.AppendAADPrefix(nil, format.V1, Org, Version):
	// the fixed part of the AAD of every field sealed under the key.
	AADPrefix []byte

	memo      atomic.Pointer[aadMemo] // AADs of recurring contexts (aadmemo.go); nil while none is
	candidate atomic.Uint64           // the context the memo considered last (aadmemo.go)
	seed      maphash.Seed            // for candidate
	budget    *budget                 // encryptions this process may still perform under the key
}

// keyStore is what the keyring needs from a store.
type keyStore interface {
	ActiveKey(ctx context.Context, org string) (store.KeyVersion, error)
	Key(ctx context.Context, org string, version uint32) (store.KeyVersion, error)
	Org(ctx context.Context, id string) (store.Org, error)
	ReserveUsage(ctx context.Context, org string, version uint32, n uint64) (uint64, error)
	Changes(ctx context.Context, after int64, limit int) ([]store.Change, error)
	LastChange(ctx context.Context) (int64, error)
}

// Options tune a Keyring. The zero value selects the defaults.
type Options struct {
	// CacheSize bounds the number of unwrapped DEK versions held in memory.
	CacheSize int
	// CacheTTL bounds how long an unwrapped DEK stays cached, and so how
	// long a change made by another process can go unnoticed. Negative
	// disables expiry.
	CacheTTL time.Duration
	// NonceThreshold is the reserved encryption count at which a key is
	// reported exhausted (default DefaultNonceThreshold).
	NonceThreshold uint64
	// UsageBlock is how many encryptions are reserved from the store at a
	// time (default DefaultUsageBlock).
	UsageBlock uint64
	// Exhausted is called, once per reservation that reaches the threshold,
	// from the encrypting goroutine; it must not block. The engine rotates
	// the organization's key in the background.
	Exhausted func(org string, version uint32)
}

// Keyring resolves organizations to DEKs for encryption and decryption.
// It is safe for concurrent use.
type Keyring struct {
	store  keyStore
	kek    kms.KEK
	cache  *cache
	legacy *legacyCache // imported Fernet keys (legacy.go)
	flight singleflight.Group
	closed atomic.Bool
	opts   Options
	// lowWater is opts.UsageBlock/4: Reserve leaves its fast path when a
	// block has this many encryptions left or fewer.
	lowWater int64

	// Background work (block prefetches), stopped by Close.
	bgCtx    context.Context
	bgCancel context.CancelFunc
	bgMu     sync.Mutex // guards bgClosed against bg.Add after Close
	bgClosed bool
	bg       sync.WaitGroup

	unwraps atomic.Uint64

	// baseline is the change-feed position read before the first key was
	// loaded; the watcher follows the feed from there, so no change made
	// after a key was loaded can be missed.
	baselineMu  sync.Mutex
	baselineSet atomic.Bool
	baseline    int64
}

// New returns a Keyring reading wrapped keys from st and unwrapping them with kek.
func New(st keyStore, kek kms.KEK, opts Options) (*Keyring, error) {
	if st == nil || kek == nil {
		return nil, errors.New("keyring: store and kek are required")
	}
	if opts.CacheSize < 0 {
		return nil, fmt.Errorf("keyring: cache size %d is negative", opts.CacheSize)
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = DefaultCacheSize
	}
	switch {
	case opts.CacheTTL == 0:
		opts.CacheTTL = DefaultCacheTTL
	case opts.CacheTTL < 0:
		opts.CacheTTL = 0
	}
	if opts.NonceThreshold == 0 {
		opts.NonceThreshold = DefaultNonceThreshold
	}
	if opts.UsageBlock == 0 {
		opts.UsageBlock = DefaultUsageBlock
	}
	if opts.UsageBlock > 1<<40 {
		return nil, fmt.Errorf("keyring: usage block %d is too large", opts.UsageBlock)
	}
	k := &Keyring{store: st, kek: kek, cache: newCache(opts.CacheSize, opts.CacheTTL), opts: opts,
		legacy: newLegacyCache(opts.CacheSize, opts.CacheTTL)}
	k.lowWater = int64(opts.UsageBlock / 4)
	k.bgCtx, k.bgCancel = context.WithCancel(context.Background())
	return k, nil
}

// Active returns the organization's active key, the one that encrypts.
func (k *Keyring) Active(ctx context.Context, org string) (*Key, error) {
	if key := k.cache.get(org, 0); key != nil {
		return key, nil
	}
	return k.load(ctx, org, 0)
}

// Version returns the organization's key at version for decryption. It
// refuses retired and destroyed versions with errors naming the version.
func (k *Keyring) Version(ctx context.Context, org string, version uint32) (*Key, error) {
	if key := k.cache.get(org, version); key != nil {
		return key, nil
	}
	if version == 0 {
		return nil, fmt.Errorf("%w: version 0 of org %q", ErrUnknownVersion, org)
	}
	return k.load(ctx, org, version)
}

// Invalidate drops every cached key of org (DEKs and legacy keys), so the
// next use reads the store.
func (k *Keyring) Invalidate(org string) {
	k.cache.invalidate(org)
	k.legacy.invalidate(org)
}

// Close stops background reservations and drops every cached key. Later
// calls fail with ErrClosed.
func (k *Keyring) Close() {
	k.closed.Store(true)
	k.bgMu.Lock()
	k.bgClosed = true
	k.bgMu.Unlock()
	k.bgCancel()
	k.bg.Wait()
	k.cache.close()
	k.legacy.close()
}

// bgStart registers one background goroutine, unless the keyring is closed.
// The goroutine must call k.bg.Done.
func (k *Keyring) bgStart() bool {
	k.bgMu.Lock()
	defer k.bgMu.Unlock()
	if k.bgClosed {
		return false
	}
	k.bg.Add(1)
	return true
}

// Stats is a snapshot of the cache counters. Hits are not counted (see
// cache): a caller that counts its own lookups has hits = lookups − Misses.
type Stats struct {
	Misses, Evictions, Unwraps uint64
	Len                        int
}

// Stats returns the cache counters.
func (k *Keyring) Stats() Stats {
	return Stats{
		Misses:    k.cache.misses.Load(),
		Evictions: k.cache.evictions.Load(),
		Unwraps:   k.unwraps.Load(),
		Len:       k.cache.len(),
	}
}

// load reads, unwraps and caches one key; version 0 means the active one.
// Concurrent loads of the same key share one execution.
func (k *Keyring) load(ctx context.Context, org string, version uint32) (*Key, error) {
	if k.closed.Load() {
		return nil, ErrClosed
	}
	if err := ValidateOrgID(org); err != nil {
		return nil, err
	}
	flightKey := org + "/" + strconv.FormatUint(uint64(version), 10)
	ch := k.flight.DoChan(flightKey, func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
		defer cancel()
		return k.fetch(lctx, org, version)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*Key), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// fetch does the work of load without sharing.
func (k *Keyring) fetch(ctx context.Context, org string, version uint32) (*Key, error) {
	if err := k.ensureBaseline(ctx); err != nil {
		return nil, fmt.Errorf("keyring: read change feed: %w", err)
	}
	var (
		kv  store.KeyVersion
		err error
		gen = k.cache.generation()
	)
	if version == 0 {
		kv, err = k.store.ActiveKey(ctx, org)
	} else {
		kv, err = k.store.Key(ctx, org, version)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, k.notFound(ctx, org, version)
	}
	if err != nil {
		return nil, fmt.Errorf("keyring: read key of org %q: %w", org, err)
	}
	switch kv.State {
	case store.StateRetired:
		return nil, fmt.Errorf("%w: org %q version %d (reinstate it with keys reinstate, or re-encrypt the data)", ErrRetired, org, kv.Version)
	case store.StateDestroyed:
		return nil, fmt.Errorf("%w: org %q version %d", ErrDestroyed, org, kv.Version)
	}
	dek, err := k.kek.Unwrap(ctx, kms.Wrapped{KEKID: kv.KEKID, KEKVersion: kv.KEKVersion, Ciphertext: kv.Wrapped}, kms.DEKAAD(org, kv.Version))
	k.unwraps.Add(1)
	if err != nil {
		return nil, fmt.Errorf("keyring: unwrap key of org %q version %d: %w", org, kv.Version, err)
	}
	aead, err := format.NewAEAD(dek)
	clear(dek)
	if err != nil {
		return nil, fmt.Errorf("keyring: key of org %q version %d: %w", org, kv.Version, err)
	}
	key := &Key{Org: org, Version: kv.Version, AEAD: aead, budget: k.cache.budgetFor(org, kv.Version),
		AADPrefix: format.AppendAADPrefix(nil, format.V1, org, kv.Version), seed: maphash.MakeSeed()}
	k.cache.put(key, kv.State == store.StateActive, gen)
	return key, nil
}

// ensureBaseline reads the change feed's position once, before any key is
// loaded, and returns it.
func (k *Keyring) ensureBaseline(ctx context.Context) error {
	if k.baselineSet.Load() {
		return nil
	}
	k.baselineMu.Lock()
	defer k.baselineMu.Unlock()
	if k.baselineSet.Load() {
		return nil
	}
	last, err := k.store.LastChange(ctx)
	if err != nil {
		return err
	}
	k.baseline = last
	k.baselineSet.Store(true)
	return nil
}

// notFound tells an unknown organization from an unknown version.
func (k *Keyring) notFound(ctx context.Context, org string, version uint32) error {
	if version == 0 {
		// An organization whose active version is gone was shredded.
		if err := k.shredded(ctx, org); err != nil {
			return err
		}
		return fmt.Errorf("%w: %q (create it with org create)", ErrUnknownOrg, org)
	}
	if _, err := k.store.Org(ctx, org); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %q (create it with org create)", ErrUnknownOrg, org)
	} else if err != nil {
		return fmt.Errorf("keyring: read org %q: %w", org, err)
	}
	return fmt.Errorf("%w: org %q has no version %d", ErrUnknownVersion, org, version)
}
