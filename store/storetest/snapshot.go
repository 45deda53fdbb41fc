package storetest

import (
	"testing"

	"github.com/keyward/keyward/store"
)

// snapshot is everything a store holds, read through its interface, so a
// test can check that a refused call changed nothing.
type snapshot struct {
	orgs []store.Org
	keys map[string][]store.KeyVersion
}

// versionRef names one key version.
type versionRef struct {
	org     string
	version uint32
}

// take reads the whole content of s.
func take(t *testing.T, s store.Store) snapshot {
	t.Helper()
	snap := snapshot{keys: map[string][]store.KeyVersion{}}
	after := ""
	for {
		page, err := s.ListOrgs(t.Context(), after, 100)
		if err != nil {
			t.Fatalf("ListOrgs(%q, 100): %v", after, err)
		}
		if len(page) == 0 {
			return snap
		}
		for _, o := range page {
			snap.orgs = append(snap.orgs, o)
			snap.keys[o.ID] = mustKeys(t, s, o.ID)
		}
		after = page[len(page)-1].ID
	}
}

// checkUnchanged checks that s holds exactly what before recorded, except for
// the versions listed in skip.
func checkUnchanged(t *testing.T, s store.Store, before snapshot, skip ...versionRef) {
	t.Helper()
	now := take(t, s)
	if len(now.orgs) != len(before.orgs) {
		t.Errorf("store has %d orgs, want %d (unchanged)", len(now.orgs), len(before.orgs))
		return
	}
	for i, o := range now.orgs {
		b := before.orgs[i]
		if o.ID != b.ID || !o.CreatedAt.Equal(b.CreatedAt) {
			t.Errorf("org %d is %+v, want %+v (unchanged)", i, o, b)
		}
	}
	for org, keys := range before.keys {
		got := now.keys[org]
		if len(got) != len(keys) {
			t.Errorf("org %q has versions %v, want %v (unchanged)", org, versions(got), versions(keys))
			continue
		}
	next:
		for i, kv := range keys {
			for _, sk := range skip {
				if sk.org == org && sk.version == kv.Version {
					continue next
				}
			}
			if d := keyDiff(got[i], kv); d != "" {
				t.Errorf("org %q v%d changed: %s", org, kv.Version, d)
			}
		}
	}
}

// find returns version v of org from the snapshot.
func (s snapshot) find(org string, v uint32) store.KeyVersion {
	for _, kv := range s.keys[org] {
		if kv.Version == v {
			return kv
		}
	}
	return store.KeyVersion{}
}
