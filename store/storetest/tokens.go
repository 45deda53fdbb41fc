package storetest

import (
	"bytes"
	"crypto/sha256"
	"reflect"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

// tokenStore returns s as a store.TokenStore or fails the test.
func tokenStore(t *testing.T, s store.Store) store.TokenStore {
	t.Helper()
	ts, ok := s.(store.TokenStore)
	if !ok {
		t.Fatalf("%T does not implement store.TokenStore", s)
	}
	return ts
}

func testTokens(t *testing.T, open Opener) {
	t.Run("CreateAndFind", func(t *testing.T) { testTokenCreateAndFind(t, tokenStore(t, open(t))) })
	t.Run("Refused", func(t *testing.T) { testTokenRefused(t, tokenStore(t, open(t))) })
	t.Run("Revoke", func(t *testing.T) { testTokenRevoke(t, tokenStore(t, open(t))) })
	t.Run("List", func(t *testing.T) { testTokenList(t, tokenStore(t, open(t))) })
}

// newToken returns a token with id and a hash derived from it.
func newToken(id string, grants ...store.TokenGrant) store.Token {
	h := sha256.Sum256([]byte("token " + id))
	if len(grants) == 0 {
		grants = []store.TokenGrant{{Org: "acme", Capability: "decrypt", Pattern: "channels.*"}}
	}
	return store.Token{ID: id, Hash: h[:], Grants: grants, Description: "for " + id}
}

// tokenDiff describes how got differs from want, times included; "" means equal.
func tokenDiff(got, want store.Token) string { return fieldDiff(got, want) }

func testTokenCreateAndFind(t *testing.T, s store.TokenStore) {
	ctx := t.Context()
	expires := time.Now().Add(time.Hour).Truncate(time.Millisecond).UTC()
	in := newToken("tok_a",
		store.TokenGrant{Org: "*", Capability: "admin"},
		store.TokenGrant{Org: "acme", Capability: "secrets:reveal", Pattern: "webhooks/*"},
		store.TokenGrant{Org: "acme", Capability: "decrypt", Pattern: "ünïcode.*"})
	in.ExpiresAt = expires
	before := time.Now()
	got, err := s.CreateToken(ctx, in)
	after := time.Now()
	if err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	checkTime(t, "CreateToken CreatedAt", got.CreatedAt, before, after)
	want := in
	want.CreatedAt = got.CreatedAt
	if d := tokenDiff(got, want); d != "" {
		t.Errorf("CreateToken returned%s", d)
	}
	if got.ExpiresAt.Location() != time.UTC {
		t.Errorf("ExpiresAt location %v, want UTC", got.ExpiresAt.Location())
	}

	found, err := s.TokenByHash(ctx, in.Hash)
	if err != nil {
		t.Fatalf("TokenByHash: %v", err)
	}
	if d := tokenDiff(found, want); d != "" {
		t.Errorf("TokenByHash returned%s", d)
	}

	// No expiry stays zero.
	never, err := s.CreateToken(ctx, newToken("tok_b"))
	if err != nil {
		t.Fatalf("CreateToken(no expiry): %v", err)
	}
	if !never.ExpiresAt.IsZero() || !never.RevokedAt.IsZero() {
		t.Errorf("token without expiry: ExpiresAt %v RevokedAt %v, want both zero", never.ExpiresAt, never.RevokedAt)
	}

	other := sha256.Sum256([]byte("unknown"))
	_, err = s.TokenByHash(ctx, other[:])
	checkErr(t, "TokenByHash(unknown)", err, store.ErrNotFound)
	_, err = s.TokenByHash(ctx, other[:16])
	checkErr(t, "TokenByHash(short hash)", err, store.ErrInvalidArgument)
}

func testTokenRefused(t *testing.T, s store.TokenStore) {
	ctx := t.Context()
	if _, err := s.CreateToken(ctx, newToken("tok_a")); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	sameHash := newToken("tok_other")
	sameHash.Hash = newToken("tok_a").Hash
	longID := newToken(string(bytes.Repeat([]byte("x"), 65)))
	noGrants := newToken("tok_c")
	noGrants.Grants = nil
	shortHash := newToken("tok_d")
	shortHash.Hash = shortHash.Hash[:31]
	for _, tc := range []struct {
		name string
		tok  store.Token
	}{
		{"same id", newToken("tok_a")},
		{"same hash", sameHash},
		{"empty id", newToken("")},
		{"long id", longID},
		{"no grants", noGrants},
		{"short hash", shortHash},
	} {
		_, err := s.CreateToken(ctx, tc.tok)
		checkErr(t, "CreateToken("+tc.name+")", err, store.ErrInvalidArgument)
	}
	// Nothing of the refused calls was stored.
	list, err := s.ListTokens(ctx, "", 100)
	if err != nil {
		t.Fatalf("ListTokens: %v", err)
	}
	if len(list) != 1 || list[0].ID != "tok_a" || list[0].Description != "for tok_a" {
		t.Errorf("after refused creates: got %d tokens (%v), want only tok_a unchanged", len(list), list)
	}
}

func testTokenRevoke(t *testing.T, s store.TokenStore) {
	ctx := t.Context()
	created, err := s.CreateToken(ctx, newToken("tok_a"))
	if err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	before := time.Now()
	got, err := s.RevokeToken(ctx, "tok_a")
	after := time.Now()
	if err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	checkTime(t, "RevokeToken RevokedAt", got.RevokedAt, before, after)
	want := created
	want.RevokedAt = got.RevokedAt
	if d := tokenDiff(got, want); d != "" {
		t.Errorf("RevokeToken returned%s", d)
	}
	time.Sleep(5 * time.Millisecond)
	again, err := s.RevokeToken(ctx, "tok_a")
	if err != nil {
		t.Fatalf("RevokeToken again: %v", err)
	}
	if !again.RevokedAt.Equal(got.RevokedAt) {
		t.Errorf("second revocation moved RevokedAt: got %v, want %v", again.RevokedAt, got.RevokedAt)
	}
	found, err := s.TokenByHash(ctx, created.Hash)
	if err != nil {
		t.Fatalf("TokenByHash(revoked): %v", err)
	}
	if d := tokenDiff(found, want); d != "" {
		t.Errorf("TokenByHash(revoked)%s", d)
	}
	_, err = s.RevokeToken(ctx, "tok_unknown")
	checkErr(t, "RevokeToken(unknown)", err, store.ErrNotFound)
	_, err = s.RevokeToken(ctx, "")
	checkErr(t, "RevokeToken(empty)", err, store.ErrInvalidArgument)
}

func testTokenList(t *testing.T, s store.TokenStore) {
	ctx := t.Context()
	empty, err := s.ListTokens(ctx, "", 10)
	if err != nil || empty == nil || len(empty) != 0 {
		t.Errorf("ListTokens(empty store): got %v, %v; want an empty non-nil slice", empty, err)
	}
	ids := []string{"tok_c", "tok_a", "Tok_B", "tok_b"}
	for _, id := range ids {
		if _, err := s.CreateToken(ctx, newToken(id)); err != nil {
			t.Fatalf("CreateToken(%s): %v", id, err)
		}
	}
	var got []string
	after := ""
	for {
		page, err := s.ListTokens(ctx, after, 3)
		if err != nil {
			t.Fatalf("ListTokens(%q): %v", after, err)
		}
		for _, tk := range page {
			got = append(got, tk.ID)
			if d := tokenDiff(tk, func() store.Token { w := newToken(tk.ID); w.CreatedAt = tk.CreatedAt; return w }()); d != "" {
				t.Errorf("ListTokens %s%s", tk.ID, d)
			}
		}
		if len(page) < 3 {
			break
		}
		after = page[len(page)-1].ID
	}
	if want := []string{"Tok_B", "tok_a", "tok_b", "tok_c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ListTokens pages: got %v, want %v (bytewise order)", got, want)
	}
	_, err = s.ListTokens(ctx, "", 0)
	checkErr(t, "ListTokens(limit 0)", err, store.ErrInvalidArgument)
}
