package format

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"slices"
)

// AEAD is a data key ready to seal and open fields: AES-256-GCM with random
// 96-bit nonces (cipher.NewGCMWithRandomNonce), whose Seal prepends the
// nonce and appends the tag, which is exactly Field.Sealed.
//
// It is a concrete type rather than a cipher.AEAD so that Seal and Open
// need not check, on every call, that they were given a cipher of this
// shape: only NewAEAD makes a usable one (a zero AEAD opens nothing and
// seals nothing). It is safe for concurrent use.
type AEAD struct {
	gcm cipher.AEAD
}

// NewAEAD returns the AEAD of a KeySize-byte data key. The AEAD keeps its
// own expanded key schedule, so the caller may zero key afterwards.
//
// A key of another length returns an error wrapping ErrKeySize that names
// the length only, never the key.
func NewAEAD(key []byte) (*AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w: got %d bytes, want %d", ErrKeySize, len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("format: aes: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("format: gcm: %w", err)
	}
	return &AEAD{gcm: aead}, nil
}

// SealedSize returns the exact length of the binary form Seal appends for a
// plaintext of plaintextLen bytes under keyVersion.
func SealedSize(keyVersion uint32, plaintextLen int) int {
	return 1 + uvarintLen(keyVersion) + Overhead + plaintextLen
}

// Seal encrypts plaintext with aead and appends the binary form of the
// result to dst:
//
//	V1 ‖ uvarint(keyVersion) ‖ nonce ‖ ciphertext ‖ tag
//
// aead must come from NewAEAD for the DEK of keyVersion, and aad from
// AppendAAD(…, V1, org, keyVersion, context). When cap(dst)-len(dst) is at
// least SealedSize(keyVersion, len(plaintext)), Seal allocates nothing.
// plaintext and aad must not overlap the appended region.
//
// Like cipher.AEAD.Seal it cannot fail on valid input; it panics on
// programmer error: a key version of 0 or an aead not from NewAEAD.
func Seal(dst []byte, aead *AEAD, keyVersion uint32, plaintext, aad []byte) []byte {
	if keyVersion == 0 {
		panic("format: seal with key version 0")
	}
	if aead == nil || aead.gcm == nil {
		panic("format: seal with an aead not from NewAEAD")
	}
	dst = slices.Grow(dst, SealedSize(keyVersion, len(plaintext)))
	dst = append(dst, V1)
	dst = binary.AppendUvarint(dst, uint64(keyVersion))
	return aead.gcm.Seal(dst, nil, plaintext, aad)
}

// Open authenticates and decrypts f with aead and aad and appends the
// plaintext to dst. The caller rebuilds aad with AppendAAD from f.Version and
// f.KeyVersion (and its own org and context), so a changed key version also
// changes the AAD.
//
// Every failure – an invalid f, an aead not from NewAEAD, the wrong key, the wrong AAD,
// tampered bytes – returns exactly ErrDecrypt, unwrapped, and a nil slice.
// Open allocates nothing when dst has room for the plaintext and does not
// overlap f.Sealed.
func Open(dst []byte, aead *AEAD, f Field, aad []byte) ([]byte, error) {
	if !f.valid() || aead == nil || aead.gcm == nil {
		return nil, ErrDecrypt
	}
	out, err := aead.gcm.Open(dst, nil, f.Sealed, aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return out, nil
}
