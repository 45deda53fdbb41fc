package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

// Legacy keys (store.LegacyKeyStore) and shredding (store.Shredder).
func testLegacy(t *testing.T, open Opener) {
	t.Run("AddAndList", func(t *testing.T) { testLegacyAddAndList(t, open(t)) })
	t.Run("AddRefused", func(t *testing.T) { testLegacyAddRefused(t, open(t)) })
	t.Run("Lifecycle", func(t *testing.T) { testLegacyLifecycle(t, open(t)) })
	t.Run("ConcurrentAdds", func(t *testing.T) { testLegacyConcurrentAdds(t, open(t)) })
	t.Run("Rewrap", func(t *testing.T) { testLegacyRewrap(t, open(t)) })
	t.Run("Shred", func(t *testing.T) { testShred(t, open(t)) })
	t.Run("ShredAfterRotations", func(t *testing.T) { testShredAfterRotations(t, open(t)) })
}

func legacyStore(t *testing.T, s store.Store) (store.LegacyKeyStore, store.Shredder) {
	t.Helper()
	ls, ok := s.(store.LegacyKeyStore)
	if !ok {
		t.Fatalf("%T does not implement store.LegacyKeyStore", s)
	}
	sh, ok := s.(store.Shredder)
	if !ok {
		t.Fatalf("%T does not implement store.Shredder", s)
	}
	return ls, sh
}

func newLegacy(org string, id uint32) store.LegacyKey {
	return store.LegacyKey{
		Org: org, ID: id, Kind: store.LegacyFernet, State: store.StateDecryptOnly,
		Fingerprint: fmt.Sprintf("fp-%s-%d", org, id),
		KEKID:       testKEK, KEKVersion: 7,
		Wrapped: []byte(fmt.Sprintf("wrapped-fernet(%s,%d)\x00\xff", org, id)),
	}
}

func mustLegacy(t *testing.T, ls store.LegacyKeyStore, org string) []store.LegacyKey {
	t.Helper()
	keys, err := ls.LegacyKeys(t.Context(), org)
	if err != nil {
		t.Fatalf("LegacyKeys(%q): %v", org, err)
	}
	return keys
}

func legacyDiff(got, want store.LegacyKey) string {
	return fieldDiff(got, want, "CreatedAt", "UpdatedAt")
}

func testLegacyAddAndList(t *testing.T, s store.Store) {
	ls, _ := legacyStore(t, s)
	ctx := t.Context()
	createOrg(t, s, "acme")
	createOrg(t, s, "other")
	if got := mustLegacy(t, ls, "acme"); got == nil || len(got) != 0 {
		t.Fatalf("LegacyKeys of an org without: got %#v, want an empty slice", got)
	}
	before := time.Now()
	last := mustLastChange(t, s)
	var added []store.LegacyKey
	for id := uint32(1); id <= 3; id++ {
		k, err := ls.AddLegacyKey(ctx, newLegacy("acme", id))
		if err != nil {
			t.Fatalf("AddLegacyKey(acme, %d): %v", id, err)
		}
		if d := legacyDiff(k, newLegacy("acme", id)); d != "" {
			t.Errorf("AddLegacyKey(acme, %d) returned %s", id, d)
		}
		checkTime(t, "CreatedAt", k.CreatedAt, before, time.Now())
		added = append(added, k)
	}
	changes := mustChanges(t, s, last, 10)
	if len(changes) != 3 {
		t.Fatalf("3 adds appended %d changes, want 3: %+v", len(changes), changes)
	}
	for _, c := range changes {
		if c.Org != "acme" {
			t.Errorf("change %+v, want org acme", c)
		}
	}
	got := mustLegacy(t, ls, "acme")
	if len(got) != 3 {
		t.Fatalf("LegacyKeys: got %d keys, want 3", len(got))
	}
	for i := range got {
		if d := legacyDiff(got[i], added[i]); d != "" || !got[i].CreatedAt.Equal(added[i].CreatedAt) {
			t.Errorf("LegacyKeys[%d]: %s", i, d)
		}
	}
	// The slices belong to the caller.
	got[0].Wrapped[0] ^= 0xff
	if again := mustLegacy(t, ls, "acme"); again[0].Wrapped[0] == got[0].Wrapped[0] {
		t.Error("LegacyKeys returned the store's own bytes")
	}
	if n := len(mustLegacy(t, ls, "other")); n != 0 {
		t.Errorf("other org: %d legacy keys, want 0", n)
	}
	if _, err := ls.LegacyKeys(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LegacyKeys(unknown org): got %v, want ErrNotFound", err)
	}
	// The DEKs are untouched.
	if keys := mustKeys(t, s, "acme"); len(keys) != 1 || keys[0].State != store.StateActive {
		t.Errorf("keys after legacy adds: %v", versions(keys))
	}
}

func testLegacyAddRefused(t *testing.T, s store.Store) {
	ls, _ := legacyStore(t, s)
	ctx := t.Context()
	createOrg(t, s, "acme")
	if _, err := ls.AddLegacyKey(ctx, newLegacy("acme", 1)); err != nil {
		t.Fatal(err)
	}
	dup := newLegacy("acme", 2)
	dup.Fingerprint = newLegacy("acme", 1).Fingerprint
	mod := func(f func(*store.LegacyKey)) store.LegacyKey {
		k := newLegacy("acme", 2)
		f(&k)
		return k
	}
	tests := []struct {
		name string
		k    store.LegacyKey
		want error
	}{
		{"unknown org", newLegacy("nobody", 1), store.ErrNotFound},
		{"id reused", mod(func(k *store.LegacyKey) { k.ID = 1; k.Fingerprint = "new" }), store.ErrVersionConflict},
		{"id gap", newLegacy("acme", 3), store.ErrVersionConflict},
		{"same key again", dup, store.ErrKeyExists},
		{"id 0", mod(func(k *store.LegacyKey) { k.ID = 0 }), store.ErrInvalidArgument},
		{"no org", mod(func(k *store.LegacyKey) { k.Org = "" }), store.ErrInvalidArgument},
		{"retired", mod(func(k *store.LegacyKey) { k.State = store.StateRetired }), store.ErrInvalidArgument},
		{"active", mod(func(k *store.LegacyKey) { k.State = store.StateActive }), store.ErrInvalidArgument},
		{"kind", mod(func(k *store.LegacyKey) { k.Kind = "dek" }), store.ErrInvalidArgument},
		{"no fingerprint", mod(func(k *store.LegacyKey) { k.Fingerprint = "" }), store.ErrInvalidArgument},
		{"no wrapped", mod(func(k *store.LegacyKey) { k.Wrapped = nil }), store.ErrInvalidArgument},
		{"no kek", mod(func(k *store.LegacyKey) { k.KEKID = "" }), store.ErrInvalidArgument},
	}
	last := mustLastChange(t, s)
	for _, tt := range tests {
		_, err := ls.AddLegacyKey(ctx, tt.k)
		checkErr(t, "AddLegacyKey "+tt.name, err, tt.want)
	}
	checkNoChanges(t, s, "refused adds", last)
	if n := len(mustLegacy(t, ls, "acme")); n != 1 {
		t.Errorf("after refused adds: %d keys, want 1", n)
	}
}

func testLegacyLifecycle(t *testing.T, s store.Store) {
	ls, _ := legacyStore(t, s)
	ctx := t.Context()
	createOrg(t, s, "acme")
	for id := uint32(1); id <= 2; id++ {
		if _, err := ls.AddLegacyKey(ctx, newLegacy("acme", id)); err != nil {
			t.Fatal(err)
		}
	}
	state := func(id uint32) store.LegacyKey { return mustLegacy(t, ls, "acme")[id-1] }
	steps := []struct {
		name    string
		do      func() error
		want    error
		state   store.KeyState
		changes int
	}{
		{"retire", func() error { return ls.SetLegacyKeyState(ctx, "acme", 1, store.StateRetired) }, nil, store.StateRetired, 1},
		{"retire again", func() error { return ls.SetLegacyKeyState(ctx, "acme", 1, store.StateRetired) }, nil, store.StateRetired, 0},
		{"reinstate", func() error { return ls.SetLegacyKeyState(ctx, "acme", 1, store.StateDecryptOnly) }, nil, store.StateDecryptOnly, 1},
		{"activate", func() error { return ls.SetLegacyKeyState(ctx, "acme", 1, store.StateActive) }, store.ErrInvalidTransition, store.StateDecryptOnly, 0},
		{"set destroyed", func() error { return ls.SetLegacyKeyState(ctx, "acme", 1, store.StateDestroyed) }, store.ErrInvalidTransition, store.StateDecryptOnly, 0},
		{"unknown state", func() error { return ls.SetLegacyKeyState(ctx, "acme", 1, "gone") }, store.ErrInvalidArgument, store.StateDecryptOnly, 0},
		{"destroy", func() error { return ls.DestroyLegacyKey(ctx, "acme", 1) }, nil, store.StateDestroyed, 1},
		{"destroy again", func() error { return ls.DestroyLegacyKey(ctx, "acme", 1) }, nil, store.StateDestroyed, 0},
		{"reinstate destroyed", func() error { return ls.SetLegacyKeyState(ctx, "acme", 1, store.StateDecryptOnly) }, store.ErrInvalidTransition, store.StateDestroyed, 0},
		{"unknown id", func() error { return ls.SetLegacyKeyState(ctx, "acme", 9, store.StateRetired) }, store.ErrNotFound, store.StateDestroyed, 0},
		{"destroy unknown", func() error { return ls.DestroyLegacyKey(ctx, "acme", 9) }, store.ErrNotFound, store.StateDestroyed, 0},
	}
	for _, st := range steps {
		last := mustLastChange(t, s)
		checkErr(t, st.name, st.do(), st.want)
		if got := state(1).State; got != st.state {
			t.Errorf("after %s: state %s, want %s", st.name, got, st.state)
		}
		if n := len(mustChanges(t, s, last, 10)); n != st.changes {
			t.Errorf("after %s: %d changes, want %d", st.name, n, st.changes)
		}
	}
	if k := state(1); k.Wrapped != nil || k.Fingerprint == "" {
		t.Errorf("destroyed key: wrapped %q, fingerprint %q; want nil and kept", k.Wrapped, k.Fingerprint)
	}
	if k := state(2); k.State != store.StateDecryptOnly || len(k.Wrapped) == 0 {
		t.Errorf("the other key changed: %+v", k)
	}
	// A destroyed key's fingerprint stays taken.
	again := newLegacy("acme", 3)
	again.Fingerprint = newLegacy("acme", 1).Fingerprint
	_, err := ls.AddLegacyKey(ctx, again)
	checkErr(t, "re-import a destroyed key", err, store.ErrKeyExists)
}

func testLegacyConcurrentAdds(t *testing.T, s store.Store) {
	ls, _ := legacyStore(t, s)
	createOrg(t, s, "acme")
	const n = 8
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		ok, lost  int
		unexpectd []error
	)
	for i := range n {
		wg.Go(func() {
			k := newLegacy("acme", 1)
			k.Fingerprint = fmt.Sprintf("fp-%d", i)
			_, err := ls.AddLegacyKey(t.Context(), k)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrVersionConflict):
				lost++
			default:
				unexpectd = append(unexpectd, err)
			}
		})
	}
	wg.Wait()
	if ok != 1 || lost != n-1 || len(unexpectd) > 0 {
		t.Fatalf("%d concurrent adds of id 1: %d won, %d conflicts, others %v; want 1 and %d", n, ok, lost, unexpectd, n-1)
	}
}

func testLegacyRewrap(t *testing.T, s store.Store) {
	ls, _ := legacyStore(t, s)
	ctx := t.Context()
	for _, org := range []string{"a", "b"} {
		createOrg(t, s, org)
		for id := uint32(1); id <= 2; id++ {
			if _, err := ls.AddLegacyKey(ctx, newLegacy(org, id)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := ls.DestroyLegacyKey(ctx, "b", 1); err != nil {
		t.Fatal(err)
	}
	counts, err := ls.LegacyKEKCounts(ctx)
	if err != nil || len(counts) != 1 || counts[0].Count != 3 || counts[0].KEK != (store.KEKRef{ID: testKEK, Version: 7}) {
		t.Fatalf("LegacyKEKCounts: %+v, %v; want 3 under %s#7", counts, err, testKEK)
	}
	target := store.KEKRef{ID: testKEK, Version: 8}
	_, err = ls.LegacyKeysToRewrap(ctx, store.KEKRef{ID: testKEK}, "", 0, 10)
	checkErr(t, "LegacyKeysToRewrap(version 0)", err, store.ErrInvalidArgument)
	_, err = ls.LegacyKeysToRewrap(ctx, target, "", 0, 0)
	checkErr(t, "LegacyKeysToRewrap(limit 0)", err, store.ErrInvalidArgument)
	var walked []string
	afterOrg, afterID := "", uint32(0)
	last := mustLastChange(t, s)
	for {
		keys, err := ls.LegacyKeysToRewrap(ctx, target, afterOrg, afterID, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			walked = append(walked, fmt.Sprintf("%s/%d", k.Org, k.ID))
			from := store.KEKRef{ID: k.KEKID, Version: k.KEKVersion}
			if err := ls.RewrapLegacyKey(ctx, k.Org, k.ID, from, target, []byte("rewrapped")); err != nil {
				t.Fatalf("RewrapLegacyKey(%s/%d): %v", k.Org, k.ID, err)
			}
			// The same move again lost the compare-and-swap.
			err := ls.RewrapLegacyKey(ctx, k.Org, k.ID, from, target, []byte("again"))
			checkErr(t, "second RewrapLegacyKey", err, store.ErrStale)
			afterOrg, afterID = k.Org, k.ID
		}
		if len(keys) < 2 {
			break
		}
	}
	if got, want := fmt.Sprint(walked), "[a/1 a/2 b/2]"; got != want {
		t.Errorf("walk: got %s, want %s", got, want)
	}
	checkNoChanges(t, s, "rewrapping legacy keys", last)
	if keys, _ := ls.LegacyKeysToRewrap(ctx, target, "", 0, 10); len(keys) != 0 {
		t.Errorf("after the walk: %d keys left", len(keys))
	}
	for _, k := range mustLegacy(t, ls, "a") {
		if string(k.Wrapped) != "rewrapped" || k.KEKVersion != 8 {
			t.Errorf("a/%d: wrapped %q under #%d", k.ID, k.Wrapped, k.KEKVersion)
		}
	}
	err = ls.RewrapLegacyKey(ctx, "b", 1, store.KEKRef{ID: testKEK, Version: 7}, target, []byte("x"))
	checkErr(t, "rewrap a destroyed key", err, store.ErrStale)
	err = ls.RewrapLegacyKey(ctx, "b", 9, store.KEKRef{ID: testKEK, Version: 7}, target, []byte("x"))
	checkErr(t, "rewrap an unknown key", err, store.ErrNotFound)
}

func testShred(t *testing.T, s store.Store) {
	ls, sh := legacyStore(t, s)
	ctx := t.Context()
	createOrg(t, s, "acme")
	createOrg(t, s, "other")
	for _, org := range []string{"acme", "other"} {
		if _, err := ls.AddLegacyKey(ctx, newLegacy(org, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if at, err := sh.ShreddedAt(ctx, "acme"); err != nil || !at.IsZero() {
		t.Fatalf("ShreddedAt before: %v, %v; want zero", at, err)
	}
	checkErr(t, "ShredOrg(unknown)", sh.ShredOrg(ctx, "nobody"), store.ErrNotFound)
	_, err := sh.ShreddedAt(ctx, "nobody")
	checkErr(t, "ShreddedAt(unknown)", err, store.ErrNotFound)

	last := mustLastChange(t, s)
	before := time.Now()
	if err := sh.ShredOrg(ctx, "acme"); err != nil {
		t.Fatalf("ShredOrg: %v", err)
	}
	at, err := sh.ShreddedAt(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	checkTime(t, "ShreddedAt", at, before, time.Now())
	changes := mustChanges(t, s, last, 10)
	if len(changes) == 0 {
		t.Fatal("ShredOrg appended no change")
	}
	for _, c := range changes {
		if c.Org != "acme" {
			t.Errorf("ShredOrg appended a change of %q", c.Org)
		}
	}
	for _, kv := range mustKeys(t, s, "acme") {
		if kv.State != store.StateDestroyed || kv.Wrapped != nil {
			t.Errorf("after shred: v%d %s with wrapped %q", kv.Version, kv.State, kv.Wrapped)
		}
	}
	for _, k := range mustLegacy(t, ls, "acme") {
		if k.State != store.StateDestroyed || k.Wrapped != nil {
			t.Errorf("after shred: legacy %d %s", k.ID, k.State)
		}
	}
	_, err = s.ActiveKey(ctx, "acme")
	checkErr(t, "ActiveKey(shredded)", err, store.ErrNotFound)
	// Nothing revives a shredded org.
	checkErr(t, "AddKey(shredded)", s.AddKey(ctx, newKey("acme", 2)), store.ErrInvalidTransition)
	_, err = ls.AddLegacyKey(ctx, newLegacy("acme", 2))
	checkErr(t, "AddLegacyKey(shredded)", err, store.ErrInvalidTransition)
	checkErr(t, "CreateOrg(shredded id)", s.CreateOrg(ctx, store.Org{ID: "acme"}, newKey("acme", 1)), store.ErrOrgExists)
	_, err = s.ReserveUsage(ctx, "acme", 1, 1)
	checkErr(t, "ReserveUsage(shredded)", err, store.ErrInvalidTransition)
	// Shredding again changes nothing.
	last = mustLastChange(t, s)
	if err := sh.ShredOrg(ctx, "acme"); err != nil {
		t.Fatalf("second ShredOrg: %v", err)
	}
	checkNoChanges(t, s, "a second shred", last)
	if again, _ := sh.ShreddedAt(ctx, "acme"); !again.Equal(at) {
		t.Errorf("ShreddedAt moved from %v to %v", at, again)
	}
	// The other organization is untouched.
	if kv := mustKey(t, s, "other", 1); kv.State != store.StateActive || len(kv.Wrapped) == 0 {
		t.Errorf("other org: %+v", kv)
	}
	if k := mustLegacy(t, ls, "other"); len(k) != 1 || k[0].State != store.StateDecryptOnly {
		t.Errorf("other org's legacy keys: %+v", k)
	}
	if at, _ := sh.ShreddedAt(ctx, "other"); !at.IsZero() {
		t.Errorf("other org shredded at %v", at)
	}
	if counts, _ := s.KEKCounts(ctx); len(counts) != 1 || counts[0].Count != 1 {
		t.Errorf("KEKCounts after shred: %+v, want the other org's one version", counts)
	}
}

func testShredAfterRotations(t *testing.T, s store.Store) {
	_, sh := legacyStore(t, s)
	ctx := t.Context()
	createOrg(t, s, "acme")
	addKeys(t, s, "acme", 2, 4)
	if err := s.SetKeyState(ctx, "acme", 1, store.StateRetired); err != nil {
		t.Fatal(err)
	}
	if err := s.DestroyKey(ctx, "acme", 2); err != nil {
		t.Fatal(err)
	}
	if err := sh.ShredOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	for _, kv := range mustKeys(t, s, "acme") {
		if kv.State != store.StateDestroyed || kv.Wrapped != nil {
			t.Errorf("v%d: %s", kv.Version, kv.State)
		}
	}
}
