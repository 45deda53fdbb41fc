package server_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward/server"
)

// TestNULContextIsAuthorized: the context "\u0000" is a valid (UTF-8)
// encryption context like any other, so it must go through the grant check.
// It used to be the sentinel of "no context checked yet" in the batch
// authorization loop, so an item with that context skipped the check: a
// token of another org, or with no crypto capability at all, could encrypt,
// decrypt and rewrap in any org under that context.
func TestNULContextIsAuthorized(t *testing.T) {
	f := newFixture(t, nil)
	for _, org := range []string{"acme", "globex"} {
		if r := f.do(t, "POST", "/v1/orgs", f.admin, map[string]string{"org": org}); r.status != 201 {
			t.Fatalf("create org %s: %d %s", org, r.status, r.body)
		}
	}
	// A ciphertext of globex under the context "\x00", made by the operator.
	r := f.do(t, "POST", "/v1/orgs/globex/encrypt", f.admin, `{"plaintext":"c2VjcmV0","context":"\u0000"}`)
	var enc struct{ Ciphertext string }
	if err := json.Unmarshal(r.body, &enc); r.status != 200 || err != nil {
		t.Fatalf("operator encrypt: %d %s", r.status, r.body)
	}
	ct, _ := json.Marshal(enc.Ciphertext)

	other := f.token(t, 0, "acme/encrypt", "acme/decrypt", "acme/rewrap")   // another org
	narrow := f.token(t, 0, "globex/decrypt:app.*", "globex/encrypt:app.*") // other contexts
	noCrypto := f.token(t, 0, "globex/secrets:read")                        // no crypto capability
	for _, tc := range []struct{ name, token, path, body string }{
		{"other org encrypt", other, "/v1/orgs/globex/encrypt", `{"plaintext":"eA==","context":"\u0000"}`},
		{"other org decrypt", other, "/v1/orgs/globex/decrypt", `{"ciphertext":` + string(ct) + `,"context":"\u0000"}`},
		{"other org rewrap", other, "/v1/orgs/globex/rewrap", `{"ciphertext":` + string(ct) + `,"context":"\u0000"}`},
		{"other org batch decrypt", other, "/v1/orgs/globex/decrypt", `{"items":[{"ciphertext":` + string(ct) + `,"context":"\u0000"},{"ciphertext":` + string(ct) + `,"context":"\u0000"}]}`},
		{"narrow pattern decrypt", narrow, "/v1/orgs/globex/decrypt", `{"ciphertext":` + string(ct) + `,"context":"\u0000"}`},
		{"narrow pattern encrypt", narrow, "/v1/orgs/globex/encrypt", `{"plaintext":"eA==","context":"\u0000"}`},
		{"no crypto capability decrypt", noCrypto, "/v1/orgs/globex/decrypt", `{"ciphertext":` + string(ct) + `,"context":"\u0000"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do(t, "POST", tc.path, tc.token, tc.body)
			if got, want := r.status, 403; got != want {
				t.Fatalf("got %d %s, want %d forbidden", got, r.body, want)
			}
		})
	}
}

// countingAuth is the real authenticator, counting the lookups it is asked
// for (each one of an unknown token reads the token store).
type countingAuth struct {
	server.Authenticator
	n atomic.Int64
}

func (c *countingAuth) Authenticate(ctx context.Context, bearer string) (server.Principal, error) {
	c.n.Add(1)
	return c.Authenticator.Authenticate(ctx, bearer)
}

// TestBadTokenFloodSparesTheTokenStore: once an address has used up its
// bucket of failed authentications, further attempts are refused with 429
// before the token is looked up; they used to be looked up first, so a flood
// of well-formed unknown tokens reached the token store at full speed.
func TestBadTokenFloodSparesTheTokenStore(t *testing.T) {
	ca := &countingAuth{}
	f := newFixture(t, &fixtureOptions{
		limits:   serverRate(0.001, 2),
		wrapAuth: func(a server.Authenticator) server.Authenticator { ca.Authenticator = a; return ca },
	})
	var last response
	for range 10 {
		raw := make([]byte, 32)
		rand.Read(raw)
		last = f.do(t, "GET", "/v1/orgs/acme/keys", "kw_"+base64.RawURLEncoding.EncodeToString(raw), nil)
	}
	if got, want := last.status, 429; got != want {
		t.Fatalf("tenth unknown token: got %d %s, want %d", got, last.body, want)
	}
	if got, want := ca.n.Load(), int64(3); got > want {
		t.Errorf("token lookups for 10 unknown tokens with a burst of 2: got %d, want at most %d", got, want)
	}
}
