// Package kms defines the boundary between keyward and the key-encryption key (KEK).
//
// keyward never encrypts field data with a KEK. A KEK only wraps and unwraps data
// keys (DEKs), one per organization and version; the wrapped copies live in the store.
// Providers (a local key file for development, a PKCS#11 HSM, cloud KMS, Vault transit)
// implement the small [KEK] interface and must pass the conformance suite in
// package kmstest.
//
// Every wrap is bound to the DEK it protects by additional authenticated data built by
// [DEKAAD] from the organization id and the DEK version, so a wrapped DEK copied to
// another organization's row, or to another version, fails to unwrap.
package kms

import (
	"context"
	"errors"
)

// Sentinel errors shared by every provider. Providers wrap them with %w.
var (
	// ErrUnwrap reports that a wrapped key failed authentication: wrong KEK, wrong
	// AAD, or tampered bytes. It never says which.
	ErrUnwrap = errors.New("kms: unwrap failed")
	// ErrUnavailable reports that the KMS or HSM could not be reached or refused
	// service for a reason that may pass; the call can be retried.
	ErrUnavailable = errors.New("kms: key service unavailable")
	// ErrUnknownKEK reports a wrapped key that names a KEK or KEK version this
	// provider does not hold.
	ErrUnknownKEK = errors.New("kms: unknown key-encryption key")
	// ErrInvalidURI reports a KEK URI that cannot be parsed or names no provider.
	ErrInvalidURI = errors.New("kms: invalid kek uri")
)

// Wrapped is a data key encrypted under a KEK, with the name of the KEK and the
// KEK version that wrapped it. All three fields are stored together.
type Wrapped struct {
	// KEKID names the key-encryption key (provider-specific, never secret),
	// for example "local:3f2a9c1e" or "pkcs11:token=keyward;object=kek".
	KEKID string
	// KEKVersion is the version of the KEK that produced Ciphertext, from 1.
	KEKVersion uint32
	// Ciphertext is the provider's opaque output.
	Ciphertext []byte
}

// KEK wraps and unwraps data keys. Implementations are safe for concurrent use.
//
// aad is authenticated but not encrypted; callers build it with [DEKAAD]. Unwrap
// returns an error wrapping [ErrUnwrap] for every authentication failure, and
// [ErrUnavailable] when the provider cannot be reached.
type KEK interface {
	// ID names this KEK; it equals the KEKID of every Wrapped it produces.
	ID() string
	// Wrap encrypts key under the current KEK version.
	Wrap(ctx context.Context, key, aad []byte) (Wrapped, error)
	// Unwrap decrypts a key wrapped by this KEK under any of its versions
	// that still exist.
	Unwrap(ctx context.Context, w Wrapped, aad []byte) ([]byte, error)
}

// Rotator is implemented by KEKs that create new versions on demand (the
// local key file, a PKCS#11 token, Vault transit). After Rotate, Wrap uses
// the new version and older versions keep unwrapping, so every wrapped DEK
// can be rewrapped online ("keyward rotate kek"). Cloud KMS keys rotate
// inside the provider and need no rewrap.
type Rotator interface {
	// Rotate creates version Version()+1 and makes it current.
	Rotate(ctx context.Context) (uint32, error)
	// Version returns the version Wrap uses now.
	Version() uint32
}
