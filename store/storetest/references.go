package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

// Reference counts (store.ReferenceStore).
func testReferences(t *testing.T, open Opener) {
	t.Run("SetAndRead", func(t *testing.T) { testReferencesSetAndRead(t, open(t)) })
	t.Run("Invalid", func(t *testing.T) { testReferencesInvalid(t, open(t)) })
}

func refStore(t *testing.T, s store.Store) store.ReferenceStore {
	t.Helper()
	rs, ok := s.(store.ReferenceStore)
	if !ok {
		t.Fatalf("%T does not implement store.ReferenceStore", s)
	}
	return rs
}

func ref(source, org, kind string, version uint32, count int64) store.Reference {
	return store.Reference{Org: org, Source: source, Key: store.KeyRef{Kind: kind, Version: version}, Count: count}
}

func refsString(refs []store.Reference) string {
	s := ""
	for _, r := range refs {
		s += fmt.Sprintf("[%s %s %s:%d=%d]", r.Source, r.Org, r.Key.Kind, r.Key.Version, r.Count)
	}
	return s
}

func mustRefs(t *testing.T, rs store.ReferenceStore, org string) []store.Reference {
	t.Helper()
	refs, err := rs.References(t.Context(), org)
	if err != nil {
		t.Fatalf("References(%q): %v", org, err)
	}
	return refs
}

func testReferencesSetAndRead(t *testing.T, s store.Store) {
	rs := refStore(t, s)
	ctx := t.Context()
	createOrg(t, s, "acme")
	createOrg(t, s, "other")
	if got := mustRefs(t, rs, "acme"); got == nil || len(got) != 0 {
		t.Fatalf("References before any: %#v, want an empty slice", got)
	}
	const (
		tbl = "postgres:app/public.channels.token"
		b   = "postgres:app/public.a.b"
	)
	last := mustLastChange(t, s)
	before := time.Now()
	if err := rs.SetReferences(ctx, tbl, []store.Reference{
		ref(tbl, "acme", "dek", 2, 5), ref(tbl, "acme", "fernet", 1, 3),
		ref(tbl, "acme", "dek", 1, 0), ref(tbl, "other", "dek", 1, 7),
	}); err != nil {
		t.Fatalf("SetReferences: %v", err)
	}
	if err := rs.SetReferences(ctx, b, []store.Reference{ref(b, "acme", "dek", 1, 1)}); err != nil {
		t.Fatalf("SetReferences: %v", err)
	}
	checkNoChanges(t, s, "SetReferences", last)
	got := mustRefs(t, rs, "acme")
	want := refsString([]store.Reference{ref(b, "acme", "dek", 1, 1), ref(tbl, "acme", "dek", 2, 5), ref(tbl, "acme", "fernet", 1, 3)})
	if refsString(got) != want {
		t.Fatalf("References(acme): got %s, want %s", refsString(got), want)
	}
	for _, r := range got {
		checkTime(t, "UpdatedAt", r.UpdatedAt, before, time.Now())
	}
	// A new complete scan replaces the source's counts, and only its own.
	if err := rs.SetReferences(ctx, tbl, []store.Reference{ref(tbl, "acme", "dek", 3, 9)}); err != nil {
		t.Fatal(err)
	}
	want = refsString([]store.Reference{ref(b, "acme", "dek", 1, 1), ref(tbl, "acme", "dek", 3, 9)})
	if got := refsString(mustRefs(t, rs, "acme")); got != want {
		t.Fatalf("after a rescan: got %s, want %s", got, want)
	}
	if got := refsString(mustRefs(t, rs, "other")); got != "" {
		t.Fatalf("other's counts of the rescanned source stay: got %s, want none", got)
	}
	if err := rs.SetReferences(ctx, b, nil); err != nil {
		t.Fatal(err)
	}
	want = refsString([]store.Reference{ref(tbl, "acme", "dek", 3, 9)})
	if got := refsString(mustRefs(t, rs, "acme")); got != want {
		t.Fatalf("after an empty scan: got %s, want %s", got, want)
	}
	if got := mustRefs(t, rs, "nobody"); len(got) != 0 {
		t.Fatalf("References(unknown): %s", refsString(got))
	}
}

func testReferencesInvalid(t *testing.T, s store.Store) {
	rs := refStore(t, s)
	ctx := t.Context()
	createOrg(t, s, "acme")
	const src = "postgres:app/t.c"
	if err := rs.SetReferences(ctx, src, []store.Reference{ref(src, "acme", "dek", 1, 4)}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		source string
		refs   []store.Reference
	}{
		{"empty source", "", nil},
		{"other source", src, []store.Reference{ref("x", "acme", "dek", 1, 1)}},
		{"no org", src, []store.Reference{ref(src, "", "dek", 1, 1)}},
		{"kind", src, []store.Reference{ref(src, "acme", "aes", 1, 1)}},
		{"version 0", src, []store.Reference{ref(src, "acme", "dek", 0, 1)}},
		{"negative", src, []store.Reference{ref(src, "acme", "dek", 1, -1)}},
		{"twice", src, []store.Reference{ref(src, "acme", "dek", 2, 1), ref(src, "acme", "dek", 2, 3)}},
	}
	for _, tt := range tests {
		err := rs.SetReferences(ctx, tt.source, tt.refs)
		if !errors.Is(err, store.ErrInvalidArgument) {
			t.Errorf("SetReferences %s: got %v, want ErrInvalidArgument", tt.name, err)
		}
	}
	if got, want := refsString(mustRefs(t, rs, "acme")), refsString([]store.Reference{ref(src, "acme", "dek", 1, 4)}); got != want {
		t.Errorf("after refused calls: got %s, want %s", got, want)
	}
	_, err := rs.References(ctx, "")
	checkErr(t, "References(\"\")", err, store.ErrInvalidArgument)
}
