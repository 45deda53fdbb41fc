package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/keyward/keyward/store"
)

// writers is how many goroutines race in the concurrency tests.
const writers = 8

func testConcurrency(t *testing.T, open Opener) {
	t.Run("AddKeyRace", func(t *testing.T) { testAddKeyRace(t, open(t)) })
	t.Run("CreateOrgDistinct", func(t *testing.T) { testCreateOrgDistinct(t, open(t)) })
	t.Run("CreateOrgSameID", func(t *testing.T) { testCreateOrgSameID(t, open(t)) })
	t.Run("ReadsDuringRotation", func(t *testing.T) { testReadsDuringRotation(t, open(t)) })
}

// race runs fn(i) for i in 0..n-1 on n goroutines released together.
func race(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

// testAddKeyRace: writers goroutines all add version 2 at once; exactly one
// wins, the others get ErrVersionConflict. Each loser then retries with the
// next version until it has added one, as a rotating caller would. In the end
// versions run 1..writers+1, each added by exactly one goroutine.
func testAddKeyRace(t *testing.T, s store.Store) {
	createOrg(t, s, "acme")
	first := make([]error, writers)    // each goroutine's attempt at v2
	claimed := make([]uint32, writers) // the version each one added
	failed := make([]error, writers)
	race(writers, func(i int) {
		ctx := t.Context()
		tag := fmt.Sprintf("-g%d", i)
		v := uint32(2)
		for attempt := 0; ; attempt++ {
			if attempt == 100*writers {
				failed[i] = fmt.Errorf("no version added after %d attempts", attempt)
				return
			}
			kv := newKey("acme", v)
			kv.Wrapped = wrapped("acme", v, tag)
			err := s.AddKey(ctx, kv)
			if attempt == 0 {
				first[i] = err
			}
			if err == nil {
				claimed[i] = v
				return
			}
			if !errors.Is(err, store.ErrVersionConflict) {
				failed[i] = fmt.Errorf("AddKey(v%d): %w", v, err)
				return
			}
			active, err := s.ActiveKey(ctx, "acme")
			if err != nil {
				failed[i] = fmt.Errorf("ActiveKey: %w", err)
				return
			}
			v = active.Version + 1
		}
	})
	for i, err := range failed {
		if err != nil {
			t.Errorf("goroutine %d: %v", i, err)
		}
	}
	wins := 0
	for i, err := range first {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrVersionConflict):
			t.Errorf("goroutine %d: first AddKey(v2): got error %v, want nil or %v", i, err, store.ErrVersionConflict)
		}
	}
	if wins != 1 {
		t.Errorf("%d goroutines added v2, want exactly 1", wins)
	}

	keys := mustKeys(t, s, "acme")
	if len(keys) != writers+1 {
		t.Fatalf("Keys: got %v, want versions 1..%d", versions(keys), writers+1)
	}
	for i, kv := range keys {
		if kv.Version != uint32(i+1) {
			t.Fatalf("Keys: got %v, want versions 1..%d without gap or reuse", versions(keys), writers+1)
		}
	}
	if active := checkOneActive(t, keys); active.Version != writers+1 {
		t.Errorf("active version %d, want %d", active.Version, writers+1)
	}
	owner := map[uint32]int{}
	for i, v := range claimed {
		if v == 0 {
			continue
		}
		if j, dup := owner[v]; dup {
			t.Errorf("goroutines %d and %d both added v%d", j, i, v)
		}
		owner[v] = i
		if got, want := keys[v-1].Wrapped, wrapped("acme", v, fmt.Sprintf("-g%d", i)); !bytes.Equal(got, want) {
			t.Errorf("v%d Wrapped: got %q, want %q of its adder", v, got, want)
		}
	}
}

// testCreateOrgDistinct: goroutines create distinct orgs concurrently; all
// succeed and every org has its active version 1.
func testCreateOrgDistinct(t *testing.T, s store.Store) {
	const perWriter = 5
	errs := make([]error, writers*perWriter)
	race(writers, func(i int) {
		for j := range perWriter {
			id := fmt.Sprintf("org-%d-%d", i, j)
			errs[i*perWriter+j] = s.CreateOrg(t.Context(), store.Org{ID: id}, newKey(id, 1))
		}
	})
	for i, err := range errs {
		checkErr(t, fmt.Sprintf("CreateOrg(org-%d-%d)", i/perWriter, i%perWriter), err, nil)
	}
	orgs, err := s.ListOrgs(t.Context(), "", 1000)
	if err != nil {
		t.Fatalf("ListOrgs: %v", err)
	}
	if len(orgs) != writers*perWriter {
		t.Errorf("ListOrgs: got %d orgs, want %d", len(orgs), writers*perWriter)
	}
	for _, o := range orgs {
		kv, err := s.ActiveKey(t.Context(), o.ID)
		if err != nil || kv.Version != 1 || !bytes.Equal(kv.Wrapped, wrapped(o.ID, 1, "")) {
			t.Errorf("ActiveKey(%q): got v%d %q, %v; want v1 with its own key", o.ID, kv.Version, kv.Wrapped, err)
		}
	}
}

// testCreateOrgSameID: goroutines create the same org at once; exactly one
// succeeds, and its version 1 is the one stored.
func testCreateOrgSameID(t *testing.T, s store.Store) {
	errs := make([]error, writers)
	race(writers, func(i int) {
		kv := newKey("acme", 1)
		kv.Wrapped = wrapped("acme", 1, fmt.Sprintf("-g%d", i))
		errs[i] = s.CreateOrg(t.Context(), store.Org{ID: "acme"}, kv)
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("goroutines %d and %d both created acme", winner, i)
		case err == nil:
			winner = i
		default:
			checkErr(t, fmt.Sprintf("goroutine %d: CreateOrg(acme)", i), err, store.ErrOrgExists)
		}
	}
	if winner < 0 {
		t.Fatal("no goroutine created acme")
	}
	keys := mustKeys(t, s, "acme")
	if len(keys) != 1 || !bytes.Equal(keys[0].Wrapped, wrapped("acme", 1, fmt.Sprintf("-g%d", winner))) {
		t.Errorf("Keys(acme): got %v, want the winner's v1", keys)
	}
}

// testReadsDuringRotation: readers running while a writer rotates always
// find exactly one active version, and never an older one than before.
func testReadsDuringRotation(t *testing.T, s store.Store) {
	createOrg(t, s, "acme")
	const rotations = 20
	done := make(chan struct{})
	errs := make([]error, writers)
	race(writers, func(i int) {
		ctx := t.Context()
		if i == 0 {
			defer close(done)
			for v := uint32(2); v <= rotations+1; v++ {
				if err := s.AddKey(ctx, newKey("acme", v)); err != nil {
					errs[i] = fmt.Errorf("AddKey(v%d): %w", v, err)
					return
				}
			}
			return
		}
		var last uint32
		for {
			select {
			case <-done:
				return
			default:
			}
			kv, err := s.ActiveKey(ctx, "acme")
			if err != nil {
				errs[i] = fmt.Errorf("ActiveKey: %w", err)
				return
			}
			if kv.State != store.StateActive || kv.Version < last {
				errs[i] = fmt.Errorf("active key: got v%d %s after v%d", kv.Version, kv.State, last)
				return
			}
			last = kv.Version
			keys, err := s.Keys(ctx, "acme")
			if err != nil {
				errs[i] = fmt.Errorf("keys: %w", err)
				return
			}
			active := 0
			for _, k := range keys {
				if k.State == store.StateActive {
					active++
				}
			}
			if active != 1 || len(keys) < int(last) {
				errs[i] = fmt.Errorf("keys: got %v after active key v%d", versions(keys), last)
				return
			}
		}
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("goroutine %d: %v", i, err)
		}
	}
}
