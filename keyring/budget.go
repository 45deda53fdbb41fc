package keyring

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// budget counts the encryptions one process may still perform under one key
// before it must reserve more from the store.
//
// Reservations come in blocks (Options.UsageBlock) through
// Store.ReserveUsage, which adds to a counter shared by every process. The
// stored count is therefore never below the number of encryptions performed,
// and at most one block above it per process — what is left of a block when
// a key leaves the cache is simply never used. The hot path is one atomic
// decrement.
type budget struct {
	left atomic.Int64
	mu   sync.Mutex // serialises refills
}

// Reserve accounts for one encryption under key, reserving a new block from
// the store when the process's current block is used up. When a reservation
// brings the key's total to the threshold, Options.Exhausted is called.
func (k *Keyring) Reserve(ctx context.Context, key *Key) error {
	if key.budget.left.Add(-1) >= 0 {
		return nil
	}
	return k.refill(ctx, key)
}

func (k *Keyring) refill(ctx context.Context, key *Key) error {
	b := key.budget
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.left.Add(-1) >= 0 { // another goroutine refilled meanwhile
		return nil
	}
	total, err := k.store.ReserveUsage(ctx, key.Org, key.Version, k.opts.UsageBlock)
	if err != nil {
		b.left.Store(0)
		return fmt.Errorf("keyring: reserve encryptions under org %q version %d: %w", key.Org, key.Version, err)
	}
	b.left.Store(int64(k.opts.UsageBlock) - 1) // one for this call
	if total >= k.opts.NonceThreshold && k.opts.Exhausted != nil {
		k.opts.Exhausted(key.Org, key.Version)
	}
	return nil
}
