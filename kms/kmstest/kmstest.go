// Package kmstest holds the conformance suite every KEK provider must pass,
// and [Fake], an in-memory KEK for the tests of other packages.
//
// A provider's test calls [Run] with a constructor:
//
//	func TestConformance(t *testing.T) {
//		kmstest.Run(t, func(t *testing.T) kms.KEK {
//			k, err := localkms.Create(filepath.Join(t.TempDir(), "kek"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			return k
//		})
//	}
//
// Run calls the constructor once per subtest, with the subtest's t, so
// providers can register cleanup there. The suite fixes the contract of
// [kms.KEK] beyond its doc comment: errors carry the sentinels callers decide
// on, every authentication failure is [kms.ErrUnwrap] (never a panic, never a
// wrong key), the context is honoured, calls are safe for concurrent use, and
// neither the wrapped bytes nor any error text carries the data key.
//
// Run is for tests only; it is not a runtime health check.
package kmstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/kms"
)

// Run runs the KEK conformance suite against the KEKs newKEK returns.
func Run(t *testing.T, newKEK func(t *testing.T) kms.KEK) {
	t.Helper()
	s := suite{newKEK: newKEK}
	t.Run("RoundTrip", s.roundTrip)
	t.Run("WrappedNamesKEK", s.wrappedNamesKEK)
	t.Run("WrapIsRandomized", s.wrapIsRandomized)
	t.Run("InputsNotRetained", s.inputsNotRetained)
	t.Run("WrongAAD", s.wrongAAD)
	t.Run("BitFlips", s.bitFlips)
	t.Run("BadLengths", s.badLengths)
	t.Run("OtherKEKID", s.otherKEKID)
	t.Run("UnknownVersion", s.unknownVersion)
	t.Run("CancelledContext", s.cancelledContext)
	t.Run("Concurrent", s.concurrent)
	t.Run("CiphertextHidesKey", s.ciphertextHidesKey)
	t.Run("ErrorsHideKey", s.errorsHideKey)
}

type suite struct {
	newKEK func(t *testing.T) kms.KEK
}

// newKey returns a random 32-byte data key. (crypto/rand.Read never fails.)
func newKey() []byte {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return key
}

// wrap wraps key with aad or fails the test.
func wrap(t *testing.T, kek kms.KEK, key, aad []byte) kms.Wrapped {
	t.Helper()
	w, err := kek.Wrap(t.Context(), key, aad)
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	return w
}

// unwrap calls Unwrap and turns a panic into a test error (and a returned
// error that wraps no sentinel), so one bad input does not hide the others.
func unwrap(t *testing.T, kek kms.KEK, w kms.Wrapped, aad []byte) (key []byte, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("Unwrap panicked: %T", r) // not %v: the value might hold key bytes
			key, err = nil, errors.New("unwrap panicked")
		}
	}()
	return kek.Unwrap(t.Context(), w, aad)
}

// wantErr checks that Unwrap failed with an error wrapping target and
// returned no key.
func wantErr(t *testing.T, what string, key []byte, err error, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: Unwrap error = %v, want one wrapping %v", what, err, target)
	}
	if key != nil {
		t.Errorf("%s: Unwrap returned %d key bytes with its error, want nil", what, len(key))
	}
}

func (s suite) roundTrip(t *testing.T) {
	kek := s.newKEK(t)
	key, aad := newKey(), kms.DEKAAD("org_rt", 1)
	w := wrap(t, kek, key, aad)
	got, err := kek.Unwrap(t.Context(), w, aad)
	if err != nil {
		t.Fatalf("Unwrap of a fresh wrap: %v", err)
	}
	if !bytes.Equal(got, key) {
		t.Errorf("Unwrap returned a different key (%d bytes, want %d)", len(got), len(key))
	}
}

func (s suite) wrappedNamesKEK(t *testing.T) {
	kek := s.newKEK(t)
	if kek.ID() == "" {
		t.Fatal("ID() is empty")
	}
	w := wrap(t, kek, newKey(), kms.DEKAAD("org_id", 1))
	if w.KEKID != kek.ID() {
		t.Errorf("Wrapped.KEKID = %q, want ID() = %q", w.KEKID, kek.ID())
	}
	if w.KEKVersion < 1 {
		t.Errorf("Wrapped.KEKVersion = %d, want >= 1", w.KEKVersion)
	}
	if len(w.Ciphertext) == 0 {
		t.Errorf("Wrapped.Ciphertext is empty")
	}
}

func (s suite) wrapIsRandomized(t *testing.T) {
	kek := s.newKEK(t)
	key, aad := newKey(), kms.DEKAAD("org_rand", 1)
	w1, w2 := wrap(t, kek, key, aad), wrap(t, kek, key, aad)
	if bytes.Equal(w1.Ciphertext, w2.Ciphertext) {
		t.Errorf("two wraps of the same key are identical; want a random nonce per wrap")
	}
	for i, w := range []kms.Wrapped{w1, w2} {
		got, err := kek.Unwrap(t.Context(), w, aad)
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("wrap %d: Unwrap = %d bytes, %v; want the key", i+1, len(got), err)
		}
	}
}

func (s suite) inputsNotRetained(t *testing.T) {
	kek := s.newKEK(t)
	key, aad := newKey(), kms.DEKAAD("org_alias", 1)
	orig := bytes.Clone(key)
	w := wrap(t, kek, key, aad)
	clear(key) // the caller wipes its copy after wrapping
	ct := bytes.Clone(w.Ciphertext)
	got, err := kek.Unwrap(t.Context(), w, aad)
	if err != nil || !bytes.Equal(got, orig) {
		t.Fatalf("Unwrap after the caller wiped its key = %d bytes, %v; want the original key", len(got), err)
	}
	if !bytes.Equal(w.Ciphertext, ct) {
		t.Errorf("Unwrap modified Wrapped.Ciphertext")
	}
	clear(got) // the caller wipes the unwrapped key; a second unwrap must not care
	if again, err := kek.Unwrap(t.Context(), w, aad); err != nil || !bytes.Equal(again, orig) {
		t.Errorf("second Unwrap after wiping the first result = %d bytes, %v; want the key", len(again), err)
	}
}

func (s suite) wrongAAD(t *testing.T) {
	kek := s.newKEK(t)
	const org = "org_aad"
	w := wrap(t, kek, newKey(), kms.DEKAAD(org, 2))
	tests := []struct {
		name string
		aad  []byte
	}{
		{"other org", kms.DEKAAD("org_other", 2)},
		{"org prefix", kms.DEKAAD("org_aa", 2)},
		{"previous version", kms.DEKAAD(org, 1)},
		{"next version", kms.DEKAAD(org, 3)},
		{"empty", nil},
		{"one byte changed", func() []byte { a := kms.DEKAAD(org, 2); a[len(a)-1] ^= 1; return a }()},
		{"one byte longer", append(kms.DEKAAD(org, 2), 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := unwrap(t, kek, w, tt.aad)
			wantErr(t, tt.name, key, err, kms.ErrUnwrap)
		})
	}
}

func (s suite) bitFlips(t *testing.T) {
	kek := s.newKEK(t)
	aad := kms.DEKAAD("org_flip", 1)
	w := wrap(t, kek, newKey(), aad)
	for i := range len(w.Ciphertext) * 8 {
		ct := bytes.Clone(w.Ciphertext)
		ct[i/8] ^= 1 << (i % 8)
		bad := kms.Wrapped{KEKID: w.KEKID, KEKVersion: w.KEKVersion, Ciphertext: ct}
		key, err := unwrap(t, kek, bad, aad)
		if !errors.Is(err, kms.ErrUnwrap) || key != nil {
			wantErr(t, fmt.Sprintf("bit %d of byte %d flipped", i%8, i/8), key, err, kms.ErrUnwrap)
		}
	}
}

func (s suite) badLengths(t *testing.T) {
	kek := s.newKEK(t)
	aad := kms.DEKAAD("org_len", 1)
	w := wrap(t, kek, newKey(), aad)
	n := len(w.Ciphertext)
	tests := []struct {
		name string
		ct   []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"one byte", w.Ciphertext[:1]},
		{"last byte dropped", w.Ciphertext[:n-1]},
		{"first byte dropped", w.Ciphertext[1:]},
		{"half", w.Ciphertext[:n/2]},
		{"one byte appended", append(bytes.Clone(w.Ciphertext), 0)},
		{"doubled", append(bytes.Clone(w.Ciphertext), w.Ciphertext...)},
		{"64 KiB appended", append(bytes.Clone(w.Ciphertext), make([]byte, 64<<10)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := kms.Wrapped{KEKID: w.KEKID, KEKVersion: w.KEKVersion, Ciphertext: tt.ct}
			key, err := unwrap(t, kek, bad, aad)
			wantErr(t, tt.name, key, err, kms.ErrUnwrap)
		})
	}
	t.Run("every prefix", func(t *testing.T) {
		for l := range n {
			bad := kms.Wrapped{KEKID: w.KEKID, KEKVersion: w.KEKVersion, Ciphertext: bytes.Clone(w.Ciphertext[:l])}
			key, err := unwrap(t, kek, bad, aad)
			if !errors.Is(err, kms.ErrUnwrap) || key != nil {
				wantErr(t, fmt.Sprintf("first %d of %d bytes", l, n), key, err, kms.ErrUnwrap)
			}
		}
	})
}

func (s suite) otherKEKID(t *testing.T) {
	kek := s.newKEK(t)
	aad := kms.DEKAAD("org_id", 1)
	w := wrap(t, kek, newKey(), aad)
	if kek.ID() == "" {
		t.Fatal("ID() is empty")
	}
	for _, id := range []string{"", kek.ID() + "x", kek.ID()[:len(kek.ID())-1], strings.ToUpper(kek.ID()) + "X", "local:0000000000000000", "other:kek"} {
		t.Run(fmt.Sprintf("%q", id), func(t *testing.T) {
			if id == kek.ID() {
				t.Skip("the provider's id coincides with this probe")
			}
			bad := kms.Wrapped{KEKID: id, KEKVersion: w.KEKVersion, Ciphertext: w.Ciphertext}
			key, err := unwrap(t, kek, bad, aad)
			wantErr(t, "KEKID "+id, key, err, kms.ErrUnknownKEK)
		})
	}
}

func (s suite) unknownVersion(t *testing.T) {
	kek := s.newKEK(t)
	aad := kms.DEKAAD("org_ver", 1)
	w := wrap(t, kek, newKey(), aad)
	for _, v := range []uint32{0, w.KEKVersion + 1, w.KEKVersion + 1000, math.MaxUint32} {
		t.Run(fmt.Sprint(v), func(t *testing.T) {
			bad := kms.Wrapped{KEKID: w.KEKID, KEKVersion: v, Ciphertext: w.Ciphertext}
			key, err := unwrap(t, kek, bad, aad)
			wantErr(t, fmt.Sprintf("KEKVersion %d", v), key, err, kms.ErrUnknownKEK)
		})
	}
}

func (s suite) cancelledContext(t *testing.T) {
	kek := s.newKEK(t)
	key, aad := newKey(), kms.DEKAAD("org_ctx", 1)
	w := wrap(t, kek, key, aad)

	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel2 := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel2()
	for _, tt := range []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"cancelled", cancelled, context.Canceled},
		{"deadline exceeded", expired, context.DeadlineExceeded},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := kek.Wrap(tt.ctx, key, aad); !errors.Is(err, tt.want) {
				t.Errorf("Wrap error = %v, want one wrapping %v", err, tt.want)
			}
			got, err := kek.Unwrap(tt.ctx, w, aad)
			if !errors.Is(err, tt.want) {
				t.Errorf("Unwrap error = %v, want one wrapping %v", err, tt.want)
			}
			if got != nil {
				t.Errorf("Unwrap returned %d key bytes with its error, want nil", len(got))
			}
		})
	}
}

func (s suite) concurrent(t *testing.T) {
	kek := s.newKEK(t)
	const goroutines, rounds = 32, 16
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for r := range rounds {
				key, aad := newKey(), kms.DEKAAD(fmt.Sprintf("org_%d", g), uint32(r+1))
				w, err := kek.Wrap(t.Context(), key, aad)
				if err != nil {
					t.Errorf("goroutine %d round %d: Wrap: %v", g, r, err)
					return
				}
				got, err := kek.Unwrap(t.Context(), w, aad)
				if err != nil || !bytes.Equal(got, key) {
					t.Errorf("goroutine %d round %d: Unwrap = %d bytes, %v; want the key", g, r, len(got), err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func (s suite) ciphertextHidesKey(t *testing.T) {
	kek := s.newKEK(t)
	aad := kms.DEKAAD("org_hide", 1)
	for _, key := range [][]byte{
		newKey(),
		bytes.Repeat([]byte{0}, 32),
		bytes.Repeat([]byte("A"), 32),
		[]byte("0123456789abcdef0123456789abcdef"),
	} {
		w := wrap(t, kek, key, aad)
		for _, enc := range encodings(key) {
			if bytes.Contains(w.Ciphertext, []byte(enc.text)) {
				t.Errorf("wrapped bytes contain the key (%s)", enc.name)
			}
		}
		// Neither half of the key may appear either.
		if bytes.Contains(w.Ciphertext, key[:16]) || bytes.Contains(w.Ciphertext, key[16:]) {
			t.Errorf("wrapped bytes contain half of the key")
		}
	}
}

func (s suite) errorsHideKey(t *testing.T) {
	kek := s.newKEK(t)
	key, aad := newKey(), kms.DEKAAD("org_err", 1)
	w := wrap(t, kek, key, aad)
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()

	var errs []error
	collect := func(_ []byte, err error) {
		if err == nil {
			t.Errorf("a failing call succeeded")
			return
		}
		errs = append(errs, err)
	}
	flipped := bytes.Clone(w.Ciphertext)
	flipped[len(flipped)-1] ^= 0x80
	with := func(id string, v uint32, ct []byte) kms.Wrapped {
		return kms.Wrapped{KEKID: id, KEKVersion: v, Ciphertext: ct}
	}
	collect(kek.Unwrap(t.Context(), w, kms.DEKAAD("org_other", 1)))
	collect(kek.Unwrap(t.Context(), with(w.KEKID, w.KEKVersion, flipped), aad))
	collect(kek.Unwrap(t.Context(), with(w.KEKID, w.KEKVersion, w.Ciphertext[:len(w.Ciphertext)-1]), aad))
	collect(kek.Unwrap(t.Context(), with(w.KEKID+"x", w.KEKVersion, w.Ciphertext), aad))
	collect(kek.Unwrap(t.Context(), with(w.KEKID, w.KEKVersion+1, w.Ciphertext), aad))
	collect(kek.Unwrap(cancelled, w, aad))
	_, err := kek.Wrap(cancelled, key, aad)
	collect(nil, err)

	for _, err := range errs {
		for _, out := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			for _, enc := range encodings(key) {
				if strings.Contains(out, enc.text) {
					t.Errorf("error %q contains the key (%s)", err, enc.name)
				}
			}
		}
	}
}

type encoding struct{ name, text string }

// encodings lists the forms in which a key could leak into text.
func encodings(key []byte) []encoding {
	return []encoding{
		{"raw", string(key)},
		{"hex", hex.EncodeToString(key)},
		{"HEX", strings.ToUpper(hex.EncodeToString(key))},
		{"hex of the first 8 bytes", hex.EncodeToString(key[:8])},
		{"base64 std", base64.StdEncoding.EncodeToString(key)},
		{"base64 raw std", base64.RawStdEncoding.EncodeToString(key)},
		{"base64 url", base64.URLEncoding.EncodeToString(key)},
		{"base64 raw url", base64.RawURLEncoding.EncodeToString(key)},
		{"decimal bytes", strings.Trim(fmt.Sprint(key), "[]")},
		{"go syntax bytes", strings.TrimSuffix(strings.TrimPrefix(fmt.Sprintf("%#v", key), "[]byte{"), "}")},
	}
}
