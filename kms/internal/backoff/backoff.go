// Package backoff holds the retry pause shared by the KEK providers that call
// a remote service themselves (gcpkms, transit): exponential with full
// jitter on the upper half, and a sleep that ends with its context.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Delay returns the pause after failed attempt n (from 1): half of
// base·2^(n-1), capped at max, plus a random part of the same size.
func Delay(n int, base, max time.Duration) time.Duration {
	d := max
	if n >= 1 && n < 16 {
		d = min(base<<(n-1), max)
	}
	return d/2 + rand.N(d/2+1)
}

// Sleep waits d or until ctx ends, returning ctx.Err() in that case.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
