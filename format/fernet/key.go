package fernet

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
)

// KeySize is the length of a Fernet key in bytes: 16 to sign, 16 to encrypt.
const KeySize = 32

// fingerprintLabel is the message whose HMAC under the key is its
// fingerprint.
const fingerprintLabel = "keyward/fernet-key-fingerprint/v1"

// Key is one Fernet key, ready to verify and decrypt. It is immutable and
// safe for concurrent use. It never prints its bytes: String, GoString,
// Format and LogValue show the fingerprint only.
type Key struct {
	m *material // behind a pointer, so printing a Key value shows no bytes
}

type material struct {
	sign  [16]byte
	block cipher.Block // AES-128 under the encryption half
	fp    string
}

// NewKey builds a Key from its 32 raw bytes (signing half first). The caller
// may clear raw afterwards.
func NewKey(raw []byte) (*Key, error) {
	if len(raw) != KeySize {
		return nil, fmt.Errorf("%w: fernet key of %d bytes, want %d", ErrMalformed, len(raw), KeySize)
	}
	mat := &material{}
	copy(mat.sign[:], raw[:16])
	block, err := aes.NewCipher(raw[16:])
	if err != nil {
		return nil, fmt.Errorf("fernet: %w", err)
	}
	mat.block = block
	m := hmac.New(sha256.New, raw)
	m.Write([]byte(fingerprintLabel))
	mat.fp = hex.EncodeToString(m.Sum(nil)[:8])
	return &Key{m: mat}, nil
}

// ParseKey reads a key in its usual form: 32 bytes in URL-safe base64 with
// padding (44 characters), as Fernet.generate_key() prints it. The error
// never quotes the input.
func ParseKey(s []byte) (*Key, error) {
	raw, err := DecodeKey(s)
	if err != nil {
		return nil, err
	}
	defer clear(raw)
	return NewKey(raw)
}

// DecodeKey returns the 32 raw bytes of an encoded key, for callers that
// must wrap or store the key itself (keyward fernet import); clear them
// after use. The error never quotes the input.
func DecodeKey(s []byte) ([]byte, error) {
	if b64.DecodedLen(len(s)) > 2*KeySize {
		return nil, fmt.Errorf("%w: fernet key of %d characters, want 44", ErrMalformed, len(s))
	}
	raw := make([]byte, b64.DecodedLen(len(s)))
	n, err := b64.Strict().Decode(raw, s)
	if err != nil || n != KeySize || bytes.ContainsAny(s, "\r\n") {
		clear(raw)
		return nil, fmt.Errorf("%w: not a fernet key (want 32 bytes in url-safe base64, 44 characters)", ErrMalformed)
	}
	return raw[:n:n], nil
}

// GenerateKey returns a new random key and its encoded form, for tests and
// fixtures (the encoded form is the secret: keep it out of logs).
func GenerateKey() (*Key, []byte, error) {
	raw := make([]byte, KeySize)
	defer clear(raw)
	if _, err := rand.Read(raw); err != nil {
		return nil, nil, fmt.Errorf("fernet: generate key: %w", err)
	}
	k, err := NewKey(raw)
	if err != nil {
		return nil, nil, err
	}
	enc := make([]byte, b64.EncodedLen(KeySize))
	b64.Encode(enc, raw)
	return k, enc, nil
}

// Fingerprint names the key without revealing it: the first 8 bytes of
// HMAC-SHA256 under the key of a fixed label, in hex. Equal keys have equal
// fingerprints; a fingerprint tells nothing about the key.
func (k *Key) Fingerprint() string { return k.m.fp }

// String shows the fingerprint, never the key.
func (k Key) String() string { return "fernet.Key(" + k.m.fp + ")" }

// GoString is String, so %#v does not print the key either.
func (k Key) GoString() string { return k.String() }

// Format prints String for every verb.
func (k Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// LogValue is the fingerprint, for log/slog.
func (k Key) LogValue() slog.Value { return slog.StringValue(k.String()) }
