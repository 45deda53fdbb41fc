package format

import (
	"encoding/binary"
	"math"
	"slices"
)

// maxBinaryVersion is the highest leading byte treated as a (future) binary
// format version. Bytes 0x02..0x1f are reserved for binary versions: they are
// control characters, so neither the text form ('k'), the JSON form ('{') nor
// a Fernet token (0x80 binary, 'g' base64) can start with one.
const maxBinaryVersion = 0x1f

// maxUvarint32Len is the longest minimal uvarint encoding of a uint32.
const maxUvarint32Len = 5

// uvarintLen returns the length of the minimal uvarint encoding of v.
func uvarintLen(v uint32) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// binarySize returns the exact length of f's binary form.
func (f Field) binarySize() int {
	return 1 + uvarintLen(f.KeyVersion) + len(f.Sealed)
}

// ParseBinary parses the binary form
//
//	V1 ‖ uvarint(KeyVersion) ‖ nonce(12) ‖ ciphertext ‖ tag(16)
//
// without copying: the returned Field's Sealed aliases b, so b must not be
// modified while the Field is in use (use UnmarshalBinary for a copy).
//
// It rejects empty or short input, a key version of 0, above math.MaxUint32
// or not minimally encoded (ErrMalformed), and a leading byte in 0x02..0x1f,
// which is reserved for future binary versions (ErrUnsupported).
func ParseBinary(b []byte) (Field, error) {
	if len(b) == 0 {
		return Field{}, malformed("empty input")
	}
	switch v := b[0]; {
	case v == V1:
	case v == 0:
		return Field{}, malformed("format version 0")
	case v <= maxBinaryVersion:
		return Field{}, unsupported(uint64(v))
	default:
		return Field{}, malformed("not a binary field ciphertext")
	}
	kv, n := binary.Uvarint(b[1:])
	switch {
	case n == 0:
		return Field{}, malformed("truncated key version")
	case n < 0 || n > maxUvarint32Len || kv > math.MaxUint32:
		return Field{}, malformed("key version out of range")
	case n > 1 && b[n] == 0:
		// The last byte of a minimal multi-byte uvarint is never zero.
		return Field{}, malformed("key version not minimally encoded")
	case kv == 0:
		return Field{}, malformed("key version 0")
	}
	sealed := b[1+n:]
	if len(sealed) < Overhead {
		return Field{}, malformed("sealed value shorter than nonce and tag")
	}
	return Field{Version: V1, KeyVersion: uint32(kv), Sealed: sealed[:len(sealed):len(sealed)]}, nil
}

// AppendBinary appends the binary form of f to dst. It implements
// encoding.BinaryAppender. An invalid f leaves dst unchanged and returns the
// error from Validate.
func (f Field) AppendBinary(dst []byte) ([]byte, error) {
	if err := f.Validate(); err != nil {
		return dst, err
	}
	dst = slices.Grow(dst, f.binarySize())
	dst = append(dst, f.Version)
	dst = binary.AppendUvarint(dst, uint64(f.KeyVersion))
	return append(dst, f.Sealed...), nil
}

// MarshalBinary returns the binary form of f. It implements
// encoding.BinaryMarshaler.
func (f Field) MarshalBinary() ([]byte, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return f.AppendBinary(make([]byte, 0, f.binarySize()))
}

// UnmarshalBinary parses the binary form like ParseBinary, but copies: f does
// not alias b. It implements encoding.BinaryUnmarshaler. On error f is left
// unchanged.
func (f *Field) UnmarshalBinary(b []byte) error {
	g, err := ParseBinary(b)
	if err != nil {
		return err
	}
	g.Sealed = slices.Clone(g.Sealed)
	*f = g
	return nil
}
