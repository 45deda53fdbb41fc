// Package secret holds values that must never be printed, logged or
// serialised by accident: decrypted field values, data keys, tokens.
//
// A [Bytes] redacts itself everywhere a Go program turns values into text or
// bytes without being told to reveal them:
//
//   - fmt, for every verb and flag (%v %+v %#v %s %q %x %d …), directly or
//     nested in structs, slices and maps, and therefore in fmt.Errorf,
//     errors.New(fmt.Sprintf(…)), log, text/template and panics;
//   - log/slog, through [Bytes.LogValue], with any handler;
//   - encoding/json, encoding/xml and other text encoders, through
//     [Bytes.MarshalJSON], [Bytes.MarshalText] and [Bytes.AppendText];
//
// each of which produces the constant [Redacted], which says nothing about the
// value, not even its length. Binary encoders (encoding/gob and anything using
// encoding.BinaryMarshaler) are refused with [ErrNotSerializable]: a binary
// form is meant to be read back, and silently storing "[REDACTED]" would lose
// data. To store or send a secret, encrypt it, or call [Bytes.Reveal]
// explicitly.
//
// # Reveal
//
// [Bytes.Reveal] is the one accessor for the raw bytes, so every place that
// handles a plaintext is found with `grep -rn '\.Reveal()'`. It returns the
// stored bytes themselves, not a copy: a copy would be a second plaintext in
// memory that [Bytes.Wipe] cannot reach. The caller must not modify the
// result or keep it beyond the value's lifetime; its capacity equals its
// length, so appending to it copies instead of writing into the secret.
//
// # Copies share storage
//
// A Bytes is a small handle to storage allocated by [New] or [FromString], like
// a slice header. Copies of a Bytes (assignments, function arguments, struct
// copies) share that storage, so [Bytes.Wipe] on any copy zeroes the bytes and
// empties every copy. Methods therefore use value receivers: a Bytes can be
// stored and passed by value. Wipe is best effort: it cannot reach copies made
// outside the secret, such as the buffer the value was read from, a string
// it was converted from, or a copy a caller took of Reveal's result. Wipe
// must not run concurrently with other use of the same value; all other
// methods are safe for concurrent use.
//
// Bytes is not comparable with ==, which would compare handles, not contents;
// use [Bytes.Equal], which runs in constant time for equal lengths.
//
// The bytes sit behind a closure, so even printing that bypasses the methods
// (fmt's fallback for unexported struct fields, reflection-based dumpers)
// shows at most an address; only unsafe code can reach them.
package secret

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
)

// Redacted is what a secret prints as, in every form.
const Redacted = "[REDACTED]"

// ErrNotSerializable is returned by the binary marshalling methods.
var ErrNotSerializable = errors.New("secret: refusing to serialise a secret value; encrypt it or call Reveal")

// Bytes is a secret byte string that redacts itself. The zero value is an
// empty secret, ready to use.
type Bytes struct {
	// get returns the shared storage; nil for the zero value. A func rather
	// than a pointer: fmt prints unexported fields by reflection, and for a
	// bad verb (%s on a pointer) it dereferences a pointer to a struct and
	// prints what it holds. A func value prints as an address only, and
	// reflection cannot look inside a closure at all. Being a func also makes
	// Bytes incomparable, so == cannot be mistaken for Equal.
	get func() *storage
}

type storage struct {
	data []byte // len(data) == cap(data)
}

func (st *storage) self() *storage { return st }

// newBytes wraps data, which the new secret owns. The handle is a method
// value, whose code is one wrapper however the caller is inlined (an inlined
// func literal would get one copy per call site), so every secret prints the
// same address and output cannot tell secrets apart.
func newBytes(data []byte) Bytes {
	return Bytes{get: (&storage{data: data}).self}
}

// New returns a secret holding a copy of b. The caller keeps b and may wipe
// it (clear(b)) once it is no longer needed.
func New(b []byte) Bytes {
	if len(b) == 0 {
		return Bytes{}
	}
	data := make([]byte, len(b))
	copy(data, b)
	return newBytes(data)
}

// FromString returns a secret holding a copy of s. The string itself cannot
// be wiped; prefer [New] when the value arrives as bytes.
func FromString(s string) Bytes {
	if len(s) == 0 {
		return Bytes{}
	}
	data := make([]byte, len(s))
	copy(data, s)
	return newBytes(data)
}

// Reveal returns the secret's bytes: the stored bytes themselves, not a copy
// (see the package documentation). Do not modify them, and do not keep them
// after the value is wiped. It returns nil for an empty or wiped secret.
func (b Bytes) Reveal() []byte {
	if b.get == nil || len(b.get().data) == 0 {
		return nil
	}
	return b.get().data // cap == len: appends copy
}

// Len returns the length of the secret in bytes; 0 once wiped.
func (b Bytes) Len() int {
	if b.get == nil {
		return 0
	}
	return len(b.get().data)
}

// IsZero reports whether the secret is empty: the zero value, made from empty
// input, or wiped.
func (b Bytes) IsZero() bool { return b.Len() == 0 }

// Equal reports whether b and other hold the same bytes, in time that depends
// only on their lengths.
func (b Bytes) Equal(other Bytes) bool {
	return subtle.ConstantTimeCompare(b.Reveal(), other.Reveal()) == 1
}

// Wipe zeroes the stored bytes and empties b and every copy of it. It is best
// effort (see the package documentation) and is a no-op on an empty secret.
func (b Bytes) Wipe() {
	if b.get == nil {
		return
	}
	st := b.get()
	clear(st.data)
	st.data = nil
}

// String returns [Redacted].
func (Bytes) String() string { return Redacted }

// GoString returns [Redacted], for %#v.
func (Bytes) GoString() string { return Redacted }

// Format writes [Redacted] for every verb and ignores flags, width and
// precision, so no verb can print the bytes or even their length. (fmt
// handles %T itself, and rejects %p and %w for a Bytes before asking Format;
// its "%!p(secret.Bytes={0x…})" then shows a code address, the same for
// every secret.)
func (Bytes) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, Redacted) }

// LogValue implements [slog.LogValuer]: a secret logs as [Redacted].
func (Bytes) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON returns the JSON string "[REDACTED]".
func (Bytes) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText returns [Redacted], for encoding/xml, map keys and other text
// encoders.
func (Bytes) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// AppendText appends [Redacted] (encoding.TextAppender).
func (Bytes) AppendText(dst []byte) ([]byte, error) { return append(dst, Redacted...), nil }

// MarshalBinary refuses with [ErrNotSerializable], so encoding/gob and other
// binary encoders cannot store a secret, redacted or not.
func (Bytes) MarshalBinary() ([]byte, error) { return nil, ErrNotSerializable }

// AppendBinary refuses with [ErrNotSerializable] (encoding.BinaryAppender).
func (Bytes) AppendBinary(dst []byte) ([]byte, error) { return dst, ErrNotSerializable }
