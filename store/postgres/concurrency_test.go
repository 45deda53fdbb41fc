package postgres

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

// TestTwoProcesses runs two stores (two pools, as two keyward processes
// would) on one schema, 8 goroutines each, creating organizations, rotating
// shared ones (retrying on a version conflict, as a caller does) and
// reserving usage, all at once. Afterwards SQL checks the invariants across
// everything both wrote: one active version per organization, versions 1..n
// without gap or reuse, every organization with its version 1, no lost
// reservation, one change per creation and rotation.
func TestTwoProcesses(t *testing.T) {
	t.Parallel()
	schema := newSchema(t)
	stores := []*Store{openSchema(t, schema), openSchema(t, schema)}
	ctx := t.Context()
	const (
		goroutines = 8
		rounds     = 25
		shared     = 4
	)
	for i := range shared {
		createOrg(t, stores[0], fmt.Sprintf("shared-%d", i))
	}

	type tally struct {
		created, rotations int
		reserved           map[string]uint64 // "org/version" → reserved
	}
	tallies := make([]tally, 2*goroutines)
	errs := make([]error, 2*goroutines)
	var wg sync.WaitGroup
	for g := range 2 * goroutines {
		s := stores[g%2]
		tl := &tallies[g]
		tl.reserved = map[string]uint64{}
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for r := range rounds {
				own := fmt.Sprintf("p%d-g%d-%d", g%2, g, r)
				if err := s.CreateOrg(ctx, store.Org{ID: own}, key(own, 1)); err != nil {
					errs[g] = fmt.Errorf("CreateOrg(%s): %w", own, err)
					return
				}
				tl.created++
				org := fmt.Sprintf("shared-%d", rng.IntN(shared))
				if rng.IntN(2) == 0 {
					org = own
				}
				if err := rotate(t, s, org); err != nil {
					errs[g] = err
					return
				}
				tl.rotations++
				active, err := s.ActiveKey(ctx, org)
				if err != nil {
					errs[g] = fmt.Errorf("ActiveKey(%s): %w", org, err)
					return
				}
				// The version may be demoted meanwhile; decrypt-only still
				// takes reservations.
				n := uint64(1 + rng.IntN(100))
				if _, err := s.ReserveUsage(ctx, org, active.Version, n); err != nil {
					errs[g] = fmt.Errorf("ReserveUsage(%s, %d): %w", org, active.Version, err)
					return
				}
				tl.reserved[fmt.Sprintf("%s/%d", org, active.Version)] += n
			}
		})
	}
	wg.Wait()
	for g, err := range errs {
		if err != nil {
			t.Errorf("goroutine %d: %v", g, err)
		}
	}
	if t.Failed() {
		return
	}

	s := stores[0]
	var created, rotations int64
	reserved := map[string]uint64{}
	for _, tl := range tallies {
		created += int64(tl.created)
		rotations += int64(tl.rotations)
		for k, n := range tl.reserved {
			reserved[k] += n
		}
	}
	checkInvariants(t, s)
	checks := []struct {
		what  string
		query string
		want  int64
	}{
		{"orgs", `SELECT count(*) FROM orgs`, shared + created},
		{"key versions", `SELECT count(*) FROM key_versions`, shared + created + rotations},
		{"changes", `SELECT count(*) FROM changes`, shared + created + rotations},
		{"last change", `SELECT seq FROM change_counter`, shared + created + rotations},
	}
	for _, c := range checks {
		if got := queryInt(t, s, c.query); got != c.want {
			t.Errorf("%s: got %d, want %d", c.what, got, c.want)
		}
	}
	rows, err := s.pool.Query(ctx, `SELECT org_id || '/' || version, usage FROM key_versions WHERE usage > 0`)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]uint64{}
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		stored[k] = uint64(n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(stored) != fmt.Sprint(reserved) {
		t.Errorf("stored usage %v, want the reservations made %v", stored, reserved)
	}
}

// checkInvariants checks with SQL, over everything in s's schema, what the
// store promises: every organization has exactly one active version, the
// highest; versions run 1..n without gap or reuse; the feed has a change
// for every version inserted, with seqs up to the counter.
func checkInvariants(t *testing.T, s *Store) {
	t.Helper()
	checks := []struct {
		what  string
		query string
	}{
		{"orgs without exactly one active version", `SELECT count(*) FROM orgs o
			WHERE (SELECT count(*) FROM key_versions k WHERE k.org_id = o.id AND k.state = 'active') <> 1`},
		{"orgs whose versions are not 1..n", `SELECT count(*) FROM (
			SELECT org_id FROM key_versions GROUP BY org_id
			HAVING min(version) <> 1 OR max(version) <> count(*)) AS bad`},
		{"orgs without version 1", `SELECT count(*) FROM orgs o
			WHERE NOT EXISTS (SELECT FROM key_versions k WHERE k.org_id = o.id AND k.version = 1)`},
		{"active versions that are not the highest", `SELECT count(*) FROM key_versions k
			WHERE k.state = 'active' AND k.version <> (SELECT max(version) FROM key_versions WHERE org_id = k.org_id)`},
		{"versions without their creation in the feed", `SELECT count(*) FROM key_versions k WHERE NOT EXISTS
			(SELECT FROM changes c WHERE c.org_id = k.org_id AND c.version = k.version AND c.state = 'active')`},
		{"changes beyond the counter", `SELECT count(*) FROM changes WHERE seq > (SELECT seq FROM change_counter)`},
	}
	for _, c := range checks {
		if got := queryInt(t, s, c.query); got != 0 {
			t.Errorf("%s: %d", c.what, got)
		}
	}
}

// TestLifecycleDuringRotation races, on one organization and through two
// stores, rotations against retiring, reinstating and destroying older
// versions and reserving usage: no call deadlocks or fails other than as
// the lifecycle says, and the invariants hold afterwards.
func TestLifecycleDuringRotation(t *testing.T) {
	t.Parallel()
	schema := newSchema(t)
	a, b := openSchema(t, schema), openSchema(t, schema)
	ctx := t.Context()
	createOrg(t, a, "acme")
	if err := a.AddKey(ctx, key("acme", 2)); err != nil {
		t.Fatal(err)
	}
	stop := time.Now().Add(2 * time.Second)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	wg.Go(func() { // rotations
		for time.Now().Before(stop) && errs[0] == nil {
			errs[0] = rotate(t, a, "acme")
		}
	})
	wg.Go(func() { // v1: retired ↔ decrypt-only
		for i := 0; time.Now().Before(stop) && errs[1] == nil; i++ {
			to := store.StateRetired
			if i%2 == 1 {
				to = store.StateDecryptOnly
			}
			errs[1] = b.SetKeyState(ctx, "acme", 1, to)
		}
	})
	wg.Go(func() { // destroy what is two versions behind
		for time.Now().Before(stop) && errs[2] == nil {
			active, err := b.ActiveKey(ctx, "acme")
			if err != nil {
				errs[2] = err
				break
			}
			if active.Version > 3 {
				errs[2] = b.DestroyKey(ctx, "acme", active.Version-2)
			}
		}
	})
	wg.Go(func() { // reservations under whatever is active
		for time.Now().Before(stop) && errs[3] == nil {
			active, err := a.ActiveKey(ctx, "acme")
			if err != nil {
				errs[3] = err
				break
			}
			_, err = b.ReserveUsage(ctx, "acme", active.Version, 1)
			if errors.Is(err, store.ErrInvalidTransition) {
				err = nil // destroyed meanwhile
			}
			errs[3] = err
		}
	})
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("goroutine %d: %v", i, err)
		}
	}
	checkInvariants(t, a)
	keys, err := a.Keys(ctx, "acme")
	if err != nil || len(keys) < 4 {
		t.Fatalf("Keys: got %d versions, %v; want several rotations", len(keys), err)
	}
	t.Logf("%d rotations", len(keys)-2)
}

// rotate adds the next version of org, retrying on a version conflict as a
// caller racing other rotations does.
func rotate(t *testing.T, s *Store, org string) error {
	for attempt := 0; attempt < 1000; attempt++ {
		active, err := s.ActiveKey(t.Context(), org)
		if err != nil {
			return fmt.Errorf("ActiveKey(%s): %w", org, err)
		}
		err = s.AddKey(t.Context(), key(org, active.Version+1))
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrVersionConflict) {
			return fmt.Errorf("AddKey(%s, v%d): %w", org, active.Version+1, err)
		}
	}
	return fmt.Errorf("rotate %s: no version added after 1000 attempts", org)
}
