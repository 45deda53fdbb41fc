package kmstest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/kms/kmstest"
)

// broken wraps a Fake and breaks one rule of the contract, to prove that Run
// notices. TestBrokenProvider runs Run against it in a child process.
type broken struct {
	mode  string
	inner *kmstest.Fake
}

func (b broken) ID() string { return b.inner.ID() }

func (b broken) Wrap(ctx context.Context, key, aad []byte) (kms.Wrapped, error) {
	switch b.mode {
	case "ignores-ctx":
		ctx = context.Background()
	case "leaky-errors":
		if ctx.Err() != nil {
			return kms.Wrapped{}, fmt.Errorf("cannot wrap %x: %w", key, ctx.Err())
		}
	}
	w, err := b.inner.Wrap(ctx, key, aad)
	if err == nil && b.mode == "appends-key" {
		w.Ciphertext = append(w.Ciphertext, key...)
	}
	return w, err
}

func (b broken) Unwrap(ctx context.Context, w kms.Wrapped, aad []byte) ([]byte, error) {
	switch b.mode {
	case "ignores-ctx":
		ctx = context.Background()
	case "ignores-kekid":
		w.KEKID = b.inner.ID()
	case "panics":
		_ = w.Ciphertext[27] // like a provider that slices nonce and tag unchecked
	case "appends-key":
		if len(w.Ciphertext) >= 32 {
			w.Ciphertext = w.Ciphertext[:len(w.Ciphertext)-32]
		}
	}
	key, err := b.inner.Unwrap(ctx, w, aad)
	if b.mode == "own-errors" && errors.Is(err, kms.ErrUnwrap) {
		return nil, errors.New("decryption failed")
	}
	return key, err
}

func TestBrokenProvider(t *testing.T) {
	mode := os.Getenv("KMSTEST_BROKEN")
	if mode == "" {
		t.Skip("run by TestRunCatchesBrokenProviders in a child process")
	}
	kmstest.Run(t, func(t *testing.T) kms.KEK { return broken{mode: mode, inner: newFake(t)} })
}

func TestRunCatchesBrokenProviders(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	tests := []struct {
		mode     string
		wantFail []string
		wantPass []string
	}{
		{"ignores-ctx", []string{"CancelledContext"}, []string{"RoundTrip", "BitFlips", "WrongAAD"}},
		{"own-errors", []string{"WrongAAD", "BitFlips", "BadLengths"}, []string{"RoundTrip", "OtherKEKID", "UnknownVersion"}},
		{"ignores-kekid", []string{"OtherKEKID"}, []string{"RoundTrip", "UnknownVersion", "BitFlips"}},
		{"leaky-errors", []string{"ErrorsHideKey"}, []string{"RoundTrip", "WrongAAD"}},
		{"panics", []string{"BadLengths"}, []string{"RoundTrip", "BitFlips", "WrongAAD"}},
		{"appends-key", []string{"CiphertextHidesKey", "BitFlips"}, []string{"RoundTrip", "WrongAAD"}},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestBrokenProvider$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), "KMSTEST_BROKEN="+tt.mode)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("child run of a provider that %s: err = %v, want a failing exit status\n%s", tt.mode, err, tail(out))
			}
			for _, name := range tt.wantFail {
				if !bytes.Contains(out, []byte("--- FAIL: TestBrokenProvider/"+name+" ")) {
					t.Errorf("subtest %s did not fail for a provider that %s\n%s", name, tt.mode, tail(out))
				}
			}
			for _, name := range tt.wantPass {
				if !bytes.Contains(out, []byte("--- PASS: TestBrokenProvider/"+name+" ")) {
					t.Errorf("subtest %s did not pass for a provider that only %s\n%s", name, tt.mode, tail(out))
				}
			}
			if tt.mode == "leaky-errors" && !bytes.Contains(out, []byte("contains the key (hex)")) {
				t.Errorf("leak report does not name the encoding\n%s", tail(out))
			}
		})
	}
}

// tail returns the last lines of a child's output for a failure message.
func tail(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}
