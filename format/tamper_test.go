package format

import (
	"bytes"
	"strconv"
	"testing"
)

// TestBitFlips flips every bit of the binary form of a sealed field and
// checks that nothing decrypts: either parsing fails with ErrMalformed or
// ErrUnsupported, or Open returns exactly ErrDecrypt. The AAD is rebuilt
// from the parsed field, as a real caller does, so a flipped key version is
// caught by the AAD as well as by the key lookup.
func TestBitFlips(t *testing.T) {
	const org, context = "acme", "channels.access_token#7"
	aead := mustAEAD(t, testKey())
	plaintext := bytes.Repeat([]byte{0x5a}, 64)
	for _, kv := range []uint32{1, 300, 1<<32 - 1} {
		t.Run("kv="+strconv.FormatUint(uint64(kv), 10), func(t *testing.T) {
			good := Seal(nil, aead, kv, plaintext, AppendAAD(nil, V1, org, kv, context))
			var parseFailures, openFailures int
			for bit := range len(good) * 8 {
				b := bytes.Clone(good)
				b[bit/8] ^= 1 << (bit % 8)
				for _, parse := range []struct {
					name string
					fn   func([]byte) (Field, error)
				}{{"ParseBinary", ParseBinary}, {"Parse", Parse}} {
					f, err := parse.fn(b)
					if err != nil {
						if !isParseError(err) {
							t.Fatalf("bit %d: %s error = %v, want ErrMalformed or ErrUnsupported", bit, parse.name, err)
						}
						parseFailures++
						continue
					}
					aad := AppendAAD(nil, f.Version, org, f.KeyVersion, context)
					pt, err := Open(nil, aead, f, aad)
					if got, want := err, ErrDecrypt; got != want {
						t.Fatalf("bit %d: Open error = %v (plaintext %x), want exactly ErrDecrypt", bit, got, pt)
					}
					if pt != nil {
						t.Fatalf("bit %d: Open returned %d plaintext bytes with an error", bit, len(pt))
					}
					openFailures++
				}
			}
			if parseFailures == 0 || openFailures == 0 {
				t.Errorf("parse failures = %d, open failures = %d; want both kinds exercised", parseFailures, openFailures)
			}
		})
	}
}

// TestTextVersionEdits changes the digits of the text form: the format
// version digit must fail to parse, a key version digit must fail to open.
func TestTextVersionEdits(t *testing.T) {
	const org, context = "acme", "t.c"
	aead := mustAEAD(t, testKey())
	f := sealedField(t, 5, []byte("secret"), org, context)
	text, err := f.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(text[:6]), "kw1:5:"; got != want {
		t.Fatalf("text prefix = %q, want %q", got, want)
	}
	tests := []struct {
		name   string
		offset int // index of the digit to replace
		digit  byte
		want   error // parse error, or nil when parsing succeeds and Open must fail
	}{
		{"format version 0", 2, '0', ErrMalformed},
		{"format version 2", 2, '2', ErrUnsupported},
		{"format version 9", 2, '9', ErrUnsupported},
		{"format version letter", 2, 'x', ErrMalformed},
		{"key version 0", 4, '0', ErrMalformed},
		{"key version 4", 4, '4', nil},
		{"key version 6", 4, '6', nil},
		{"key version 1", 4, '1', nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := bytes.Clone(text)
			b[tt.offset] = tt.digit
			g, err := ParseText(b)
			if tt.want != nil {
				if !isParseError(err) || !errorIs(err, tt.want) {
					t.Fatalf("ParseText(%.8q…) error = %v, want %v", b, err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseText(%.8q…) error = %v, want nil", b, err)
			}
			_, err = Open(nil, aead, g, AppendAAD(nil, g.Version, org, g.KeyVersion, context))
			if got, want := err, ErrDecrypt; got != want {
				t.Fatalf("Open after key version edit: error = %v, want ErrDecrypt", got)
			}
		})
	}
	// Inserting digits (kv 5 → 55, 50) must not open either.
	for _, kv := range []string{"55", "50", "15"} {
		b := append([]byte("kw1:"+kv), text[5:]...)
		g, err := ParseText(b)
		if err != nil {
			t.Fatalf("ParseText(kv %s): %v", kv, err)
		}
		if _, err := Open(nil, aead, g, AppendAAD(nil, g.Version, org, g.KeyVersion, context)); err != ErrDecrypt {
			t.Errorf("Open with key version %s: error = %v, want ErrDecrypt", kv, err)
		}
	}
}

// TestOpenFailuresAreOpaque checks that every reason Open can fail for
// produces the very same error value.
func TestOpenFailuresAreOpaque(t *testing.T) {
	const org, context = "acme", "t.c"
	aead := mustAEAD(t, testKey())
	other := bytes.Repeat([]byte{0x42}, KeySize)
	f := sealedField(t, 1, []byte("secret"), org, context)
	aad := AppendAAD(nil, V1, org, 1, context)
	tests := []struct {
		name string
		run  func() ([]byte, error)
	}{
		{"wrong key", func() ([]byte, error) { return Open(nil, mustAEAD(t, other), f, aad) }},
		{"wrong org", func() ([]byte, error) { return Open(nil, aead, f, AppendAAD(nil, V1, "acme2", 1, context)) }},
		{"wrong context", func() ([]byte, error) { return Open(nil, aead, f, AppendAAD(nil, V1, org, 1, "t.d")) }},
		{"wrong key version in aad", func() ([]byte, error) { return Open(nil, aead, f, AppendAAD(nil, V1, org, 2, context)) }},
		{"wrong format version in aad", func() ([]byte, error) { return Open(nil, aead, f, AppendAAD(nil, 2, org, 1, context)) }},
		{"nil aad", func() ([]byte, error) { return Open(nil, aead, f, nil) }},
		{"invalid field", func() ([]byte, error) { return Open(nil, aead, Field{V1, 1, f.Sealed[:Overhead-1]}, aad) }},
		{"unsupported field version", func() ([]byte, error) { return Open(nil, aead, Field{2, 1, f.Sealed}, aad) }},
		{"nil aead", func() ([]byte, error) { return Open(nil, nil, f, aad) }},
		{"zero aead", func() ([]byte, error) { return Open(nil, new(AEAD), f, aad) }},
		{"truncated ciphertext", func() ([]byte, error) {
			return Open(nil, aead, Field{V1, 1, append(bytes.Clone(f.Sealed[:NonceSize]), f.Sealed[NonceSize+1:]...)}, aad)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := tt.run()
			if got, want := err, ErrDecrypt; got != want {
				t.Fatalf("error = %v, want exactly ErrDecrypt", got)
			}
			if pt != nil {
				t.Fatalf("plaintext = %x, want nil", pt)
			}
			if got, want := err.Error(), "keyward: decryption failed"; got != want {
				t.Fatalf("error text = %q, want %q", got, want)
			}
		})
	}
}

// Seal refuses programmer errors loudly rather than sealing something no
// Open accepts.
func TestSealPanics(t *testing.T) {
	aead := mustAEAD(t, testKey())
	tests := []struct {
		name string
		seal func()
	}{
		{"key version 0", func() { Seal(nil, aead, 0, []byte("x"), nil) }},
		{"nil aead", func() { Seal(nil, nil, 1, []byte("x"), nil) }},
		{"zero aead", func() { Seal(nil, new(AEAD), 1, []byte("x"), nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Seal with %s did not panic", tt.name)
				}
			}()
			tt.seal()
		})
	}
}
