package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

func testContext(t *testing.T, open Opener) {
	t.Run("Canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		testDeadContext(t, open(t), ctx, context.Canceled)
	})
	t.Run("DeadlineExceeded", func(t *testing.T) {
		ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
		defer cancel()
		testDeadContext(t, open(t), ctx, context.DeadlineExceeded)
	})
}

// testDeadContext calls every method with a context that is already done:
// each fails with the context's error, nothing changes and no change is
// appended to the feed.
func testDeadContext(t *testing.T, s store.Store, ctx context.Context, want error) {
	createOrg(t, s, "acme")
	addKeys(t, s, "acme", 2, 2)
	reserve(t, s, "acme", 2, 3, 3)
	before := take(t, s)
	last := mustLastChange(t, s)
	calls := []struct {
		name string
		call func() error
	}{
		{"CreateOrg", func() error { return s.CreateOrg(ctx, store.Org{ID: "globex"}, newKey("globex", 1)) }},
		{"Org", func() error { _, err := s.Org(ctx, "acme"); return err }},
		{"ListOrgs", func() error { _, err := s.ListOrgs(ctx, "", 10); return err }},
		{"ActiveKey", func() error { _, err := s.ActiveKey(ctx, "acme"); return err }},
		{"Key", func() error { _, err := s.Key(ctx, "acme", 1); return err }},
		{"Keys", func() error { _, err := s.Keys(ctx, "acme"); return err }},
		{"AddKey", func() error { return s.AddKey(ctx, newKey("acme", 3)) }},
		{"SetKeyState", func() error { return s.SetKeyState(ctx, "acme", 1, store.StateRetired) }},
		{"DestroyKey", func() error { return s.DestroyKey(ctx, "acme", 1) }},
		{"ReserveUsage", func() error { _, err := s.ReserveUsage(ctx, "acme", 2, 1); return err }},
		{"Changes", func() error { _, err := s.Changes(ctx, 0, 10); return err }},
		{"LastChange", func() error { _, err := s.LastChange(ctx); return err }},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, want) {
			t.Errorf("%s with a done context: got error %v, want %v", c.name, err, want)
		}
	}
	checkUnchanged(t, s, before)
	checkNoChanges(t, s, "calls with a done context", last)
}
