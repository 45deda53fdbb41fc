// Package fernet reads Fernet tokens, the legacy format of Python's
// cryptography.fernet, so that columns written by an application with Fernet
// can be read while they migrate to keyward's own format.
//
// A Fernet key is 32 bytes, written as URL-safe base64 with padding (44
// characters): the first 16 bytes sign (HMAC-SHA256), the last 16 encrypt
// (AES-128-CBC). A token is URL-safe base64 with padding of
//
//	0x80 ‖ timestamp (u64be, seconds) ‖ IV (16) ‖ ciphertext (AES-128-CBC,
//	PKCS#7 padding, n·16 bytes, n ≥ 1) ‖ HMAC-SHA256 (32) of all before it
//
// (https://github.com/fernet/spec). The package is written on the standard
// library (crypto/aes, crypto/cipher, crypto/hmac, crypto/subtle): the MAC
// is verified in constant time before anything is decrypted, and every
// authentication failure — wrong key, altered byte, bad padding — is the one
// opaque [format.ErrDecrypt], as in the rest of keyward. Input that is not a
// Fernet token at all (bad base64, wrong version byte, wrong length) wraps
// [format.ErrMalformed] and never quotes the input.
//
// Tokens are accepted whatever their age: there is no time-to-live by
// default, because a migration reads tokens written years ago. [Token]
// exposes the timestamp for callers that want to enforce one.
//
// Several keys are tried in the order given (newest first, like MultiFernet),
// so the keys of a Fernet rotation all read. keyward never writes Fernet in
// production; [Seal] exists for tests and fixtures, and reproduces the
// reference tokens byte for byte.
package fernet

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/keyward/keyward/format"
)

// Sizes of the parts of a token.
const (
	// Version is the first byte of every Fernet token.
	Version   = 0x80
	headerLen = 1 + 8 + aes.BlockSize // version ‖ timestamp ‖ IV
	macLen    = sha256.Size
	// MinTokenLen is the length of the shortest token (empty plaintext),
	// in base64 characters.
	MinTokenLen = (headerLen + aes.BlockSize + macLen + 2) / 3 * 4
	// Prefix is how every token written before the year 4147 starts: the
	// version byte 0x80 and the top bits of a timestamp below 2^36.
	Prefix = "gAAAAA"
)

// Errors: the package's failures wrap one of keyward's format errors.
var (
	// ErrDecrypt is format.ErrDecrypt: the one error for every
	// authentication failure.
	ErrDecrypt = format.ErrDecrypt
	// ErrMalformed is format.ErrMalformed: the input is not a Fernet token
	// (or not a Fernet key).
	ErrMalformed = format.ErrMalformed
)

var b64 = base64.URLEncoding // padded, as Python writes both keys and tokens

// Token is a parsed Fernet token whose MAC has not been checked yet. Its
// fields alias the decoded bytes; use them only after Open succeeds if you
// need them authenticated.
type Token struct {
	// Timestamp is when the token was written (seconds precision). It is
	// authenticated by the MAC.
	Timestamp time.Time
	raw       []byte // the whole decoded token
}

// LooksLike reports cheaply, without decoding, whether b could be a Fernet
// token: long enough and starting with Prefix. A true answer is no promise;
// Parse decides.
func LooksLike(b []byte) bool {
	return len(b) >= MinTokenLen && string(b[:len(Prefix)]) == Prefix
}

// Parse decodes a token's base64 and checks its structure: version byte,
// length, whole cipher blocks. It does not verify the MAC.
func Parse(token []byte) (Token, error) {
	if len(token) < MinTokenLen {
		return Token{}, malformed("shorter than any token")
	}
	// The decoder skips CR and LF; a token has none (one encoding per token).
	if bytes.ContainsAny(token, "\r\n") {
		return Token{}, malformed("line break inside")
	}
	if len(token)%4 != 0 {
		return Token{}, malformed("base64 length is not a multiple of 4")
	}
	raw := make([]byte, b64.DecodedLen(len(token)))
	n, err := b64.Strict().Decode(raw, token)
	if err != nil {
		return Token{}, malformed("not padded url-safe base64")
	}
	raw = raw[:n]
	if raw[0] != Version {
		return Token{}, malformed("version byte is not 0x80")
	}
	body := len(raw) - headerLen - macLen
	if body < aes.BlockSize || body%aes.BlockSize != 0 {
		return Token{}, malformed("ciphertext is not whole AES blocks")
	}
	// Any timestamp is accepted, as Python does without a ttl.
	ts := int64(binary.BigEndian.Uint64(raw[1:9])) // #nosec: wraps only for absurd values
	return Token{Timestamp: time.Unix(ts, 0).UTC(), raw: raw}, nil
}

// Decrypt parses token and opens it with the first of keys whose MAC
// matches, returning the plaintext and the index of that key in keys. A
// token no key opens is ErrDecrypt (index -1); so is a call with no keys.
func Decrypt(token []byte, keys ...*Key) (plaintext []byte, index int, err error) {
	t, err := Parse(token)
	if err != nil {
		return nil, -1, err
	}
	for i, k := range keys {
		if k == nil {
			continue
		}
		if pt, err := k.Open(t); err == nil {
			return pt, i, nil
		}
	}
	return nil, -1, ErrDecrypt
}

// Match reports the index of the first of keys whose MAC matches t, without
// decrypting; -1 when none does. A scan uses it to count tokens per key.
func Match(t Token, keys ...*Key) int {
	for i, k := range keys {
		if k != nil && k.verify(t) {
			return i
		}
	}
	return -1
}

// Open verifies t's MAC with k and decrypts it. Every failure is ErrDecrypt.
func (k *Key) Open(t Token) ([]byte, error) {
	if len(t.raw) < headerLen+aes.BlockSize+macLen || !k.verify(t) {
		return nil, ErrDecrypt
	}
	iv := t.raw[9:headerLen]
	ct := t.raw[headerLen : len(t.raw)-macLen]
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(k.m.block, iv).CryptBlocks(pt, ct)
	n, ok := unpad(pt)
	if !ok {
		clear(pt)
		return nil, ErrDecrypt
	}
	clear(pt[n:])
	return pt[:n:n], nil
}

// verify checks the MAC in constant time.
func (k *Key) verify(t Token) bool {
	if len(t.raw) < macLen+1 {
		return false
	}
	signed := t.raw[:len(t.raw)-macLen]
	m := hmac.New(sha256.New, k.m.sign[:])
	m.Write(signed)
	var sum [macLen]byte
	return hmac.Equal(m.Sum(sum[:0]), t.raw[len(signed):])
}

// unpad removes PKCS#7 padding in time independent of the padding's value
// and reports whether it was valid; n is the plaintext length.
func unpad(b []byte) (n int, ok bool) {
	p := int(b[len(b)-1])
	good := subtle.ConstantTimeLessOrEq(1, p) & subtle.ConstantTimeLessOrEq(p, aes.BlockSize)
	// Check the last 16 bytes: each byte i from the end (1-based) must equal
	// p when i ≤ p.
	for i := 1; i <= aes.BlockSize; i++ {
		in := subtle.ConstantTimeLessOrEq(i, p)
		eq := subtle.ConstantTimeByteEq(b[len(b)-i], byte(p))
		good &= eq | (in ^ 1)
	}
	if good != 1 {
		return 0, false
	}
	return len(b) - p, true
}

// Seal writes a Fernet token of plaintext under k with timestamp ts and
// the IV read from random (crypto/rand.Reader in practice). keyward reads
// Fernet and never writes it; Seal exists for tests and fixtures of
// migrations.
func Seal(k *Key, plaintext []byte, ts time.Time, random io.Reader) (string, error) {
	var iv [aes.BlockSize]byte
	if _, err := io.ReadFull(random, iv[:]); err != nil {
		return "", fmt.Errorf("fernet: read iv: %w", err)
	}
	return sealIV(k, plaintext, ts, iv[:]), nil
}

// sealIV is Seal with a given IV.
func sealIV(k *Key, plaintext []byte, ts time.Time, iv []byte) string {
	p := aes.BlockSize - len(plaintext)%aes.BlockSize
	raw := make([]byte, headerLen, headerLen+len(plaintext)+p+macLen)
	raw[0] = Version
	binary.BigEndian.PutUint64(raw[1:9], uint64(ts.Unix()))
	copy(raw[9:], iv)
	body := append(raw[headerLen:], plaintext...)
	for range p {
		body = append(body, byte(p))
	}
	cipher.NewCBCEncrypter(k.m.block, iv).CryptBlocks(body, body)
	raw = raw[:headerLen+len(body)]
	m := hmac.New(sha256.New, k.m.sign[:])
	m.Write(raw)
	raw = m.Sum(raw)
	return b64.EncodeToString(raw)
}

func malformed(why string) error { return fmt.Errorf("%w: fernet token: %s", ErrMalformed, why) }
