package kmstest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/kms/kmstest"
)

func newFake(t *testing.T) *kmstest.Fake {
	t.Helper()
	f, err := kmstest.NewFake()
	if err != nil {
		t.Fatalf("NewFake: %v", err)
	}
	return f
}

func TestFakeConformance(t *testing.T) {
	kmstest.Run(t, func(t *testing.T) kms.KEK { return newFake(t) })
}

func TestFakeRotatedConformance(t *testing.T) {
	kmstest.Run(t, func(t *testing.T) kms.KEK {
		f := newFake(t)
		if _, err := f.Rotate(context.Background()); err != nil {
			t.Fatalf("Rotate: %v", err)
		}
		return f
	})
}

func TestFakeID(t *testing.T) {
	a, b := newFake(t), newFake(t)
	if !strings.HasPrefix(a.ID(), "fake:") || len(a.ID()) != len("fake:")+16 {
		t.Errorf("ID() = %q, want fake:<16 hex digits>", a.ID())
	}
	if a.ID() == b.ID() {
		t.Errorf("two fakes share the id %q", a.ID())
	}
	aad := kms.DEKAAD("org", 1)
	w, err := a.Wrap(t.Context(), make([]byte, 32), aad)
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	if _, err := b.Unwrap(t.Context(), w, aad); !errors.Is(err, kms.ErrUnknownKEK) {
		t.Errorf("other fake's Unwrap error = %v, want ErrUnknownKEK", err)
	}
}

func TestFakeCounters(t *testing.T) {
	f := newFake(t)
	aad := kms.DEKAAD("org", 1)
	w, err := f.Wrap(t.Context(), make([]byte, 32), aad)
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	for range 3 {
		if _, err := f.Unwrap(t.Context(), w, aad); err != nil {
			t.Fatalf("Unwrap: %v", err)
		}
	}
	_, _ = f.Unwrap(t.Context(), w, nil) // failures count too
	if got, want := f.Wraps(), int64(1); got != want {
		t.Errorf("Wraps() = %d, want %d", got, want)
	}
	if got, want := f.Unwraps(), int64(4); got != want {
		t.Errorf("Unwraps() = %d, want %d", got, want)
	}
}

func TestFakeSetFailing(t *testing.T) {
	f := newFake(t)
	aad := kms.DEKAAD("org", 1)
	w, err := f.Wrap(t.Context(), make([]byte, 32), aad)
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	down := fmt.Errorf("hsm offline: %w", kms.ErrUnavailable)
	f.SetFailing(down)
	if _, err := f.Wrap(t.Context(), make([]byte, 32), aad); !errors.Is(err, kms.ErrUnavailable) {
		t.Errorf("failing Wrap error = %v, want ErrUnavailable", err)
	}
	if key, err := f.Unwrap(t.Context(), w, aad); !errors.Is(err, kms.ErrUnavailable) || key != nil {
		t.Errorf("failing Unwrap = %d bytes, %v; want nil, ErrUnavailable", len(key), err)
	}
	f.SetFailing(nil)
	if _, err := f.Unwrap(t.Context(), w, aad); err != nil {
		t.Errorf("Unwrap after SetFailing(nil): %v", err)
	}
}

func TestFakeUnwrapDelay(t *testing.T) {
	f := newFake(t)
	aad := kms.DEKAAD("org", 1)
	w, err := f.Wrap(t.Context(), make([]byte, 32), aad)
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	const delay = 50 * time.Millisecond
	f.SetUnwrapDelay(delay)

	t.Run("waits", func(t *testing.T) {
		start := time.Now()
		if _, err := f.Unwrap(t.Context(), w, aad); err != nil {
			t.Fatalf("Unwrap: %v", err)
		}
		if got := time.Since(start); got < delay {
			t.Errorf("Unwrap took %v, want >= %v", got, delay)
		}
	})
	t.Run("honours ctx", func(t *testing.T) {
		f.SetUnwrapDelay(time.Hour)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
		defer cancel()
		if _, err := f.Unwrap(ctx, w, aad); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Unwrap error = %v, want DeadlineExceeded", err)
		}
	})
	t.Run("concurrent callers all wait", func(t *testing.T) {
		f.SetUnwrapDelay(delay)
		before := f.Unwraps()
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if _, err := f.Unwrap(t.Context(), w, aad); err != nil {
					t.Errorf("Unwrap: %v", err)
				}
			})
		}
		wg.Wait()
		if got := f.Unwraps() - before; got != 8 {
			t.Errorf("Unwraps() grew by %d, want 8", got)
		}
	})
}

func TestFakeRotate(t *testing.T) {
	f := newFake(t)
	key, aad := []byte("0123456789abcdef0123456789abcdef"), kms.DEKAAD("org", 1)
	old, err := f.Wrap(t.Context(), key, aad)
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	v, err := f.Rotate(context.Background())
	if err != nil || v != 2 {
		t.Fatalf("Rotate() = %d, %v; want 2, nil", v, err)
	}
	nw, err := f.Wrap(t.Context(), key, aad)
	if err != nil || nw.KEKVersion != 2 {
		t.Fatalf("Wrap after Rotate: version %d, %v; want 2", nw.KEKVersion, err)
	}
	for _, w := range []kms.Wrapped{old, nw} {
		if got, err := f.Unwrap(t.Context(), w, aad); err != nil || !bytes.Equal(got, key) {
			t.Errorf("Unwrap of version %d = %v; want the key", w.KEKVersion, err)
		}
	}
}

func TestFakeFormatHidesKeys(t *testing.T) {
	f := newFake(t)
	want := "kmstest.Fake(" + f.ID() + ")"
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%X", "%q"} {
		if got := fmt.Sprintf(verb, f); got != want {
			t.Errorf("Sprintf(%q, fake) = %q, want %q", verb, got, want)
		}
	}
}
