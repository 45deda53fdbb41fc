package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

func testOrgs(t *testing.T, open Opener) {
	t.Run("CreateOrgReadBack", func(t *testing.T) { testCreateOrgReadBack(t, open(t)) })
	t.Run("CreateOrgDuplicate", func(t *testing.T) { testCreateOrgDuplicate(t, open(t)) })
	t.Run("CreateOrgInvalid", func(t *testing.T) { testCreateOrgInvalid(t, open) })
	t.Run("ListOrgs", func(t *testing.T) { testListOrgs(t, open(t)) })
	t.Run("ListOrgsEmpty", func(t *testing.T) { testListOrgsEmpty(t, open(t)) })
	t.Run("ListOrgsWalk", func(t *testing.T) { testListOrgsWalk(t, open(t)) })
}

func testCreateOrgReadBack(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Times passed in are ignored: the store sets them.
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	first := newKey("acme", 1)
	first.CreatedAt, first.UpdatedAt = old, old
	before := time.Now()
	if err := s.CreateOrg(ctx, store.Org{ID: "acme", CreatedAt: old}, first); err != nil {
		t.Fatalf("CreateOrg: %v", err)
	}
	after := time.Now()

	o, err := s.Org(ctx, "acme")
	if err != nil {
		t.Fatalf("Org: %v", err)
	}
	if o.ID != "acme" {
		t.Errorf("Org ID: got %q, want %q", o.ID, "acme")
	}
	checkTime(t, "Org CreatedAt", o.CreatedAt, before, after)

	active, err := s.ActiveKey(ctx, "acme")
	if err != nil {
		t.Fatalf("ActiveKey: %v", err)
	}
	checkNewKey(t, "ActiveKey", active, newKey("acme", 1), before, after)
	checkKey(t, "Key(1)", mustKey(t, s, "acme", 1), active)
	keys := mustKeys(t, s, "acme")
	if len(keys) != 1 {
		t.Fatalf("Keys: got %v, want [v1:active]", versions(keys))
	}
	checkKey(t, "Keys[0]", keys[0], active)

	orgs, err := s.ListOrgs(ctx, "", 10)
	if err != nil {
		t.Fatalf("ListOrgs: %v", err)
	}
	if len(orgs) != 1 || orgs[0].ID != "acme" || !orgs[0].CreatedAt.Equal(o.CreatedAt) {
		t.Errorf("ListOrgs: got %+v, want [%+v]", orgs, o)
	}
}

func testCreateOrgDuplicate(t *testing.T, s store.Store) {
	createOrg(t, s, "acme")
	addKeys(t, s, "acme", 2, 2)
	before := take(t, s)
	again := newKey("acme", 1)
	again.Wrapped = wrapped("acme", 1, "-again")
	err := s.CreateOrg(t.Context(), store.Org{ID: "acme"}, again)
	checkErr(t, "CreateOrg(existing)", err, store.ErrOrgExists)
	checkUnchanged(t, s, before)
}

func testCreateOrgInvalid(t *testing.T, open Opener) {
	tests := []struct {
		name  string
		org   string
		first func(kv *store.KeyVersion)
	}{
		{"Version0", "acme", func(kv *store.KeyVersion) { kv.Version = 0 }},
		{"Version2", "acme", func(kv *store.KeyVersion) { kv.Version = 2 }},
		{"StateDecryptOnly", "acme", func(kv *store.KeyVersion) { kv.State = store.StateDecryptOnly }},
		{"StateRetired", "acme", func(kv *store.KeyVersion) { kv.State = store.StateRetired }},
		{"StateDestroyed", "acme", func(kv *store.KeyVersion) { kv.State = store.StateDestroyed }},
		{"StateEmpty", "acme", func(kv *store.KeyVersion) { kv.State = "" }},
		{"StateUnknown", "acme", func(kv *store.KeyVersion) { kv.State = "enabled" }},
		{"EmptyOrgID", "", func(kv *store.KeyVersion) { kv.Org = "" }},
		{"KeyOfOtherOrg", "acme", func(kv *store.KeyVersion) { kv.Org = "other" }},
		{"KeyWithoutOrg", "acme", func(kv *store.KeyVersion) { kv.Org = "" }},
		{"NilWrapped", "acme", func(kv *store.KeyVersion) { kv.Wrapped = nil }},
		{"EmptyWrapped", "acme", func(kv *store.KeyVersion) { kv.Wrapped = []byte{} }},
		{"EmptyKEKID", "acme", func(kv *store.KeyVersion) { kv.KEKID = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			kv := newKey("acme", 1)
			tt.first(&kv)
			err := s.CreateOrg(t.Context(), store.Org{ID: tt.org}, kv)
			checkErr(t, fmt.Sprintf("CreateOrg(%q, %+v)", tt.org, kv), err, store.ErrInvalidArgument)
			for _, id := range []string{"acme", "other"} {
				if _, err := s.Org(t.Context(), id); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("Org(%q) after refused CreateOrg: got error %v, want %v", id, err, store.ErrNotFound)
				}
			}
			checkUnchanged(t, s, snapshot{})
		})
	}
}

func testListOrgs(t *testing.T, s store.Store) {
	created := map[string]time.Time{}
	for _, id := range []string{"org-c", "org-a", "org-e", "org-b", "org-d"} {
		createOrg(t, s, id)
		o, err := s.Org(t.Context(), id)
		if err != nil {
			t.Fatalf("Org(%q): %v", id, err)
		}
		created[id] = o.CreatedAt
	}
	tests := []struct {
		after   string
		limit   int
		want    []string
		wantErr error
	}{
		{"", 10, []string{"org-a", "org-b", "org-c", "org-d", "org-e"}, nil},
		{"", 5, []string{"org-a", "org-b", "org-c", "org-d", "org-e"}, nil},
		{"", 2, []string{"org-a", "org-b"}, nil},
		{"", 1, []string{"org-a"}, nil},
		{"org-b", 2, []string{"org-c", "org-d"}, nil},
		{"org-d", 10, []string{"org-e"}, nil},
		{"org-bb", 10, []string{"org-c", "org-d", "org-e"}, nil}, // cursor need not exist
		{"org", 1, []string{"org-a"}, nil},
		{"org-e", 10, []string{}, nil},
		{"zzz", 10, []string{}, nil},
		{"", 0, nil, store.ErrInvalidArgument},
		{"", -1, nil, store.ErrInvalidArgument},
		{"org-a", 0, nil, store.ErrInvalidArgument},
	}
	for _, tt := range tests {
		call := fmt.Sprintf("ListOrgs(%q, %d)", tt.after, tt.limit)
		got, err := s.ListOrgs(t.Context(), tt.after, tt.limit)
		if !checkErr(t, call, err, tt.wantErr) || tt.wantErr != nil {
			continue
		}
		ids := make([]string, len(got))
		for i, o := range got {
			ids[i] = o.ID
			if !o.CreatedAt.Equal(created[o.ID]) {
				t.Errorf("%s: %q CreatedAt: got %v, want %v", call, o.ID, o.CreatedAt, created[o.ID])
			}
		}
		if !slices.Equal(ids, tt.want) {
			t.Errorf("%s: got %q, want %q", call, ids, tt.want)
		}
	}
}

func testListOrgsEmpty(t *testing.T, s store.Store) {
	got, err := s.ListOrgs(t.Context(), "", 10)
	if err != nil {
		t.Fatalf("ListOrgs on an empty store: %v", err)
	}
	if len(got) != 0 {
		t.Errorf("ListOrgs on an empty store: got %+v, want none", got)
	}
}

// testListOrgsWalk pages through more orgs than one page holds, as a caller
// would, and checks every org comes exactly once, in order.
func testListOrgsWalk(t *testing.T, s store.Store) {
	var want []string
	for i := range 23 {
		id := fmt.Sprintf("org-%03d", (i*7)%23) // created out of order
		createOrg(t, s, id)
		want = append(want, id)
	}
	slices.Sort(want)
	for _, limit := range []int{1, 2, 5, 22, 23, 24, 1000} {
		var got []string
		after := ""
		for pages := 0; ; pages++ {
			if pages > len(want)+1 {
				t.Fatalf("limit %d: pagination does not end", limit)
			}
			page, err := s.ListOrgs(t.Context(), after, limit)
			if err != nil {
				t.Fatalf("ListOrgs(%q, %d): %v", after, limit, err)
			}
			if len(page) > limit {
				t.Fatalf("ListOrgs(%q, %d): got %d orgs", after, limit, len(page))
			}
			if len(page) == 0 {
				break
			}
			for _, o := range page {
				got = append(got, o.ID)
			}
			after = page[len(page)-1].ID
		}
		if !slices.Equal(got, want) {
			t.Errorf("walk with limit %d: got %q, want %q", limit, got, want)
		}
	}
}
