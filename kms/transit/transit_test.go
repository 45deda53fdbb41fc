package transit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/kms/kmstest"
	"github.com/keyward/keyward/kms/transit"
	"github.com/keyward/keyward/kms/transit/transittest"
	"github.com/keyward/keyward/secret"
)

const token = "hvs.CAESIKeywardTestToken0123456789abcdef"

// newFake starts a fake transit engine holding transit/keyward.
func newFake(t *testing.T) *transittest.Server {
	t.Helper()
	s := transittest.NewServer(token)
	t.Cleanup(s.Close)
	if err := s.CreateKey("transit", "keyward", transittest.KeyOptions{}); err != nil {
		t.Fatal(err)
	}
	return s
}

// config returns a Config for transit/keyward on s.
func config(s *transittest.Server) transit.Config {
	return transit.Config{Addr: s.URL, Mount: "transit", Key: "keyward", Token: secret.FromString(token)}
}

func newKEK(t *testing.T, cfg transit.Config) *transit.KEK {
	t.Helper()
	k, err := transit.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = k.Close() })
	return k
}

func newDEK() []byte { return bytes.Repeat([]byte{0xa5}, 32) }

func TestConformance(t *testing.T) {
	t.Run("fresh", func(t *testing.T) {
		kmstest.Run(t, func(t *testing.T) kms.KEK { return newKEK(t, config(newFake(t))) })
	})
	t.Run("rotated", func(t *testing.T) {
		kmstest.Run(t, func(t *testing.T) kms.KEK {
			k := newKEK(t, config(newFake(t)))
			if _, err := k.Rotate(t.Context()); err != nil {
				t.Fatal(err)
			}
			return k
		})
	})
	t.Run("namespace", func(t *testing.T) {
		kmstest.Run(t, func(t *testing.T) kms.KEK {
			s := newFake(t)
			s.Mount("team-a/transit")
			if err := s.CreateKey("team-a/transit", "keyward", transittest.KeyOptions{}); err != nil {
				t.Fatal(err)
			}
			cfg := config(s)
			cfg.Namespace = "team-a"
			return newKEK(t, cfg)
		})
	})
}

func TestIDAndPrinting(t *testing.T) {
	s := newFake(t)
	k := newKEK(t, config(s))
	if got, want := k.ID(), "transit:"+s.URL+"/transit/keyward"; got != want {
		t.Errorf("ID() = %q, want %q", got, want)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d"} {
		if out := fmt.Sprintf(verb, k); out != "transit.KEK("+k.ID()+")" {
			t.Errorf("Sprintf(%q) = %q", verb, out)
		}
	}
	cfg := config(s)
	cfg.Namespace = "/team-a/"
	if got, want := newKEK(t, cfg).ID(), "transit:"+s.URL+"/team-a/transit/keyward"; got != want {
		t.Errorf("ID() with a namespace = %q, want %q", got, want)
	}
	if out := fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg); strings.Contains(out, token) {
		t.Errorf("a printed Config shows the token: %s", out)
	}
}

func TestRotate(t *testing.T) {
	s := newFake(t)
	k := newKEK(t, config(s))
	key, aad := newDEK(), kms.DEKAAD("org_rot", 1)
	w1, err := k.Wrap(t.Context(), key, aad)
	if err != nil {
		t.Fatal(err)
	}
	v, err := k.Rotate(t.Context())
	if err != nil || v != 2 {
		t.Fatalf("Rotate = %d, %v; want 2", v, err)
	}
	w2, err := k.Wrap(t.Context(), key, aad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rotate("transit", "keyward"); err != nil { // another operator
		t.Fatal(err)
	}
	w3, err := k.Wrap(t.Context(), key, aad)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range []kms.Wrapped{w1, w2, w3} {
		want := uint32(i + 1)
		if w.KEKVersion != want || !bytes.HasPrefix(w.Ciphertext, fmt.Appendf(nil, "vault:v%d:", want)) {
			t.Errorf("wrap %d: KEKVersion %d, ciphertext %.9s…; want version %d", i+1, w.KEKVersion, w.Ciphertext, want)
		}
		if got, err := k.Unwrap(t.Context(), w, aad); err != nil || !bytes.Equal(got, key) {
			t.Errorf("Unwrap of version %d = %d bytes, %v", w.KEKVersion, len(got), err)
		}
	}
}

func TestMinDecryptionVersion(t *testing.T) {
	s := newFake(t)
	k := newKEK(t, config(s))
	aad := kms.DEKAAD("org_min", 1)
	old, err := k.Wrap(t.Context(), newDEK(), aad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMinDecryptionVersion("transit", "keyward", 2); err != nil {
		t.Fatal(err)
	}
	n := len(s.Calls())
	_, err = k.Unwrap(t.Context(), old, aad)
	if !errors.Is(err, kms.ErrUnknownKEK) || errors.Is(err, kms.ErrUnavailable) {
		t.Errorf("Unwrap below min_decryption_version = %v; want ErrUnknownKEK", err)
	}
	if calls := len(s.Calls()) - n; calls != 1 {
		t.Errorf("%d requests, want 1 (no retry)", calls)
	}
}

func TestTokenAndHeaders(t *testing.T) {
	s := newFake(t)
	s.Mount("team-a/transit")
	if err := s.CreateKey("team-a/transit", "keyward", transittest.KeyOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := config(s)
	cfg.Namespace = "team-a"
	k := newKEK(t, cfg)
	if _, err := k.Wrap(t.Context(), newDEK(), nil); err != nil {
		t.Fatal(err)
	}
	c := s.Calls()[0]
	if c.Token != token || c.Namespace != "team-a" || c.Path != "team-a/transit/encrypt/keyward" || c.Method != "POST" {
		t.Errorf("request: %s %s, token ok %v, namespace %q", c.Method, c.Path, c.Token == token, c.Namespace)
	}
}

func TestWrongToken(t *testing.T) {
	s := newFake(t)
	const wrong = "hvs.WrongTokenWrongTokenWrongToken"
	cfg := config(s)
	cfg.Token = secret.FromString(wrong)
	k := newKEK(t, cfg)
	_, err := k.Wrap(t.Context(), newDEK(), nil)
	if !errors.Is(err, transit.ErrPermissionDenied) || errors.Is(err, kms.ErrUnavailable) {
		t.Fatalf("Wrap with a wrong token = %v; want ErrPermissionDenied", err)
	}
	if msg := fmt.Sprintf("%v %+v %#v", err, err, err); strings.Contains(msg, wrong) || strings.Contains(msg, token) {
		t.Errorf("error shows a token: %s", msg)
	}
	if !strings.Contains(err.Error(), "permission denied") || strings.ContainsAny(err.Error(), "\n\t") {
		t.Errorf("error %q: want Vault's reason on one line", err)
	}
	if n := len(s.Calls()); n != 1 {
		t.Errorf("%d requests, want 1 (no retry)", n)
	}

	// A revoked token.
	good := newKEK(t, config(s))
	w, err := good.Wrap(t.Context(), newDEK(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.SetToken("hvs.rotated")
	if _, err := good.Unwrap(t.Context(), w, nil); !errors.Is(err, transit.ErrPermissionDenied) {
		t.Errorf("Unwrap with a revoked token = %v; want ErrPermissionDenied", err)
	}
}

func TestRetryHeals(t *testing.T) {
	for _, f := range []struct {
		name  string
		fault transittest.Fault
	}{
		{"429", transittest.RateLimited},
		{"503 sealed", transittest.Sealed},
		{"500", transittest.Internal},
	} {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			s := newFake(t)
			k := newKEK(t, config(s))
			key, aad := newDEK(), kms.DEKAAD("org_retry", 1)
			s.FailNext(1, f.fault)
			w, err := k.Wrap(t.Context(), key, aad)
			if err != nil {
				t.Fatalf("Wrap after a fault: %v", err)
			}
			s.FailNext(2, f.fault)
			got, err := k.Unwrap(t.Context(), w, aad)
			if err != nil || !bytes.Equal(got, key) {
				t.Fatalf("Unwrap after 2 faults = %d bytes, %v", len(got), err)
			}
			if n := len(s.Calls()); n != 5 {
				t.Errorf("%d requests, want 5", n)
			}
		})
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	s := newFake(t)
	k := newKEK(t, config(s))
	s.FailNext(1, transittest.RateLimited) // Retry-After: 1
	start := time.Now()
	if _, err := k.Wrap(t.Context(), newDEK(), nil); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("retried after %v; want Retry-After's 1s", d)
	}
}

func TestRetryGivesUp(t *testing.T) {
	s := newFake(t)
	cfg := config(s)
	cfg.MaxAttempts = 2
	k := newKEK(t, cfg)
	s.FailNext(5, transittest.Sealed)
	_, err := k.Wrap(t.Context(), newDEK(), nil)
	if !errors.Is(err, kms.ErrUnavailable) || !strings.Contains(err.Error(), "Vault is sealed") || !strings.Contains(err.Error(), "after 2 attempts") {
		t.Errorf("Wrap = %v; want ErrUnavailable, sealed, after 2 attempts", err)
	}
	if n := len(s.Calls()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestRetryHonoursContext(t *testing.T) {
	s := newFake(t)
	cfg := config(s)
	cfg.MaxAttempts = 1000
	k := newKEK(t, cfg)
	s.FailNext(1000, transittest.Sealed)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := k.Wrap(ctx, newDEK(), nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wrap = %v; want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Wrap returned %v after the deadline", d)
	}
}

func TestAssociatedDataSent(t *testing.T) {
	s := newFake(t)
	k := newKEK(t, config(s))
	aad := kms.DEKAAD("org_aad", 9)
	w, err := k.Wrap(t.Context(), newDEK(), aad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Unwrap(t.Context(), w, aad); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Wrap(t.Context(), newDEK(), nil); err != nil {
		t.Fatal(err)
	}
	calls := s.Calls()
	for _, c := range calls[:2] {
		if !c.HasAssociatedData || !bytes.Equal(c.AssociatedData, aad) {
			t.Errorf("%s: associated_data %x, want %x", c.Path, c.AssociatedData, aad)
		}
	}
	if calls[2].HasAssociatedData {
		t.Errorf("empty aad sent as associated_data")
	}
}

func TestOldVaultIgnoringAssociatedData(t *testing.T) {
	t.Run("with warning", func(t *testing.T) {
		s := newFake(t)
		s.IgnoreAssociatedData(true)
		k := newKEK(t, config(s))
		if _, err := k.Wrap(t.Context(), newDEK(), kms.DEKAAD("org", 1)); !errors.Is(err, transit.ErrAADIgnored) {
			t.Errorf("Wrap = %v; want ErrAADIgnored", err)
		}
	})
	t.Run("silent", func(t *testing.T) {
		s := newFake(t)
		s.IgnoreAssociatedData(false)
		k := newKEK(t, config(s))
		if err := k.Check(t.Context()); !errors.Is(err, transit.ErrAADIgnored) {
			t.Errorf("Check = %v; want ErrAADIgnored", err)
		}
	})
}

func TestCheck(t *testing.T) {
	s := newFake(t)
	if err := newKEK(t, config(s)).Check(t.Context()); err != nil {
		t.Errorf("Check of an aes256-gcm96 key: %v", err)
	}
	for name, o := range map[string]transittest.KeyOptions{
		"rsa":     {Type: "rsa-2048"},
		"derived": {Derived: true},
	} {
		if err := s.CreateKey("transit", name, o); err != nil {
			t.Fatal(err)
		}
		cfg := config(s)
		cfg.Key = name
		k := newKEK(t, cfg)
		if err := k.Check(t.Context()); !errors.Is(err, transit.ErrUnsupportedKey) {
			t.Errorf("Check of a %s key = %v; want ErrUnsupportedKey", name, err)
		}
		if _, err := k.Wrap(t.Context(), newDEK(), kms.DEKAAD("org", 1)); !errors.Is(err, transit.ErrUnsupportedKey) {
			t.Errorf("Wrap with a %s key = %v; want ErrUnsupportedKey", name, err)
		}
	}
	cfg := config(s)
	cfg.Key = "missing"
	if err := newKEK(t, cfg).Check(t.Context()); !errors.Is(err, kms.ErrUnknownKEK) {
		t.Errorf("Check of a missing key = %v; want ErrUnknownKEK", err)
	}
}

func TestMissingKeyAndMount(t *testing.T) {
	s := newFake(t)
	w, err := newKEK(t, config(s)).Wrap(t.Context(), newDEK(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config(s)
	cfg.Key = "missing"
	k := newKEK(t, cfg)
	// Encrypt would create the key, which a least-privilege token may not.
	if _, err := k.Wrap(t.Context(), newDEK(), nil); !errors.Is(err, transit.ErrPermissionDenied) {
		t.Errorf("Wrap with a missing key = %v; want ErrPermissionDenied", err)
	}
	w.KEKID = k.ID()
	if _, err := k.Unwrap(t.Context(), w, nil); !errors.Is(err, kms.ErrUnknownKEK) {
		t.Errorf("Unwrap with a missing key = %v; want ErrUnknownKEK", err)
	}
	cfg = config(s)
	cfg.Mount = "nomount"
	if _, err := newKEK(t, cfg).Wrap(t.Context(), newDEK(), nil); !errors.Is(err, kms.ErrUnknownKEK) {
		t.Errorf("Wrap on a missing mount = %v; want ErrUnknownKEK", err)
	}
}

func TestStrictCiphertext(t *testing.T) {
	s := newFake(t)
	k := newKEK(t, config(s))
	aad := kms.DEKAAD("org_strict", 1)
	w, err := k.Wrap(t.Context(), newDEK(), aad)
	if err != nil {
		t.Fatal(err)
	}
	body := strings.TrimPrefix(string(w.Ciphertext), "vault:v1:")
	n := len(s.Calls())
	// transit itself reads all of these as version 1 and would decrypt them.
	for _, ct := range []string{"vault:v0:" + body, "vault:v01:" + body, "vault:v+1:" + body, "vault:v1:" + body + "\n", "vault:v1:" + body[:4] + "\r\n" + body[4:]} {
		bad := kms.Wrapped{KEKID: w.KEKID, KEKVersion: 1, Ciphertext: []byte(ct)}
		if got, err := k.Unwrap(t.Context(), bad, aad); !errors.Is(err, kms.ErrUnwrap) || got != nil {
			t.Errorf("Unwrap of %.12q… = %d bytes, %v; want ErrUnwrap", ct, len(got), err)
		}
	}
	if calls := len(s.Calls()) - n; calls != 0 {
		t.Errorf("%d requests for malformed ciphertexts, want 0", calls)
	}
}

func TestWrapRefuses(t *testing.T) {
	s := newFake(t)
	k := newKEK(t, config(s))
	for _, tt := range []struct{ key, aad []byte }{
		{nil, nil},
		{make([]byte, transit.MaxKeyLen+1), nil},
		{newDEK(), make([]byte, transit.MaxAADLen+1)},
	} {
		if _, err := k.Wrap(t.Context(), tt.key, tt.aad); err == nil {
			t.Errorf("Wrap of %d key bytes with %d aad bytes succeeded", len(tt.key), len(tt.aad))
		}
	}
	if n := len(s.Calls()); n != 0 {
		t.Errorf("%d requests for refused wraps, want 0", n)
	}
}

func TestCloseWipesOwnCopy(t *testing.T) {
	s := newFake(t)
	cfg := config(s)
	k, err := transit.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	if string(cfg.Token.Reveal()) != token {
		t.Errorf("Close wiped the caller's token")
	}
	cfg2 := config(s)
	k2 := newKEK(t, cfg2)
	cfg2.Token.Wipe() // the caller wipes its copy once New returns
	if _, err := k2.Wrap(t.Context(), newDEK(), nil); err != nil {
		t.Errorf("Wrap after the caller wiped its token: %v", err)
	}
}
