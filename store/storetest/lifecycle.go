package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

func testLifecycle(t *testing.T, open Opener) {
	t.Run("SetKeyState", func(t *testing.T) { testSetKeyState(t, open) })
	t.Run("SetKeyStateRoundTrip", func(t *testing.T) { testSetKeyStateRoundTrip(t, open(t)) })
	t.Run("DestroyKey", func(t *testing.T) { testDestroyKey(t, open) })
	t.Run("DestroyedStaysErased", func(t *testing.T) { testDestroyedStaysErased(t, open(t)) })
}

// lifecycleOrg creates org "acme" with one version in each state:
// v1 retired, v2 decrypt-only, v3 destroyed, v4 active.
func lifecycleOrg(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	createOrg(t, s, "acme")
	addKeys(t, s, "acme", 2, 4)
	if err := s.SetKeyState(ctx, "acme", 1, store.StateRetired); err != nil {
		t.Fatalf("SetKeyState(v1, retired): %v", err)
	}
	if err := s.DestroyKey(ctx, "acme", 3); err != nil {
		t.Fatalf("DestroyKey(v3): %v", err)
	}
	want := []string{"v1:retired", "v2:decrypt-only", "v3:destroyed", "v4:active"}
	if got := versions(mustKeys(t, s, "acme")); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("setup: got %v, want %v", got, want)
	}
}

const (
	vRetired     = 1
	vDecryptOnly = 2
	vDestroyed   = 3
	vActive      = 4
	vMissing     = 5
)

func testSetKeyState(t *testing.T, open Opener) {
	tests := []struct {
		version uint32
		to      store.KeyState
		wantErr error
		changed bool // the version moved to the state "to"
	}{
		// The two allowed moves.
		{vDecryptOnly, store.StateRetired, nil, true},
		{vRetired, store.StateDecryptOnly, nil, true},
		// Setting the current state again changes nothing.
		{vDecryptOnly, store.StateDecryptOnly, nil, false},
		{vRetired, store.StateRetired, nil, false},
		// The active version only leaves through AddKey.
		{vActive, store.StateDecryptOnly, store.ErrInvalidTransition, false},
		{vActive, store.StateRetired, store.ErrInvalidTransition, false},
		{vActive, store.StateActive, store.ErrInvalidTransition, false},
		{vActive, store.StateDestroyed, store.ErrInvalidTransition, false},
		// Activation only happens through AddKey.
		{vDecryptOnly, store.StateActive, store.ErrInvalidTransition, false},
		{vRetired, store.StateActive, store.ErrInvalidTransition, false},
		// Destruction only happens through DestroyKey.
		{vDecryptOnly, store.StateDestroyed, store.ErrInvalidTransition, false},
		{vRetired, store.StateDestroyed, store.ErrInvalidTransition, false},
		// Destroyed is final.
		{vDestroyed, store.StateDecryptOnly, store.ErrInvalidTransition, false},
		{vDestroyed, store.StateRetired, store.ErrInvalidTransition, false},
		{vDestroyed, store.StateActive, store.ErrInvalidTransition, false},
		{vDestroyed, store.StateDestroyed, store.ErrInvalidTransition, false},
		{vMissing, store.StateRetired, store.ErrNotFound, false},
		{vMissing, store.StateDecryptOnly, store.ErrNotFound, false},
		{vDecryptOnly, "suspended", store.ErrInvalidArgument, false},
	}
	for _, tt := range tests {
		call := fmt.Sprintf("SetKeyState(v%d, %q)", tt.version, tt.to)
		t.Run(fmt.Sprintf("v%d_to_%s", tt.version, tt.to), func(t *testing.T) {
			s := open(t)
			lifecycleOrg(t, s)
			snap := take(t, s)
			before := time.Now()
			err := s.SetKeyState(t.Context(), "acme", tt.version, tt.to)
			after := time.Now()
			if !checkErr(t, call, err, tt.wantErr) {
				return
			}
			if !tt.changed {
				checkUnchanged(t, s, snap)
				return
			}
			checkUnchanged(t, s, snap, versionRef{"acme", tt.version})
			got := mustKey(t, s, "acme", tt.version)
			want := snap.find("acme", tt.version)
			want.State, want.UpdatedAt = tt.to, got.UpdatedAt
			checkKey(t, call, got, want)
			checkTime(t, call+" UpdatedAt", got.UpdatedAt, before, after)
			checkOneActive(t, mustKeys(t, s, "acme"))
		})
	}
}

func testSetKeyStateRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	createOrg(t, s, "acme")
	addKeys(t, s, "acme", 2, 2)
	v1 := mustKey(t, s, "acme", 1)
	for i, to := range []store.KeyState{store.StateRetired, store.StateDecryptOnly, store.StateRetired, store.StateDecryptOnly} {
		if err := s.SetKeyState(ctx, "acme", 1, to); err != nil {
			t.Fatalf("step %d: SetKeyState(v1, %s): %v", i, to, err)
		}
		got := mustKey(t, s, "acme", 1)
		want := v1
		want.State, want.UpdatedAt = to, got.UpdatedAt
		checkKey(t, fmt.Sprintf("step %d: v1", i), got, want)
	}
}

func testDestroyKey(t *testing.T, open Opener) {
	tests := []struct {
		version uint32
		wantErr error
		changed bool
	}{
		{vDecryptOnly, nil, true},
		{vRetired, nil, true},
		{vDestroyed, nil, false}, // again: a no-op
		{vActive, store.ErrInvalidTransition, false},
		{vMissing, store.ErrNotFound, false},
	}
	for _, tt := range tests {
		call := fmt.Sprintf("DestroyKey(v%d)", tt.version)
		t.Run(fmt.Sprintf("v%d", tt.version), func(t *testing.T) {
			s := open(t)
			lifecycleOrg(t, s)
			snap := take(t, s)
			before := time.Now()
			err := s.DestroyKey(t.Context(), "acme", tt.version)
			after := time.Now()
			if !checkErr(t, call, err, tt.wantErr) {
				return
			}
			if !tt.changed {
				checkUnchanged(t, s, snap)
				return
			}
			checkUnchanged(t, s, snap, versionRef{"acme", tt.version})
			got := mustKey(t, s, "acme", tt.version)
			was := snap.find("acme", tt.version)
			if got.State != store.StateDestroyed {
				t.Errorf("%s: state %s, want %s", call, got.State, store.StateDestroyed)
			}
			if got.Org != was.Org || got.Version != was.Version || !got.CreatedAt.Equal(was.CreatedAt) {
				t.Errorf("%s: identity changed from %+v to %+v", call, was, got)
			}
			checkTime(t, call+" UpdatedAt", got.UpdatedAt, before, after)
			checkErased(t, s, "acme", tt.version)
			checkOneActive(t, mustKeys(t, s, "acme"))
		})
	}
}

// checkErased checks that every read of a destroyed version shows no
// wrapped key.
func checkErased(t *testing.T, s store.Store, org string, version uint32) {
	t.Helper()
	if kv := mustKey(t, s, org, version); len(kv.Wrapped) != 0 {
		t.Errorf("Key(%q, %d) of destroyed version: Wrapped %q, want none", org, version, kv.Wrapped)
	}
	found := false
	for _, kv := range mustKeys(t, s, org) {
		if kv.Version != version {
			continue
		}
		found = true
		if kv.State != store.StateDestroyed || len(kv.Wrapped) != 0 {
			t.Errorf("Keys(%q) v%d: state %s, Wrapped %q, want destroyed without wrapped key", org, version, kv.State, kv.Wrapped)
		}
	}
	if !found {
		t.Errorf("Keys(%q) lacks destroyed v%d; destroyed versions stay listed", org, version)
	}
	if kv, err := s.ActiveKey(t.Context(), org); err == nil && kv.Version == version {
		t.Errorf("ActiveKey(%q) returned destroyed v%d", org, version)
	}
}

// testDestroyedStaysErased checks that later writes neither revive a
// destroyed version nor reuse its number.
func testDestroyedStaysErased(t *testing.T, s store.Store) {
	ctx := t.Context()
	createOrg(t, s, "acme")
	addKeys(t, s, "acme", 2, 2)
	if err := s.DestroyKey(ctx, "acme", 1); err != nil {
		t.Fatalf("DestroyKey(v1): %v", err)
	}
	checkErr(t, "AddKey(v1) over destroyed v1", s.AddKey(ctx, newKey("acme", 1)), store.ErrVersionConflict)
	addKeys(t, s, "acme", 3, 3)
	checkErr(t, "DestroyKey(v1) again", s.DestroyKey(ctx, "acme", 1), nil)
	checkErased(t, s, "acme", 1)
	want := []string{"v1:destroyed", "v2:decrypt-only", "v3:active"}
	if got := versions(mustKeys(t, s, "acme")); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Keys: got %v, want %v", got, want)
	}
}
