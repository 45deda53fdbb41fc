package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keyward/keyward/store"
)

// rewrapBytes is what the tests of this file store as the DEK of (org,
// version) wrapped under kek: the KEK can be read back from the bytes, so a
// check can tell that both moved together.
func rewrapBytes(org string, version uint32, kek store.KEKRef) []byte {
	if kek == (store.KEKRef{ID: "test:kek", Version: 1}) {
		return key(org, version).Wrapped
	}
	return fmt.Appendf(nil, "%s/%d under %s/%d", org, version, kek.ID, kek.Version)
}

// TestRewrapTakesNoOrgOrCounterLock: RewrapKey locks the version's row and
// nothing else. While another transaction holds what AddKey, SetKeyState
// and DestroyKey lock (the organization's row, even FOR UPDATE, and the
// change counter), rewraps of the organization's versions, and the listing
// and counts, complete without waiting: there is no lock order between
// them to get wrong, hence no deadlock.
func TestRewrapTakesNoOrgOrCounterLock(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := t.Context()
	createOrg(t, s, "acme")
	if err := s.AddKey(ctx, key("acme", 2)); err != nil {
		t.Fatal(err)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	for _, q := range []string{
		`SELECT FROM orgs WHERE id = 'acme' FOR UPDATE`,
		`UPDATE change_counter SET seq = seq + 1`,
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	wait, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	from, to := store.KEKRef{ID: "test:kek", Version: 1}, store.KEKRef{ID: "new:kek", Version: 1}
	for v := uint32(1); v <= 2; v++ {
		if err := s.RewrapKey(wait, "acme", v, from, to, rewrapBytes("acme", v, to)); err != nil {
			t.Errorf("RewrapKey(acme, %d) while the org and the counter are locked: %v", v, err)
		}
	}
	if err := s.RewrapKey(wait, "acme", 1, from, to, rewrapBytes("acme", 1, to)); !errors.Is(err, store.ErrStale) {
		t.Errorf("RewrapKey(acme, 1) again: got error %v, want %v", err, store.ErrStale)
	}
	if err := s.RewrapKey(wait, "acme", 3, from, to, rewrapBytes("acme", 3, to)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RewrapKey(acme, 3): got error %v, want %v", err, store.ErrNotFound)
	}
	if keys, err := s.KeysToRewrap(wait, from, "", 0, 10); err != nil || len(keys) != 2 {
		t.Errorf("KeysToRewrap while the org and the counter are locked: %d keys, %v; want 2", len(keys), err)
	}
	if counts, err := s.KEKCounts(wait); err != nil || len(counts) != 1 || counts[0].Count != 2 {
		t.Errorf("KEKCounts while the org and the counter are locked: %+v, %v", counts, err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if got := queryInt(t, s, `SELECT seq FROM change_counter`); got != 2 {
		t.Errorf("change counter %d after the rewraps, want 2 (creation and rotation only)", got)
	}
}

// TestRewrapDuringRotation races, on one organization and through two
// stores (two processes), rotations, retiring and reinstating, destroying
// and reserving against rewrappers on both stores walking towards two KEKs
// at once. No call deadlocks (PostgreSQL would abort one with 40P01, which
// surfaces as store.ErrUnavailable) or fails other than a rewrap losing its
// compare-and-swap with store.ErrStale. Afterwards the invariants hold,
// every version's KEK and wrapped key match, and the feed holds exactly the
// key changes.
func TestRewrapDuringRotation(t *testing.T) {
	t.Parallel()
	schema := newSchema(t)
	a, b := openSchema(t, schema), openSchema(t, schema)
	ctx := t.Context()
	createOrg(t, a, "acme")
	createOrg(t, a, "globex")
	for _, org := range []string{"acme", "globex"} {
		if err := a.AddKey(ctx, key(org, 2)); err != nil {
			t.Fatal(err)
		}
	}
	targets := []store.KEKRef{{ID: "kek-a", Version: 1}, {ID: "kek-b", Version: 3}}
	stop := time.Now().Add(2 * time.Second)
	var (
		wg      sync.WaitGroup
		errs    = make([]error, 8)
		toggles int64
		rewraps = make([]int, 8)
		stale   = make([]int, 8)
	)
	wg.Go(func() { // rotations
		for time.Now().Before(stop) && errs[0] == nil {
			for _, org := range []string{"acme", "globex"} {
				if errs[0] == nil {
					errs[0] = rotate(t, a, org)
				}
			}
		}
	})
	wg.Go(func() { // v1: retired ↔ decrypt-only
		for i := 0; time.Now().Before(stop) && errs[1] == nil; i++ {
			to := store.StateRetired
			if i%2 == 1 {
				to = store.StateDecryptOnly
			}
			errs[1] = b.SetKeyState(ctx, "acme", 1, to)
			if errs[1] == nil {
				toggles++
			}
		}
	})
	wg.Go(func() { // destroy what is two versions behind
		for time.Now().Before(stop) && errs[2] == nil {
			for _, org := range []string{"acme", "globex"} {
				active, err := b.ActiveKey(ctx, org)
				if err != nil {
					errs[2] = err
					break
				}
				if active.Version > 3 {
					errs[2] = b.DestroyKey(ctx, org, active.Version-2)
				}
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
	for g := 4; g < 8; g++ {
		s, target := []*Store{a, b}[g%2], targets[(g/2)%2]
		wg.Go(func() {
			for time.Now().Before(stop) && errs[g] == nil {
				org, version := "", uint32(0)
				for errs[g] == nil {
					page, err := s.KeysToRewrap(ctx, target, org, version, 3)
					if err != nil || len(page) == 0 {
						errs[g] = err
						break
					}
					for _, kv := range page {
						from := store.KEKRef{ID: kv.KEKID, Version: kv.KEKVersion}
						err := s.RewrapKey(ctx, kv.Org, kv.Version, from, target, rewrapBytes(kv.Org, kv.Version, target))
						switch {
						case err == nil:
							rewraps[g]++
						case errors.Is(err, store.ErrStale):
							stale[g]++
						default:
							errs[g] = fmt.Errorf("RewrapKey(%s, %d, %v, %v): %w", kv.Org, kv.Version, from, target, err)
						}
					}
					org, version = page[len(page)-1].Org, page[len(page)-1].Version
				}
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("goroutine %d: %v", i, err)
		}
	}
	t.Logf("rewraps %v, lost to ErrStale %v, toggles %d", rewraps[4:], stale[4:], toggles)
	checkInvariants(t, a)
	want := queryInt(t, a, `SELECT count(*) FROM key_versions`) + toggles +
		queryInt(t, a, `SELECT count(*) FROM key_versions WHERE state = 'destroyed'`)
	if got := queryInt(t, a, `SELECT count(*) FROM changes`); got != want {
		t.Errorf("changes: %d, want %d (versions, state moves and destructions; no rewraps)", got, want)
	}
	for _, org := range []string{"acme", "globex"} {
		keys, err := a.Keys(ctx, org)
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range keys {
			kek := store.KEKRef{ID: kv.KEKID, Version: kv.KEKVersion}
			if kv.State != store.StateDestroyed && !bytes.Equal(kv.Wrapped, rewrapBytes(org, kv.Version, kek)) {
				t.Errorf("%s/v%d under %v holds %q: KEK and wrapped key did not move together", org, kv.Version, kek, kv.Wrapped)
			}
		}
	}
}

// TestKEKCountsBytewise: KEKCounts orders KEK ids bytewise even where the
// column compares by a locale, as it would in a database created with one
// (the test database may well use C). The test gives kek_id an ICU locale's
// collation in its own schema, dropping the trigger that depends on the
// column's type for the change.
func TestKEKCountsBytewise(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	if queryInt(t, s, `SELECT count(*) FROM pg_collation WHERE collname = 'en-US-x-icu'`) == 0 {
		t.Skip("no ICU collation en-US-x-icu on the server")
	}
	exec(t, s, `DROP TRIGGER key_versions_check_destroyed ON key_versions`)
	exec(t, s, `ALTER TABLE key_versions ALTER COLUMN kek_id TYPE text COLLATE "en-US-x-icu"`)
	if queryInt(t, s, `SELECT count(*) FROM (VALUES ('Zed'), ('aws')) AS v(k) WHERE k COLLATE "en-US-x-icu" < 'aws'`) != 0 {
		t.Skip("en-US-x-icu orders like C here")
	}
	ctx := t.Context()
	for i, kek := range []store.KEKRef{{ID: "aws:kek", Version: 10}, {ID: "Zed:kek", Version: 1}, {ID: "aws:kek", Version: 2}, {ID: "_kek", Version: 1}} {
		org := fmt.Sprintf("org-%d", i)
		kv := key(org, 1)
		kv.KEKID, kv.KEKVersion = kek.ID, kek.Version
		if err := s.CreateOrg(ctx, store.Org{ID: org}, kv); err != nil {
			t.Fatal(err)
		}
	}
	counts, err := s.KEKCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range counts {
		got = append(got, fmt.Sprintf("%s/%d", c.KEK.ID, c.KEK.Version))
	}
	want := []string{"Zed:kek/1", "_kek/1", "aws:kek/2", "aws:kek/10"}
	if !slices.Equal(got, want) {
		t.Errorf("KEKCounts: got %q, want bytewise order %q", got, want)
	}
}

// TestMigrateKEKRewrap: a schema written by a keyward that knew only
// migration 0001 is upgraded by 0002: its versions can be listed, counted
// and rewrapped at once, and its destroyed versions are guarded.
func TestMigrateKEKRewrap(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	schema := newSchema(t)
	migs, err := loadMigrations(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	set, err := config(t, schema).settings()
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, set.pool)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, pool, schema, migs[:1]); err != nil {
		pool.Close()
		t.Fatalf("migrate to 0001: %v", err)
	}
	_, err = pool.Exec(ctx, `
		INSERT INTO orgs (id) VALUES ('acme');
		INSERT INTO key_versions (org_id, version, state, kek_id, kek_version, wrapped) VALUES ('acme', 1, 'active', 'k', 1, '\x01');
		UPDATE key_versions SET state = 'decrypt-only' WHERE version = 1;
		INSERT INTO key_versions (org_id, version, state, kek_id, kek_version, wrapped) VALUES ('acme', 2, 'active', 'k', 2, '\x02');
		UPDATE key_versions SET state = 'destroyed', wrapped = NULL WHERE version = 1`)
	pool.Close()
	if err != nil {
		t.Fatalf("write a 0001 schema: %v", err)
	}

	s := openSchema(t, schema)
	if got := queryInt(t, s, `SELECT count(*) FROM schema_migrations`); got != int64(len(migs)) {
		t.Errorf("schema_migrations: %d rows, want %d", got, len(migs))
	}
	last := queryInt(t, s, `SELECT seq FROM change_counter`)
	counts, err := s.KEKCounts(ctx)
	want := []store.KEKCount{{KEK: store.KEKRef{ID: "k", Version: 2}, Count: 1}}
	if err != nil || !slices.Equal(counts, want) {
		t.Errorf("KEKCounts after upgrade: %+v, %v; want %+v", counts, err, want)
	}
	target := store.KEKRef{ID: "k", Version: 3}
	if err := s.RewrapKey(ctx, "acme", 2, store.KEKRef{ID: "k", Version: 2}, target, []byte{0x22}); err != nil {
		t.Fatalf("RewrapKey after upgrade: %v", err)
	}
	if err := s.RewrapKey(ctx, "acme", 1, store.KEKRef{ID: "k", Version: 1}, target, []byte{0x11}); !errors.Is(err, store.ErrStale) {
		t.Errorf("RewrapKey of the destroyed v1: got error %v, want %v", err, store.ErrStale)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE key_versions SET kek_version = 3 WHERE version = 1`); err == nil {
		t.Error("raw rewrap of the destroyed v1 succeeded")
	}
	if todo, err := s.KeysToRewrap(ctx, target, "", 0, 10); err != nil || len(todo) != 0 {
		t.Errorf("KeysToRewrap after the rewrap: %+v, %v; want none", todo, err)
	}
	if got := queryInt(t, s, `SELECT seq FROM change_counter`); got != last {
		t.Errorf("change counter %d after the rewrap, want %d", got, last)
	}
}
