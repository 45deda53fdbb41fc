package keyward_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// TestRotateKEKOnline: while two engines encrypt and decrypt without pause
// (with caches far smaller than the org count, so they unwrap all the time), the KEK is rotated
// and every data key rewrapped. No call fails, and afterwards every wrapped
// data key names the new KEK version.
func TestRotateKEKOnline(t *testing.T) {
	ctx := context.Background()
	// A cache of four keys for forty orgs: traffic unwraps all the time,
	// under both KEK versions, while the rewrap runs.
	engines := openShared(t, 2, keyward.Options{CacheSize: 4, ChangePoll: 50 * time.Millisecond})
	admin := engines[0]
	orgs := make([]string, 40)
	for i := range orgs {
		orgs[i] = fmt.Sprintf("org-%02d", i)
		if _, err := admin.CreateOrg(ctx, orgs[i]); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			if _, err := admin.RotateDEK(ctx, orgs[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	var (
		stop     atomic.Bool
		calls    atomic.Int64
		failures atomic.Int64
		wg       sync.WaitGroup
	)
	for g, eng := range engines {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				org := orgs[(i*7+g)%len(orgs)]
				pt := fmt.Appendf(nil, "%d-%d", g, i)
				ct, err := eng.Encrypt(ctx, org, pt, "c")
				if err == nil {
					var got []byte
					got, err = eng.Decrypt(ctx, org, ct, "c")
					if err == nil && string(got) != string(pt) {
						err = errors.New("wrong plaintext")
					}
				}
				calls.Add(1)
				if err != nil {
					failures.Add(1)
					t.Errorf("traffic during kek rotation: %v", err)
					return
				}
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	v, err := admin.RotateKEK(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v != 2 {
		t.Fatalf("RotateKEK: got v%d, want v2", v)
	}
	// Crash after the first batch, then resume.
	cctx, cancel := context.WithCancel(ctx)
	first, err := admin.RewrapDEKs(cctx, 5, func(s keyward.RewrapStats) {
		if s.Rewrapped > 0 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted rewrap: got %v, want context.Canceled", err)
	}
	if first.Total != 54 {
		t.Fatalf("versions to rewrap: got %d, want 54 (40 orgs + 14 rotations)", first.Total)
	}
	st, err := admin.RewrapDEKs(ctx, 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := first.Rewrapped+st.Rewrapped+st.Skipped, int64(54); got != want {
		t.Fatalf("rewrapped %d+%d (skipped %d), want %d in all", first.Rewrapped, st.Rewrapped, st.Skipped, want)
	}
	time.Sleep(50 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if calls.Load() < 10 || failures.Load() != 0 {
		t.Fatalf("traffic: %d calls, %d failures; want some calls and no failure", calls.Load(), failures.Load())
	}
	counts, err := admin.KEKCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) != 1 || counts[0].KEK.Version != 2 || counts[0].Count != 54 {
		t.Fatalf("kek counts after rewrap: got %+v, want all 54 under version 2", counts)
	}
	for _, org := range orgs {
		keys, err := admin.Keys(ctx, org)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if k.KEKVersion != 2 {
				t.Fatalf("%s v%d still wrapped by kek version %d", org, k.Version, k.KEKVersion)
			}
		}
	}
	// A third run finds nothing to do.
	again, err := admin.RewrapDEKs(ctx, 7, nil)
	if err != nil || again.Total != 0 || again.Rewrapped != 0 {
		t.Fatalf("rewrap after completion: got %+v, %v; want nothing to do", again, err)
	}
}
