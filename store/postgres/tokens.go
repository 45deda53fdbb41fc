package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/store"
)

var _ store.TokenStore = (*Store)(nil)

// maxTokenIDLen is the longest token id the schema holds.
const maxTokenIDLen = 64

// tokenColumns are the columns scanToken reads, in its order.
const tokenColumns = `id, hash, grants::text, description, created_at, expires_at, revoked_at`

// grantJSON is the stored form of a grant: one element of tokens.grants.
type grantJSON struct {
	Org        string `json:"org"`
	Capability string `json:"capability"`
	Pattern    string `json:"pattern"`
}

func encodeGrants(gs []store.TokenGrant) (string, error) {
	out := make([]grantJSON, len(gs))
	for i, g := range gs {
		out[i] = grantJSON(g)
	}
	b, err := json.Marshal(out)
	return string(b), err
}

func decodeGrants(s string) ([]store.TokenGrant, error) {
	var in []grantJSON
	if err := json.Unmarshal([]byte(s), &in); err != nil {
		return nil, fmt.Errorf("decode stored grants: %w", err)
	}
	out := make([]store.TokenGrant, len(in))
	for i, g := range in {
		out[i] = store.TokenGrant(g)
	}
	return out, nil
}

// validToken checks a token about to be created. PostgreSQL text holds no
// NUL bytes or invalid UTF-8; such a token is refused up front.
func validToken(t store.Token) error {
	switch {
	case t.ID == "" || len(t.ID) > maxTokenIDLen:
		return errf(store.ErrInvalidArgument, "token id of %d bytes, want 1 to %d", len(t.ID), maxTokenIDLen)
	case !storable(t.ID) || !storable(t.Description):
		return errf(store.ErrInvalidArgument, "token id or description is not UTF-8 without NUL bytes")
	case len(t.Hash) != store.TokenHashSize:
		return errf(store.ErrInvalidArgument, "token hash of %d bytes, want %d", len(t.Hash), store.TokenHashSize)
	case len(t.Grants) == 0:
		return errf(store.ErrInvalidArgument, "token without grants")
	}
	for _, g := range t.Grants {
		if !storable(g.Org) || !storable(g.Capability) || !storable(g.Pattern) {
			return errf(store.ErrInvalidArgument, "token grant is not UTF-8 without NUL bytes")
		}
	}
	return nil
}

// optTime is the stored form of an optional time: NULL when zero.
func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// CreateToken implements store.TokenStore. A taken id or hash fails on
// tokens_pkey or tokens_hash_key, which classify maps to
// store.ErrInvalidArgument.
func (s *Store) CreateToken(ctx context.Context, t store.Token) (store.Token, error) {
	op := fmt.Sprintf("create token %q", t.ID)
	if err := validToken(t); err != nil {
		return store.Token{}, s.fail(ctx, op, err)
	}
	grants, err := encodeGrants(t.Grants)
	if err != nil {
		return store.Token{}, s.fail(ctx, op, err)
	}
	if err := s.begin(ctx); err != nil {
		return store.Token{}, s.fail(ctx, op, err)
	}
	out, err := scanToken(s.pool.QueryRow(ctx,
		`INSERT INTO tokens (id, hash, grants, description, created_at, expires_at)
		 VALUES ($1, $2, $3::jsonb, $4, now(), $5) RETURNING `+tokenColumns,
		t.ID, t.Hash, grants, t.Description, optTime(t.ExpiresAt)))
	if err != nil {
		return store.Token{}, s.fail(ctx, op, err)
	}
	return out, nil
}

// TokenByHash implements store.TokenStore.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	const op = "token by hash"
	if len(hash) != store.TokenHashSize {
		return store.Token{}, s.fail(ctx, op, errf(store.ErrInvalidArgument, "token hash of %d bytes, want %d", len(hash), store.TokenHashSize))
	}
	if err := s.begin(ctx); err != nil {
		return store.Token{}, s.fail(ctx, op, err)
	}
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = $1`, hash))
	if err != nil {
		return store.Token{}, s.fail(ctx, op, err)
	}
	return t, nil
}

// RevokeToken implements store.TokenStore. The first revocation time is
// kept: revoking again only reads the row.
func (s *Store) RevokeToken(ctx context.Context, id string) (store.Token, error) {
	op := fmt.Sprintf("revoke token %q", id)
	switch {
	case id == "":
		return store.Token{}, s.fail(ctx, op, errf(store.ErrInvalidArgument, "empty token id"))
	case !storable(id):
		return store.Token{}, s.fail(ctx, op, store.ErrNotFound)
	}
	if err := s.begin(ctx); err != nil {
		return store.Token{}, s.fail(ctx, op, err)
	}
	t, err := scanToken(s.pool.QueryRow(ctx, `WITH u AS (
		UPDATE tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING `+tokenColumns+`
	)
	SELECT * FROM u
	UNION ALL
	SELECT `+tokenColumns+` FROM tokens WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM u)`, id))
	if err != nil {
		return store.Token{}, s.fail(ctx, op, err)
	}
	return t, nil
}

// ListTokens implements store.TokenStore. Ids compare bytewise (COLLATE "C").
func (s *Store) ListTokens(ctx context.Context, after string, limit int) ([]store.Token, error) {
	const op = "list tokens"
	switch {
	case limit < 1:
		return nil, s.fail(ctx, op, errf(store.ErrInvalidArgument, "limit %d, want at least 1", limit))
	case !storable(after):
		return nil, s.fail(ctx, op, errf(store.ErrInvalidArgument, "cursor %q is not UTF-8 without NUL bytes", after))
	}
	if err := s.begin(ctx); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	tokens, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Token, error) { return scanToken(r) })
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	if tokens == nil {
		tokens = []store.Token{}
	}
	return tokens, nil
}

// scanToken reads one row of tokenColumns; no row is store.ErrNotFound.
func scanToken(row pgx.Row) (store.Token, error) {
	var (
		t                store.Token
		grants           string
		expires, revoked *time.Time
	)
	err := row.Scan(&t.ID, &t.Hash, &grants, &t.Description, &t.CreatedAt, &expires, &revoked)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Token{}, store.ErrNotFound
	}
	if err != nil {
		return store.Token{}, err
	}
	if t.Grants, err = decodeGrants(grants); err != nil {
		return store.Token{}, err
	}
	t.CreatedAt = utc(t.CreatedAt)
	if expires != nil {
		t.ExpiresAt = utc(*expires)
	}
	if revoked != nil {
		t.RevokedAt = utc(*revoked)
	}
	return t, nil
}
