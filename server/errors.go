package server

import (
	"errors"
	"net/http"

	"github.com/keyward/keyward/errcode"
	"github.com/keyward/keyward/secretstore"
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

// The stable error codes live in package errcode, with the one mapping
// from a sentinel to its code (errcode.Code). This file adds what HTTP
// needs on top: a status, the code on the wire and a message.

// httpError is how the server answers errors of one stable code. The
// message is fixed where the library's own message could name more than
// the caller should see (a path, an address); empty keeps the library's
// message, which for these sentinels only names the rule broken. The wire
// code is the stable code itself except where the OpenAPI contract, older
// than the code, names the broader one (org_shredded is key_destroyed,
// token_not_found is not_found, canceled is unavailable).
type httpError struct {
	status int
	code   string
	msg    string
}

// httpErrors gives every sentinel-backed stable code its answer. Codes
// errcode.Table can produce that are missing here (they belong to
// operations the HTTP API does not offer, listed in notServed) answer 500
// "internal", as an error no sentinel names does.
func httpErrors() map[string]httpError {
	return map[string]httpError{
		errcode.DecryptFailed:       {http.StatusUnprocessableEntity, errcode.DecryptFailed, "decryption failed: wrong org or context, or the ciphertext was altered"},
		errcode.MalformedCiphertext: {http.StatusBadRequest, errcode.MalformedCiphertext, "not a keyward ciphertext"},
		errcode.UnsupportedFormat:   {http.StatusBadRequest, errcode.UnsupportedFormat, "a ciphertext format this server does not read"},
		errcode.InvalidOrg:          {http.StatusBadRequest, errcode.InvalidOrg, ""},
		errcode.UnknownOrg:          {http.StatusNotFound, errcode.UnknownOrg, ""},
		errcode.OrgExists:           {http.StatusConflict, errcode.OrgExists, "the organization exists already"},
		errcode.OrgShredded:         {http.StatusUnprocessableEntity, errcode.KeyDestroyed, ""},
		errcode.UnknownKeyVersion:   {http.StatusUnprocessableEntity, errcode.UnknownKeyVersion, ""},
		errcode.KeyRetired:          {http.StatusUnprocessableEntity, errcode.KeyRetired, ""},
		errcode.KeyDestroyed:        {http.StatusUnprocessableEntity, errcode.KeyDestroyed, ""},
		errcode.ActiveVersion:       {http.StatusConflict, errcode.ActiveVersion, ""},
		errcode.TooLarge:            {http.StatusRequestEntityTooLarge, errcode.TooLarge, ""},
		errcode.InvalidContext:      {http.StatusBadRequest, errcode.InvalidContext, ""},
		errcode.KEKUnavailable:      {http.StatusServiceUnavailable, errcode.KEKUnavailable, "the key-encryption key service is unreachable; retry later"},
		errcode.KeyExhausted:        {http.StatusServiceUnavailable, errcode.KeyExhausted, "the organization's data key reached its encryption limit and its rotation has not succeeded yet; retry later"},
		errcode.Unavailable:         {http.StatusServiceUnavailable, errcode.Unavailable, "the store is unreachable; retry later"},
		errcode.AuditUnavailable:    {http.StatusServiceUnavailable, errcode.AuditUnavailable, "the audit log could not record the decision; nothing was done, retry later"},
		errcode.SecretNotFound:      {http.StatusNotFound, errcode.SecretNotFound, "no such secret"},
		errcode.InvalidName:         {http.StatusBadRequest, errcode.InvalidName, ""},
		errcode.InvalidKind:         {http.StatusBadRequest, errcode.InvalidKind, ""},
		errcode.InvalidHint:         {http.StatusBadRequest, errcode.InvalidHint, ""},
		errcode.InvalidRequest:      {http.StatusBadRequest, errcode.InvalidRequest, ""},
		errcode.RevisionConflict:    {http.StatusConflict, errcode.RevisionConflict, "the secret changed since that revision; read it again"},
		errcode.Unauthenticated:     {http.StatusUnauthorized, errcode.Unauthenticated, "a valid bearer token is required"},
		errcode.Forbidden:           {http.StatusForbidden, errcode.Forbidden, "this token's grants do not allow it"},
		errcode.TokenNotFound:       {http.StatusNotFound, errcode.NotFound, "not found"},
		errcode.NotFound:            {http.StatusNotFound, errcode.NotFound, "not found"},
		errcode.Timeout:             {http.StatusServiceUnavailable, errcode.Timeout, "the request took too long; retry later"},
		errcode.Canceled:            {http.StatusServiceUnavailable, errcode.Unavailable, "the request was canceled"},
	}
}

// notServed lists the sentinel-backed codes of operations the HTTP API
// does not offer (key retirement checks, legacy key import, KEK rotation):
// should one reach a handler it is a bug, answered 500 "internal".
func notServed() []string {
	return []string{errcode.KeyInUse, errcode.KeyExists, errcode.KEKNotRotatable}
}

// sentinelMessages fixes the message of single sentinels whose code is
// shared with others that keep the library's message.
func sentinelMessages() []struct {
	err error
	msg string
} {
	return []struct {
		err error
		msg string
	}{
		{secretstore.ErrEmptyValue, "value is empty"},
	}
}

// errAuditUnavailable reports that an audit event could not be made
// durable, so the request it belongs to was not carried out.
var errAuditUnavailable = errcode.ErrAuditUnavailable

// errorTable is built once per server (no package-level state).
type errorTable map[string]httpError

// table builds the server's errorTable.
func table() errorTable { return httpErrors() }

// classify is the one place that turns a Go error into what the client
// sees: its stable code (errcode.Code) and that code's answer. Unknown
// errors are 500 "internal" with a fixed message: their text may name
// internals.
func (t errorTable) classify(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return apiErr(http.StatusRequestEntityTooLarge, errcode.BodyTooLarge, "the request body exceeds the server's limit")
	}
	code := errcode.Code(err)
	if h, ok := t[code]; ok {
		msg := h.msg
		for _, m := range sentinelMessages() {
			if errors.Is(err, m.err) && errcode.Code(m.err) == code {
				msg = m.msg
			}
		}
		if msg == "" {
			msg = trimPrefixes(err.Error())
		}
		return apiErr(h.status, h.code, msg)
	}
	return apiErr(http.StatusInternalServerError, errcode.Internal, "internal error; the request id identifies it in the server log")
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
