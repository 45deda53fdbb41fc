package store

import (
	"context"
	"time"
)

// TokenHashSize is the length of Token.Hash: a SHA-256 digest.
const TokenHashSize = 32

// TokenGrant is one grant of an access token as the store keeps it:
// package policy parses and checks grants; the store only keeps them, in
// order.
type TokenGrant struct {
	Org        string
	Capability string
	Pattern    string
}

// Token is one access token as the store keeps it: never the token itself,
// only its SHA-256 hash, its public id and what it may do.
type Token struct {
	// ID is the token's public id (safe to show and log), 1 to 64 bytes.
	ID string
	// Hash is the SHA-256 of the token's secret bytes (TokenHashSize).
	Hash   []byte
	Grants []TokenGrant
	// Description says what the token is for (never a secret).
	Description string
	// CreatedAt is set by the store.
	CreatedAt time.Time
	// ExpiresAt is when the token stops working; zero means never.
	ExpiresAt time.Time
	// RevokedAt is when the token was revoked, set by the store; zero
	// while the token is live.
	RevokedAt time.Time
}

// TokenStore persists access tokens (package policy). Implementations are
// safe for concurrent use, also by several processes sharing the database.
type TokenStore interface {
	// CreateToken stores t and returns it as stored (CreatedAt set by the
	// store, RevokedAt zero). An empty or over-long id, a hash that is not
	// TokenHashSize bytes, no grants, or an id or hash already stored is
	// ErrInvalidArgument; nothing is changed.
	CreateToken(ctx context.Context, t Token) (Token, error)
	// TokenByHash returns the token whose Hash is hash, revoked or expired
	// ones included, or ErrNotFound.
	TokenByHash(ctx context.Context, hash []byte) (Token, error)
	// RevokeToken marks the token revoked now and returns it as stored.
	// Revoking a revoked token is a no-op that keeps the first RevokedAt;
	// an unknown id is ErrNotFound. Revocation is final.
	RevokeToken(ctx context.Context, id string) (Token, error)
	// ListTokens returns up to limit tokens with id greater than after,
	// in ascending bytewise id order (keyset pagination). A limit below 1
	// is ErrInvalidArgument.
	ListTokens(ctx context.Context, after string, limit int) ([]Token, error)
}
