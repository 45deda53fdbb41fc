package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/keyward/keyward/store"
)

// testAuditRewrap: RewrapAuditKey is a compare-and-swap on the audit key's
// KEK: it moves the key from one KEK version to another only if it is still
// wrapped by the expected one, keeps CreatedAt, and refuses bad input
// without changing anything.
func testAuditRewrap(t *testing.T, s store.AuditStore) {
	ctx := t.Context()
	v1 := store.KEKRef{ID: testKEK, Version: 1}
	v2 := store.KEKRef{ID: testKEK, Version: 2}
	v3 := store.KEKRef{ID: testKEK, Version: 3}

	err := s.RewrapAuditKey(ctx, v1, v2, []byte("w2"))
	checkErr(t, "RewrapAuditKey(no audit key)", err, store.ErrNotFound)
	if _, err := s.AuditKey(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("AuditKey after a refused rewrap of no key: got %v, want ErrNotFound", err)
	}

	orig, err := s.InitAuditKey(ctx, store.AuditKey{KEKID: testKEK, KEKVersion: 1, Wrapped: []byte("w1\x00\xff")})
	if err != nil {
		t.Fatalf("InitAuditKey: %v", err)
	}
	for _, tc := range []struct {
		name     string
		from, to store.KEKRef
		wrapped  []byte
	}{
		{"empty from id", store.KEKRef{Version: 1}, v2, []byte("w2")},
		{"empty to id", v1, store.KEKRef{Version: 2}, []byte("w2")},
		{"to version 0", v1, store.KEKRef{ID: testKEK}, []byte("w2")},
		{"nil wrapped", v1, v2, nil},
		{"empty wrapped", v1, v2, []byte{}},
	} {
		err := s.RewrapAuditKey(ctx, tc.from, tc.to, tc.wrapped)
		checkErr(t, "RewrapAuditKey("+tc.name+")", err, store.ErrInvalidArgument)
	}
	for _, from := range []store.KEKRef{v2, {ID: "other", Version: 1}} {
		err := s.RewrapAuditKey(ctx, from, v3, []byte("w3"))
		checkErr(t, fmt.Sprintf("RewrapAuditKey(from %v, not the stored KEK)", from), err, store.ErrStale)
	}
	if got, err := s.AuditKey(ctx); err != nil || !reflect.DeepEqual(got, orig) {
		t.Fatalf("AuditKey after refused rewraps: got %+v, %v; want it unchanged %+v", got, err, orig)
	}

	wrapped := []byte("w2\x00\xfe")
	if err := s.RewrapAuditKey(ctx, v1, v2, wrapped); err != nil {
		t.Fatalf("RewrapAuditKey(v1 → v2): %v", err)
	}
	wrapped[0] = 'X' // the store keeps its own copy
	want := store.AuditKey{KEKID: testKEK, KEKVersion: 2, Wrapped: []byte("w2\x00\xfe"), CreatedAt: orig.CreatedAt}
	if got, err := s.AuditKey(ctx); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("AuditKey after rewrap: got %+v, %v; want %+v", got, err, want)
	}
	// The same swap again lost: the key is no longer wrapped by v1.
	err = s.RewrapAuditKey(ctx, v1, v2, []byte("again"))
	checkErr(t, "RewrapAuditKey(v1 → v2, twice)", err, store.ErrStale)
	// A rewrap may move to another KEK id (a new KMS key) as well.
	other := store.KEKRef{ID: "other:kek", Version: 7}
	if err := s.RewrapAuditKey(ctx, v2, other, []byte("w-other")); err != nil {
		t.Fatalf("RewrapAuditKey(v2 → other KEK): %v", err)
	}
	if got, err := s.AuditKey(ctx); err != nil || got.KEKID != other.ID || got.KEKVersion != other.Version ||
		!bytes.Equal(got.Wrapped, []byte("w-other")) {
		t.Fatalf("AuditKey after rewrap to another KEK: got %+v, %v", got, err)
	}
	// InitAuditKey still returns the stored (rewrapped) key, not a new one.
	if got, err := s.InitAuditKey(ctx, store.AuditKey{KEKID: testKEK, KEKVersion: 9, Wrapped: []byte("new")}); err != nil ||
		got.KEKID != other.ID || got.KEKVersion != other.Version {
		t.Fatalf("InitAuditKey after rewrap: got %+v, %v; want the rewrapped key", got, err)
	}
}

// testAuditRewrapRace: writers goroutines all rewrap the audit key from the
// same KEK version at once, each to a version of its own; exactly one wins,
// the others get ErrStale, and the stored key is the winner's.
func testAuditRewrapRace(t *testing.T, s store.AuditStore) {
	ctx := t.Context()
	from := store.KEKRef{ID: testKEK, Version: 1}
	if _, err := s.InitAuditKey(ctx, store.AuditKey{KEKID: from.ID, KEKVersion: from.Version, Wrapped: []byte("w1")}); err != nil {
		t.Fatalf("InitAuditKey: %v", err)
	}
	errs := make([]error, writers)
	race(writers, func(i int) {
		errs[i] = s.RewrapAuditKey(ctx, from, store.KEKRef{ID: testKEK, Version: uint32(i + 2)}, fmt.Appendf(nil, "w%d", i+2))
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("RewrapAuditKey %d and %d both won the same compare-and-swap", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrStale):
			t.Errorf("RewrapAuditKey %d: got %v, want nil or ErrStale", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no concurrent RewrapAuditKey won")
	}
	got, err := s.AuditKey(ctx)
	if err != nil {
		t.Fatalf("AuditKey: %v", err)
	}
	if want := uint32(winner + 2); got.KEKVersion != want || string(got.Wrapped) != fmt.Sprintf("w%d", want) {
		t.Errorf("AuditKey after the race: got version %d wrapped %q, want the winner's version %d", got.KEKVersion, got.Wrapped, want)
	}
}
