// Package errcode holds keyward's stable error codes: the machine-readable
// names that HTTP clients branch on and that failed audit events carry,
// whether the event was recorded by the server or by the CLI.
//
// The one mapping from a Go error to its code is [Code], an ordered table
// of sentinels ([Table]). The HTTP server adds a status and a message per
// code on top (server/errors.go); the CLI's audit trail records the code
// as it is (cmd/keyward/auditlog.go). A new sentinel gets its code here,
// once. Codes are part of the API contract and never change meaning or
// spelling; a new one is added to the table, to [All], to the server's
// status table and, if the server can return it, to the OpenAPI enum.
package errcode

import (
	"context"
	"errors"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keyring"
	"github.com/keyward/keyward/policy"
	"github.com/keyward/keyward/secretstore"
	"github.com/keyward/keyward/store"
)

// The stable codes. Clients branch on these, never on messages.
const (
	Unauthenticated      = "unauthenticated"
	Forbidden            = "forbidden"
	NotFound             = "not_found"
	MethodNotAllowed     = "method_not_allowed"
	InvalidJSON          = "invalid_json"
	InvalidRequest       = "invalid_request"
	InvalidBase64        = "invalid_base64"
	UnsupportedMediaType = "unsupported_media_type"
	BodyTooLarge         = "body_too_large"
	BatchTooLarge        = "batch_too_large"
	TooLarge             = "too_large"
	RateLimited          = "rate_limited"
	InvalidOrg           = "invalid_org"
	UnknownOrg           = "unknown_org"
	OrgExists            = "org_exists"
	OrgShredded          = "org_shredded"
	InvalidContext       = "invalid_context"
	MalformedCiphertext  = "malformed_ciphertext"
	UnsupportedFormat    = "unsupported_format"
	DecryptFailed        = "decrypt_failed"
	UnknownKeyVersion    = "unknown_key_version"
	KeyRetired           = "key_retired"
	KeyDestroyed         = "key_destroyed"
	ActiveVersion        = "active_version"
	KeyInUse             = "key_in_use"
	KeyExists            = "key_exists"
	KEKNotRotatable      = "kek_not_rotatable"
	InvalidName          = "invalid_name"
	InvalidKind          = "invalid_kind"
	InvalidHint          = "invalid_hint"
	SecretNotFound       = "secret_not_found"
	RevisionConflict     = "revision_conflict"
	TokenNotFound        = "token_not_found"
	JobNotFound          = "job_not_found"
	Unavailable          = "unavailable"
	KEKUnavailable       = "kek_unavailable"
	KeyExhausted         = "key_exhausted"
	AuditUnavailable     = "audit_unavailable"
	Timeout              = "timeout"
	Canceled             = "canceled"
	Internal             = "internal"
)

// Codes of a bulk re-encryption job's outcome (keyward reencrypt,
// keyward migrate), which the job commands give reencrypt.ErrTooManyFailures
// and reencrypt.ErrJobFailed: this package does not import package
// reencrypt, which links the PostgreSQL driver that the server and this
// table need not.
const (
	TooManyFailures = "too_many_failures"
	JobFailed       = "job_failed"
)

// All lists every stable code, sentinel-backed or not, in a fixed order.
func All() []string {
	return []string{
		Unauthenticated, Forbidden, NotFound, MethodNotAllowed, InvalidJSON,
		InvalidRequest, InvalidBase64, UnsupportedMediaType, BodyTooLarge,
		BatchTooLarge, TooLarge, RateLimited, InvalidOrg, UnknownOrg, OrgExists,
		OrgShredded, InvalidContext, MalformedCiphertext, UnsupportedFormat,
		DecryptFailed, UnknownKeyVersion, KeyRetired, KeyDestroyed, ActiveVersion,
		KeyInUse, KeyExists, KEKNotRotatable, InvalidName, InvalidKind, InvalidHint,
		SecretNotFound, RevisionConflict, TokenNotFound, JobNotFound, Unavailable,
		KEKUnavailable, KeyExhausted, AuditUnavailable, Timeout, Canceled, Internal,
		TooManyFailures, JobFailed,
	}
}

// ErrAuditUnavailable reports that an audit event could not be made
// durable, so the operation it belongs to was not carried out. It belongs
// to no library: the server wraps it around the audit log's error.
var ErrAuditUnavailable = errors.New("audit log unavailable")

// Mapping is one row of the table: errors matching Err (errors.Is) get Code.
type Mapping struct {
	Err  error
	Code string
}

// Table maps every sentinel to its code, in the order they are tried: the
// first match wins. Some errors wrap two sentinels (a shredded
// organization's error wraps keyward.ErrShredded and keyward.ErrDestroyed;
// policy.ErrNoSuchToken travels with store.ErrNotFound), so the more
// specific sentinel comes first.
func Table() []Mapping {
	return []Mapping{
		{keyward.ErrDecrypt, DecryptFailed},
		{keyward.ErrMalformed, MalformedCiphertext},
		{keyward.ErrUnsupported, UnsupportedFormat},
		{keyward.ErrInvalidOrg, InvalidOrg},
		{keyward.ErrUnknownOrg, UnknownOrg},
		{keyward.ErrOrgExists, OrgExists},
		{keyward.ErrShredded, OrgShredded},
		{keyward.ErrUnknownVersion, UnknownKeyVersion},
		{keyward.ErrUnknownLegacyKey, UnknownKeyVersion},
		{keyward.ErrRetired, KeyRetired},
		{keyward.ErrDestroyed, KeyDestroyed},
		{keyward.ErrActiveVersion, ActiveVersion},
		{keyward.ErrInUse, KeyInUse},
		{keyward.ErrKeyExists, KeyExists},
		{keyward.ErrTooLarge, TooLarge},
		{keyward.ErrInvalidContext, InvalidContext},
		{keyring.ErrNotRotatable, KEKNotRotatable},
		{keyward.ErrKEKUnavailable, KEKUnavailable},
		{keyward.ErrKeyExhausted, KeyExhausted},
		{keyward.ErrUnavailable, Unavailable},
		{ErrAuditUnavailable, AuditUnavailable},
		{secretstore.ErrNotFound, SecretNotFound},
		{secretstore.ErrInvalidName, InvalidName},
		{secretstore.ErrInvalidKind, InvalidKind},
		{secretstore.ErrInvalidHint, InvalidHint},
		{secretstore.ErrTooLarge, TooLarge},
		{secretstore.ErrEmptyValue, InvalidRequest},
		{secretstore.ErrInvalidRevision, InvalidRequest},
		{secretstore.ErrConflict, RevisionConflict},
		{policy.ErrUnauthenticated, Unauthenticated},
		{policy.ErrForbidden, Forbidden},
		{policy.ErrNoSuchToken, TokenNotFound},
		{policy.ErrInvalidGrant, InvalidRequest},
		{store.ErrNotFound, NotFound},
		{context.DeadlineExceeded, Timeout},
		{context.Canceled, Canceled},
	}
}

// Code is the stable code of err: the code of the first sentinel in
// [Table] that err matches, or [Internal] for an error no sentinel names
// (its text may name internals). A nil error has no code: "".
func Code(err error) string {
	if err == nil {
		return ""
	}
	for _, m := range Table() {
		if errors.Is(err, m.Err) {
			return m.Code
		}
	}
	return Internal
}
