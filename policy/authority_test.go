package policy_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/policy"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/sqlite"
)

// openSQLite opens a fresh SQLite store, closed at cleanup.
func openSQLite(t testing.TB) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// counting counts the reads an Authority makes of a real token store, and
// can make a read return another token's row.
type counting struct {
	store.TokenStore
	reads atomic.Int64
	swap  atomic.Pointer[[]byte] // if set, TokenByHash looks up this hash instead
}

func (c *counting) TokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	c.reads.Add(1)
	if h := c.swap.Load(); h != nil {
		hash = *h
	}
	return c.TokenStore.TokenByHash(ctx, hash)
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)} }
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newAuthority(t testing.TB, st store.TokenStore, o *policy.Options) *policy.Authority {
	t.Helper()
	a, err := policy.New(st, o)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func create(t testing.TB, a *policy.Authority, ttl time.Duration, specs ...string) (string, policy.TokenInfo) {
	t.Helper()
	var gs []policy.Grant
	for _, s := range specs {
		org, spec, _ := strings.Cut(s, "/")
		g, err := policy.ParseGrant(org, spec)
		if err != nil {
			t.Fatal(err)
		}
		gs = append(gs, g)
	}
	tok, info, err := a.Create(t.Context(), gs, ttl, "test token")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return string(tok.Reveal()), info
}

func TestCreateAndAuthenticate(t *testing.T) {
	st := openSQLite(t)
	a := newAuthority(t, st, nil)
	tok, info := create(t, a, 0, "acme/decrypt:channels.*", "*/secrets:read")
	if !strings.HasPrefix(tok, policy.TokenPrefix) || len(tok) != policy.TokenLen {
		t.Fatalf("token %q: want kw_ and %d characters", tok, policy.TokenLen)
	}
	if id, _ := policy.TokenID(tok); id != info.ID {
		t.Errorf("TokenID(token) = %q, Create said %q", id, info.ID)
	}
	if strings.Contains(info.ID, tok[3:10]) {
		t.Errorf("id %q shows part of the token", info.ID)
	}
	if !info.ExpiresAt.IsZero() || !info.RevokedAt.IsZero() || info.CreatedAt.IsZero() || info.Description != "test token" {
		t.Errorf("Create info: %+v", info)
	}
	for _, bearer := range []string{tok, "Bearer " + tok} {
		p, err := a.Authenticate(t.Context(), bearer)
		if err != nil {
			t.Fatalf("Authenticate(%.10s…): %v", bearer, err)
		}
		if p.TokenID != info.ID || len(p.Grants) != 2 {
			t.Errorf("principal %+v, want id %s and 2 grants", p, info.ID)
		}
		if !p.Allows("acme", policy.Decrypt, "channels.token") || p.Allows("acme", policy.Decrypt, "users.x") ||
			!p.Allows("globex", policy.SecretsRead, "x") || p.Allows("globex", policy.SecretsReveal, "x") {
			t.Errorf("principal grants wrong: %+v", p.Grants)
		}
	}
	// The store holds the hash, never the token.
	stored, err := st.ListTokens(t.Context(), "", 10)
	if err != nil || len(stored) != 1 {
		t.Fatalf("ListTokens: %v, %v", stored, err)
	}
	if strings.Contains(fmt.Sprintf("%+v", stored[0]), tok[3:]) {
		t.Errorf("stored token row contains the token")
	}
	// A second authority (another process) authenticates the same token.
	if _, err := newAuthority(t, st, nil).Authenticate(t.Context(), tok); err != nil {
		t.Errorf("second authority: %v", err)
	}
}

// TestAuthenticateFailures: every failure of the token is the same error
// with the same message.
func TestAuthenticateFailures(t *testing.T) {
	clk := newClock()
	st := openSQLite(t)
	a := newAuthority(t, st, &policy.Options{Now: clk.Now})
	revoked, rinfo := create(t, a, 0, "acme/decrypt")
	if err := a.Revoke(t.Context(), rinfo.ID); err != nil {
		t.Fatal(err)
	}
	expired, _ := create(t, a, time.Minute, "acme/decrypt")
	live, _ := create(t, a, 0, "acme/decrypt")
	clk.Add(time.Minute)
	// An unknown token: well-formed, never created (the live one, one character changed).
	last := live[len(live)-2]
	other := byte('A')
	if last == 'A' {
		other = 'B'
	}
	unknown := live[:len(live)-2] + string(other) + live[len(live)-1:]
	for _, tc := range []struct{ name, bearer string }{
		{"empty", ""},
		{"malformed", "not-a-token"},
		{"bearer only", "Bearer "},
		{"truncated", live[:20]},
		{"unknown", unknown},
		{"revoked", revoked},
		{"expired", expired},
		{"expired with bearer", "Bearer " + expired},
	} {
		_, err := a.Authenticate(t.Context(), tc.bearer)
		if !errors.Is(err, policy.ErrUnauthenticated) || err.Error() != policy.ErrUnauthenticated.Error() {
			t.Errorf("Authenticate(%s): got %v, want exactly %v", tc.name, err, policy.ErrUnauthenticated)
		}
	}
	if _, err := a.Authenticate(t.Context(), live); err != nil {
		t.Errorf("the live token: %v", err)
	}
}

// TestExpiryOnEveryCall: a cached token stops working when it expires, not
// when its cache entry does.
func TestExpiryOnEveryCall(t *testing.T) {
	clk := newClock()
	st := &counting{TokenStore: openSQLite(t)}
	a := newAuthority(t, st, &policy.Options{Now: clk.Now, CacheTTL: time.Hour})
	tok, _ := create(t, a, 10*time.Second, "acme/decrypt")
	if _, err := a.Authenticate(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	clk.Add(9 * time.Second)
	if _, err := a.Authenticate(t.Context(), tok); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	clk.Add(time.Second)
	if _, err := a.Authenticate(t.Context(), tok); !errors.Is(err, policy.ErrUnauthenticated) {
		t.Fatalf("at expiry: got %v, want ErrUnauthenticated", err)
	}
	if got := st.reads.Load(); got != 1 {
		t.Errorf("store reads: got %d, want 1 (the rest from the cache)", got)
	}
}

// TestRevocationAcrossProcesses: a revocation by another authority takes
// effect here within CacheTTL; one made here, at once.
func TestRevocationAcrossProcesses(t *testing.T) {
	clk := newClock()
	sq := openSQLite(t)
	st := &counting{TokenStore: sq}
	const ttl = 2 * time.Second
	a := newAuthority(t, st, &policy.Options{Now: clk.Now, CacheTTL: ttl})
	other := newAuthority(t, sq, &policy.Options{Now: clk.Now, CacheTTL: ttl})
	tok, info := create(t, a, 0, "acme/decrypt")
	if _, err := a.Authenticate(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if err := other.Revoke(t.Context(), info.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Authenticate(t.Context(), tok); !errors.Is(err, policy.ErrUnauthenticated) {
		t.Errorf("revoking authority: got %v, want ErrUnauthenticated at once", err)
	}
	clk.Add(ttl - time.Millisecond)
	if _, err := a.Authenticate(t.Context(), tok); err != nil {
		t.Errorf("within CacheTTL the cached token still works here: got %v", err)
	}
	clk.Add(time.Millisecond)
	if _, err := a.Authenticate(t.Context(), tok); !errors.Is(err, policy.ErrUnauthenticated) {
		t.Errorf("after CacheTTL: got %v, want ErrUnauthenticated", err)
	}
	if got := st.reads.Load(); got != 2 {
		t.Errorf("store reads: got %d, want 2", got)
	}

	// Revoked here: at once, cache or not.
	tok2, info2 := create(t, a, 0, "acme/decrypt")
	if _, err := a.Authenticate(t.Context(), tok2); err != nil {
		t.Fatal(err)
	}
	if err := a.Revoke(t.Context(), info2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(t.Context(), tok2); !errors.Is(err, policy.ErrUnauthenticated) {
		t.Errorf("revoked here: got %v, want ErrUnauthenticated at once", err)
	}
	if err := a.Revoke(t.Context(), info2.ID); err != nil {
		t.Errorf("revoking twice: %v", err)
	}
	if err := a.Revoke(t.Context(), "tok_nope"); !errors.Is(err, policy.ErrNoSuchToken) {
		t.Errorf("Revoke(unknown): got %v, want ErrNoSuchToken", err)
	}
}

// TestUnknownTokensNotCached: a flood of well-formed unknown tokens reads
// the store each time and leaves nothing behind; the cache of known tokens
// stays bounded.
func TestUnknownTokensNotCached(t *testing.T) {
	st := &counting{TokenStore: openSQLite(t)}
	a := newAuthority(t, st, &policy.Options{CacheSize: 3, CacheTTL: time.Hour})
	for i := range 200 {
		bad := fmt.Sprintf("kw_%043d", i)
		bad = bad[:len(bad)-1] + "A"
		if _, err := a.Authenticate(t.Context(), bad); !errors.Is(err, policy.ErrUnauthenticated) {
			t.Fatalf("unknown token %d: %v", i, err)
		}
	}
	if got := st.reads.Load(); got != 200 {
		t.Errorf("store reads for 200 unknown tokens: got %d, want 200 (never cached)", got)
	}
	if got := policy.CacheLen(a); got != 0 {
		t.Errorf("cache holds %d entries after unknown tokens, want 0", got)
	}
	var toks []string
	for range 5 {
		tok, _ := create(t, a, 0, "acme/decrypt")
		toks = append(toks, tok)
	}
	for _, tok := range toks {
		if _, err := a.Authenticate(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if got := policy.CacheLen(a); got > 3 {
		t.Errorf("cache holds %d entries, want at most CacheSize 3", got)
	}
	// Evicted tokens still authenticate (from the store).
	for _, tok := range toks {
		if _, err := a.Authenticate(t.Context(), tok); err != nil {
			t.Errorf("after eviction: %v", err)
		}
	}
}

// TestHashConfirmed: a store that answers with another token's row (a
// corrupt index, a hash collision) does not authenticate the caller.
func TestHashConfirmed(t *testing.T) {
	st := &counting{TokenStore: openSQLite(t)}
	a := newAuthority(t, st, &policy.Options{CacheTTL: -1})
	_, victim := create(t, a, 0, "*/admin")
	attacker, _ := create(t, a, 0, "acme/encrypt")
	rows, err := st.ListTokens(t.Context(), "", 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.ID == victim.ID {
			st.swap.Store(&r.Hash)
		}
	}
	if _, err := a.Authenticate(t.Context(), attacker); !errors.Is(err, policy.ErrUnauthenticated) {
		t.Errorf("store returned another token's row: got %v, want ErrUnauthenticated", err)
	}
}

func TestCreateRefused(t *testing.T) {
	st := openSQLite(t)
	a := newAuthority(t, st, nil)
	ok := policy.Grant{Org: "acme", Capability: policy.Decrypt}
	for _, tc := range []struct {
		name   string
		grants []policy.Grant
		ttl    time.Duration
		desc   string
		want   error
	}{
		{"no grants", nil, 0, "", policy.ErrInvalidGrant},
		{"bad capability", []policy.Grant{ok, {Org: "acme", Capability: "Decrypt"}}, 0, "", policy.ErrInvalidGrant},
		{"bad org", []policy.Grant{{Org: "a/b", Capability: policy.Decrypt}}, 0, "", policy.ErrInvalidGrant},
		{"pattern on admin", []policy.Grant{{Org: "*", Capability: policy.Admin, Pattern: "x*"}}, 0, "", policy.ErrInvalidGrant},
		{"negative ttl", []policy.Grant{ok}, -time.Second, "", policy.ErrInvalidArgument},
		{"description with newline", []policy.Grant{ok}, 0, "a\nb", policy.ErrInvalidArgument},
		{"long description", []policy.Grant{ok}, 0, strings.Repeat("d", policy.MaxDescriptionLen+1), policy.ErrInvalidArgument},
	} {
		tok, _, err := a.Create(t.Context(), tc.grants, tc.ttl, tc.desc)
		if !errors.Is(err, tc.want) || !tok.IsZero() {
			t.Errorf("Create(%s): got %v, want %v and no token", tc.name, err, tc.want)
		}
	}
	if list, err := a.Tokens(t.Context()); err != nil || len(list) != 0 {
		t.Errorf("after refused creates: %v tokens, %v; want none", len(list), err)
	}
}

func TestTokensList(t *testing.T) {
	clk := newClock()
	a := newAuthority(t, openSQLite(t), &policy.Options{Now: clk.Now})
	_, i1 := create(t, a, time.Hour, "acme/decrypt:channels.*")
	_, i2 := create(t, a, 0, "*/admin")
	if err := a.Revoke(t.Context(), i2.ID); err != nil {
		t.Fatal(err)
	}
	list, err := a.Tokens(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("Tokens: %d, want 2", len(list))
	}
	byID := map[string]policy.TokenInfo{list[0].ID: list[0], list[1].ID: list[1]}
	if got := byID[i1.ID]; !got.ExpiresAt.Equal(clk.Now().Add(time.Hour)) || got.Grants[0].Spec() != "decrypt:channels.*" || !got.Live(clk.Now()) {
		t.Errorf("token 1: %+v", got)
	}
	if got := byID[i2.ID]; got.RevokedAt.IsZero() || got.Live(clk.Now()) {
		t.Errorf("token 2 should be revoked: %+v", got)
	}
}

// TestConcurrentAuthenticate runs cache fills, hits and revocations at once
// (for the race detector).
func TestConcurrentAuthenticate(t *testing.T) {
	a := newAuthority(t, openSQLite(t), &policy.Options{CacheTTL: time.Millisecond, CacheSize: 4})
	var toks []string
	var ids []string
	for range 8 {
		tok, info := create(t, a, 0, "acme/decrypt")
		toks, ids = append(toks, tok), append(ids, info.ID)
	}
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 50 {
				_, err := a.Authenticate(t.Context(), toks[(w+i)%len(toks)])
				if err != nil && !errors.Is(err, policy.ErrUnauthenticated) {
					t.Errorf("Authenticate: %v", err)
				}
			}
		})
	}
	wg.Go(func() {
		for _, id := range ids[:4] {
			if err := a.Revoke(t.Context(), id); err != nil {
				t.Errorf("Revoke: %v", err)
			}
		}
	})
	wg.Wait()
	for i, tok := range toks {
		_, err := a.Authenticate(t.Context(), tok)
		if (i < 4) != errors.Is(err, policy.ErrUnauthenticated) {
			t.Errorf("token %d after revocations: %v", i, err)
		}
	}
}
