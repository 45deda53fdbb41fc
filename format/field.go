package format

import (
	"errors"
	"fmt"
)

// Format constants.
const (
	V1         byte = 0x01 // the only format version so far
	NonceSize       = 12   // AES-GCM nonce, random per Seal
	TagSize         = 16   // AES-GCM authentication tag
	Overhead        = NonceSize + TagSize
	KeySize         = 32 // AES-256
	TextPrefix      = "kw1:"
)

// Sentinel errors. Parse failures wrap ErrMalformed or ErrUnsupported with a
// short reason; Open returns ErrDecrypt itself, never wrapped.
var (
	// ErrMalformed reports input that is not a valid field ciphertext.
	ErrMalformed = errors.New("format: malformed ciphertext")
	// ErrUnsupported reports a well-formed value of an unknown format version.
	ErrUnsupported = errors.New("format: unsupported format version")
	// ErrDecrypt is the one opaque authentication failure.
	ErrDecrypt = errors.New("keyward: decryption failed")
	// ErrKeySize reports a data key that is not KeySize bytes long.
	ErrKeySize = errors.New("format: invalid key size")
)

// Field is one sealed value in memory, independent of its encoding.
type Field struct {
	Version    byte   // format version (V1)
	KeyVersion uint32 // DEK version, >= 1 (0 is invalid)
	Sealed     []byte // nonce ‖ ciphertext ‖ tag, as cipher.NewGCMWithRandomNonce's Seal produces; len >= Overhead
}

// NewField assembles a V1 Field from its parts, copying them into one Sealed
// slice. The nonce must be NonceSize bytes, the tag TagSize bytes and the key
// version at least 1; the ciphertext may be empty.
func NewField(keyVersion uint32, nonce, ciphertext, tag []byte) (Field, error) {
	if keyVersion == 0 {
		return Field{}, malformed("key version 0")
	}
	if len(nonce) != NonceSize {
		return Field{}, malformed("nonce must be 12 bytes")
	}
	if len(tag) != TagSize {
		return Field{}, malformed("tag must be 16 bytes")
	}
	sealed := make([]byte, 0, len(nonce)+len(ciphertext)+len(tag))
	sealed = append(sealed, nonce...)
	sealed = append(sealed, ciphertext...)
	sealed = append(sealed, tag...)
	return Field{Version: V1, KeyVersion: keyVersion, Sealed: sealed}, nil
}

// Nonce returns the nonce part of f.Sealed (aliased, capacity-limited), or
// nil if f.Sealed is too short.
func (f Field) Nonce() []byte {
	if len(f.Sealed) < Overhead {
		return nil
	}
	return f.Sealed[:NonceSize:NonceSize]
}

// Ciphertext returns the ciphertext part of f.Sealed (aliased,
// capacity-limited), or nil if f.Sealed is too short.
func (f Field) Ciphertext() []byte {
	if len(f.Sealed) < Overhead {
		return nil
	}
	end := len(f.Sealed) - TagSize
	return f.Sealed[NonceSize:end:end]
}

// Tag returns the tag part of f.Sealed (aliased, capacity-limited), or nil if
// f.Sealed is too short.
func (f Field) Tag() []byte {
	if len(f.Sealed) < Overhead {
		return nil
	}
	return f.Sealed[len(f.Sealed)-TagSize : len(f.Sealed) : len(f.Sealed)]
}

// Validate reports whether f can be encoded and opened: format version V1,
// key version at least 1 and Sealed at least Overhead bytes long.
func (f Field) Validate() error {
	if f.Version == V1 && f.KeyVersion != 0 && len(f.Sealed) >= Overhead {
		return nil // the common case, small enough to inline
	}
	return f.invalid()
}

// valid reports whether Validate would return nil (same test, no error).
func (f Field) valid() bool {
	return f.Version == V1 && f.KeyVersion != 0 && len(f.Sealed) >= Overhead
}

// invalid returns Validate's error for a Field that is not valid.
func (f Field) invalid() error {
	switch {
	case f.Version == 0:
		return malformed("format version 0")
	case f.Version != V1:
		return unsupported(uint64(f.Version))
	case f.KeyVersion == 0:
		return malformed("key version 0")
	case len(f.Sealed) < Overhead:
		return malformed("sealed value shorter than nonce and tag")
	}
	return nil
}

// malformed wraps ErrMalformed with a fixed reason. Reasons are literals
// chosen here, never input bytes.
func malformed(reason string) error {
	return fmt.Errorf("%w: %s", ErrMalformed, reason)
}

// unsupported wraps ErrUnsupported with the (numeric) version found.
func unsupported(version uint64) error {
	return fmt.Errorf("%w: version %d", ErrUnsupported, version)
}
