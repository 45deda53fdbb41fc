package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/store"
)

// Error is an API error as it travels: an HTTP status, a stable machine code
// and a message for humans. Messages never carry a plaintext, a ciphertext
// or a token.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// apiErr builds an *Error.
func apiErr(status int, code, msg string) *Error { return &Error{status, code, msg} }

// The stable error codes. Clients branch on these, never on messages.
const (
	CodeUnauthenticated      = "unauthenticated"
	CodeForbidden            = "forbidden"
	CodeNotFound             = "not_found"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeInvalidJSON          = "invalid_json"
	CodeInvalidRequest       = "invalid_request"
	CodeInvalidBase64        = "invalid_base64"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeBodyTooLarge         = "body_too_large"
	CodeBatchTooLarge        = "batch_too_large"
	CodeTooLarge             = "too_large"
	CodeRateLimited          = "rate_limited"
	CodeInvalidOrg           = "invalid_org"
	CodeUnknownOrg           = "unknown_org"
	CodeOrgExists            = "org_exists"
	CodeInvalidContext       = "invalid_context"
	CodeMalformedCiphertext  = "malformed_ciphertext"
	CodeUnsupportedFormat    = "unsupported_format"
	CodeDecryptFailed        = "decrypt_failed"
	CodeUnknownKeyVersion    = "unknown_key_version"
	CodeKeyRetired           = "key_retired"
	CodeKeyDestroyed         = "key_destroyed"
	CodeActiveVersion        = "active_version"
	CodeInvalidName          = "invalid_name"
	CodeInvalidKind          = "invalid_kind"
	CodeInvalidHint          = "invalid_hint"
	CodeSecretNotFound       = "secret_not_found"
	CodeRevisionConflict     = "revision_conflict"
	CodeJobNotFound          = "job_not_found"
	CodeUnavailable          = "unavailable"
	CodeKEKUnavailable       = "kek_unavailable"
	CodeAuditUnavailable     = "audit_unavailable"
	CodeTimeout              = "timeout"
	CodeInternal             = "internal"
)

// mapping is one row of the error table: a sentinel and what it becomes.
// The message is fixed where the library's own message could name more
// than the caller should see (a path, an address); empty keeps the
// library's message, which for these sentinels only names the rule broken.
type mapping struct {
	target error
	status int
	code   string
	msg    string
}

// table maps every sentinel a handler can meet to a status and a code, in
// the order they are tried. Policy and secret-store sentinels are added by
// extraMappings.
func table() []mapping {
	return append([]mapping{
		{keyward.ErrDecrypt, http.StatusUnprocessableEntity, CodeDecryptFailed, "decryption failed: wrong org or context, or the ciphertext was altered"},
		{keyward.ErrMalformed, http.StatusBadRequest, CodeMalformedCiphertext, "not a keyward ciphertext"},
		{keyward.ErrUnsupported, http.StatusBadRequest, CodeUnsupportedFormat, "a ciphertext format this server does not read"},
		{keyward.ErrInvalidOrg, http.StatusBadRequest, CodeInvalidOrg, ""},
		{keyward.ErrUnknownOrg, http.StatusNotFound, CodeUnknownOrg, ""},
		{keyward.ErrOrgExists, http.StatusConflict, CodeOrgExists, "the organization exists already"},
		{keyward.ErrUnknownVersion, http.StatusUnprocessableEntity, CodeUnknownKeyVersion, ""},
		{keyward.ErrRetired, http.StatusUnprocessableEntity, CodeKeyRetired, ""},
		{keyward.ErrDestroyed, http.StatusUnprocessableEntity, CodeKeyDestroyed, ""},
		{keyward.ErrActiveVersion, http.StatusConflict, CodeActiveVersion, ""},
		{keyward.ErrTooLarge, http.StatusRequestEntityTooLarge, CodeTooLarge, ""},
		{keyward.ErrInvalidContext, http.StatusBadRequest, CodeInvalidContext, ""},
		{keyward.ErrKEKUnavailable, http.StatusServiceUnavailable, CodeKEKUnavailable, "the key-encryption key service is unreachable; retry later"},
		{keyward.ErrUnavailable, http.StatusServiceUnavailable, CodeUnavailable, "the store is unreachable; retry later"},
		{errAuditUnavailable, http.StatusServiceUnavailable, CodeAuditUnavailable, "the audit log could not record the decision; nothing was done, retry later"},
		{store.ErrNotFound, http.StatusNotFound, CodeNotFound, "not found"},
		{context.DeadlineExceeded, http.StatusServiceUnavailable, CodeTimeout, "the request took too long; retry later"},
		{context.Canceled, http.StatusServiceUnavailable, CodeUnavailable, "the request was canceled"},
	}, extraMappings()...)
}

// errAuditUnavailable reports that an audit event could not be made
// durable, so the request it belongs to was not carried out.
var errAuditUnavailable = errors.New("audit log unavailable")

// errorTable is built once per server (no package-level state).
type errorTable []mapping

// classify is the one place that turns a Go error into what the client
// sees. Unknown errors are 500 "internal" with a fixed message: their text
// may name internals.
func (t errorTable) classify(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return apiErr(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "the request body exceeds the server's limit")
	}
	for _, m := range t {
		if errors.Is(err, m.target) {
			msg := m.msg
			if msg == "" {
				msg = trimPrefixes(err.Error())
			}
			return apiErr(m.status, m.code, msg)
		}
	}
	return apiErr(http.StatusInternalServerError, CodeInternal, "internal error; the request id identifies it in the server log")
}

// trimPrefixes drops the package prefixes ("keyward: ", "keyring: ") a
// library message starts with.
func trimPrefixes(msg string) string {
	for _, p := range []string{"keyward: ", "keyring: ", "secretstore: ", "store: "} {
		for len(msg) > len(p) && msg[:len(p)] == p {
			msg = msg[len(p):]
		}
	}
	return msg
}
