package policy

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sync/singleflight"

	"github.com/keyward/keyward/secret"
	"github.com/keyward/keyward/store"
)

// Defaults of Options.
const (
	DefaultCacheTTL  = 2 * time.Second
	DefaultCacheSize = 10000
	// MaxDescriptionLen bounds a token's description, in bytes.
	MaxDescriptionLen = 256
)

// Options tune an Authority. The zero value (or nil) uses the defaults.
type Options struct {
	// CacheTTL is how long Authenticate trusts what it read of a token
	// before it reads the store again: the delay before a revocation made
	// by another process takes effect here. 0 means DefaultCacheTTL; a
	// negative value disables the cache.
	CacheTTL time.Duration
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// CacheSize bounds the number of tokens cached (DefaultCacheSize if 0).
	CacheSize int
}

// TokenInfo describes a token, never its secret.
type TokenInfo struct {
	ID, Description string
	Grants          []Grant
	// CreatedAt is set by the store; ExpiresAt is zero for a token that
	// never expires; RevokedAt is zero while the token is live.
	CreatedAt, ExpiresAt, RevokedAt time.Time
}

// Live reports whether the token neither is revoked nor has expired at now.
func (t TokenInfo) Live(now time.Time) bool {
	return t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt))
}

// Authority creates, authenticates, lists and revokes tokens kept in a
// store.TokenStore. It is safe for concurrent use.
type Authority struct {
	st   store.TokenStore
	ttl  time.Duration
	size int
	now  func() time.Time

	mu    sync.RWMutex
	cache map[[sha256.Size]byte]*cached
	// revokes counts Revoke calls (guarded by mu): a fetch that began
	// before one may have read a token since revoked, so it is not cached.
	revokes uint64
	flight  singleflight.Group
}

// cached is what Authenticate read of one known token. Immutable.
type cached struct {
	hash    [sha256.Size]byte
	info    TokenInfo
	p       Principal
	fetched time.Time
	// revokes is the Authority's Revoke count when the read began.
	revokes uint64
}

// revokeCount returns the number of Revoke calls so far.
func (a *Authority) revokeCount() uint64 {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.revokes
}

// New returns an Authority on st.
func New(st store.TokenStore, opts *Options) (*Authority, error) {
	if st == nil {
		return nil, errors.New("policy: new: nil token store")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	switch {
	case o.CacheTTL == 0:
		o.CacheTTL = DefaultCacheTTL
	case o.CacheTTL < 0:
		o.CacheTTL = 0
	}
	if o.CacheSize == 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.CacheSize < 0 {
		return nil, fmt.Errorf("policy: new: %w: cache size %d", ErrInvalidArgument, o.CacheSize)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Authority{
		st: st, ttl: o.CacheTTL, size: o.CacheSize, now: o.Now,
		cache: make(map[[sha256.Size]byte]*cached),
	}, nil
}

// Create makes a token with grants, valid for ttl (0: no expiry), and
// returns it, the only time it is ever available, with its description.
// Every grant must pass Grant.Validate (ErrInvalidGrant); there must be at
// least one. The description is at most MaxDescriptionLen bytes of
// printable UTF-8 (ErrInvalidArgument).
func (a *Authority) Create(ctx context.Context, grants []Grant, ttl time.Duration, description string) (secret.Bytes, TokenInfo, error) {
	if len(grants) == 0 {
		return secret.Bytes{}, TokenInfo{}, fmt.Errorf("policy: create token: %w: no grants (a token without grants can do nothing)", ErrInvalidGrant)
	}
	for _, g := range grants {
		if err := g.Validate(); err != nil {
			return secret.Bytes{}, TokenInfo{}, fmt.Errorf("policy: create token: %w", err)
		}
	}
	switch {
	case ttl < 0:
		return secret.Bytes{}, TokenInfo{}, fmt.Errorf("policy: create token: %w: negative lifetime %v", ErrInvalidArgument, ttl)
	case len(description) > MaxDescriptionLen:
		return secret.Bytes{}, TokenInfo{}, fmt.Errorf("policy: create token: %w: description of %d bytes, want at most %d", ErrInvalidArgument, len(description), MaxDescriptionLen)
	case !utf8.ValidString(description) || strings.ContainsFunc(description, unicode.IsControl):
		return secret.Bytes{}, TokenInfo{}, fmt.Errorf("policy: create token: %w: description must be printable UTF-8", ErrInvalidArgument)
	}
	raw := newToken()
	sum := tokenHash(raw)
	t := store.Token{ID: tokenID(raw), Hash: sum[:], Description: description}
	for _, g := range grants {
		t.Grants = append(t.Grants, store.TokenGrant{Org: g.Org, Capability: string(g.Capability), Pattern: g.Pattern})
	}
	if ttl > 0 {
		t.ExpiresAt = a.now().Add(ttl).Truncate(time.Millisecond).UTC()
	}
	stored, err := a.st.CreateToken(ctx, t)
	if err != nil {
		return secret.Bytes{}, TokenInfo{}, fmt.Errorf("policy: create token: %w", err)
	}
	tok := secret.FromString(formatToken(raw))
	clear(raw)
	return tok, info(stored), nil
}

// Authenticate returns the principal of bearer, a token in its printed
// form or an Authorization header value "Bearer <token>". Every failure of
// the token itself is ErrUnauthenticated (the same error, the same
// message); a store that cannot answer gives an error wrapping the store's
// (store.ErrUnavailable when it is down), which is not ErrUnauthenticated.
func (a *Authority) Authenticate(ctx context.Context, bearer string) (Principal, error) {
	raw, ok := parseToken(bearer)
	if !ok {
		return Principal{}, ErrUnauthenticated
	}
	sum := tokenHash(raw)
	now := a.now()
	c := a.lookup(sum, now)
	if c == nil {
		start := a.revokeCount()
		v, err, _ := a.flight.Do(string(sum[:]), func() (any, error) { return a.fetch(ctx, sum) })
		if err != nil {
			return Principal{}, err
		}
		c = v.(*cached)
		if c.revokes < start {
			// The shared read began before a Revoke that returned before
			// this call began, so it may predate that revocation: read
			// again, alone.
			if c, err = a.fetch(ctx, sum); err != nil {
				return Principal{}, err
			}
		}
	}
	// The map lookup found an equal key (or the store an equal hash); the
	// confirmation does not depend on timing either way.
	if subtle.ConstantTimeCompare(c.hash[:], sum[:]) != 1 || !c.info.Live(now) {
		return Principal{}, ErrUnauthenticated
	}
	return c.p, nil
}

// lookup returns the cached entry for sum if it is fresh at now.
func (a *Authority) lookup(sum [sha256.Size]byte, now time.Time) *cached {
	if a.ttl <= 0 {
		return nil
	}
	a.mu.RLock()
	c := a.cache[sum]
	a.mu.RUnlock()
	if c == nil || now.Sub(c.fetched) >= a.ttl || now.Before(c.fetched) {
		return nil
	}
	return c
}

// fetch reads the token with hash sum from the store and caches it. An
// unknown token is ErrUnauthenticated and is not cached.
func (a *Authority) fetch(ctx context.Context, sum [sha256.Size]byte) (*cached, error) {
	revokes := a.revokeCount()
	t, err := a.st.TokenByHash(ctx, sum[:])
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, fmt.Errorf("policy: authenticate: %w", err)
	}
	if subtle.ConstantTimeCompare(t.Hash, sum[:]) != 1 {
		return nil, ErrUnauthenticated
	}
	ti := info(t)
	c := &cached{hash: sum, info: ti, fetched: a.now(), revokes: revokes, p: Principal{TokenID: ti.ID, Grants: validGrants(ti.Grants)}}
	a.remember(c, revokes)
	return c, nil
}

// validGrants returns the grants that pass Validate. A stored grant that
// does not (written by hand into the database) is dropped: it can only
// deny, never widen.
func validGrants(gs []Grant) []Grant {
	out := make([]Grant, 0, len(gs))
	for _, g := range gs {
		if g.Validate() == nil {
			out = append(out, g)
		}
	}
	return out
}

// remember caches c, first making room: stale entries go, then arbitrary
// ones until the cache is below its bound. c is not cached if a Revoke
// ran since its read began (revokes is the count seen then): the read may
// predate the revocation, and caching it would let the revoked token in.
func (a *Authority) remember(c *cached, revokes uint64) {
	if a.ttl <= 0 || a.size == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.revokes != revokes {
		return
	}
	if _, ok := a.cache[c.hash]; !ok && len(a.cache) >= a.size {
		for k, e := range a.cache {
			if c.fetched.Sub(e.fetched) >= a.ttl {
				delete(a.cache, k)
			}
		}
		for k := range a.cache {
			if len(a.cache) < a.size {
				break
			}
			delete(a.cache, k)
		}
	}
	a.cache[c.hash] = c
}

// Revoke revokes the token with public id id, at once in this process and
// within CacheTTL in every other. Revoking a revoked token is a no-op. An
// unknown id is ErrNoSuchToken.
func (a *Authority) Revoke(ctx context.Context, id string) error {
	if _, err := a.st.RevokeToken(ctx, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("policy: revoke %q: %w (keyward token list shows the ids): %w", id, ErrNoSuchToken, err)
		}
		return fmt.Errorf("policy: revoke %q: %w", id, err)
	}
	a.mu.Lock()
	a.revokes++
	for k, c := range a.cache {
		if c.info.ID == id {
			delete(a.cache, k)
		}
	}
	a.mu.Unlock()
	return nil
}

// Tokens lists every token, revoked and expired ones included, by id.
func (a *Authority) Tokens(ctx context.Context) ([]TokenInfo, error) {
	const page = 500
	out := []TokenInfo{}
	after := ""
	for {
		ts, err := a.st.ListTokens(ctx, after, page)
		if err != nil {
			return nil, fmt.Errorf("policy: list tokens: %w", err)
		}
		for _, t := range ts {
			out = append(out, info(t))
		}
		if len(ts) < page {
			return out, nil
		}
		after = ts[len(ts)-1].ID
	}
}

// info converts a stored token.
func info(t store.Token) TokenInfo {
	ti := TokenInfo{
		ID: t.ID, Description: t.Description,
		CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt,
		Grants: make([]Grant, len(t.Grants)),
	}
	for i, g := range t.Grants {
		ti.Grants[i] = Grant{Org: g.Org, Capability: Capability(g.Capability), Pattern: g.Pattern}
	}
	return ti
}
