package secretstore

import (
	"errors"

	"github.com/keyward/keyward/keyring"
)

// Errors. Every decision a caller makes has a sentinel; match with errors.Is.
// A refused call changed nothing.
var (
	// ErrNotFound reports a secret that does not exist in its organization.
	ErrNotFound = errors.New("secret not found")
	// ErrUnknownOrg reports an organization that does not exist. It is
	// keyward.ErrUnknownOrg, so one mapping serves both.
	ErrUnknownOrg = keyring.ErrUnknownOrg
	// ErrInvalidOrg reports an organization id that breaks the id rules
	// (keyward.ErrInvalidOrg).
	ErrInvalidOrg = keyring.ErrInvalidOrg
	// ErrInvalidName reports a name outside the grammar (see ValidateName).
	ErrInvalidName = errors.New("invalid secret name")
	// ErrInvalidKind reports a kind other than the five of this package.
	ErrInvalidKind = errors.New("invalid secret kind")
	// ErrInvalidHint reports a hint other than "" and "last4", or a value
	// that cannot have the hint asked for (too short, not UTF-8, or ending
	// in characters that do not print).
	ErrInvalidHint = errors.New("invalid secret hint")
	// ErrTooLarge reports a value over MaxValueSize.
	ErrTooLarge = errors.New("secret value too large")
	// ErrEmptyValue reports an empty value.
	ErrEmptyValue = errors.New("empty secret value")
	// ErrInvalidRevision reports a negative PutOptions.IfRevision.
	ErrInvalidRevision = errors.New("invalid secret revision")
	// ErrConflict reports a conditional write (PutOptions.IfRevision) that
	// lost: the secret changed since that revision. Read it again.
	ErrConflict = errors.New("secret changed since it was read")
)
