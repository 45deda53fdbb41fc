package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/keyward/keyward/store"
)

var _ store.TokenStore = (*Store)(nil)

// maxTokenIDLen is the longest token id the schema holds.
const maxTokenIDLen = 64

// tokenColumns are the columns scanToken reads, in its order.
const tokenColumns = `id, hash, grants, description, created_at, expires_at, revoked_at`

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

// validToken checks a token about to be created.
func validToken(t store.Token) error {
	switch {
	case t.ID == "" || len(t.ID) > maxTokenIDLen:
		return errf(store.ErrInvalidArgument, "token id of %d bytes, want 1 to %d", len(t.ID), maxTokenIDLen)
	case len(t.Hash) != store.TokenHashSize:
		return errf(store.ErrInvalidArgument, "token hash of %d bytes, want %d", len(t.Hash), store.TokenHashSize)
	case len(t.Grants) == 0:
		return errf(store.ErrInvalidArgument, "token without grants")
	}
	return nil
}

// optMillis is the stored form of an optional time: NULL when zero.
func optMillis(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: millis(t), Valid: true}
}

// CreateToken implements store.TokenStore.
func (s *Store) CreateToken(ctx context.Context, t store.Token) (store.Token, error) {
	op := fmt.Sprintf("create token %q", t.ID)
	if err := validToken(t); err != nil {
		return store.Token{}, s.fail(ctx, op, err)
	}
	grants, err := encodeGrants(t.Grants)
	if err != nil {
		return store.Token{}, s.fail(ctx, op, err)
	}
	var out store.Token
	err = s.write(ctx, op, func(tx *sql.Tx) error {
		var taken bool
		if err := tx.QueryRowContext(ctx,
			`SELECT EXISTS (SELECT 1 FROM tokens WHERE id = ? OR hash = ?)`, t.ID, t.Hash,
		).Scan(&taken); err != nil {
			return err
		}
		if taken {
			return errf(store.ErrInvalidArgument, "token id or hash already stored")
		}
		now := millis(s.now())
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, NULL)`,
			t.ID, t.Hash, grants, t.Description, now, optMillis(t.ExpiresAt),
		); err != nil {
			return err
		}
		var err error
		out, err = scanToken(tx.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE id = ?`, t.ID))
		return err
	})
	if err != nil {
		return store.Token{}, err
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
	t, err := scanToken(s.r.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = ?`, hash))
	if err != nil {
		return store.Token{}, s.fail(ctx, op, err)
	}
	return t, nil
}

// RevokeToken implements store.TokenStore.
func (s *Store) RevokeToken(ctx context.Context, id string) (store.Token, error) {
	op := fmt.Sprintf("revoke token %q", id)
	if id == "" {
		return store.Token{}, s.fail(ctx, op, errf(store.ErrInvalidArgument, "empty token id"))
	}
	var out store.Token
	err := s.write(ctx, op, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, millis(s.now()), id,
		); err != nil {
			return err
		}
		var err error
		out, err = scanToken(tx.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE id = ?`, id))
		return err
	})
	if err != nil {
		return store.Token{}, err
	}
	return out, nil
}

// ListTokens implements store.TokenStore.
func (s *Store) ListTokens(ctx context.Context, after string, limit int) (tokens []store.Token, err error) {
	const op = "list tokens"
	if limit < 1 {
		return nil, s.fail(ctx, op, errf(store.ErrInvalidArgument, "limit %d, want at least 1", limit))
	}
	if err := s.begin(ctx); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	rows, err := s.r.QueryContext(ctx,
		`SELECT `+tokenColumns+` FROM tokens WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	defer func() {
		if cerr := rows.Close(); cerr != nil && err == nil {
			tokens, err = nil, s.fail(ctx, op, cerr)
		}
	}()
	tokens = []store.Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, s.fail(ctx, op, err)
		}
		tokens = append(tokens, t)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	return tokens, nil
}

// scanToken reads one row of tokenColumns; no row is store.ErrNotFound.
func scanToken(row interface{ Scan(...any) error }) (store.Token, error) {
	var (
		t                store.Token
		grants           string
		created          int64
		expires, revoked sql.NullInt64
	)
	err := row.Scan(&t.ID, &t.Hash, &grants, &t.Description, &created, &expires, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Token{}, store.ErrNotFound
	}
	if err != nil {
		return store.Token{}, err
	}
	if t.Grants, err = decodeGrants(grants); err != nil {
		return store.Token{}, err
	}
	t.CreatedAt = fromMillis(created)
	if expires.Valid {
		t.ExpiresAt = fromMillis(expires.Int64)
	}
	if revoked.Valid {
		t.RevokedAt = fromMillis(revoked.Int64)
	}
	return t, nil
}
