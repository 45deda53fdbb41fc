package errcode_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/errcode"
	"github.com/keyward/keyward/keyring"
	"github.com/keyward/keyward/policy"
	"github.com/keyward/keyward/secretstore"
	"github.com/keyward/keyward/store"
)

// TestCode pins the code of every sentinel, bare and wrapped as the
// libraries return them. The strings are the API contract: written out
// here, not taken from the constants.
func TestCode(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{keyward.ErrDecrypt, "decrypt_failed"},
		{keyward.ErrMalformed, "malformed_ciphertext"},
		{keyward.ErrUnsupported, "unsupported_format"},
		{keyward.ErrInvalidOrg, "invalid_org"},
		{keyward.ErrUnknownOrg, "unknown_org"},
		{keyward.ErrOrgExists, "org_exists"},
		{keyward.ErrShredded, "org_shredded"},
		{keyward.ErrUnknownVersion, "unknown_key_version"},
		{keyward.ErrUnknownLegacyKey, "unknown_key_version"},
		{keyward.ErrRetired, "key_retired"},
		{keyward.ErrDestroyed, "key_destroyed"},
		{keyward.ErrActiveVersion, "active_version"},
		{keyward.ErrInUse, "key_in_use"},
		{&keyward.InUseError{}, "key_in_use"},
		{keyward.ErrKeyExists, "key_exists"},
		{keyward.ErrTooLarge, "too_large"},
		{keyward.ErrInvalidContext, "invalid_context"},
		{keyring.ErrNotRotatable, "kek_not_rotatable"},
		{keyward.ErrKEKUnavailable, "kek_unavailable"},
		{keyward.ErrKeyExhausted, "key_exhausted"},
		{keyward.ErrUnavailable, "unavailable"},
		{errcode.ErrAuditUnavailable, "audit_unavailable"},
		{secretstore.ErrNotFound, "secret_not_found"},
		{secretstore.ErrInvalidName, "invalid_name"},
		{secretstore.ErrInvalidKind, "invalid_kind"},
		{secretstore.ErrInvalidHint, "invalid_hint"},
		{secretstore.ErrTooLarge, "too_large"},
		{secretstore.ErrEmptyValue, "invalid_request"},
		{secretstore.ErrInvalidRevision, "invalid_request"},
		{secretstore.ErrConflict, "revision_conflict"},
		{policy.ErrUnauthenticated, "unauthenticated"},
		{policy.ErrForbidden, "forbidden"},
		{policy.ErrNoSuchToken, "token_not_found"},
		{policy.ErrInvalidGrant, "invalid_request"},
		{store.ErrNotFound, "not_found"},
		{context.DeadlineExceeded, "timeout"},
		{context.Canceled, "canceled"},
		// Errors that wrap two sentinels: the more specific one wins.
		{fmt.Errorf("%w: org acme: %w", keyward.ErrShredded, keyward.ErrDestroyed), "org_shredded"},
		{fmt.Errorf("revoke: %w: %w", policy.ErrNoSuchToken, store.ErrNotFound), "token_not_found"},
		{fmt.Errorf("%w: %w", errcode.ErrAuditUnavailable, keyward.ErrUnavailable), "unavailable"},
		{fmt.Errorf("%w: %w", errcode.ErrAuditUnavailable, context.DeadlineExceeded), "audit_unavailable"},
		{fmt.Errorf("%w: %w", keyward.ErrUnavailable, context.DeadlineExceeded), "unavailable"},
		// No sentinel: internal, whatever the text says.
		{errors.New("disk on fire at /var/lib/keyward"), "internal"},
		{fmt.Errorf("wrapped: %w", errors.New("decrypt_failed")), "internal"},
		{nil, ""},
	} {
		if got := errcode.Code(c.err); got != c.want {
			t.Errorf("Code(%v) = %q, want %q", c.err, got, c.want)
		}
		if wrapped := fmt.Errorf("cmd: %w", c.err); c.err != nil {
			if got := errcode.Code(wrapped); got != c.want {
				t.Errorf("Code(%v) = %q, want %q", wrapped, got, c.want)
			}
		}
	}
}

// TestTableCodesAreListed checks that every code the table produces is one
// of All, that All has no duplicates, and that every sentinel in the table
// is tried (no earlier row shadows it).
func TestTableCodesAreListed(t *testing.T) {
	all := errcode.All()
	seen := map[string]bool{}
	for _, c := range all {
		if seen[c] {
			t.Errorf("All lists %q twice", c)
		}
		seen[c] = true
	}
	for i, m := range errcode.Table() {
		if !slices.Contains(all, m.Code) {
			t.Errorf("Table row %d (%v) has code %q, not in All", i, m.Err, m.Code)
		}
		if got := errcode.Code(m.Err); got != m.Code {
			t.Errorf("row %d (%v) is shadowed: Code = %q, want %q", i, m.Err, got, m.Code)
		}
	}
}

func ExampleCode() {
	err := fmt.Errorf("decrypt users.ssn: %w", keyward.ErrRetired)
	fmt.Println(errcode.Code(err))
	fmt.Println(errcode.Code(errors.New("something else")))
	// Output:
	// key_retired
	// internal
}
