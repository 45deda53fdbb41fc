package kmstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/kms/internal/gcmkek"
)

// Fake is an in-memory [kms.KEK] for tests of packages that use a KEK. It
// wraps with AES-256-GCM under random keys that exist only in the process,
// counts its calls, and can be told to fail or to be slow.
//
// Fake passes [Run]. It is safe for concurrent use; its zero value is not
// usable, call [NewFake].
type Fake struct {
	ks      atomic.Pointer[gcmkek.Keyset]
	wraps   atomic.Int64
	unwraps atomic.Int64

	mu      sync.Mutex // guards failing and delay; serialises Rotate
	failing error
	delay   time.Duration
}

var _ kms.KEK = (*Fake)(nil)

// NewFake returns a Fake with one random KEK version and a random id of the
// form "fake:<16 hex digits>", so two Fakes never accept each other's wraps.
func NewFake() (*Fake, error) {
	var idBytes [8]byte
	_, _ = rand.Read(idBytes[:]) // crypto/rand.Read never fails
	ks, err := gcmkek.New("fake:"+hex.EncodeToString(idBytes[:]), [][]byte{randomKey()})
	if err != nil {
		return nil, fmt.Errorf("kmstest: new fake: %w", err)
	}
	f := &Fake{}
	f.ks.Store(ks)
	return f, nil
}

func randomKey() []byte {
	key := make([]byte, gcmkek.KeySize)
	_, _ = rand.Read(key)
	return key
}

// ID returns the fake's KEK id.
func (f *Fake) ID() string { return f.ks.Load().ID() }

// Wrap wraps key under the current version, unless the context is done or
// the fake is failing.
func (f *Fake) Wrap(ctx context.Context, key, aad []byte) (kms.Wrapped, error) {
	f.wraps.Add(1)
	if err := ctx.Err(); err != nil {
		return kms.Wrapped{}, fmt.Errorf("kmstest: fake wrap: %w", err)
	}
	if err := f.failure(); err != nil {
		return kms.Wrapped{}, fmt.Errorf("kmstest: fake wrap: %w", err)
	}
	return f.ks.Load().Wrap(ctx, key, aad)
}

// Unwrap waits for the unwrap delay (or the context), then unwraps w, unless
// the fake is failing.
func (f *Fake) Unwrap(ctx context.Context, w kms.Wrapped, aad []byte) ([]byte, error) {
	f.unwraps.Add(1)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("kmstest: fake unwrap: %w", err)
	}
	f.mu.Lock()
	delay := f.delay
	f.mu.Unlock()
	if delay > 0 {
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return nil, fmt.Errorf("kmstest: fake unwrap: %w", ctx.Err())
		}
	}
	if err := f.failure(); err != nil {
		return nil, fmt.Errorf("kmstest: fake unwrap: %w", err)
	}
	return f.ks.Load().Unwrap(ctx, w, aad)
}

func (f *Fake) failure() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failing
}

// Wraps returns how many times Wrap was called, successful or not.
func (f *Fake) Wraps() int64 { return f.wraps.Load() }

// Unwraps returns how many times Unwrap was called, successful or not. Tests
// of caches use it to prove that concurrent misses share one unwrap.
func (f *Fake) Unwraps() int64 { return f.unwraps.Load() }

// SetFailing makes every later Wrap and Unwrap fail with an error wrapping
// err (for example one wrapping kms.ErrUnavailable), until SetFailing(nil).
func (f *Fake) SetFailing(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing = err
}

// SetUnwrapDelay makes every later Unwrap wait d before answering, or less
// if its context ends first (then it returns the context's error). Zero
// removes the delay.
func (f *Fake) SetUnwrapDelay(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delay = d
}

// Rotate adds a random KEK version and makes it current; earlier versions
// still unwrap. It returns the new version.
func (f *Fake) Rotate(ctx context.Context) (uint32, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ks, err := f.ks.Load().Append(randomKey())
	if err != nil {
		return 0, fmt.Errorf("kmstest: rotate fake: %w", err)
	}
	f.ks.Store(ks)
	return ks.Current(), nil
}

// Version returns the version Wrap uses now.
func (f *Fake) Version() uint32 { return f.ks.Load().Current() }

// String names the fake without key material.
func (f *Fake) String() string { return "kmstest.Fake(" + f.ID() + ")" }

// GoString is String.
func (f *Fake) GoString() string { return f.String() }

// Format prints String for every verb, so no verb can reach key material.
func (f *Fake) Format(s fmt.State, _ rune) { _, _ = io.WriteString(s, f.String()) }
