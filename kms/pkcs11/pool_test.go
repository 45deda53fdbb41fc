package pkcs11

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	p11 "github.com/miekg/pkcs11"

	"github.com/keyward/keyward/kms"
)

// TestConcurrent: 32 goroutines wrap and unwrap through a pool of 4 sessions
// while the KEK rotates; run with -race.
func TestConcurrent(t *testing.T) {
	k, _ := provision(t, nil)
	const goroutines, rounds = 32, 8
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for r := range rounds {
				key, aad := newDEK(), kms.DEKAAD(fmt.Sprintf("org_%d", g), uint32(r+1))
				w, err := k.Wrap(t.Context(), key, aad)
				if err != nil {
					t.Errorf("goroutine %d: Wrap: %v", g, err)
					return
				}
				got, err := k.Unwrap(t.Context(), w, aad)
				if err != nil || !bytes.Equal(got, key) {
					t.Errorf("goroutine %d: Unwrap = %d bytes, %v", g, len(got), err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 3 {
			if _, err := k.Rotate(t.Context()); err != nil {
				t.Errorf("Rotate: %v", err)
			}
		}
	})
	wg.Wait()
	if k.Version() != 4 {
		t.Errorf("after three rotations the KEK is at version %d, want 4", k.Version())
	}
	if n := len(k.pool.idle); n > 4 {
		t.Errorf("%d idle sessions in a pool of 4", n)
	}
}

// TestWaitHonoursContext: with every session in use, a call waits for one
// until its context ends, then fails with the context's error.
func TestWaitHonoursContext(t *testing.T) {
	k, _ := provision(t, func(c *Config) { c.Sessions = 1 })
	key, aad := newDEK(), kms.DEKAAD("org_wait", 1)
	w := mustWrap(t, k, key, aad)

	sh, err := k.pool.get(t.Context(), false) // hold the only session
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := k.Wrap(ctx, key, aad); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wrap with no free session: %v, want DeadlineExceeded", err)
	}
	if got, err := k.Unwrap(ctx, w, aad); !errors.Is(err, context.DeadlineExceeded) || got != nil {
		t.Errorf("Unwrap with no free session: %d bytes, %v; want DeadlineExceeded", len(got), err)
	}

	// A waiting call proceeds once the session is returned.
	done := make(chan error, 1)
	go func() {
		_, err := k.Unwrap(t.Context(), w, aad)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	k.pool.put(sh, false, true)
	if err := <-done; err != nil {
		t.Errorf("Unwrap after the session came back: %v", err)
	}
}

// TestSessionRecovery: sessions closed behind the pool's back (as after a
// token reset) are discarded and replaced, and the login is redone, without
// the caller seeing an error.
func TestSessionRecovery(t *testing.T) {
	k, _ := provision(t, nil)
	key, aad := newDEK(), kms.DEKAAD("org_reset", 1)
	// Fill the pool with idle sessions.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { mustUnwrap(t, k, mustWrap(t, k, key, aad), aad, key) })
	}
	wg.Wait()
	w := mustWrap(t, k, key, aad)

	// C_CloseAllSessions also ends the login.
	if err := k.module.ctx.CloseAllSessions(k.slot); err != nil {
		t.Fatal(err)
	}
	mustUnwrap(t, k, w, aad, key)
	mustUnwrap(t, k, mustWrap(t, k, key, aad), aad, key)

	// A forgotten key handle is looked up again.
	k.mu.Lock()
	k.handles[1] = 0xdeadbeef
	k.mu.Unlock()
	mustUnwrap(t, k, w, aad, key)
	mustUnwrap(t, k, mustWrap(t, k, key, aad), aad, key)
}

// TestFailedUnwrapKeepsSession: authentication failures do not cost a
// session (they are not token failures).
func TestFailedUnwrapKeepsSession(t *testing.T) {
	k, _ := provision(t, func(c *Config) { c.Sessions = 1 })
	key, aad := newDEK(), kms.DEKAAD("org_keep", 1)
	w := mustWrap(t, k, key, aad)
	before := k.pool.idle[0]
	if _, err := k.Unwrap(t.Context(), w, kms.DEKAAD("org_other", 1)); !errors.Is(err, kms.ErrUnwrap) {
		t.Fatalf("Unwrap with the wrong AAD: %v, want ErrUnwrap", err)
	}
	if len(k.pool.idle) != 1 || k.pool.idle[0] != before {
		t.Errorf("an authentication failure replaced the session")
	}
	mustUnwrap(t, k, w, aad, key)
}

// TestModuleShared: KEKs share one loaded module, counted; the module stays
// initialised while any KEK uses it.
func TestModuleShared(t *testing.T) {
	k1, tok1 := provision(t, nil)
	k2, _ := provision(t, nil)
	if k1.module != k2.module {
		t.Fatal("two KEKs on one module loaded it twice")
	}
	modules.mu.Lock()
	refs := k1.module.refs
	modules.mu.Unlock()
	k3, err := Open(t.Context(), tok1.cfg)
	if err != nil {
		t.Fatal(err)
	}
	modules.mu.Lock()
	if k1.module.refs != refs+1 || k1.module.slots[k1.slot] != 2 {
		t.Errorf("after a third Open: %d refs (want %d), %d KEKs on the slot (want 2)", k1.module.refs, refs+1, k1.module.slots[k1.slot])
	}
	modules.mu.Unlock()
	if err := k3.Close(); err != nil {
		t.Fatal(err)
	}
	modules.mu.Lock()
	if k1.module.refs != refs {
		t.Errorf("after Close: %d refs, want %d", k1.module.refs, refs)
	}
	modules.mu.Unlock()
	// k3 shared k1's token: its Close must not have logged k1 out.
	key, aad := newDEK(), kms.DEKAAD("org_shared", 1)
	w := mustWrap(t, k1, key, aad)
	if info, err := k1.module.ctx.GetSessionInfo(k1.pool.idle[0]); err != nil || info.State != p11.CKS_RO_USER_FUNCTIONS {
		t.Errorf("k1's session after k3 closed: state %d, %v; want logged in", info.State, err)
	}
	mustUnwrap(t, k1, w, aad, key)
	mustUnwrap(t, k2, mustWrap(t, k2, key, aad), aad, key)
}

// TestCloseWaitsForCalls: Close lets calls in flight finish and refuses new
// ones.
func TestCloseWaitsForCalls(t *testing.T) {
	tok := newToken(t)
	k, err := Provision(t.Context(), tok.cfg)
	if err != nil {
		t.Fatal(err)
	}
	key, aad := newDEK(), kms.DEKAAD("org_close", 1)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			w, err := k.Wrap(t.Context(), key, aad)
			if err != nil && !errors.Is(err, ErrClosed) {
				t.Errorf("Wrap during Close: %v, want success or ErrClosed", err)
			}
			if err == nil && len(w.Ciphertext) != IVSize+len(key)+TagSize {
				t.Errorf("Wrap during Close returned %d bytes", len(w.Ciphertext))
			}
		})
	}
	if err := k.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	wg.Wait()
	if _, err := k.Unwrap(t.Context(), kms.Wrapped{KEKID: k.ID(), KEKVersion: 1, Ciphertext: make([]byte, 60)}, aad); !errors.Is(err, ErrClosed) {
		t.Errorf("Unwrap after Close: %v, want ErrClosed", err)
	}
	if !k.pool.pin.IsZero() {
		t.Error("Close left the PIN copy in memory")
	}
	if tok.cfg.PIN.IsZero() {
		t.Error("Close wiped the caller's PIN")
	}
}
