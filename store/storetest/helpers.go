package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

// clockSlack is how far a stored time may lie outside the interval around
// the call that set it: stores keep milliseconds, and a database server may
// take its own clock.
const clockSlack = 2 * time.Second

// testKEK is the KEK id the suite's key versions claim to be wrapped by.
const testKEK = "test:kek"

// newKey returns an active key version of org with distinct wrapped bytes.
func newKey(org string, version uint32) store.KeyVersion {
	return store.KeyVersion{
		Org:        org,
		Version:    version,
		State:      store.StateActive,
		KEKID:      testKEK,
		KEKVersion: 7,
		Wrapped:    wrapped(org, version, ""),
	}
}

// wrapped returns recognisable stand-in bytes for a wrapped DEK.
func wrapped(org string, version uint32, tag string) []byte {
	return []byte(fmt.Sprintf("wrapped-dek(%s,v%d%s)\x00\xff", org, version, tag))
}

// createOrg creates org with its version 1 or fails the test.
func createOrg(t *testing.T, s store.Store, org string) store.KeyVersion {
	t.Helper()
	kv := newKey(org, 1)
	if err := s.CreateOrg(t.Context(), store.Org{ID: org}, kv); err != nil {
		t.Fatalf("CreateOrg(%q): %v", org, err)
	}
	return kv
}

// addKeys adds versions from..to of org or fails the test.
func addKeys(t *testing.T, s store.Store, org string, from, to uint32) {
	t.Helper()
	for v := from; v <= to; v++ {
		if err := s.AddKey(t.Context(), newKey(org, v)); err != nil {
			t.Fatalf("AddKey(%q, v%d): %v", org, v, err)
		}
	}
}

// mustKey reads one version or fails the test.
func mustKey(t *testing.T, s store.Store, org string, version uint32) store.KeyVersion {
	t.Helper()
	kv, err := s.Key(t.Context(), org, version)
	if err != nil {
		t.Fatalf("Key(%q, %d): %v", org, version, err)
	}
	return kv
}

// mustKeys reads every version of org or fails the test.
func mustKeys(t *testing.T, s store.Store, org string) []store.KeyVersion {
	t.Helper()
	keys, err := s.Keys(t.Context(), org)
	if err != nil {
		t.Fatalf("Keys(%q): %v", org, err)
	}
	return keys
}

// checkErr reports whether err matches want (errors.Is; nil wants no error)
// and records a test error if not.
func checkErr(t *testing.T, call string, err, want error) bool {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Errorf("%s: got error %v, want none", call, err)
		return false
	case want != nil && !errors.Is(err, want):
		t.Errorf("%s: got error %v, want %v", call, err, want)
		return false
	}
	return true
}

// keyDiff describes how got differs from want, comparing every field; ""
// means equal. A nil and an empty Wrapped are equal.
func keyDiff(got, want store.KeyVersion) string { return fieldDiff(got, want) }

// checkKey compares a stored version with want on every field, times included.
func checkKey(t *testing.T, call string, got, want store.KeyVersion) {
	t.Helper()
	if d := keyDiff(got, want); d != "" {
		t.Errorf("%s: %s", call, d)
	}
}

// checkNewKey checks a version the store created between before and after
// from the caller's in: the caller's fields kept, the times set by the store.
func checkNewKey(t *testing.T, call string, got, in store.KeyVersion, before, after time.Time) {
	t.Helper()
	want := in
	want.CreatedAt, want.UpdatedAt = got.CreatedAt, got.UpdatedAt
	checkKey(t, call, got, want)
	checkTime(t, call+" CreatedAt", got.CreatedAt, before, after)
	checkTime(t, call+" UpdatedAt", got.UpdatedAt, before, after)
}

// checkTime checks that a stored time is set, in UTC, and was taken between
// before and after (within clockSlack).
func checkTime(t *testing.T, what string, got, before, after time.Time) {
	t.Helper()
	switch {
	case got.IsZero():
		t.Errorf("%s is zero, want the time of the call", what)
	case got.Location() != time.UTC:
		t.Errorf("%s location is %v, want UTC", what, got.Location())
	case got.Before(before.Add(-clockSlack)) || got.After(after.Add(clockSlack)):
		t.Errorf("%s = %v, want between %v and %v", what, got, before.UTC(), after.UTC())
	}
}

// checkOneActive checks that exactly one of keys is active and returns it.
func checkOneActive(t *testing.T, keys []store.KeyVersion) store.KeyVersion {
	t.Helper()
	var active []store.KeyVersion
	for _, kv := range keys {
		if kv.State == store.StateActive {
			active = append(active, kv)
		}
	}
	if len(active) != 1 {
		t.Errorf("%d active versions, want exactly 1 (keys %v)", len(active), versions(keys))
		return store.KeyVersion{}
	}
	return active[0]
}

// versions lists the version numbers and states of keys, for messages.
func versions(keys []store.KeyVersion) []string {
	out := make([]string, len(keys))
	for i, kv := range keys {
		out[i] = fmt.Sprintf("v%d:%s", kv.Version, kv.State)
	}
	return out
}
