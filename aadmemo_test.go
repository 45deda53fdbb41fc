package keyward_test

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/format"
)

// A recurring context's AAD is remembered by the key (keyring/aadmemo.go).
// Values sealed through the memo must be exactly what the built AAD gives –
// another engine, with no memo, opens them – and the context binding must
// hold both ways.
func TestRecurringContextMemo(t *testing.T) {
	ctx := context.Background()
	engines := openShared(t, 2, keyward.Options{})
	a, b := engines[0], engines[1]
	if _, err := a.CreateOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	const column, other = "channels.access_token", "channels.refresh_token"
	plaintext := []byte("xoxb-0123456789-abcdefghijklmnop")

	// Enough uses that the memo has certainly learned the column: one use
	// in 128 is sampled and three samples in a row are needed.
	var cts [][]byte
	for range 4000 {
		ct, err := a.Encrypt(ctx, "acme", plaintext, column)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Decrypt(ctx, "acme", ct, column); err != nil {
			t.Fatal(err)
		}
		cts = append(cts, ct)
	}

	// The memo is in use: an Encrypt of 32 bytes now allocates its 62-byte
	// result alone (size class 64), not the result and the AAD (112).
	if got := bytesPerOp(t, func() {
		if _, err := a.Encrypt(ctx, "acme", plaintext, column); err != nil {
			t.Fatal(err)
		}
	}); got > 80 {
		t.Errorf("Encrypt with a recurring context allocates %.0f bytes per call, want 64 (the AAD is not remembered)", got)
	}

	for i, ct := range cts[len(cts)-100:] {
		got, err := b.Decrypt(ctx, "acme", ct, column)
		if err != nil || !bytes.Equal(got, plaintext) {
			t.Fatalf("engine b: Decrypt(ct %d) = %q, %v; want the plaintext", i, got, err)
		}
	}
	otherCT, err := a.Encrypt(ctx, "acme", plaintext, other)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		ct      []byte
		context string
	}{
		{"remembered ciphertext, other context", cts[len(cts)-1], other},
		{"other ciphertext, remembered context", otherCT, column},
		{"remembered ciphertext, context with a suffix", cts[len(cts)-1], column + ":1"},
	} {
		if _, err := a.Decrypt(ctx, "acme", tt.ct, tt.context); !errors.Is(err, format.ErrDecrypt) {
			t.Errorf("%s: err = %v, want ErrDecrypt", tt.name, err)
		}
	}
}

// bytesPerOp is the heap allocated per call of f, averaged over many.
func bytesPerOp(t *testing.T, f func()) float64 {
	t.Helper()
	const n = 10000
	f()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		f()
	}
	runtime.ReadMemStats(&after)
	return float64(after.TotalAlloc-before.TotalAlloc) / n
}
