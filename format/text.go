package format

import (
	"bytes"
	"encoding/base64"
	"math"
	"slices"
	"strconv"
)

// textInvalid is what String prints for a Field that does not validate.
const textInvalid = "kw1:invalid"

// textSize returns the exact length of f's text form.
func (f Field) textSize() int {
	return len(TextPrefix) + decimalLen(f.KeyVersion) + 1 + base64.RawURLEncoding.EncodedLen(len(f.Sealed))
}

func decimalLen(v uint32) int {
	n := 1
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}

// ParseText parses the text form
//
//	"kw1:" decimal(KeyVersion) ":" base64url-nopad(nonce ‖ ciphertext ‖ tag)
//
// strictly: the key version is canonical decimal (1..4294967295, no sign,
// leading zeros or spaces), the payload is unpadded base64url with zero
// trailing bits and no line breaks, and nothing follows it. A prefix "kwN:"
// with a version N other than 1 returns ErrUnsupported. The result does not
// alias s.
func ParseText(s []byte) (Field, error) {
	rest, err := cutTextVersion(s)
	if err != nil {
		return Field{}, err
	}
	i := bytes.IndexByte(rest, ':')
	if i < 0 {
		return Field{}, malformed("missing ':' after key version")
	}
	kv, ok := parseDecimal(rest[:i], math.MaxUint32)
	if !ok {
		return Field{}, malformed("key version is not a canonical decimal")
	}
	if kv == 0 {
		return Field{}, malformed("key version 0")
	}
	payload := rest[i+1:]
	// base64's Strict mode still skips '\r' and '\n'; a canonical encoding
	// has none.
	if bytes.IndexByte(payload, '\n') >= 0 || bytes.IndexByte(payload, '\r') >= 0 {
		return Field{}, malformed("line break in payload")
	}
	enc := base64.RawURLEncoding.Strict()
	sealed := make([]byte, enc.DecodedLen(len(payload)))
	n, err := enc.Decode(sealed, payload)
	if err != nil {
		return Field{}, malformed("payload is not canonical unpadded base64url")
	}
	if n < Overhead {
		return Field{}, malformed("sealed value shorter than nonce and tag")
	}
	return Field{Version: V1, KeyVersion: uint32(kv), Sealed: sealed[:n:n]}, nil
}

// cutTextVersion checks the "kwN:" prefix of a text form and returns what
// follows it. N must be a canonical decimal; N == 1 is accepted, N >= 2 is
// ErrUnsupported and anything else is ErrMalformed.
func cutTextVersion(s []byte) ([]byte, error) {
	if bytes.HasPrefix(s, []byte(TextPrefix)) {
		return s[len(TextPrefix):], nil
	}
	rest, ok := bytes.CutPrefix(s, []byte("kw"))
	if !ok {
		return nil, malformed("missing kw1: prefix")
	}
	i := bytes.IndexByte(rest, ':')
	if i < 0 {
		return nil, malformed("missing kw1: prefix")
	}
	v, ok := parseDecimal(rest[:i], math.MaxUint32)
	if !ok || v == 0 {
		return nil, malformed("format version is not a positive canonical decimal")
	}
	return nil, unsupported(v)
}

// parseDecimal parses a canonical unsigned decimal no greater than max: one
// or more ASCII digits, no leading zero unless the number is 0.
func parseDecimal(s []byte, max uint64) (uint64, bool) {
	if len(s) == 0 || len(s) > 20 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	var v uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (max-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// AppendText appends the text form of f to dst. It implements
// encoding.TextAppender. An invalid f leaves dst unchanged and returns the
// error from Validate.
func (f Field) AppendText(dst []byte) ([]byte, error) {
	if err := f.Validate(); err != nil {
		return dst, err
	}
	dst = slices.Grow(dst, f.textSize())
	dst = append(dst, TextPrefix...)
	dst = strconv.AppendUint(dst, uint64(f.KeyVersion), 10)
	dst = append(dst, ':')
	return base64.RawURLEncoding.AppendEncode(dst, f.Sealed), nil
}

// MarshalText returns the text form of f. It implements
// encoding.TextMarshaler.
func (f Field) MarshalText() ([]byte, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return f.AppendText(make([]byte, 0, f.textSize()))
}

// UnmarshalText parses the text form like ParseText. It implements
// encoding.TextUnmarshaler. On error f is left unchanged.
func (f *Field) UnmarshalText(b []byte) error {
	g, err := ParseText(b)
	if err != nil {
		return err
	}
	*f = g
	return nil
}

// String returns the text form of f, or "kw1:invalid" if f does not
// validate. A field ciphertext is not secret, so printing it is safe.
func (f Field) String() string {
	b, err := f.MarshalText()
	if err != nil {
		return textInvalid
	}
	return string(b)
}
