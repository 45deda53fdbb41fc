package server_test

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestSecretListCursorHidesNames: a token whose patterns cover only some
// names of an org must learn nothing of the others from a list. The page's
// "next" cursor used to be the last name the store scanned, filtered or
// not, so paging with a small limit spelled out every hidden name.
func TestSecretListCursorHidesNames(t *testing.T) {
	f := newFixture(t, nil)
	if r := f.do(t, "POST", "/v1/orgs", f.admin, map[string]string{"org": "acme"}); r.status != 201 {
		t.Fatalf("create org: %d %s", r.status, r.body)
	}
	hidden := []string{"b.priv", "c.priv", "e.priv"}
	for _, name := range []string{"a.pub", "b.priv", "c.priv", "d.pub", "e.priv"} {
		body := map[string]any{"kind": "api_key", "value": b64("v")}
		if r := f.do(t, "PUT", "/v1/orgs/acme/secrets/"+name, f.admin, body); r.status != 201 {
			t.Fatalf("put %s: %d %s", name, r.status, r.body)
		}
	}
	narrow := f.token(t, 0, "acme/secrets:read:*.pub")
	for _, limit := range []string{"1", "2", "3"} {
		t.Run("limit="+limit, func(t *testing.T) {
			var names []string
			after := ""
			for page := 0; ; page++ {
				if page > 10 {
					t.Fatalf("paging does not end: %v", names)
				}
				r := f.do(t, "GET", "/v1/orgs/acme/secrets?limit="+limit+"&after="+url.QueryEscape(after), narrow, nil)
				if r.status != 200 {
					t.Fatalf("list: %d %s", r.status, r.body)
				}
				for _, h := range hidden {
					if strings.Contains(string(r.body), h) {
						t.Fatalf("page after %q names hidden secret %q: %s", after, h, r.body)
					}
				}
				var l struct {
					Secrets []struct{ Name string }
					Next    string
				}
				if err := json.Unmarshal(r.body, &l); err != nil {
					t.Fatal(err)
				}
				for _, s := range l.Secrets {
					names = append(names, s.Name)
				}
				if l.Next == "" {
					break
				}
				after = l.Next
			}
			if got, want := names, []string{"a.pub", "d.pub"}; !slices.Equal(got, want) {
				t.Errorf("listed %v, want %v", got, want)
			}
		})
	}
}
