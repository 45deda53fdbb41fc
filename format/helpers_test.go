package format

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"testing"
)

// testKey is a fixed 32-byte key: 0x00, 0x01, … 0x1f.
func testKey() []byte {
	k := make([]byte, KeySize)
	for i := range k {
		k[i] = byte(i)
	}
	return k
}

func mustAEAD(t testing.TB, key []byte) *AEAD {
	t.Helper()
	aead, err := NewAEAD(key)
	if err != nil {
		t.Fatalf("NewAEAD: %v", err)
	}
	return aead
}

// sealFixedNonce produces the binary form that Seal would produce if the
// random nonce happened to be nonce: standard GCM with an explicit nonce
// writes the same nonce ‖ ciphertext ‖ tag layout.
func sealFixedNonce(t testing.TB, key, nonce []byte, keyVersion uint32, plaintext, aad []byte) Field {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatalf("aes.NewCipher: %v", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatalf("cipher.NewGCM: %v", err)
	}
	sealed := gcm.Seal(bytes.Clone(nonce), nonce, plaintext, aad)
	return Field{Version: V1, KeyVersion: keyVersion, Sealed: sealed}
}

// sealedField seals plaintext for org/context with the test key.
func sealedField(t testing.TB, keyVersion uint32, plaintext []byte, org, context string) Field {
	t.Helper()
	aead := mustAEAD(t, testKey())
	b := Seal(nil, aead, keyVersion, plaintext, AppendAAD(nil, V1, org, keyVersion, context))
	f, err := ParseBinary(b)
	if err != nil {
		t.Fatalf("ParseBinary(Seal(...)): %v", err)
	}
	return f
}

func fieldsEqual(a, b Field) bool {
	return a.Version == b.Version && a.KeyVersion == b.KeyVersion && bytes.Equal(a.Sealed, b.Sealed)
}

// isParseError reports whether err is one of the two parse failures.
func isParseError(err error) bool {
	return errors.Is(err, ErrMalformed) || errors.Is(err, ErrUnsupported)
}

func errorIs(err, target error) bool { return errors.Is(err, target) }

func b64std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
