// Package policy authenticates callers by bearer token and decides what they
// may do.
//
// # Tokens
//
// A token is 256 bits from crypto/rand, shown once in the form
//
//	kw_<base64url without padding of the 32 bytes>   (46 characters)
//
// The store keeps only the SHA-256 of the 32 bytes, the token's grants, a
// description and its created / expiry / revocation times. Each token also
// has a public id, "tok_" and 24 hex digits of a SHA-256 of the token under
// a label of its own: derived from the token (so a holder can name it), safe
// to show and log, and telling nothing of the secret or of the stored hash.
//
// [Authority.Authenticate] finds a token by its hash and confirms the match
// with crypto/subtle. Every failure (missing, malformed, unknown, revoked,
// expired) is the one error [ErrUnauthenticated], with one message; a store
// that cannot be reached is a different error, wrapping
// store.ErrUnavailable, so it is never mistaken for a bad token.
//
// # Grants
//
// A token carries grants; a request is allowed when at least one grant
// allows it, and denied otherwise (deny by default). A grant is an org, a
// capability and a name pattern:
//
//   - Org is one organization id, or "*" for every organization.
//   - Capability is one of encrypt, decrypt, rewrap, secrets:write,
//     secrets:read (metadata only), secrets:reveal, keys:manage, admin.
//     Capabilities are lowercase; "Decrypt" is not one.
//   - admin implies every capability within its org scope. An admin grant
//     on org "*" is the operator's: it also allows what belongs to no one
//     organization, such as creating organizations and managing tokens,
//     which callers check as Allows("*", Admin, ""): only a grant on org
//     "*" matches the org "*".
//   - Pattern matches the secret name for the secrets:* capabilities and
//     the encryption context for encrypt, decrypt and rewrap. In a pattern
//     '*' matches any run of characters (also none, also '/' and '.');
//     every other character matches itself, case-sensitively. "" and "*"
//     match every name. keys:manage and admin take no pattern (or "*").
//
// On the command line and in [ParseGrant] a grant's capability and pattern
// are written "CAP[:PATTERN]", e.g. "secrets:reveal:webhooks/*" or
// "decrypt:channels.*".
//
// # Caching and revocation
//
// Authenticate keeps what it read of each known token for Options.CacheTTL
// (default 2 s), so the hot path does not touch the store. Expiry is checked
// on every call against the clock; a revocation in this process takes
// effect at once, one made by another process (or another keyward server)
// within CacheTTL. Unknown tokens are never cached, and the cache is
// bounded (Options.CacheSize), so a flood of bad tokens cannot grow memory.
package policy
