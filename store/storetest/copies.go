package storetest

import (
	"bytes"
	"testing"

	"github.com/keyward/keyward/store"
)

func testCopies(t *testing.T, open Opener) {
	t.Run("ReturnedWrapped", func(t *testing.T) { testReturnedWrapped(t, open(t)) })
	t.Run("ReturnedSlices", func(t *testing.T) { testReturnedSlices(t, open(t)) })
	t.Run("InputWrapped", func(t *testing.T) { testInputWrapped(t, open(t)) })
}

// scribble overwrites b in place.
func scribble(b []byte) {
	for i := range b {
		b[i] = 'X'
	}
}

// testReturnedWrapped: a caller zeroing or reusing a returned Wrapped (as the
// keyring does after unwrapping) must not change what the store holds.
func testReturnedWrapped(t *testing.T, s store.Store) {
	ctx := t.Context()
	createOrg(t, s, "acme")
	addKeys(t, s, "acme", 2, 2)
	before := take(t, s)

	active, err := s.ActiveKey(ctx, "acme")
	if err != nil {
		t.Fatalf("ActiveKey: %v", err)
	}
	scribble(active.Wrapped)
	kv := mustKey(t, s, "acme", 1)
	scribble(kv.Wrapped)
	for _, kv := range mustKeys(t, s, "acme") {
		scribble(kv.Wrapped)
	}
	checkUnchanged(t, s, before)
	if got, want := mustKey(t, s, "acme", 2).Wrapped, wrapped("acme", 2, ""); !bytes.Equal(got, want) {
		t.Errorf("Key(acme, 2) after scribbling on returned copies: Wrapped %q, want %q", got, want)
	}
}

// testReturnedSlices: the slices ListOrgs and Keys return are the caller's.
func testReturnedSlices(t *testing.T, s store.Store) {
	ctx := t.Context()
	createOrg(t, s, "acme")
	createOrg(t, s, "globex")
	before := take(t, s)

	orgs, err := s.ListOrgs(ctx, "", 10)
	if err != nil {
		t.Fatalf("ListOrgs: %v", err)
	}
	for i := range orgs {
		orgs[i].ID = "changed"
	}
	keys := mustKeys(t, s, "acme")
	for i := range keys {
		keys[i].State = store.StateDestroyed
		keys[i].Version = 99
	}
	checkUnchanged(t, s, before)
}

// testInputWrapped: a caller reusing its buffer after CreateOrg or AddKey
// (zeroing it, say) must not change what the store holds.
func testInputWrapped(t *testing.T, s store.Store) {
	ctx := t.Context()
	first := newKey("acme", 1)
	if err := s.CreateOrg(ctx, store.Org{ID: "acme"}, first); err != nil {
		t.Fatalf("CreateOrg: %v", err)
	}
	scribble(first.Wrapped)
	second := newKey("acme", 2)
	if err := s.AddKey(ctx, second); err != nil {
		t.Fatalf("AddKey: %v", err)
	}
	scribble(second.Wrapped)
	for v := uint32(1); v <= 2; v++ {
		if got, want := mustKey(t, s, "acme", v).Wrapped, wrapped("acme", v, ""); !bytes.Equal(got, want) {
			t.Errorf("Key(acme, %d) after the caller reused its buffer: Wrapped %q, want %q", v, got, want)
		}
	}
}
