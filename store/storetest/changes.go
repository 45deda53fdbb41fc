package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward/store"
)

func testChanges(t *testing.T, open Opener) {
	t.Run("Empty", func(t *testing.T) { testChangesEmpty(t, open(t)) })
	t.Run("OnePerChange", func(t *testing.T) { testChangesOnePerChange(t, open(t)) })
	t.Run("Paging", func(t *testing.T) { testChangesPaging(t, open(t)) })
	t.Run("InvalidLimit", func(t *testing.T) { testChangesInvalidLimit(t, open(t)) })
	t.Run("ConcurrentPoller", func(t *testing.T) { testChangesConcurrentPoller(t, open(t)) })
}

// mustLastChange reads the feed's end or fails the test.
func mustLastChange(t *testing.T, s store.Store) int64 {
	t.Helper()
	last, err := s.LastChange(t.Context())
	if err != nil {
		t.Fatalf("LastChange: %v", err)
	}
	return last
}

// mustChanges reads one page of the feed or fails the test.
func mustChanges(t *testing.T, s store.Store, after int64, limit int) []store.Change {
	t.Helper()
	changes, err := s.Changes(t.Context(), after, limit)
	if err != nil {
		t.Fatalf("Changes(%d, %d): %v", after, limit, err)
	}
	return changes
}

// checkNoChanges checks that the feed still ends at last: what led up to
// the check (described by what) appended no change.
func checkNoChanges(t *testing.T, s store.Store, what string, last int64) {
	t.Helper()
	if got := mustLastChange(t, s); got != last {
		t.Errorf("after %s: LastChange %d, want %d (no change appended)", what, got, last)
	}
	if got := mustChanges(t, s, last, 10); len(got) != 0 {
		t.Errorf("after %s: Changes(%d, 10) = %+v, want none", what, last, got)
	}
}

// checkSeqs checks that the Seqs of changes are positive and strictly
// increasing.
func checkSeqs(t *testing.T, call string, changes []store.Change) {
	t.Helper()
	var prev int64
	for i, c := range changes {
		if c.Seq <= prev {
			t.Errorf("%s: change %d has Seq %d after %d, want positive and strictly increasing (%+v)", call, i, c.Seq, prev, changes)
			return
		}
		prev = c.Seq
	}
}

func testChangesEmpty(t *testing.T, s store.Store) {
	if got := mustLastChange(t, s); got != 0 {
		t.Errorf("LastChange on an empty store: got %d, want 0", got)
	}
	for _, limit := range []int{1, 10} {
		if got := mustChanges(t, s, 0, limit); len(got) != 0 {
			t.Errorf("Changes(0, %d) on an empty store: got %+v, want none", limit, got)
		}
	}
}

// testChangesOnePerChange runs calls one after the other on one store: each
// call that changes an organization's keys appends exactly one change for
// that organization; no-ops, reads, reservations and refused calls append
// none.
func testChangesOnePerChange(t *testing.T, s store.Store) {
	type call = func(ctx context.Context) error
	read := func(f func(ctx context.Context) (any, error)) call {
		return func(ctx context.Context) error { _, err := f(ctx); return err }
	}
	steps := []struct {
		name    string
		call    call
		wantErr error
		org     string // the organization whose change is appended; "" for none
	}{
		{"CreateOrg(acme)", func(ctx context.Context) error {
			return s.CreateOrg(ctx, store.Org{ID: "acme"}, newKey("acme", 1))
		}, nil, "acme"},
		{"CreateOrg(globex)", func(ctx context.Context) error {
			return s.CreateOrg(ctx, store.Org{ID: "globex"}, newKey("globex", 1))
		}, nil, "globex"},
		{"CreateOrg(acme) again", func(ctx context.Context) error {
			return s.CreateOrg(ctx, store.Org{ID: "acme"}, newKey("acme", 1))
		}, store.ErrOrgExists, ""},
		{"CreateOrg(initech) without wrapped key", func(ctx context.Context) error {
			kv := newKey("initech", 1)
			kv.Wrapped = nil
			return s.CreateOrg(ctx, store.Org{ID: "initech"}, kv)
		}, store.ErrInvalidArgument, ""},
		{"AddKey(acme, v2)", func(ctx context.Context) error { return s.AddKey(ctx, newKey("acme", 2)) }, nil, "acme"},
		{"AddKey(acme, v2) again", func(ctx context.Context) error {
			return s.AddKey(ctx, newKey("acme", 2))
		}, store.ErrVersionConflict, ""},
		{"AddKey(nope, v2)", func(ctx context.Context) error {
			return s.AddKey(ctx, newKey("nope", 2))
		}, store.ErrNotFound, ""},
		{"AddKey(acme, v3) decrypt-only", func(ctx context.Context) error {
			kv := newKey("acme", 3)
			kv.State = store.StateDecryptOnly
			return s.AddKey(ctx, kv)
		}, store.ErrInvalidArgument, ""},
		{"SetKeyState(acme, 1, retired)", func(ctx context.Context) error {
			return s.SetKeyState(ctx, "acme", 1, store.StateRetired)
		}, nil, "acme"},
		{"SetKeyState(acme, 1, retired) again", func(ctx context.Context) error {
			return s.SetKeyState(ctx, "acme", 1, store.StateRetired)
		}, nil, ""},
		{"SetKeyState(acme, 1, decrypt-only)", func(ctx context.Context) error {
			return s.SetKeyState(ctx, "acme", 1, store.StateDecryptOnly)
		}, nil, "acme"},
		{"SetKeyState(acme, 1, decrypt-only) again", func(ctx context.Context) error {
			return s.SetKeyState(ctx, "acme", 1, store.StateDecryptOnly)
		}, nil, ""},
		{"SetKeyState(acme, 2, retired) of the active version", func(ctx context.Context) error {
			return s.SetKeyState(ctx, "acme", 2, store.StateRetired)
		}, store.ErrInvalidTransition, ""},
		{"SetKeyState(acme, 9, retired)", func(ctx context.Context) error {
			return s.SetKeyState(ctx, "acme", 9, store.StateRetired)
		}, store.ErrNotFound, ""},
		{"SetKeyState(acme, 1, unknown)", func(ctx context.Context) error {
			return s.SetKeyState(ctx, "acme", 1, "suspended")
		}, store.ErrInvalidArgument, ""},
		{"DestroyKey(acme, 2) of the active version", func(ctx context.Context) error {
			return s.DestroyKey(ctx, "acme", 2)
		}, store.ErrInvalidTransition, ""},
		{"DestroyKey(globex, 5)", func(ctx context.Context) error {
			return s.DestroyKey(ctx, "globex", 5)
		}, store.ErrNotFound, ""},
		{"DestroyKey(acme, 1)", func(ctx context.Context) error { return s.DestroyKey(ctx, "acme", 1) }, nil, "acme"},
		{"DestroyKey(acme, 1) again", func(ctx context.Context) error { return s.DestroyKey(ctx, "acme", 1) }, nil, ""},
		{"SetKeyState(acme, 1, decrypt-only) of a destroyed version", func(ctx context.Context) error {
			return s.SetKeyState(ctx, "acme", 1, store.StateDecryptOnly)
		}, store.ErrInvalidTransition, ""},
		{"ReserveUsage(acme, 2, 5)", read(func(ctx context.Context) (any, error) {
			return s.ReserveUsage(ctx, "acme", 2, 5)
		}), nil, ""},
		{"ReserveUsage(acme, 1, 5) of a destroyed version", read(func(ctx context.Context) (any, error) {
			return s.ReserveUsage(ctx, "acme", 1, 5)
		}), store.ErrInvalidTransition, ""},
		{"ReserveUsage(acme, 2, 0)", read(func(ctx context.Context) (any, error) {
			return s.ReserveUsage(ctx, "acme", 2, 0)
		}), store.ErrInvalidArgument, ""},
		{"Org(acme)", read(func(ctx context.Context) (any, error) { return s.Org(ctx, "acme") }), nil, ""},
		{"ListOrgs", read(func(ctx context.Context) (any, error) { return s.ListOrgs(ctx, "", 10) }), nil, ""},
		{"ActiveKey(acme)", read(func(ctx context.Context) (any, error) { return s.ActiveKey(ctx, "acme") }), nil, ""},
		{"Key(acme, 1)", read(func(ctx context.Context) (any, error) { return s.Key(ctx, "acme", 1) }), nil, ""},
		{"Keys(acme)", read(func(ctx context.Context) (any, error) { return s.Keys(ctx, "acme") }), nil, ""},
		{"AddKey(globex, v2)", func(ctx context.Context) error { return s.AddKey(ctx, newKey("globex", 2)) }, nil, "globex"},
		{"SetKeyState(globex, 1, retired)", func(ctx context.Context) error {
			return s.SetKeyState(ctx, "globex", 1, store.StateRetired)
		}, nil, "globex"},
		{"DestroyKey(globex, 1) of a retired version", func(ctx context.Context) error {
			return s.DestroyKey(ctx, "globex", 1)
		}, nil, "globex"},
	}

	var (
		last int64
		want []string // the organization of each change, in order
	)
	for _, st := range steps {
		snap := take(t, s)
		err := st.call(t.Context())
		if !checkErr(t, st.name, err, st.wantErr) {
			last = mustLastChange(t, s) // carry on from wherever the feed is
			continue
		}
		if st.wantErr != nil {
			checkUnchanged(t, s, snap)
		}
		if st.org == "" {
			checkNoChanges(t, s, st.name, last)
			continue
		}
		want = append(want, st.org)
		got := mustChanges(t, s, last, 10)
		end := mustLastChange(t, s)
		switch {
		case len(got) != 1:
			t.Errorf("after %s: Changes(%d, 10) = %+v, want exactly one change for %q", st.name, last, got, st.org)
		case got[0].Org != st.org:
			t.Errorf("after %s: change for org %q, want %q", st.name, got[0].Org, st.org)
		case got[0].Seq <= last:
			t.Errorf("after %s: change has Seq %d, want above %d", st.name, got[0].Seq, last)
		case end != got[0].Seq:
			t.Errorf("after %s: LastChange %d, want the new change's Seq %d", st.name, end, got[0].Seq)
		}
		last = end
	}

	all := mustChanges(t, s, 0, 1000)
	checkSeqs(t, "Changes(0, 1000)", all)
	orgs := make([]string, len(all))
	for i, c := range all {
		orgs[i] = c.Org
	}
	if !slices.Equal(orgs, want) {
		t.Errorf("Changes(0, 1000): got changes for %q, want %q", orgs, want)
	}
}

// testChangesPaging checks that Changes(after, limit) is the slice of the
// whole feed after the cursor, whether or not the cursor is a Seq.
func testChangesPaging(t *testing.T, s store.Store) {
	// 12 changes over 3 orgs, interleaved.
	for _, org := range []string{"org-a", "org-b", "org-c"} {
		createOrg(t, s, org)
	}
	for _, org := range []string{"org-c", "org-a", "org-b"} {
		addKeys(t, s, org, 2, 3)
	}
	for _, org := range []string{"org-b", "org-a", "org-c"} {
		if err := s.SetKeyState(t.Context(), org, 1, store.StateRetired); err != nil {
			t.Fatalf("SetKeyState(%q, 1, retired): %v", org, err)
		}
	}
	const n = 12
	all := mustChanges(t, s, 0, 1000)
	if len(all) != n {
		t.Fatalf("Changes(0, 1000): got %d changes, want %d (%+v)", len(all), n, all)
	}
	checkSeqs(t, "Changes(0, 1000)", all)
	last := all[n-1].Seq
	if got := mustLastChange(t, s); got != last {
		t.Errorf("LastChange: got %d, want the last Seq %d", got, last)
	}

	for i := 0; i <= n; i++ {
		// Seqs need not be consecutive: both the previous Seq and the
		// number just below the next one select the changes from i on.
		cursors := []int64{0}
		if i > 0 {
			cursors = []int64{all[i-1].Seq}
		}
		if i < n {
			cursors = append(cursors, all[i].Seq-1)
		}
		for _, after := range cursors {
			for _, limit := range []int{1, 2, 5, n, n + 1, 1000} {
				got := mustChanges(t, s, after, limit)
				want := all[i:min(i+limit, n)]
				if !slices.Equal(got, want) {
					t.Errorf("Changes(%d, %d): got %+v, want %+v", after, limit, got, want)
				}
			}
		}
	}
	for _, after := range []int64{last, last + 1, math.MaxInt64} {
		if got := mustChanges(t, s, after, 10); len(got) != 0 {
			t.Errorf("Changes(%d, 10) past the end (%d): got %+v, want none", after, last, got)
		}
	}

	// Walking the feed as a poller does visits every change once, in order.
	for _, limit := range []int{1, 2, 5, n - 1, n, n + 1} {
		var got []store.Change
		after := int64(0)
		for pages := 0; ; pages++ {
			if pages > n+1 {
				t.Fatalf("walk with limit %d: pagination does not end", limit)
			}
			page := mustChanges(t, s, after, limit)
			if len(page) > limit {
				t.Fatalf("Changes(%d, %d): got %d changes", after, limit, len(page))
			}
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			after = page[len(page)-1].Seq
		}
		if !slices.Equal(got, all) {
			t.Errorf("walk with limit %d: got %+v, want %+v", limit, got, all)
		}
	}
}

func testChangesInvalidLimit(t *testing.T, s store.Store) {
	check := func() {
		t.Helper()
		for _, tt := range []struct {
			after int64
			limit int
		}{{0, 0}, {0, -1}, {1, 0}, {0, math.MinInt}} {
			call := fmt.Sprintf("Changes(%d, %d)", tt.after, tt.limit)
			got, err := s.Changes(t.Context(), tt.after, tt.limit)
			if checkErr(t, call, err, store.ErrInvalidArgument) && len(got) != 0 {
				t.Errorf("%s: got %+v with the error, want none", call, got)
			}
		}
	}
	check()
	createOrg(t, s, "acme")
	check()
}

// testChangesConcurrentPoller: writers change the keys of many organizations
// while a poller pages through the feed with after = the last Seq it saw.
// The poller sees every change exactly once: the organizations it collects,
// counted, are exactly those of the writers' changes.
func testChangesConcurrentPoller(t *testing.T, s store.Store) {
	const orgsPerWriter = 3
	var (
		writing atomic.Int32 // writers not yet done
		done    = make(chan struct{})
		made    = make([]map[string]int, writers) // changes each writer made, by org
		errs    = make([]error, writers+1)        // the last one is the poller's
		seen    = map[string]int{}
		polled  int64 // the poller's last Seq
	)
	writing.Store(writers)
	race(writers+1, func(i int) {
		ctx := t.Context()
		if i == writers {
			polled, errs[i] = pollUntil(ctx, s, done, seen)
			return
		}
		defer func() {
			if writing.Add(-1) == 0 {
				close(done)
			}
		}()
		made[i], errs[i] = changeKeys(ctx, s, i, orgsPerWriter)
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("goroutine %d: %v", i, err)
		}
	}

	want := map[string]int{}
	for _, m := range made {
		for org, n := range m {
			want[org] += n
		}
	}
	if len(want) != writers*orgsPerWriter {
		t.Errorf("writers changed %d orgs, want %d", len(want), writers*orgsPerWriter)
	}
	if !maps.Equal(seen, want) {
		for _, org := range slices.Sorted(maps.Keys(want)) {
			if seen[org] != want[org] {
				t.Errorf("poller saw %d changes for %q, want %d", seen[org], org, want[org])
			}
		}
		for _, org := range slices.Sorted(maps.Keys(seen)) {
			if _, ok := want[org]; !ok {
				t.Errorf("poller saw %d changes for %q, which no writer changed", seen[org], org)
			}
		}
	}
	if last := mustLastChange(t, s); last != polled {
		t.Errorf("LastChange %d, want the poller's last Seq %d", last, polled)
	}
}

// changeKeys is writer w of testChangesConcurrentPoller: it creates its
// organizations and changes their keys, interleaved, with no-ops and refused
// calls in between, and counts the changes it made per organization.
func changeKeys(ctx context.Context, s store.Store, w, orgs int) (map[string]int, error) {
	made := map[string]int{}
	ids := make([]string, orgs)
	for j := range ids {
		ids[j] = fmt.Sprintf("org-%02d-%d", w, j)
	}
	steps := []struct {
		name    string
		call    func(org string) error
		wantErr error
		changes int
	}{
		{"CreateOrg", func(org string) error { return s.CreateOrg(ctx, store.Org{ID: org}, newKey(org, 1)) }, nil, 1},
		{"AddKey(v2)", func(org string) error { return s.AddKey(ctx, newKey(org, 2)) }, nil, 1},
		{"CreateOrg again", func(org string) error {
			return s.CreateOrg(ctx, store.Org{ID: org}, newKey(org, 1))
		}, store.ErrOrgExists, 0},
		{"AddKey(v3)", func(org string) error { return s.AddKey(ctx, newKey(org, 3)) }, nil, 1},
		{"AddKey(v3) again", func(org string) error { return s.AddKey(ctx, newKey(org, 3)) }, store.ErrVersionConflict, 0},
		{"ReserveUsage(v3)", func(org string) error { _, err := s.ReserveUsage(ctx, org, 3, 1); return err }, nil, 0},
		{"SetKeyState(v1, retired)", func(org string) error {
			return s.SetKeyState(ctx, org, 1, store.StateRetired)
		}, nil, 1},
		{"SetKeyState(v1, retired) again", func(org string) error {
			return s.SetKeyState(ctx, org, 1, store.StateRetired)
		}, nil, 0},
		{"SetKeyState(v3, retired)", func(org string) error {
			return s.SetKeyState(ctx, org, 3, store.StateRetired)
		}, store.ErrInvalidTransition, 0},
		{"SetKeyState(v1, decrypt-only)", func(org string) error {
			return s.SetKeyState(ctx, org, 1, store.StateDecryptOnly)
		}, nil, 1},
		{"DestroyKey(v2)", func(org string) error { return s.DestroyKey(ctx, org, 2) }, nil, 1},
		{"DestroyKey(v2) again", func(org string) error { return s.DestroyKey(ctx, org, 2) }, nil, 0},
		{"DestroyKey(v3)", func(org string) error { return s.DestroyKey(ctx, org, 3) }, store.ErrInvalidTransition, 0},
	}
	for _, st := range steps {
		for _, org := range ids {
			err := st.call(org)
			if !errorsIs(err, st.wantErr) {
				return made, fmt.Errorf("%s of %q: got error %v, want %v", st.name, org, err, st.wantErr)
			}
			made[org] += st.changes
		}
	}
	return made, nil
}

// pollUntil pages through the feed with a small limit, after = the last Seq
// seen, counting the changes per organization into seen, until done is closed
// and a poll started after that finds nothing new. It returns the last Seq.
func pollUntil(ctx context.Context, s store.Store, done <-chan struct{}, seen map[string]int) (int64, error) {
	const limit = 3
	var after int64
	for {
		finished := false
		select {
		case <-done:
			finished = true
		default:
		}
		page, err := s.Changes(ctx, after, limit)
		if err != nil {
			return after, fmt.Errorf("Changes(%d, %d): %w", after, limit, err)
		}
		if len(page) > limit {
			return after, fmt.Errorf("Changes(%d, %d): got %d changes", after, limit, len(page))
		}
		for _, c := range page {
			if c.Seq <= after {
				return after, fmt.Errorf("Changes(%d, %d): got Seq %d, want above the cursor and increasing", after, limit, c.Seq)
			}
			after = c.Seq
			seen[c.Org]++
		}
		if len(page) == 0 && finished {
			return after, nil
		}
	}
}

// errorsIs is errors.Is, with a nil want matching only a nil err.
func errorsIs(err, want error) bool {
	if want == nil {
		return err == nil
	}
	return errors.Is(err, want)
}
