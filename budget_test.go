package keyward_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/kms/localkms"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/sqlite"
)

// openShared opens n engines on one SQLite file, each with its own store
// handle: as close to n processes as one test gets.
func openShared(t *testing.T, n int, opts keyward.Options) []*keyward.Engine {
	t.Helper()
	db := filepath.Join(t.TempDir(), "keyward.db")
	return openEngines(t, n, opts, func() (store.Store, error) { return sqlite.Open(context.Background(), db) })
}

// openEngines opens n engines, each on its own store handle from openStore
// and its own handle on one local KEK file.
func openEngines(t *testing.T, n int, opts keyward.Options, openStore func() (store.Store, error)) []*keyward.Engine {
	t.Helper()
	kekPath := filepath.Join(t.TempDir(), "kek.key")
	if _, err := localkms.Create(kekPath); err != nil {
		t.Fatal(err)
	}
	engines := make([]*keyward.Engine, n)
	for i := range engines {
		st, err := openStore()
		if err != nil {
			t.Fatal(err)
		}
		kek, err := localkms.Open(kekPath)
		if err != nil {
			t.Fatal(err)
		}
		eng, err := keyward.Open(st, kek, &opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { eng.Close(); st.Close() })
		engines[i] = eng
	}
	return engines
}

// eventually polls cond until it holds or 5 seconds pass. Correctness, not
// speed: the bound is generous.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNonceBudgetRotates(t *testing.T) {
	ctx := context.Background()
	const threshold, block = 100, 10
	engines := openShared(t, 2, keyward.Options{NonceThreshold: threshold, UsageBlock: block, ChangePoll: 20 * time.Millisecond})
	if _, err := engines[0].CreateOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	// Both engines encrypt until the org has moved past version 1.
	var wg sync.WaitGroup
	var mu sync.Mutex
	encrypted := 0
	for _, eng := range engines {
		wg.Go(func() {
			for i := range 1000 {
				ct, err := eng.EncryptText(ctx, "acme", []byte("x"), "")
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				encrypted++
				mu.Unlock()
				if i > threshold && !strings.HasPrefix(ct, "kw1:1:") {
					return
				}
			}
		})
	}
	wg.Wait()
	eventually(t, "org still on version 1", func() bool {
		keys, err := engines[0].Keys(ctx, "acme")
		return err == nil && len(keys) >= 2
	})
	keys, err := engines[1].Keys(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	var reserved uint64
	for _, k := range keys {
		reserved += k.Usage
	}
	if reserved < uint64(encrypted) {
		t.Fatalf("usage under-reported: %d reserved for %d encryptions", reserved, encrypted)
	}
	if got, limit := reserved-uint64(encrypted), uint64(2*block*len(keys)); got > limit {
		t.Fatalf("usage over-reported by %d, want at most one block per engine and version (%d)", got, limit)
	}
	v1 := keys[0]
	// Rotation runs in the background, so v1 may serve a few more blocks
	// after reaching the threshold; it must not rotate before.
	if v1.Usage < threshold {
		t.Fatalf("v1 rotated at usage %d, before the threshold %d", v1.Usage, threshold)
	}
	if v1.State != keyward.StateDecryptOnly {
		t.Fatalf("v1 state %s, want decrypt-only", v1.State)
	}
}

func TestChangesSeenByOtherEngine(t *testing.T) {
	ctx := context.Background()
	engines := openShared(t, 2, keyward.Options{ChangePoll: 50 * time.Millisecond})
	a, b := engines[0], engines[1]
	if _, err := a.CreateOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	old, err := b.EncryptText(ctx, "acme", []byte("v1 data"), "c") // b caches v1
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.RotateDEK(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	eventually(t, "b still encrypts with v1 after a rotated", func() bool {
		ct, err := b.EncryptText(ctx, "acme", []byte("x"), "c")
		return err == nil && strings.HasPrefix(ct, "kw1:2:")
	})
	if d := time.Since(start); d > time.Second {
		t.Errorf("b saw the rotation after %v, want within 1s", d)
	}
	if _, err := b.Decrypt(ctx, "acme", []byte(old), "c"); err != nil { // b caches v1 again
		t.Fatal(err)
	}
	if err := a.DestroyKey(ctx, "acme", 1); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	eventually(t, "b still decrypts v1 after a destroyed it", func() bool {
		_, err := b.Decrypt(ctx, "acme", []byte(old), "c")
		return err != nil
	})
	if d := time.Since(start); d > time.Second {
		t.Errorf("b saw the destruction after %v, want within 1s", d)
	}
	if _, err := b.Decrypt(ctx, "acme", []byte(old), "c"); err == nil || !strings.Contains(err.Error(), "destroyed") {
		t.Fatalf("b decrypting destroyed v1: got %v, want ErrDestroyed", err)
	}
}
