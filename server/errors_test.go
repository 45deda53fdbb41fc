package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/errcode"
	"github.com/keyward/keyward/policy"
	"github.com/keyward/keyward/secretstore"
	"github.com/keyward/keyward/store"
)

// TestClassify pins what a client sees for every sentinel: the status, the
// code on the wire and, where fixed, the message. The strings are the API
// contract, written out.
func TestClassify(t *testing.T) {
	shredded := fmt.Errorf("%w: org %q since 2026-01-01: %w", keyward.ErrShredded, "acme", keyward.ErrDestroyed)
	for _, c := range []struct {
		err    error
		status int
		code   string
		msg    string // "" checks nothing
	}{
		{keyward.ErrDecrypt, 422, "decrypt_failed", "decryption failed: wrong org or context, or the ciphertext was altered"},
		{keyward.ErrMalformed, 400, "malformed_ciphertext", "not a keyward ciphertext"},
		{keyward.ErrUnsupported, 400, "unsupported_format", ""},
		{keyward.ErrInvalidOrg, 400, "invalid_org", "invalid organization id"},
		{keyward.ErrUnknownOrg, 404, "unknown_org", ""},
		{keyward.ErrOrgExists, 409, "org_exists", "the organization exists already"},
		{shredded, 422, "key_destroyed", `organization is shredded: org "acme" since 2026-01-01: key version is destroyed`},
		{keyward.ErrUnknownVersion, 422, "unknown_key_version", ""},
		{keyward.ErrRetired, 422, "key_retired", ""},
		{keyward.ErrDestroyed, 422, "key_destroyed", ""},
		{keyward.ErrActiveVersion, 409, "active_version", ""},
		{keyward.ErrTooLarge, 413, "too_large", ""},
		{keyward.ErrInvalidContext, 400, "invalid_context", ""},
		{keyward.ErrKEKUnavailable, 503, "kek_unavailable", "the key-encryption key service is unreachable; retry later"},
		{fmt.Errorf("dial 10.0.0.5:5432: %w", keyward.ErrUnavailable), 503, "unavailable", "the store is unreachable; retry later"},
		{fmt.Errorf("%w: %w", errAuditUnavailable, errors.New("fsync /var/audit")), 503, "audit_unavailable", "the audit log could not record the decision; nothing was done, retry later"},
		{store.ErrNotFound, 404, "not_found", "not found"},
		{fmt.Errorf("%w: %w", policy.ErrNoSuchToken, store.ErrNotFound), 404, "not_found", "not found"},
		{context.DeadlineExceeded, 503, "timeout", "the request took too long; retry later"},
		{context.Canceled, 503, "unavailable", "the request was canceled"},
		{policy.ErrUnauthenticated, 401, "unauthenticated", "a valid bearer token is required"},
		{policy.ErrForbidden, 403, "forbidden", "this token's grants do not allow it"},
		{fmt.Errorf("%w: scope", policy.ErrInvalidGrant), 400, "invalid_request", "policy: invalid grant: scope"},
		{secretstore.ErrNotFound, 404, "secret_not_found", "no such secret"},
		{secretstore.ErrInvalidName, 400, "invalid_name", "invalid secret name"},
		{secretstore.ErrInvalidKind, 400, "invalid_kind", ""},
		{secretstore.ErrInvalidHint, 400, "invalid_hint", ""},
		{secretstore.ErrTooLarge, 413, "too_large", ""},
		{secretstore.ErrEmptyValue, 400, "invalid_request", "value is empty"},
		{secretstore.ErrInvalidRevision, 400, "invalid_request", "invalid secret revision"},
		{secretstore.ErrConflict, 409, "revision_conflict", "the secret changed since that revision; read it again"},
		{&http.MaxBytesError{Limit: 10}, 413, "body_too_large", ""},
		{apiErr(429, "rate_limited", "slow down"), 429, "rate_limited", "slow down"},
		// Operations the API does not offer, and errors no sentinel names.
		{keyward.ErrInUse, 500, "internal", ""},
		{errors.New("disk on fire at /var/lib/keyward"), 500, "internal", "internal error; the request id identifies it in the server log"},
	} {
		got := table().classify(c.err)
		if got.Status != c.status || got.Code != c.code || (c.msg != "" && got.Message != c.msg) {
			t.Errorf("classify(%v) = %d %s %q, want %d %s %q", c.err, got.Status, got.Code, got.Message, c.status, c.code, c.msg)
		}
	}
}

// TestErrorTableCoversErrcode makes every sentinel-backed code a decision:
// answered (httpErrors) or deliberately not served (notServed), never both.
func TestErrorTableCoversErrcode(t *testing.T) {
	answers, skipped := httpErrors(), notServed()
	for _, m := range errcode.Table() {
		_, answered := answers[m.Code]
		if answered == slices.Contains(skipped, m.Code) {
			t.Errorf("code %q (%v): answered %v, in notServed %v; want exactly one", m.Code, m.Err, answered, !answered)
		}
	}
	for code := range answers {
		if !slices.Contains(errcode.All(), code) {
			t.Errorf("httpErrors answers %q, not a stable code", code)
		}
	}
}
