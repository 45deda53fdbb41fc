package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

func testKeys(t *testing.T, open Opener) {
	t.Run("AddKeyRotates", func(t *testing.T) { testAddKeyRotates(t, open(t)) })
	t.Run("AddKeyKeepsOtherStates", func(t *testing.T) { testAddKeyKeepsOtherStates(t, open(t)) })
	t.Run("AddKeyVersionConflict", func(t *testing.T) { testAddKeyVersionConflict(t, open) })
	t.Run("AddKeyInvalid", func(t *testing.T) { testAddKeyInvalid(t, open) })
	t.Run("AddKeyOtherOrgUntouched", func(t *testing.T) { testAddKeyOtherOrgUntouched(t, open(t)) })
	t.Run("NotFound", func(t *testing.T) { testNotFound(t, open(t)) })
	t.Run("InvalidArgument", func(t *testing.T) { testInvalidArgument(t, open(t)) })
}

func testAddKeyRotates(t *testing.T, s store.Store) {
	ctx := t.Context()
	createOrg(t, s, "acme")
	v1 := mustKey(t, s, "acme", 1)

	for v := uint32(2); v <= 4; v++ {
		prev := mustKeys(t, s, "acme")
		in := newKey("acme", v)
		before := time.Now()
		if err := s.AddKey(ctx, in); err != nil {
			t.Fatalf("AddKey(v%d): %v", v, err)
		}
		after := time.Now()

		active, err := s.ActiveKey(ctx, "acme")
		if err != nil {
			t.Fatalf("ActiveKey after AddKey(v%d): %v", v, err)
		}
		checkNewKey(t, fmt.Sprintf("ActiveKey after AddKey(v%d)", v), active, in, before, after)
		checkKey(t, fmt.Sprintf("Key(%d)", v), mustKey(t, s, "acme", v), active)

		keys := mustKeys(t, s, "acme")
		if len(keys) != int(v) {
			t.Fatalf("Keys after AddKey(v%d): got %v, want %d versions", v, versions(keys), v)
		}
		checkOneActive(t, keys)
		for i, kv := range keys {
			if kv.Version != uint32(i+1) {
				t.Fatalf("Keys after AddKey(v%d): got %v, want versions 1..%d in order", v, versions(keys), v)
			}
		}
		checkKey(t, fmt.Sprintf("Keys[%d]", v-1), keys[v-1], active)

		// The previous active version is now decrypt-only, touched now;
		// older versions are untouched.
		was := prev[v-2]
		demoted := keys[v-2]
		want := was
		want.State, want.UpdatedAt = store.StateDecryptOnly, demoted.UpdatedAt
		checkKey(t, fmt.Sprintf("v%d after AddKey(v%d)", v-1, v), demoted, want)
		checkTime(t, fmt.Sprintf("v%d UpdatedAt after AddKey(v%d)", v-1, v), demoted.UpdatedAt, before, after)
		if demoted.UpdatedAt.Before(was.UpdatedAt) {
			t.Errorf("v%d UpdatedAt went back from %v to %v", v-1, was.UpdatedAt, demoted.UpdatedAt)
		}
		for i := range int(v) - 2 {
			checkKey(t, fmt.Sprintf("v%d after AddKey(v%d)", i+1, v), keys[i], prev[i])
		}
	}
	if got := mustKey(t, s, "acme", 1); !got.CreatedAt.Equal(v1.CreatedAt) {
		t.Errorf("v1 CreatedAt changed from %v to %v", v1.CreatedAt, got.CreatedAt)
	}
}

func testAddKeyKeepsOtherStates(t *testing.T, s store.Store) {
	ctx := t.Context()
	createOrg(t, s, "acme")
	addKeys(t, s, "acme", 2, 3)
	if err := s.SetKeyState(ctx, "acme", 1, store.StateRetired); err != nil {
		t.Fatalf("SetKeyState(v1, retired): %v", err)
	}
	if err := s.DestroyKey(ctx, "acme", 2); err != nil {
		t.Fatalf("DestroyKey(v2): %v", err)
	}
	before := take(t, s)
	addKeys(t, s, "acme", 4, 4)
	keys := mustKeys(t, s, "acme")
	want := []string{"v1:retired", "v2:destroyed", "v3:decrypt-only", "v4:active"}
	if got := versions(keys); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Keys after AddKey(v4): got %v, want %v", got, want)
	}
	for _, v := range []uint32{1, 2} {
		checkKey(t, fmt.Sprintf("v%d after AddKey(v4)", v), keys[v-1], before.find("acme", v))
	}
}

func testAddKeyVersionConflict(t *testing.T, open Opener) {
	for _, v := range []uint32{1, 2, 3, 5, 6, 100, 1<<32 - 1} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			s := open(t)
			createOrg(t, s, "acme")
			addKeys(t, s, "acme", 2, 3)
			before := take(t, s)
			in := newKey("acme", v)
			in.Wrapped = wrapped("acme", v, "-conflict")
			err := s.AddKey(t.Context(), in)
			checkErr(t, fmt.Sprintf("AddKey(v%d) with highest v3", v), err, store.ErrVersionConflict)
			checkUnchanged(t, s, before)
		})
	}
}

func testAddKeyInvalid(t *testing.T, open Opener) {
	tests := []struct {
		name   string
		modify func(kv *store.KeyVersion)
	}{
		{"Version0", func(kv *store.KeyVersion) { kv.Version = 0 }},
		{"StateDecryptOnly", func(kv *store.KeyVersion) { kv.State = store.StateDecryptOnly }},
		{"StateRetired", func(kv *store.KeyVersion) { kv.State = store.StateRetired }},
		{"StateDestroyed", func(kv *store.KeyVersion) { kv.State = store.StateDestroyed }},
		{"StateEmpty", func(kv *store.KeyVersion) { kv.State = "" }},
		{"StateUnknown", func(kv *store.KeyVersion) { kv.State = "enabled" }},
		{"EmptyOrg", func(kv *store.KeyVersion) { kv.Org = "" }},
		{"NilWrapped", func(kv *store.KeyVersion) { kv.Wrapped = nil }},
		{"EmptyWrapped", func(kv *store.KeyVersion) { kv.Wrapped = []byte{} }},
		{"EmptyKEKID", func(kv *store.KeyVersion) { kv.KEKID = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			createOrg(t, s, "acme")
			before := take(t, s)
			kv := newKey("acme", 2)
			tt.modify(&kv)
			err := s.AddKey(t.Context(), kv)
			checkErr(t, fmt.Sprintf("AddKey(%+v)", kv), err, store.ErrInvalidArgument)
			checkUnchanged(t, s, before)
		})
	}
}

func testAddKeyOtherOrgUntouched(t *testing.T, s store.Store) {
	createOrg(t, s, "acme")
	createOrg(t, s, "globex")
	before := take(t, s)
	addKeys(t, s, "acme", 2, 3)
	now := take(t, s)
	if d := fmt.Sprint(versions(now.keys["globex"])); d != fmt.Sprint(versions(before.keys["globex"])) {
		t.Errorf("globex versions: got %s after rotating acme", d)
	}
	checkKey(t, "globex v1 after rotating acme", now.find("globex", 1), before.find("globex", 1))
}

// testNotFound calls every method on an organization or version that does
// not exist.
func testNotFound(t *testing.T, s store.Store) {
	createOrg(t, s, "acme")
	addKeys(t, s, "acme", 2, 2)
	before := take(t, s)
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Org(nope)", func(ctx context.Context) error { _, err := s.Org(ctx, "nope"); return err }},
		{"ActiveKey(nope)", func(ctx context.Context) error { _, err := s.ActiveKey(ctx, "nope"); return err }},
		{"Key(nope, 1)", func(ctx context.Context) error { _, err := s.Key(ctx, "nope", 1); return err }},
		{"Key(acme, 3)", func(ctx context.Context) error { _, err := s.Key(ctx, "acme", 3); return err }},
		{"Key(ACME, 1)", func(ctx context.Context) error { _, err := s.Key(ctx, "ACME", 1); return err }},
		{"Keys(nope)", func(ctx context.Context) error { _, err := s.Keys(ctx, "nope"); return err }},
		{"AddKey(nope, 1)", func(ctx context.Context) error { return s.AddKey(ctx, newKey("nope", 1)) }},
		{"AddKey(nope, 2)", func(ctx context.Context) error { return s.AddKey(ctx, newKey("nope", 2)) }},
		{"SetKeyState(nope, 1)", func(ctx context.Context) error {
			return s.SetKeyState(ctx, "nope", 1, store.StateRetired)
		}},
		{"SetKeyState(acme, 3)", func(ctx context.Context) error {
			return s.SetKeyState(ctx, "acme", 3, store.StateRetired)
		}},
		{"DestroyKey(nope, 1)", func(ctx context.Context) error { return s.DestroyKey(ctx, "nope", 1) }},
		{"DestroyKey(acme, 3)", func(ctx context.Context) error { return s.DestroyKey(ctx, "acme", 3) }},
	}
	for _, c := range calls {
		checkErr(t, c.name, c.call(t.Context()), store.ErrNotFound)
	}
	checkUnchanged(t, s, before)
}

// testInvalidArgument calls every method with an empty organization id,
// version 0 or an unknown state.
func testInvalidArgument(t *testing.T, s store.Store) {
	createOrg(t, s, "acme")
	addKeys(t, s, "acme", 2, 2)
	before := take(t, s)
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Org(empty)", func(ctx context.Context) error { _, err := s.Org(ctx, ""); return err }},
		{"ActiveKey(empty)", func(ctx context.Context) error { _, err := s.ActiveKey(ctx, ""); return err }},
		{"Key(empty, 1)", func(ctx context.Context) error { _, err := s.Key(ctx, "", 1); return err }},
		{"Key(acme, 0)", func(ctx context.Context) error { _, err := s.Key(ctx, "acme", 0); return err }},
		{"Keys(empty)", func(ctx context.Context) error { _, err := s.Keys(ctx, ""); return err }},
		{"SetKeyState(empty, 1)", func(ctx context.Context) error {
			return s.SetKeyState(ctx, "", 1, store.StateRetired)
		}},
		{"SetKeyState(acme, 0)", func(ctx context.Context) error {
			return s.SetKeyState(ctx, "acme", 0, store.StateRetired)
		}},
		{"SetKeyState(acme, 1, unknown)", func(ctx context.Context) error {
			return s.SetKeyState(ctx, "acme", 1, "disabled")
		}},
		{"SetKeyState(acme, 1, empty)", func(ctx context.Context) error {
			return s.SetKeyState(ctx, "acme", 1, "")
		}},
		{"DestroyKey(empty, 1)", func(ctx context.Context) error { return s.DestroyKey(ctx, "", 1) }},
		{"DestroyKey(acme, 0)", func(ctx context.Context) error { return s.DestroyKey(ctx, "acme", 0) }},
	}
	for _, c := range calls {
		checkErr(t, c.name, c.call(t.Context()), store.ErrInvalidArgument)
	}
	checkUnchanged(t, s, before)
}
