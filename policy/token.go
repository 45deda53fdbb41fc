package policy

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// Token format constants.
const (
	// TokenPrefix starts every token, so a leaked one is recognisable (for
	// secret scanners) and a wrong string is refused at once.
	TokenPrefix = "kw_"
	// tokenBytes is the token's entropy: 256 bits.
	tokenBytes = 32
	// TokenLen is the length of a token in characters.
	TokenLen = len(TokenPrefix) + 43 // base64url of 32 bytes, no padding
	// tokenIDLabel separates the id's hash from the stored hash.
	tokenIDLabel = "keyward/token-id/v1\x00"
)

// tokenEncoding is base64url without padding, refusing non-canonical input
// (stray bits in the last character), so one token has exactly one form.
var tokenEncoding = base64.RawURLEncoding.Strict()

// newToken returns a fresh token's secret bytes from crypto/rand.
func newToken() []byte {
	b := make([]byte, tokenBytes)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return b
}

// formatToken returns the printed form of a token's secret bytes.
func formatToken(raw []byte) string { return TokenPrefix + tokenEncoding.EncodeToString(raw) }

// parseToken returns the secret bytes of a token in its printed form, or of
// an Authorization header value "Bearer <token>" (scheme case-insensitive).
// ok is false for anything else.
func parseToken(s string) (raw []byte, ok bool) {
	if scheme, rest, found := strings.Cut(s, " "); found && strings.EqualFold(scheme, "bearer") {
		s = strings.TrimLeft(rest, " ")
	}
	if len(s) != TokenLen || !strings.HasPrefix(s, TokenPrefix) {
		return nil, false
	}
	raw, err := tokenEncoding.DecodeString(s[len(TokenPrefix):])
	if err != nil || len(raw) != tokenBytes {
		return nil, false
	}
	return raw, true
}

// tokenHash is what the store keeps of a token: the SHA-256 of its bytes.
func tokenHash(raw []byte) [sha256.Size]byte { return sha256.Sum256(raw) }

// tokenID derives a token's public id: "tok_" and 24 hex digits of a
// SHA-256 under a label of its own, so the id is not a prefix of the stored
// hash and reveals nothing of the token.
func tokenID(raw []byte) string {
	h := sha256.New()
	h.Write([]byte(tokenIDLabel))
	h.Write(raw)
	return "tok_" + hex.EncodeToString(h.Sum(nil)[:12])
}

// TokenID returns the public id of token (in its printed form, or as
// "Bearer <token>"), or ErrUnauthenticated if it is not a well-formed
// token. It does not check that the token exists.
func TokenID(token string) (string, error) {
	raw, ok := parseToken(token)
	if !ok {
		return "", ErrUnauthenticated
	}
	return tokenID(raw), nil
}
