package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

// KEK rotation: KeysToRewrap, RewrapKey and KEKCounts.
func testRewrap(t *testing.T, open Opener) {
	t.Run("Empty", func(t *testing.T) { testRewrapEmpty(t, open(t)) })
	t.Run("FreshList", func(t *testing.T) { testRewrapFreshList(t, open(t)) })
	t.Run("ListInvalid", func(t *testing.T) { testRewrapListInvalid(t, open(t)) })
	t.Run("MovesOne", func(t *testing.T) { testRewrapMovesOne(t, open(t)) })
	t.Run("Walk", func(t *testing.T) { testRewrapWalk(t, open(t)) })
	t.Run("Refused", func(t *testing.T) { testRewrapRefused(t, open(t)) })
	t.Run("Destroyed", func(t *testing.T) { testRewrapDestroyed(t, open(t)) })
	t.Run("Copies", func(t *testing.T) { testRewrapCopies(t, open(t)) })
	t.Run("SameRowRace", func(t *testing.T) { testRewrapSameRowRace(t, open(t)) })
	t.Run("DuringLifecycle", func(t *testing.T) { testRewrapDuringLifecycle(t, open(t)) })
	t.Run("Context", func(t *testing.T) {
		t.Run("Canceled", func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			testRewrapDeadContext(t, open(t), ctx, context.Canceled)
		})
		t.Run("DeadlineExceeded", func(t *testing.T) {
			ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
			defer cancel()
			testRewrapDeadContext(t, open(t), ctx, context.DeadlineExceeded)
		})
	})
}

// createdKEK is the KEK newKey's versions claim to be wrapped by.
var createdKEK = store.KEKRef{ID: testKEK, Version: 7}

// Other KEKs. Their ids order differently bytewise ("Z" < "a") than in most
// locales, and their versions differently as numbers than as text.
var (
	kekA  = store.KEKRef{ID: "aws:kek", Version: 2}
	kekA2 = store.KEKRef{ID: "aws:kek", Version: 10}
	kekZ  = store.KEKRef{ID: "Zed:kek", Version: 1}
)

// kekOf returns the KEK a version claims to be wrapped by.
func kekOf(kv store.KeyVersion) store.KEKRef {
	return store.KEKRef{ID: kv.KEKID, Version: kv.KEKVersion}
}

// rewrapped returns recognisable stand-in bytes for the DEK of (org,
// version) wrapped under kek; under createdKEK, the bytes newKey made.
func rewrapped(org string, version uint32, kek store.KEKRef) []byte {
	if kek == createdKEK {
		return wrapped(org, version, "")
	}
	return wrapped(org, version, fmt.Sprintf("-under-%s/%d", kek.ID, kek.Version))
}

// newKeyUnder is newKey wrapped by kek.
func newKeyUnder(org string, version uint32, kek store.KEKRef) store.KeyVersion {
	kv := newKey(org, version)
	kv.KEKID, kv.KEKVersion, kv.Wrapped = kek.ID, kek.Version, rewrapped(org, version, kek)
	return kv
}

// mustKeysToRewrap lists one page or fails the test.
func mustKeysToRewrap(t *testing.T, s store.Store, target store.KEKRef, afterOrg string, afterVersion uint32, limit int) []store.KeyVersion {
	t.Helper()
	keys, err := s.KeysToRewrap(t.Context(), target, afterOrg, afterVersion, limit)
	if err != nil {
		t.Fatalf("KeysToRewrap(%v, %q, %d, %d): %v", target, afterOrg, afterVersion, limit, err)
	}
	if len(keys) > limit {
		t.Fatalf("KeysToRewrap(%v, %q, %d, %d): got %d keys", target, afterOrg, afterVersion, limit, len(keys))
	}
	return keys
}

// mustRewrap rewraps (org, version) from one KEK to another, with the bytes
// rewrapped makes, or fails the test.
func mustRewrap(t *testing.T, s store.Store, org string, version uint32, from, to store.KEKRef) {
	t.Helper()
	if err := s.RewrapKey(t.Context(), org, version, from, to, rewrapped(org, version, to)); err != nil {
		t.Fatalf("RewrapKey(%q, %d, %v, %v): %v", org, version, from, to, err)
	}
}

// checkKEKCounts checks what KEKCounts reports.
func checkKEKCounts(t *testing.T, s store.Store, what string, want []store.KEKCount) {
	t.Helper()
	got, err := s.KEKCounts(t.Context())
	if err != nil {
		t.Fatalf("KEKCounts %s: %v", what, err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("KEKCounts %s: got %+v, want %+v", what, got, want)
	}
}

// checkKeyList checks that a listing holds exactly the versions of want, in
// order, each complete and equal on every field.
func checkKeyList(t *testing.T, call string, got, want []store.KeyVersion) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %s, want %s", call, refs(got), refs(want))
		return
	}
	for i := range got {
		if d := keyDiff(got[i], want[i]); d != "" {
			t.Errorf("%s: key %d (%s/v%d): %s", call, i, want[i].Org, want[i].Version, d)
		}
	}
}

// refs lists the (org, version) of keys, for messages.
func refs(keys []store.KeyVersion) []string {
	out := make([]string, len(keys))
	for i, kv := range keys {
		out[i] = fmt.Sprintf("%s/v%d", kv.Org, kv.Version)
	}
	return out
}

// allKeys reads every version of every organization of s, in (org, version)
// order with ids compared bytewise.
func allKeys(t *testing.T, s store.Store) []store.KeyVersion {
	t.Helper()
	snap := take(t, s)
	var keys []store.KeyVersion
	for _, o := range snap.orgs {
		keys = append(keys, snap.keys[o.ID]...)
	}
	return keys
}

// holding returns the versions of keys that hold a wrapped key not wrapped
// by target: what KeysToRewrap(target) lists.
func holding(keys []store.KeyVersion, target store.KEKRef) []store.KeyVersion {
	var out []store.KeyVersion
	for _, kv := range keys {
		if kv.State != store.StateDestroyed && kekOf(kv) != target {
			out = append(out, kv)
		}
	}
	return out
}

func testRewrapEmpty(t *testing.T, s store.Store) {
	if got := mustKeysToRewrap(t, s, kekA, "", 0, 10); len(got) != 0 {
		t.Errorf("KeysToRewrap on an empty store: got %s, want none", refs(got))
	}
	checkKEKCounts(t, s, "on an empty store", []store.KEKCount{})
}

// rewrapOrgs creates organizations whose ids order differently bytewise
// than in most locales, one of them with versions 1..10 (2 < 10 as numbers,
// not as text), and reserves some usage, so listed keys are complete.
func rewrapOrgs(t *testing.T, s store.Store) {
	t.Helper()
	for _, org := range []string{"acme", "Zeta", "acme-2", "_under", "é-org", "b"} {
		createOrg(t, s, org)
	}
	addKeys(t, s, "acme", 2, 10)
	addKeys(t, s, "b", 2, 2)
	reserve(t, s, "acme", 10, 5, 5)
	reserve(t, s, "acme", 9, 3, 3)
}

// testRewrapFreshList: in a fresh store every version is wrapped by the KEK
// that created it; KeysToRewrap to any other KEK lists them all in (org,
// version) order, complete, and pages through them with any cursor and
// limit; KeysToRewrap to the creating KEK lists none.
func testRewrapFreshList(t *testing.T, s store.Store) {
	rewrapOrgs(t, s)
	all := allKeys(t, s)
	n := len(all)
	if n != 6+9+1 {
		t.Fatalf("setup: %d versions, want 16", n)
	}
	wantOrder := []string{"Zeta/v1", "_under/v1"}
	for v := 1; v <= 10; v++ {
		wantOrder = append(wantOrder, fmt.Sprintf("acme/v%d", v))
	}
	wantOrder = append(wantOrder, "acme-2/v1", "b/v1", "b/v2", "é-org/v1")
	if got := refs(all); !slices.Equal(got, wantOrder) {
		t.Fatalf("setup: keys in order %q, want %q (bytewise ids, numeric versions)", got, wantOrder)
	}
	for _, kv := range all {
		if kekOf(kv) != createdKEK || !bytes.Equal(kv.Wrapped, rewrapped(kv.Org, kv.Version, createdKEK)) {
			t.Fatalf("setup: %s/v%d wrapped by %v (%q), want %v", kv.Org, kv.Version, kekOf(kv), kv.Wrapped, createdKEK)
		}
	}
	checkKEKCounts(t, s, "of a fresh store", []store.KEKCount{{KEK: createdKEK, Count: int64(n)}})

	// Any KEK but the creating one: another id, or the same id at another
	// version, lower or higher.
	for _, target := range []store.KEKRef{kekA, kekZ, {ID: testKEK, Version: 6}, {ID: testKEK, Version: 8}, {ID: "other", Version: createdKEK.Version}} {
		call := fmt.Sprintf("KeysToRewrap(%v, \"\", 0, 1000)", target)
		checkKeyList(t, call, mustKeysToRewrap(t, s, target, "", 0, 1000), all)
	}
	if got := mustKeysToRewrap(t, s, createdKEK, "", 0, 1000); len(got) != 0 {
		t.Errorf("KeysToRewrap(creating KEK %v): got %s, want none", createdKEK, refs(got))
	}

	// Cursors that name a listed version start after it; others start at the
	// next (org, version) above them.
	index := func(ref string) int { return slices.Index(wantOrder, ref) }
	cursors := []struct {
		org     string
		version uint32
		from    int // the index of the first version listed
	}{
		{"", 0, 0},
		{"", math.MaxUint32, 0},
		{"Zeta", 0, index("Zeta/v1")},
		{"Zeta", 1, index("_under/v1")},
		{"acme", 0, index("acme/v1")},
		{"acme", 3, index("acme/v4")},
		{"acme", 9, index("acme/v10")},
		{"acme", 10, index("acme-2/v1")},
		{"acme", 11, index("acme-2/v1")},
		{"acme", math.MaxUint32, index("acme-2/v1")},
		{"acme-1", 5, index("acme-2/v1")}, // no such org
		{"a", 99, index("acme/v1")},
		{"b", 1, index("b/v2")},
		{"zzz", 0, index("é-org/v1")}, // "é" is above any ASCII byte
		{"é-org", 1, n},
		{"\u00ff", 0, n},
	}
	for _, c := range cursors {
		for _, limit := range []int{1, 2, 5, n, n + 1, 1000} {
			call := fmt.Sprintf("KeysToRewrap(%v, %q, %d, %d)", kekA, c.org, c.version, limit)
			got := mustKeysToRewrap(t, s, kekA, c.org, c.version, limit)
			checkKeyList(t, call, got, all[c.from:min(c.from+limit, n)])
		}
	}
	for i := 1; i <= n; i++ {
		prev := all[i-1]
		for _, limit := range []int{1, 3, n} {
			call := fmt.Sprintf("KeysToRewrap(%v, %q, %d, %d)", kekA, prev.Org, prev.Version, limit)
			got := mustKeysToRewrap(t, s, kekA, prev.Org, prev.Version, limit)
			checkKeyList(t, call, got, all[i:min(i+limit, n)])
		}
	}

	// Walking as a rewrapper does visits every version once, in order.
	for _, limit := range []int{1, 2, 3, n - 1, n, n + 1} {
		var got []store.KeyVersion
		org, version := "", uint32(0)
		for pages := 0; ; pages++ {
			if pages > n+1 {
				t.Fatalf("walk with limit %d: pagination does not end", limit)
			}
			page := mustKeysToRewrap(t, s, kekA, org, version, limit)
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			org, version = page[len(page)-1].Org, page[len(page)-1].Version
		}
		checkKeyList(t, fmt.Sprintf("walk with limit %d", limit), got, all)
	}
}

func testRewrapListInvalid(t *testing.T, s store.Store) {
	check := func() {
		t.Helper()
		for _, tt := range []struct {
			target store.KEKRef
			limit  int
		}{
			{kekA, 0}, {kekA, -1}, {kekA, math.MinInt},
			{store.KEKRef{ID: "", Version: 1}, 10},
			{store.KEKRef{}, 10},
			{store.KEKRef{ID: "aws:kek", Version: 0}, 10}, // KEK versions start at 1
		} {
			call := fmt.Sprintf("KeysToRewrap(%+v, \"\", 0, %d)", tt.target, tt.limit)
			got, err := s.KeysToRewrap(t.Context(), tt.target, "", 0, tt.limit)
			if checkErr(t, call, err, store.ErrInvalidArgument) && len(got) != 0 {
				t.Errorf("%s: got %s with the error, want none", call, refs(got))
			}
		}
	}
	check()
	createOrg(t, s, "acme")
	check()
}

// testRewrapMovesOne: RewrapKey replaces the KEK and wrapped key of one
// version, whatever its state, and nothing else: the state, usage and
// creation time stay, UpdatedAt is the time of the call, other versions are
// untouched, no change is appended, and the listings and counts follow.
func testRewrapMovesOne(t *testing.T, s store.Store) {
	lifecycleOrg(t, s) // acme: v1 retired, v2 decrypt-only, v3 destroyed, v4 active
	createOrg(t, s, "globex")
	reserve(t, s, "acme", vActive, 11, 11)
	reserve(t, s, "acme", vDecryptOnly, 13, 13)
	checkKEKCounts(t, s, "after setup", []store.KEKCount{{KEK: createdKEK, Count: 4}})

	steps := []struct {
		version  uint32
		from, to store.KEKRef
		counts   []store.KEKCount
	}{
		{vDecryptOnly, createdKEK, kekA, []store.KEKCount{{KEK: kekA, Count: 1}, {KEK: createdKEK, Count: 3}}},
		{vActive, createdKEK, kekA2, []store.KEKCount{{KEK: kekA, Count: 1}, {KEK: kekA2, Count: 1}, {KEK: createdKEK, Count: 2}}},
		{vRetired, createdKEK, kekZ, []store.KEKCount{{KEK: kekZ, Count: 1}, {KEK: kekA, Count: 1}, {KEK: kekA2, Count: 1}, {KEK: createdKEK, Count: 1}}},
		// Again, from the KEK it moved to; and back to where it was.
		{vDecryptOnly, kekA, kekA2, []store.KEKCount{{KEK: kekZ, Count: 1}, {KEK: kekA2, Count: 2}, {KEK: createdKEK, Count: 1}}},
		{vRetired, kekZ, createdKEK, []store.KEKCount{{KEK: kekA2, Count: 2}, {KEK: createdKEK, Count: 2}}},
		// Under the KEK it is wrapped by already (a fresh wrapping).
		{vActive, kekA2, kekA2, []store.KEKCount{{KEK: kekA2, Count: 2}, {KEK: createdKEK, Count: 2}}},
	}
	for _, st := range steps {
		call := fmt.Sprintf("RewrapKey(acme, %d, %v, %v)", st.version, st.from, st.to)
		snap := take(t, s)
		last := mustLastChange(t, s)
		in := bytes.Clone(rewrapped("acme", st.version, st.to))
		if st.from == st.to {
			in = wrapped("acme", st.version, "-fresh")
		}
		want := snap.find("acme", st.version)
		want.KEKID, want.KEKVersion, want.Wrapped = st.to.ID, st.to.Version, bytes.Clone(in)

		before := time.Now()
		err := s.RewrapKey(t.Context(), "acme", st.version, st.from, st.to, in)
		after := time.Now()
		if err != nil {
			t.Fatalf("%s: %v", call, err)
		}
		scribble(in) // the caller's buffer is the caller's

		got := mustKey(t, s, "acme", st.version)
		want.UpdatedAt = got.UpdatedAt
		checkKey(t, call+": Key", got, want)
		checkTime(t, call+" UpdatedAt", got.UpdatedAt, before, after)
		if was := snap.find("acme", st.version); got.UpdatedAt.Before(was.UpdatedAt) {
			t.Errorf("%s: UpdatedAt went back from %v to %v", call, was.UpdatedAt, got.UpdatedAt)
		}
		for _, kv := range mustKeys(t, s, "acme") {
			if kv.Version == st.version {
				checkKey(t, call+": Keys", kv, want)
			}
		}
		if st.version == vActive {
			active, err := s.ActiveKey(t.Context(), "acme")
			if err != nil {
				t.Fatalf("ActiveKey: %v", err)
			}
			checkKey(t, call+": ActiveKey", active, want)
		}
		checkUnchanged(t, s, snap, versionRef{"acme", st.version})
		checkNoChanges(t, s, call, last)
		checkKEKCounts(t, s, "after "+call, st.counts)

		// The listings follow: to the new KEK, the version is done; to the
		// one it left, it is to do.
		all := allKeys(t, s)
		for _, target := range []store.KEKRef{st.from, st.to, kekZ} {
			checkKeyList(t, fmt.Sprintf("after %s: KeysToRewrap(%v)", call, target),
				mustKeysToRewrap(t, s, target, "", 0, 100), holding(all, target))
		}
	}
	checkUsage(t, s, "acme", vActive, 11)
	checkUsage(t, s, "acme", vDecryptOnly, 13)
}

// testRewrapWalk drives a KEK rotation as the engine does: page through
// KeysToRewrap(target) and rewrap each version from the KEK it was listed
// with. A walk interrupted and started again from the top finds only what
// is left; once done, nothing is listed, every version that holds a key is
// counted under the target, and the feed has not moved.
func testRewrapWalk(t *testing.T, s store.Store) {
	rewrapOrgs(t, s)
	ctx := t.Context()
	// Some versions are under the target already, some under a third KEK,
	// one is destroyed.
	if err := s.AddKey(ctx, newKeyUnder("b", 3, kekA2)); err != nil {
		t.Fatalf("AddKey(b, v3 under %v): %v", kekA2, err)
	}
	if err := s.AddKey(ctx, newKeyUnder("Zeta", 2, kekZ)); err != nil {
		t.Fatalf("AddKey(Zeta, v2 under %v): %v", kekZ, err)
	}
	mustRewrap(t, s, "acme", 4, createdKEK, kekA2)
	mustRewrap(t, s, "acme", 5, createdKEK, kekZ)
	if err := s.DestroyKey(ctx, "acme", 2); err != nil {
		t.Fatalf("DestroyKey(acme, 2): %v", err)
	}
	target := kekA2
	before := allKeys(t, s)
	todo := holding(before, target)
	last := mustLastChange(t, s)

	walk := func(limit, maxPages int) (rewrapped int) {
		t.Helper()
		org, version := "", uint32(0)
		for pages := 0; pages < maxPages; pages++ {
			page := mustKeysToRewrap(t, s, target, org, version, limit)
			if len(page) == 0 {
				break
			}
			for _, kv := range page {
				mustRewrap(t, s, kv.Org, kv.Version, kekOf(kv), target)
				rewrapped++
			}
			org, version = page[len(page)-1].Org, page[len(page)-1].Version
		}
		return rewrapped
	}
	// A walk that stops ("crashes") after two pages, then a fresh one.
	first := walk(3, 2)
	if first != 6 {
		t.Errorf("interrupted walk rewrapped %d versions, want 6", first)
	}
	checkKeyList(t, "after the interrupted walk: KeysToRewrap", mustKeysToRewrap(t, s, target, "", 0, 100), todo[first:])
	if second := walk(4, math.MaxInt); first+second != len(todo) {
		t.Errorf("walks rewrapped %d + %d versions, want %d", first, second, len(todo))
	}

	if got := mustKeysToRewrap(t, s, target, "", 0, 100); len(got) != 0 {
		t.Errorf("KeysToRewrap(%v) after the walk: got %s, want none", target, refs(got))
	}
	checkKEKCounts(t, s, "after the walk", []store.KEKCount{{KEK: target, Count: int64(len(before) - 1)}})
	after := allKeys(t, s)
	if len(after) != len(before) {
		t.Fatalf("after the walk: keys %s, want %s", refs(after), refs(before))
	}
	for i, kv := range after {
		want := before[i]
		if want.State != store.StateDestroyed && kekOf(want) != target {
			want.KEKID, want.KEKVersion = target.ID, target.Version
			want.Wrapped = rewrapped(want.Org, want.Version, target)
			want.UpdatedAt = kv.UpdatedAt
		}
		checkKey(t, fmt.Sprintf("%s/v%d after the walk", kv.Org, kv.Version), kv, want)
	}
	checkNoChanges(t, s, "the walk", last)
}

// testRewrapRefused: a RewrapKey whose from no longer matches, or whose
// version is destroyed, loses the compare-and-swap with ErrStale; unknown
// versions are ErrNotFound and malformed calls ErrInvalidArgument (checked
// first). None changes anything or appends a change.
func testRewrapRefused(t *testing.T, s store.Store) {
	lifecycleOrg(t, s) // acme: v1 retired, v2 decrypt-only, v3 destroyed, v4 active
	createOrg(t, s, "globex")
	mustRewrap(t, s, "acme", vDecryptOnly, createdKEK, kekA)
	good := []byte("rewrapped")
	tests := []struct {
		org      string
		version  uint32
		from, to store.KEKRef
		wrapped  []byte
		want     error
	}{
		// Lost compare-and-swaps.
		{"acme", vDecryptOnly, createdKEK, kekA2, good, store.ErrStale}, // moved to kekA already
		{"acme", vDecryptOnly, createdKEK, kekA, good, store.ErrStale},
		{"acme", vRetired, store.KEKRef{ID: testKEK, Version: 8}, kekA, good, store.ErrStale},
		{"acme", vRetired, store.KEKRef{ID: testKEK, Version: 6}, kekA, good, store.ErrStale},
		{"acme", vActive, store.KEKRef{ID: "other", Version: createdKEK.Version}, kekA, good, store.ErrStale},
		{"acme", vActive, store.KEKRef{ID: "TEST:KEK", Version: createdKEK.Version}, kekA, good, store.ErrStale},
		{"acme", vActive, kekA, kekA2, good, store.ErrStale},
		{"globex", 1, kekA, kekA2, good, store.ErrStale},
		// A destroyed version holds no key to rewrap, whatever from says.
		{"acme", vDestroyed, createdKEK, kekA, good, store.ErrStale},
		{"acme", vDestroyed, kekA, kekA2, good, store.ErrStale},
		// Unknown versions.
		{"acme", vMissing, createdKEK, kekA, good, store.ErrNotFound},
		{"acme", vMissing, kekA, kekA2, good, store.ErrNotFound},
		{"acme", math.MaxUint32, createdKEK, kekA, good, store.ErrNotFound},
		{"nope", 1, createdKEK, kekA, good, store.ErrNotFound},
		{"ACME", 1, createdKEK, kekA, good, store.ErrNotFound},
		{"globex", 2, createdKEK, kekA, good, store.ErrNotFound},
		// Malformed calls.
		{"", 1, createdKEK, kekA, good, store.ErrInvalidArgument},
		{"acme", 0, createdKEK, kekA, good, store.ErrInvalidArgument},
		{"acme", vActive, createdKEK, kekA, nil, store.ErrInvalidArgument},
		{"acme", vActive, createdKEK, kekA, []byte{}, store.ErrInvalidArgument},
		{"acme", vActive, createdKEK, store.KEKRef{ID: "", Version: 1}, good, store.ErrInvalidArgument},
		{"acme", vActive, createdKEK, store.KEKRef{ID: "aws:kek", Version: 0}, good, store.ErrInvalidArgument},
		{"acme", vActive, store.KEKRef{ID: "", Version: 7}, kekA, good, store.ErrInvalidArgument},
		{"acme", vActive, store.KEKRef{}, store.KEKRef{}, nil, store.ErrInvalidArgument},
		{"nope", 0, createdKEK, kekA, good, store.ErrInvalidArgument},
		{"nope", 1, createdKEK, kekA, nil, store.ErrInvalidArgument},
		{"acme", vDestroyed, createdKEK, kekA, nil, store.ErrInvalidArgument},
	}
	counts, err := s.KEKCounts(t.Context())
	if err != nil {
		t.Fatalf("KEKCounts: %v", err)
	}
	for _, tt := range tests {
		call := fmt.Sprintf("RewrapKey(%q, %d, %+v, %+v, %q)", tt.org, tt.version, tt.from, tt.to, tt.wrapped)
		snap := take(t, s)
		last := mustLastChange(t, s)
		err := s.RewrapKey(t.Context(), tt.org, tt.version, tt.from, tt.to, tt.wrapped)
		checkErr(t, call, err, tt.want)
		for _, other := range []error{store.ErrStale, store.ErrNotFound, store.ErrInvalidArgument} {
			if other != tt.want && errors.Is(err, other) {
				t.Errorf("%s: error %v is also %v", call, err, other)
			}
		}
		checkUnchanged(t, s, snap)
		checkNoChanges(t, s, call, last)
	}
	checkKEKCounts(t, s, "after refused rewraps", counts)
	checkErased(t, s, "acme", vDestroyed)
}

// testRewrapDestroyed: destroyed versions hold no key, so they are neither
// listed nor counted, whichever KEK they were wrapped by; destroying a
// version takes it out of both.
func testRewrapDestroyed(t *testing.T, s store.Store) {
	lifecycleOrg(t, s) // acme: v1 retired, v2 decrypt-only, v3 destroyed, v4 active
	createOrg(t, s, "globex")
	addKeys(t, s, "globex", 2, 3)
	mustRewrap(t, s, "globex", 1, createdKEK, kekA)
	mustRewrap(t, s, "globex", 2, createdKEK, kekA)
	list := func(target store.KEKRef) []string {
		return refs(mustKeysToRewrap(t, s, target, "", 0, 100))
	}
	checkList := func(what string, target store.KEKRef, want []string) {
		t.Helper()
		if got := list(target); !slices.Equal(got, want) {
			t.Errorf("%s: KeysToRewrap(%v): got %q, want %q", what, target, got, want)
		}
	}

	checkList("setup", kekZ, []string{"acme/v1", "acme/v2", "acme/v4", "globex/v1", "globex/v2", "globex/v3"})
	checkList("setup", createdKEK, []string{"globex/v1", "globex/v2"})
	checkList("setup", kekA, []string{"acme/v1", "acme/v2", "acme/v4", "globex/v3"})
	checkKEKCounts(t, s, "after setup", []store.KEKCount{{KEK: kekA, Count: 2}, {KEK: createdKEK, Count: 4}})

	if err := s.DestroyKey(t.Context(), "acme", vDecryptOnly); err != nil {
		t.Fatalf("DestroyKey(acme, %d): %v", vDecryptOnly, err)
	}
	if err := s.DestroyKey(t.Context(), "globex", 1); err != nil {
		t.Fatalf("DestroyKey(globex, 1): %v", err)
	}
	checkList("after destroying acme/v2 and globex/v1", kekZ, []string{"acme/v1", "acme/v4", "globex/v2", "globex/v3"})
	checkList("after destroying acme/v2 and globex/v1", createdKEK, []string{"globex/v2"})
	checkList("after destroying acme/v2 and globex/v1", kekA, []string{"acme/v1", "acme/v4", "globex/v3"})
	checkKEKCounts(t, s, "after destroying acme/v2 and globex/v1", []store.KEKCount{{KEK: kekA, Count: 1}, {KEK: createdKEK, Count: 3}})

	// The last version under a KEK destroyed: the KEK is not counted at all.
	if err := s.DestroyKey(t.Context(), "globex", 2); err != nil {
		t.Fatalf("DestroyKey(globex, 2): %v", err)
	}
	checkKEKCounts(t, s, "after destroying globex/v2", []store.KEKCount{{KEK: createdKEK, Count: 3}})
	checkList("after destroying globex/v2", createdKEK, []string{})
	for _, kv := range mustKeys(t, s, "acme") {
		if kv.State == store.StateDestroyed && (len(kv.Wrapped) != 0 || kekOf(kv) != createdKEK) {
			t.Errorf("destroyed acme/v%d: KEK %v, Wrapped %q; want the KEK it had, no key", kv.Version, kekOf(kv), kv.Wrapped)
		}
	}
}

// testRewrapCopies: the slice KeysToRewrap returns, and the Wrapped in it,
// are the caller's; so is the buffer passed to RewrapKey (checked in
// testRewrapMovesOne).
func testRewrapCopies(t *testing.T, s store.Store) {
	createOrg(t, s, "acme")
	addKeys(t, s, "acme", 2, 3)
	before := take(t, s)
	keys := mustKeysToRewrap(t, s, kekA, "", 0, 10)
	if len(keys) != 3 {
		t.Fatalf("KeysToRewrap: got %s, want acme/v1..v3", refs(keys))
	}
	for i := range keys {
		scribble(keys[i].Wrapped)
		keys[i].KEKID = "changed"
		keys[i].State = store.StateDestroyed
	}
	checkUnchanged(t, s, before)
	counts, err := s.KEKCounts(t.Context())
	if err != nil {
		t.Fatalf("KEKCounts: %v", err)
	}
	counts[0].Count, counts[0].KEK.ID = 99, "changed"
	checkKEKCounts(t, s, "after changing a returned count", []store.KEKCount{{KEK: createdKEK, Count: 3}})
}

// testRewrapSameRowRace: goroutines rewrap the same version from the same
// KEK at once, each to a KEK of its own: exactly one wins, the others lose
// with ErrStale, and the version holds the winner's KEK and wrapped key.
// Each round starts from where the last one left the version.
func testRewrapSameRowRace(t *testing.T, s store.Store) {
	createOrg(t, s, "acme")
	addKeys(t, s, "acme", 2, 2)
	last := mustLastChange(t, s)
	current := map[uint32]store.KEKRef{1: createdKEK, 2: createdKEK}
	for round := range 5 {
		for _, version := range []uint32{1, 2} { // decrypt-only, active
			from := current[version]
			errs := make([]error, writers)
			tos := make([]store.KEKRef, writers)
			for i := range tos {
				tos[i] = store.KEKRef{ID: fmt.Sprintf("kek-r%d-g%d", round, i), Version: uint32(i + 1)}
			}
			race(writers, func(i int) {
				errs[i] = s.RewrapKey(t.Context(), "acme", version, from, tos[i], rewrapped("acme", version, tos[i]))
			})
			winner := -1
			for i, err := range errs {
				switch {
				case err == nil && winner >= 0:
					t.Errorf("round %d, v%d: goroutines %d and %d both rewrapped", round, version, winner, i)
				case err == nil:
					winner = i
				default:
					checkErr(t, fmt.Sprintf("round %d, v%d: goroutine %d", round, version, i), err, store.ErrStale)
				}
			}
			if winner < 0 {
				t.Fatalf("round %d, v%d: no goroutine rewrapped", round, version)
			}
			kv := mustKey(t, s, "acme", version)
			if kekOf(kv) != tos[winner] || !bytes.Equal(kv.Wrapped, rewrapped("acme", version, tos[winner])) {
				t.Errorf("round %d, v%d: stored KEK %v, Wrapped %q; want the winner's %v",
					round, version, kekOf(kv), kv.Wrapped, tos[winner])
			}
			current[version] = kekOf(kv)
		}
	}
	checkNoChanges(t, s, "racing rewraps", last)
	checkOneActive(t, mustKeys(t, s, "acme"))
}

// testRewrapDuringLifecycle races, on the same organizations, rotations,
// state changes, destructions and reservations against rewrappers walking
// towards two KEKs at once (so they keep taking rows from each other). Only
// rewraps may fail, and only with ErrStale (their row moved or was
// destroyed since it was listed); afterwards every invariant holds, each
// version's KEK and wrapped key match (they moved together), no reservation
// was lost, the feed holds exactly the key changes made, and a final walk
// leaves nothing to rewrap.
func testRewrapDuringLifecycle(t *testing.T, s store.Store) {
	const (
		nOrgs     = 3
		rotations = 8
		toggles   = 10
	)
	ctx := t.Context()
	orgs := make([]string, nOrgs)
	for i := range orgs {
		orgs[i] = fmt.Sprintf("org-%d", i)
		createOrg(t, s, orgs[i])
		addKeys(t, s, orgs[i], 2, 2) // v1 decrypt-only, for the toggler
	}
	targets := []store.KEKRef{kekA, kekZ}

	var (
		running  atomic.Int32 // lifecycle goroutines not yet done
		done     = make(chan struct{})
		errs     = make([]error, writers)
		adds     atomic.Int64
		moves    atomic.Int64 // state changes by SetKeyState
		reserved atomic.Int64 // under v2 of each org
		rewraps  = make([]int, writers)
		stale    = make([]int, writers)
	)
	running.Store(4)
	race(writers, func(g int) {
		if g < 4 {
			defer func() {
				if running.Add(-1) == 0 {
					close(done)
				}
			}()
		}
		switch g {
		case 0: // rotations, new versions under the creating KEK
			for range rotations {
				for _, org := range orgs {
					active, err := s.ActiveKey(ctx, org)
					if err != nil {
						errs[g] = fmt.Errorf("ActiveKey(%s): %w", org, err)
						return
					}
					if err := s.AddKey(ctx, newKey(org, active.Version+1)); err != nil {
						errs[g] = fmt.Errorf("AddKey(%s, v%d): %w", org, active.Version+1, err)
						return
					}
					adds.Add(1)
				}
			}
		case 1: // v1: retired ↔ decrypt-only
			for i := range toggles {
				to := store.StateRetired
				if i%2 == 1 {
					to = store.StateDecryptOnly
				}
				for _, org := range orgs {
					if err := s.SetKeyState(ctx, org, 1, to); err != nil {
						errs[g] = fmt.Errorf("SetKeyState(%s, 1, %s): %w", org, to, err)
						return
					}
					moves.Add(1)
				}
			}
		case 2: // destroy what is two versions behind, from v3 on
			for range 2 * rotations {
				for _, org := range orgs {
					active, err := s.ActiveKey(ctx, org)
					if err != nil {
						errs[g] = fmt.Errorf("ActiveKey(%s): %w", org, err)
						return
					}
					if active.Version >= 5 {
						if err := s.DestroyKey(ctx, org, active.Version-2); err != nil {
							errs[g] = fmt.Errorf("DestroyKey(%s, %d): %w", org, active.Version-2, err)
							return
						}
					}
				}
			}
		case 3: // reservations under v2, active then decrypt-only, never destroyed
			for range 2 * rotations {
				for _, org := range orgs {
					if _, err := s.ReserveUsage(ctx, org, 2, 1); err != nil {
						errs[g] = fmt.Errorf("ReserveUsage(%s, 2, 1): %w", org, err)
						return
					}
					reserved.Add(1)
				}
			}
		default: // rewrappers, until the others are done
			target := targets[g%2]
			for finished := false; !finished; {
				select {
				case <-done:
					finished = true // one more walk after the last change
				default:
				}
				org, version := "", uint32(0)
				for {
					page, err := s.KeysToRewrap(ctx, target, org, version, 2)
					if err != nil {
						errs[g] = fmt.Errorf("KeysToRewrap(%v, %q, %d, 2): %w", target, org, version, err)
						return
					}
					if len(page) == 0 {
						break
					}
					for _, kv := range page {
						if kekOf(kv) == target || kv.State == store.StateDestroyed || len(kv.Wrapped) == 0 {
							errs[g] = fmt.Errorf("KeysToRewrap(%v) listed %s/v%d %s under %v", target, kv.Org, kv.Version, kv.State, kekOf(kv))
							return
						}
						err := s.RewrapKey(ctx, kv.Org, kv.Version, kekOf(kv), target, rewrapped(kv.Org, kv.Version, target))
						switch {
						case err == nil:
							rewraps[g]++
						case errors.Is(err, store.ErrStale):
							stale[g]++
						default:
							errs[g] = fmt.Errorf("RewrapKey(%s, %d, %v, %v): %w", kv.Org, kv.Version, kekOf(kv), target, err)
							return
						}
					}
					org, version = page[len(page)-1].Org, page[len(page)-1].Version
				}
			}
		}
	})
	for g, err := range errs {
		if err != nil {
			t.Errorf("goroutine %d: %v", g, err)
		}
	}
	if t.Failed() {
		return
	}
	t.Logf("rewraps %v, lost to ErrStale %v", rewraps[4:], stale[4:])

	// Invariants, and each version's KEK and wrapped key belong together.
	destroyed := 0
	for _, org := range orgs {
		keys := mustKeys(t, s, org)
		if len(keys) != 2+rotations {
			t.Errorf("Keys(%s): got %v, want versions 1..%d", org, versions(keys), 2+rotations)
		}
		for i, kv := range keys {
			if kv.Version != uint32(i+1) {
				t.Errorf("Keys(%s): got %v, want versions 1..n without gap", org, versions(keys))
				break
			}
		}
		if active := checkOneActive(t, keys); active.Version != uint32(len(keys)) {
			t.Errorf("Keys(%s): active v%d, want the highest", org, active.Version)
		}
		for _, kv := range keys {
			if kv.State == store.StateDestroyed {
				destroyed++
				if len(kv.Wrapped) != 0 {
					t.Errorf("%s/v%d is destroyed but holds %q", org, kv.Version, kv.Wrapped)
				}
				continue
			}
			if want := rewrapped(org, kv.Version, kekOf(kv)); !bytes.Equal(kv.Wrapped, want) {
				t.Errorf("%s/v%d under %v holds %q, want %q: KEK and wrapped key did not move together",
					org, kv.Version, kekOf(kv), kv.Wrapped, want)
			}
		}
		if v1 := keys[0]; v1.State != store.StateDecryptOnly {
			t.Errorf("%s/v1 is %s after an even number of toggles, want decrypt-only", org, v1.State)
		}
	}
	var usage uint64
	for _, org := range orgs {
		usage += mustKey(t, s, org, 2).Usage
	}
	if usage != uint64(reserved.Load()) {
		t.Errorf("usage under v2: %d in total, want the %d reserved", usage, reserved.Load())
	}
	// Creations, setup rotations, then the lifecycle goroutines' changes;
	// each destroyed version was destroyed once. Rewraps added none.
	wantChanges := 2*nOrgs + int(adds.Load()) + int(moves.Load()) + destroyed
	if got := mustChanges(t, s, 0, 10000); len(got) != wantChanges {
		t.Errorf("the feed holds %d changes, want %d (rewraps append none)", len(got), wantChanges)
	}

	// A last walk, alone, finishes the rotation.
	final := targets[0]
	for _, kv := range mustKeysToRewrap(t, s, final, "", 0, 1000) {
		mustRewrap(t, s, kv.Org, kv.Version, kekOf(kv), final)
	}
	if got := mustKeysToRewrap(t, s, final, "", 0, 1000); len(got) != 0 {
		t.Errorf("KeysToRewrap(%v) after the last walk: got %s, want none", final, refs(got))
	}
	live := int64(nOrgs*(2+rotations) - destroyed)
	checkKEKCounts(t, s, "after the last walk", []store.KEKCount{{KEK: final, Count: live}})
}

// testRewrapDeadContext calls the rewrap methods with a context that is
// already done: each fails with the context's error, and nothing changes.
func testRewrapDeadContext(t *testing.T, s store.Store, ctx context.Context, want error) {
	createOrg(t, s, "acme")
	addKeys(t, s, "acme", 2, 2)
	before := take(t, s)
	last := mustLastChange(t, s)
	calls := []struct {
		name string
		call func() error
	}{
		{"KeysToRewrap", func() error { _, err := s.KeysToRewrap(ctx, kekA, "", 0, 10); return err }},
		{"RewrapKey", func() error {
			return s.RewrapKey(ctx, "acme", 1, createdKEK, kekA, rewrapped("acme", 1, kekA))
		}},
		{"KEKCounts", func() error { _, err := s.KEKCounts(ctx); return err }},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, want) {
			t.Errorf("%s with a done context: got error %v, want %v", c.name, err, want)
		}
	}
	checkUnchanged(t, s, before)
	checkNoChanges(t, s, "calls with a done context", last)
	checkKEKCounts(t, s, "after calls with a done context", []store.KEKCount{{KEK: createdKEK, Count: 2}})
}
