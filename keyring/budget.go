package keyring

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// budget counts the encryptions one process may still perform under one key
// before it must reserve more from the store.
//
// Reservations come in blocks (Options.UsageBlock) through
// Store.ReserveUsage, which adds to a counter shared by every process. The
// stored count is therefore never below the number of encryptions performed,
// and at most about one block above it per process — what is left of a block
// when the key is no longer used is never spent.
//
// The hot path is one atomic decrement. When a quarter of the block is left,
// the three quarters already spent are reserved again in the background, so
// encryptions do not wait for the store unless they outrun it, and a process
// never holds more than one block unspent.
type budget struct {
	left  atomic.Int64
	mu    sync.Mutex    // serialises refills
	fetch chan struct{} // closed when the running prefetch ends; nil when none runs; guarded by mu
}

// MaxEncryptions is the hard bound on encryptions under one key version:
// random 96-bit GCM nonces are safe for 2^32 messages per key. The nonce
// threshold rotates long before; this bound holds even when rotation fails.
const MaxEncryptions = 1 << 32

// ErrKeyExhausted reports a key version whose reservations reached
// MaxEncryptions: it encrypts no more until the organization is rotated.
var ErrKeyExhausted = errors.New("key version reached its encryption limit")

// prefetchTimeout bounds one background reservation.
const prefetchTimeout = 30 * time.Second

// Reserve accounts for one encryption under key, reserving a new block from
// the store when the process's current block is used up. When a reservation
// brings the key's total to the threshold, Options.Exhausted is called.
//
// The common case – the block has more than a quarter left – is one atomic
// decrement and one comparison; the rest is out of line in reserveLow.
func (k *Keyring) Reserve(ctx context.Context, key *Key) error {
	if n := key.budget.left.Add(-1); n <= k.lowWater {
		return k.reserveLow(ctx, key, n)
	}
	return nil
}

// reserveLow is Reserve once the decrement left n in the block: it starts
// the prefetch at a quarter left and refills an exhausted block.
func (k *Keyring) reserveLow(ctx context.Context, key *Key, n int64) error {
	if n >= 0 {
		if n == k.lowWater && k.opts.UsageBlock >= 4 {
			k.prefetch(key)
		}
		return nil
	}
	key.budget.left.Add(1) // give back the failed decrement
	return k.refill(ctx, key)
}

// refill reserves a block synchronously and takes one encryption from it.
func (k *Keyring) refill(ctx context.Context, key *Key) error {
	b := key.budget
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		if b.left.Add(-1) >= 0 { // another goroutine or a prefetch refilled
			return nil
		}
		b.left.Add(1)
		if ch := b.fetch; ch != nil { // wait for the prefetch rather than reserve twice
			b.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				b.mu.Lock()
				return ctx.Err()
			}
			b.mu.Lock()
			continue
		}
		if err := k.reserveBlock(ctx, key, k.opts.UsageBlock); err != nil {
			return err
		}
	}
}

// prefetch reserves the next block in the background, once at a time.
func (k *Keyring) prefetch(key *Key) {
	b := key.budget
	if !b.mu.TryLock() { // a synchronous refill is under way
		return
	}
	defer b.mu.Unlock()
	if b.fetch != nil || !k.bgStart() {
		return
	}
	done := make(chan struct{})
	b.fetch = done
	go func() {
		defer k.bg.Done()
		defer func() {
			b.mu.Lock()
			b.fetch = nil
			b.mu.Unlock()
			close(done)
		}()
		ctx, cancel := context.WithTimeout(k.bgCtx, prefetchTimeout)
		defer cancel()
		_ = k.reserveBlock(ctx, key, k.opts.UsageBlock-k.opts.UsageBlock/4) // on failure, the synchronous path retries and reports
	}()
}

// reserveBlock adds n encryptions to key's budget from the store.
func (k *Keyring) reserveBlock(ctx context.Context, key *Key, n uint64) error {
	total, err := k.store.ReserveUsage(ctx, key.Org, key.Version, n)
	if err != nil {
		return fmt.Errorf("keyring: reserve encryptions under org %q version %d: %w", key.Org, key.Version, err)
	}
	// Grant only what stays within MaxEncryptions: whatever the threshold,
	// and even while rotation keeps failing, the key never passes the bound.
	grant := n
	if total > MaxEncryptions {
		grant = n - min(n, total-MaxEncryptions)
	}
	key.budget.left.Add(int64(grant))
	if total >= k.opts.NonceThreshold && k.opts.Exhausted != nil {
		k.opts.Exhausted(key.Org, key.Version)
	}
	if grant == 0 {
		return fmt.Errorf("%w: org %q version %d has %d encryptions reserved, the limit is %d; it encrypts again once rotated (keys rotate)", ErrKeyExhausted, key.Org, key.Version, total, uint64(MaxEncryptions))
	}
	return nil
}
