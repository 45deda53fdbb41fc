package keyward_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/format"
)

func TestRewrap(t *testing.T) {
	ctx := context.Background()
	eng, _ := newEngine(t, "acme")
	plain := []byte("whsec_rewrap-me")
	bin, err := eng.Encrypt(ctx, "acme", plain, "webhooks.secret")
	if err != nil {
		t.Fatal(err)
	}
	f, _ := format.ParseBinary(bin)
	text := []byte(f.String())
	js, _ := f.MarshalJSON()

	// Under the active version nothing changes.
	for _, in := range [][]byte{bin, text, js} {
		out, moved, err := eng.Rewrap(ctx, "acme", in, "webhooks.secret")
		if err != nil || moved || !bytes.Equal(out, in) {
			t.Fatalf("Rewrap(current %.8q) = %.8q, %v, %v; want input back, false, nil", in, out, moved, err)
		}
	}
	if _, err := eng.RotateDEK(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		in    []byte
		first byte
	}{
		{"binary", bin, format.V1},
		{"text", text, 'k'},
		{"json", js, '{'},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, moved, err := eng.Rewrap(ctx, "acme", tt.in, "webhooks.secret")
			if err != nil || !moved {
				t.Fatalf("Rewrap = %v, %v; want rewrapped", moved, err)
			}
			if out[0] != tt.first {
				t.Errorf("got form %q, want %q", out[0], tt.first)
			}
			nf, err := format.Parse(out)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := nf.KeyVersion, uint32(2); got != want {
				t.Errorf("got key version %d, want %d", got, want)
			}
			got, err := eng.Decrypt(ctx, "acme", out, "webhooks.secret")
			if err != nil || !bytes.Equal(got, plain) {
				t.Errorf("Decrypt(rewrapped) = %q, %v; want the plaintext", got, err)
			}
		})
	}
	// A wrong context or a tampered ciphertext is refused like Decrypt.
	if _, _, err := eng.Rewrap(ctx, "acme", bin, "other.column"); !errors.Is(err, keyward.ErrDecrypt) {
		t.Errorf("Rewrap(wrong context) = %v, want ErrDecrypt", err)
	}
	tampered := bytes.Clone(bin)
	tampered[len(tampered)-1] ^= 1
	if _, _, err := eng.Rewrap(ctx, "acme", tampered, "webhooks.secret"); !errors.Is(err, keyward.ErrDecrypt) {
		t.Errorf("Rewrap(tampered) = %v, want ErrDecrypt", err)
	}
	if _, _, err := eng.Rewrap(ctx, "acme", []byte("nonsense"), "webhooks.secret"); !errors.Is(err, keyward.ErrMalformed) {
		t.Errorf("Rewrap(nonsense) = %v, want ErrMalformed", err)
	}
}
