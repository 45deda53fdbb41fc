package format

import (
	"bytes"
	"errors"
	"testing"
)

func TestNewField(t *testing.T) {
	nonce := bytes.Repeat([]byte{0xaa}, NonceSize)
	tag := bytes.Repeat([]byte{0xbb}, TagSize)
	ct := []byte("ciphertext")
	tests := []struct {
		name       string
		keyVersion uint32
		nonce, tag []byte
		ct         []byte
		wantErr    error
	}{
		{"ok", 1, nonce, tag, ct, nil},
		{"empty ciphertext", 7, nonce, tag, nil, nil},
		{"key version 0", 0, nonce, tag, ct, ErrMalformed},
		{"short nonce", 1, nonce[:11], tag, ct, ErrMalformed},
		{"long nonce", 1, append(bytes.Clone(nonce), 0), tag, ct, ErrMalformed},
		{"short tag", 1, nonce, tag[:15], ct, ErrMalformed},
		{"no tag", 1, nonce, nil, ct, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := NewField(tt.keyVersion, tt.nonce, tt.ct, tt.tag)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("NewField error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got, want := f.Version, V1; got != want {
				t.Errorf("Version = %d, want %d", got, want)
			}
			if got, want := f.Nonce(), tt.nonce; !bytes.Equal(got, want) {
				t.Errorf("Nonce() = %x, want %x", got, want)
			}
			if got, want := f.Ciphertext(), tt.ct; !bytes.Equal(got, want) {
				t.Errorf("Ciphertext() = %x, want %x", got, want)
			}
			if got, want := f.Tag(), tt.tag; !bytes.Equal(got, want) {
				t.Errorf("Tag() = %x, want %x", got, want)
			}
			if err := f.Validate(); err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
			// The parts are copied, and the accessors cannot grow into each other.
			tt.nonce[0] ^= 0xff
			defer func() { tt.nonce[0] ^= 0xff }()
			if got, want := f.Nonce()[0], byte(0xaa); got != want {
				t.Errorf("Nonce()[0] after caller edit = %#x, want %#x (NewField must copy)", got, want)
			}
			_ = append(f.Nonce(), 0xff)
			_ = append(f.Ciphertext(), 0xff)
			if got, want := f.Sealed[NonceSize:], append(bytes.Clone(tt.ct), tt.tag...); !bytes.Equal(got, want) {
				t.Errorf("Sealed after appending to accessors = %x, want %x", got, want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	sealed := make([]byte, Overhead)
	tests := []struct {
		name string
		f    Field
		want error
	}{
		{"ok", Field{V1, 1, sealed}, nil},
		{"version 0", Field{0, 1, sealed}, ErrMalformed},
		{"version 2", Field{2, 1, sealed}, ErrUnsupported},
		{"key version 0", Field{V1, 0, sealed}, ErrMalformed},
		{"short sealed", Field{V1, 1, sealed[:Overhead-1]}, ErrMalformed},
		{"nil sealed", Field{V1, 1, nil}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.f.Validate()
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Validate() = %v, want %v", err, tt.want)
			}
			if err == nil {
				return
			}
			// Every encoder refuses an invalid Field.
			if _, err := tt.f.MarshalBinary(); !errors.Is(err, tt.want) {
				t.Errorf("MarshalBinary error = %v, want %v", err, tt.want)
			}
			if _, err := tt.f.MarshalText(); !errors.Is(err, tt.want) {
				t.Errorf("MarshalText error = %v, want %v", err, tt.want)
			}
			if _, err := tt.f.MarshalJSON(); !errors.Is(err, tt.want) {
				t.Errorf("MarshalJSON error = %v, want %v", err, tt.want)
			}
			dst := []byte("keep")
			if got, err := tt.f.AppendBinary(dst); err == nil || string(got) != "keep" {
				t.Errorf("AppendBinary = %q, %v; want dst unchanged and an error", got, err)
			}
			if got, err := tt.f.AppendText(dst); err == nil || string(got) != "keep" {
				t.Errorf("AppendText = %q, %v; want dst unchanged and an error", got, err)
			}
			if got, want := tt.f.String(), "kw1:invalid"; got != want {
				t.Errorf("String() = %q, want %q", got, want)
			}
			if tt.f.Nonce() == nil && len(tt.f.Sealed) >= Overhead {
				t.Errorf("Nonce() = nil for a long enough Sealed")
			}
		})
	}
}

func TestAccessorsShortSealed(t *testing.T) {
	f := Field{V1, 1, make([]byte, Overhead-1)}
	if f.Nonce() != nil || f.Ciphertext() != nil || f.Tag() != nil {
		t.Errorf("accessors on a short Sealed = %x, %x, %x; want nil, nil, nil", f.Nonce(), f.Ciphertext(), f.Tag())
	}
}

func TestString(t *testing.T) {
	f := sealedField(t, 42, []byte("x"), "acme", "t.c")
	text, err := f.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.String(), string(text); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
