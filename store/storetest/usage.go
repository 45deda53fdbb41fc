package storetest

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/keyward/keyward/store"
)

func testUsage(t *testing.T, open Opener) {
	t.Run("StartsAtZero", func(t *testing.T) { testUsageStartsAtZero(t, open(t)) })
	t.Run("RunningTotals", func(t *testing.T) { testUsageRunningTotals(t, open(t)) })
	t.Run("ByState", func(t *testing.T) { testUsageByState(t, open) })
	t.Run("Refused", func(t *testing.T) { testUsageRefused(t, open(t)) })
	t.Run("NoWrapAround", func(t *testing.T) { testUsageNoWrapAround(t, open(t)) })
	t.Run("Concurrent", func(t *testing.T) { testUsageConcurrent(t, open(t)) })
}

// reserve reserves n encryptions under (org, version), checks the returned
// total and fails the test on an error.
func reserve(t *testing.T, s store.Store, org string, version uint32, n, want uint64) {
	t.Helper()
	call := fmt.Sprintf("ReserveUsage(%q, %d, %d)", org, version, n)
	got, err := s.ReserveUsage(t.Context(), org, version, n)
	if err != nil {
		t.Fatalf("%s: %v", call, err)
	}
	if got != want {
		t.Errorf("%s: got total %d, want %d", call, got, want)
	}
}

// checkUsage checks that every read of (org, version) reports usage want.
func checkUsage(t *testing.T, s store.Store, org string, version uint32, want uint64) {
	t.Helper()
	if got := mustKey(t, s, org, version).Usage; got != want {
		t.Errorf("Key(%q, %d).Usage: got %d, want %d", org, version, got, want)
	}
	found := false
	for _, kv := range mustKeys(t, s, org) {
		if kv.Version == version {
			found = true
			if kv.Usage != want {
				t.Errorf("Keys(%q) v%d Usage: got %d, want %d", org, version, kv.Usage, want)
			}
		}
	}
	if !found {
		t.Errorf("Keys(%q) lacks v%d", org, version)
	}
	active, err := s.ActiveKey(t.Context(), org)
	if err != nil {
		t.Fatalf("ActiveKey(%q): %v", org, err)
	}
	if active.Version == version && active.Usage != want {
		t.Errorf("ActiveKey(%q) v%d Usage: got %d, want %d", org, version, active.Usage, want)
	}
}

// testUsageStartsAtZero: version 1 and a rotated version start with no
// usage, whatever Usage the caller passed in.
func testUsageStartsAtZero(t *testing.T, s store.Store) {
	ctx := t.Context()
	first := newKey("acme", 1)
	first.Usage = 42
	if err := s.CreateOrg(ctx, store.Org{ID: "acme"}, first); err != nil {
		t.Fatalf("CreateOrg: %v", err)
	}
	checkUsage(t, s, "acme", 1, 0)

	reserve(t, s, "acme", 1, 5, 5)
	second := newKey("acme", 2)
	second.Usage = 42
	if err := s.AddKey(ctx, second); err != nil {
		t.Fatalf("AddKey(v2): %v", err)
	}
	checkUsage(t, s, "acme", 2, 0)
	// Rotating keeps the demoted version's count.
	checkUsage(t, s, "acme", 1, 5)
}

// testUsageRunningTotals: each reservation returns the new total of its own
// version, every read reports it, and nothing else changes.
func testUsageRunningTotals(t *testing.T, s store.Store) {
	createOrg(t, s, "acme")
	createOrg(t, s, "globex")
	before := take(t, s)

	reserve(t, s, "acme", 1, 5, 5)
	reserve(t, s, "acme", 1, 3, 8)
	reserve(t, s, "acme", 1, 1<<40, 8+1<<40) // beyond 32 bits
	reserve(t, s, "globex", 1, 1, 1)
	checkUsage(t, s, "acme", 1, 8+1<<40)
	checkUsage(t, s, "globex", 1, 1)

	// Apart from Usage (and possibly UpdatedAt, which the contract leaves
	// open), a reservation changes nothing.
	checkUnchanged(t, s, before, versionRef{"acme", 1}, versionRef{"globex", 1})
	for _, org := range []string{"acme", "globex"} {
		got := mustKey(t, s, org, 1)
		want := before.find(org, 1)
		want.Usage, want.UpdatedAt = got.Usage, got.UpdatedAt
		checkKey(t, fmt.Sprintf("Key(%q, 1) after reservations", org), got, want)
	}

	// The decrypt-only version keeps counting next to the new active one.
	addKeys(t, s, "acme", 2, 2)
	reserve(t, s, "acme", 2, 4, 4)
	reserve(t, s, "acme", 1, 2, 10+1<<40)
	reserve(t, s, "acme", 2, 1, 5)
	checkUsage(t, s, "acme", 1, 10+1<<40)
	checkUsage(t, s, "acme", 2, 5)
	checkUsage(t, s, "globex", 1, 1)
}

// testUsageByState: the active and decrypt-only versions take reservations;
// retired and destroyed ones refuse them with ErrInvalidTransition and
// change nothing.
func testUsageByState(t *testing.T, open Opener) {
	tests := []struct {
		version uint32
		wantErr error
	}{
		{vActive, nil},
		{vDecryptOnly, nil},
		{vRetired, store.ErrInvalidTransition},
		{vDestroyed, store.ErrInvalidTransition},
	}
	for _, tt := range tests {
		call := fmt.Sprintf("ReserveUsage(v%d, 3)", tt.version)
		t.Run(fmt.Sprintf("v%d", tt.version), func(t *testing.T) {
			s := open(t)
			lifecycleOrg(t, s)
			snap := take(t, s)
			last := mustLastChange(t, s)
			total, err := s.ReserveUsage(t.Context(), "acme", tt.version, 3)
			checkNoChanges(t, s, call, last)
			if !checkErr(t, call, err, tt.wantErr) {
				return
			}
			if tt.wantErr != nil {
				checkUnchanged(t, s, snap)
				return
			}
			if total != 3 {
				t.Errorf("%s: got total %d, want 3", call, total)
			}
			checkUnchanged(t, s, snap, versionRef{"acme", tt.version})
			got := mustKey(t, s, "acme", tt.version)
			want := snap.find("acme", tt.version)
			want.Usage, want.UpdatedAt = 3, got.UpdatedAt
			checkKey(t, call, got, want)
		})
	}
}

// testUsageRefused: malformed reservations and reservations under versions
// that do not exist fail with their sentinel and change nothing.
func testUsageRefused(t *testing.T, s store.Store) {
	createOrg(t, s, "acme")
	addKeys(t, s, "acme", 2, 2)
	reserve(t, s, "acme", 1, 11, 11)
	reserve(t, s, "acme", 2, 13, 13)
	before := take(t, s)
	last := mustLastChange(t, s)
	tests := []struct {
		org     string
		version uint32
		n       uint64
		want    error
	}{
		{"acme", 2, 0, store.ErrInvalidArgument},
		{"acme", 1, 0, store.ErrInvalidArgument},
		{"", 1, 1, store.ErrInvalidArgument},
		{"acme", 0, 1, store.ErrInvalidArgument},
		{"nope", 1, 1, store.ErrNotFound},
		{"ACME", 1, 1, store.ErrNotFound},
		{"acme", 3, 1, store.ErrNotFound},
		{"acme", math.MaxUint32, 1, store.ErrNotFound},
	}
	for _, tt := range tests {
		call := fmt.Sprintf("ReserveUsage(%q, %d, %d)", tt.org, tt.version, tt.n)
		total, err := s.ReserveUsage(t.Context(), tt.org, tt.version, tt.n)
		if checkErr(t, call, err, tt.want) && total != 0 {
			t.Errorf("%s: got total %d with the error, want 0", call, total)
		}
	}
	checkUnchanged(t, s, before)
	checkNoChanges(t, s, "refused reservations", last)
}

// testUsageNoWrapAround: a reservation whose total does not fit in a uint64
// is refused with ErrInvalidArgument rather than wrapped around, and the
// count goes on from where it was.
func testUsageNoWrapAround(t *testing.T, s store.Store) {
	createOrg(t, s, "acme")
	reserve(t, s, "acme", 1, 1, 1)
	before := take(t, s)
	for _, n := range []uint64{math.MaxUint64, math.MaxUint64 - 1} {
		call := fmt.Sprintf("ReserveUsage(acme, 1, %d) at usage 1", n)
		total, err := s.ReserveUsage(t.Context(), "acme", 1, n)
		if checkErr(t, call, err, store.ErrInvalidArgument) && total != 0 {
			t.Errorf("%s: got total %d with the error, want 0", call, total)
		}
	}
	checkUnchanged(t, s, before)
	reserve(t, s, "acme", 1, 1, 2)
}

// testUsageConcurrent: concurrent reservations lose no update. Each one is
// serialised with the others, so the totals returned are exactly the
// multiples of the block size up to the final total.
func testUsageConcurrent(t *testing.T, s store.Store) {
	const (
		goroutines = 16
		calls      = 50
		block      = 7
	)
	createOrg(t, s, "acme")
	totals := make([][]uint64, goroutines)
	errs := make([]error, goroutines)
	race(goroutines, func(i int) {
		for range calls {
			total, err := s.ReserveUsage(t.Context(), "acme", 1, block)
			if err != nil {
				errs[i] = fmt.Errorf("ReserveUsage(acme, 1, %d): %w", block, err)
				return
			}
			totals[i] = append(totals[i], total)
		}
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("goroutine %d: %v", i, err)
		}
	}
	var got []uint64
	for i, ts := range totals {
		for j := 1; j < len(ts); j++ {
			if ts[j] <= ts[j-1] {
				t.Errorf("goroutine %d: total %d after %d, want a higher one", i, ts[j], ts[j-1])
			}
		}
		got = append(got, ts...)
	}
	slices.Sort(got)
	want := make([]uint64, goroutines*calls)
	for i := range want {
		want[i] = uint64(i+1) * block
	}
	if !slices.Equal(got, want) {
		t.Errorf("returned totals: got %v, want each of %d, %d, … %d exactly once", got, block, 2*block, want[len(want)-1])
	}
	checkUsage(t, s, "acme", 1, goroutines*calls*block)
}
