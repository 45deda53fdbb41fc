package gcpkms_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/api/option"

	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/kms/gcpkms"
	"github.com/keyward/keyward/kms/gcpkms/gcpkmstest"
	"github.com/keyward/keyward/kms/kmstest"
)

const keyName = "projects/keyward-test/locations/europe-west1/keyRings/keyward/cryptoKeys/kek"

// newFake starts a fake Cloud KMS holding keyName.
func newFake(t *testing.T) *gcpkmstest.Server {
	t.Helper()
	s := gcpkmstest.NewServer()
	t.Cleanup(s.Close)
	if err := s.CreateKey(keyName); err != nil {
		t.Fatal(err)
	}
	return s
}

// newKEK returns a KEK talking to s; attempts 0 means the default.
func newKEK(t *testing.T, s *gcpkmstest.Server, name string, attempts int) *gcpkms.KEK {
	t.Helper()
	k, err := gcpkms.New(t.Context(), gcpkms.Config{
		KeyName:       name,
		Endpoint:      s.URL,
		ClientOptions: []option.ClientOption{option.WithoutAuthentication()},
		MaxAttempts:   attempts,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = k.Close() })
	return k
}

func newDEK() []byte { return bytes.Repeat([]byte{0x5a}, 32) }

func TestConformance(t *testing.T) {
	t.Run("fresh", func(t *testing.T) {
		kmstest.Run(t, func(t *testing.T) kms.KEK { return newKEK(t, newFake(t), keyName, 0) })
	})
	t.Run("rotated", func(t *testing.T) {
		kmstest.Run(t, func(t *testing.T) kms.KEK {
			s := newFake(t)
			if _, err := s.Rotate(keyName); err != nil {
				t.Fatal(err)
			}
			return newKEK(t, s, keyName, 0)
		})
	})
}

func TestID(t *testing.T) {
	k := newKEK(t, newFake(t), keyName, 0)
	if got, want := k.ID(), "gcpkms:"+keyName; got != want {
		t.Errorf("ID() = %q, want %q", got, want)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x"} {
		if got, want := fmt.Sprintf(verb, k), "gcpkms.KEK(gcpkms:"+keyName+")"; got != want {
			t.Errorf("Sprintf(%q) = %q, want %q", verb, got, want)
		}
	}
}

func TestRotation(t *testing.T) {
	s := newFake(t)
	k := newKEK(t, s, keyName, 0)
	key, aad := newDEK(), kms.DEKAAD("org_rot", 1)
	old, err := k.Wrap(t.Context(), key, aad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rotate(keyName); err != nil {
		t.Fatal(err)
	}
	cur, err := k.Wrap(t.Context(), key, aad)
	if err != nil {
		t.Fatal(err)
	}
	if old.KEKVersion != 1 || cur.KEKVersion != 1 {
		t.Errorf("KEKVersion = %d and %d, want 1: cloud kms versions stay inside the ciphertext", old.KEKVersion, cur.KEKVersion)
	}
	for _, w := range []kms.Wrapped{old, cur} {
		got, err := k.Unwrap(t.Context(), w, aad)
		if err != nil || !bytes.Equal(got, key) {
			t.Fatalf("Unwrap after rotation = %d bytes, %v; want the key", len(got), err)
		}
	}
	var versions []string
	for _, c := range s.Calls() {
		versions = append(versions, fmt.Sprintf("%s:v%d", c.Method, c.Version))
	}
	if got, want := strings.Join(versions, " "), "encrypt:v1 encrypt:v2 decrypt:v1 decrypt:v2"; got != want {
		t.Errorf("versions used = %s, want %s", got, want)
	}
}

func TestVersionStates(t *testing.T) {
	s := newFake(t)
	k := newKEK(t, s, keyName, 0)
	key, aad := newDEK(), kms.DEKAAD("org_state", 1)
	old, err := k.Wrap(t.Context(), key, aad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rotate(keyName); err != nil {
		t.Fatal(err)
	}
	if err := s.DisableVersion(keyName, 1); err != nil {
		t.Fatal(err)
	}
	n := len(s.Calls())
	_, err = k.Unwrap(t.Context(), old, aad)
	if !errors.Is(err, kms.ErrUnavailable) || !errors.Is(err, gcpkms.ErrKeyUnusable) || errors.Is(err, kms.ErrUnknownKEK) {
		t.Errorf("Unwrap under a disabled version: %v; want ErrUnavailable and ErrKeyUnusable", err)
	}
	if calls := len(s.Calls()) - n; calls != 1 {
		t.Errorf("a disabled version was asked %d times, want 1 (no retry)", calls)
	}
	if _, err := k.Wrap(t.Context(), key, aad); err != nil {
		t.Errorf("Wrap with an enabled primary: %v", err)
	}
	if err := s.EnableVersion(keyName, 1); err != nil {
		t.Fatal(err)
	}
	if got, err := k.Unwrap(t.Context(), old, aad); err != nil || !bytes.Equal(got, key) {
		t.Errorf("Unwrap after re-enabling = %d bytes, %v", len(got), err)
	}
	if err := s.DestroyVersion(keyName, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Unwrap(t.Context(), old, aad); !errors.Is(err, kms.ErrUnknownKEK) || errors.Is(err, kms.ErrUnavailable) {
		t.Errorf("Unwrap under a destroyed version: %v; want ErrUnknownKEK", err)
	}
	if err := s.DisableVersion(keyName, 2); err != nil {
		t.Fatal(err)
	}
	n = len(s.Calls())
	if _, err := k.Wrap(t.Context(), key, aad); !errors.Is(err, gcpkms.ErrKeyUnusable) {
		t.Errorf("Wrap with a disabled primary: %v; want ErrKeyUnusable", err)
	}
	if calls := len(s.Calls()) - n; calls != 1 {
		t.Errorf("a disabled primary was asked %d times, want 1 (no retry)", calls)
	}
}

func TestRetryHeals(t *testing.T) {
	for _, f := range []struct {
		name  string
		fault gcpkmstest.Fault
	}{
		{"429", gcpkmstest.RateLimited},
		{"503", gcpkmstest.Unavailable},
		{"corrupt request", gcpkmstest.CorruptRequest},
	} {
		t.Run(f.name, func(t *testing.T) {
			s := newFake(t)
			k := newKEK(t, s, keyName, 0)
			key, aad := newDEK(), kms.DEKAAD("org_retry", 1)
			s.FailNext(2, f.fault)
			w, err := k.Wrap(t.Context(), key, aad)
			if err != nil {
				t.Fatalf("Wrap after 2 faults: %v", err)
			}
			s.FailNext(2, f.fault)
			got, err := k.Unwrap(t.Context(), w, aad)
			if err != nil || !bytes.Equal(got, key) {
				t.Fatalf("Unwrap after 2 faults = %d bytes, %v", len(got), err)
			}
			if n := len(s.Calls()); n != 6 {
				t.Errorf("%d requests, want 6 (3 per call)", n)
			}
		})
	}
}

func TestRetryGivesUp(t *testing.T) {
	for _, f := range []gcpkmstest.Fault{gcpkmstest.RateLimited, gcpkmstest.Unavailable} {
		s := newFake(t)
		k := newKEK(t, s, keyName, 2)
		s.FailNext(5, f)
		_, err := k.Wrap(t.Context(), newDEK(), nil)
		if !errors.Is(err, kms.ErrUnavailable) || !strings.Contains(err.Error(), "after 2 attempts") {
			t.Errorf("fault %d: Wrap = %v; want ErrUnavailable after 2 attempts", f, err)
		}
		if n := len(s.Calls()); n != 2 {
			t.Errorf("fault %d: %d requests, want 2", f, n)
		}
	}
}

func TestRetryHonoursContext(t *testing.T) {
	s := newFake(t)
	k := newKEK(t, s, keyName, 1000)
	s.FailNext(1000, gcpkmstest.Unavailable)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := k.Wrap(ctx, newDEK(), nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wrap = %v; want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Wrap returned %v after the deadline", d)
	}
}

func TestPermissionDenied(t *testing.T) {
	s := newFake(t)
	k := newKEK(t, s, keyName, 0)
	s.FailNext(1, gcpkmstest.PermissionDenied)
	_, err := k.Wrap(t.Context(), newDEK(), nil)
	if !errors.Is(err, gcpkms.ErrPermissionDenied) || errors.Is(err, kms.ErrUnavailable) {
		t.Errorf("Wrap = %v; want ErrPermissionDenied, not retryable", err)
	}
	if !strings.Contains(err.Error(), "roles/cloudkms.cryptoKeyEncrypterDecrypter") {
		t.Errorf("error %q does not say which role to grant", err)
	}
	if n := len(s.Calls()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestUnknownKey(t *testing.T) {
	s := newFake(t)
	other := strings.TrimSuffix(keyName, "kek") + "nokey"
	k := newKEK(t, s, other, 0)
	if _, err := k.Wrap(t.Context(), newDEK(), nil); !errors.Is(err, kms.ErrUnknownKEK) {
		t.Errorf("Wrap with a missing key = %v; want ErrUnknownKEK", err)
	}
	// A ciphertext of another crypto key fails authentication, not lookup.
	if err := s.CreateKey(other); err != nil {
		t.Fatal(err)
	}
	w, err := newKEK(t, s, keyName, 0).Wrap(t.Context(), newDEK(), nil)
	if err != nil {
		t.Fatal(err)
	}
	w.KEKID = k.ID()
	if _, err := k.Unwrap(t.Context(), w, nil); !errors.Is(err, kms.ErrUnwrap) {
		t.Errorf("Unwrap of another key's ciphertext = %v; want ErrUnwrap", err)
	}
}

func TestAADAndChecksumsSent(t *testing.T) {
	s := newFake(t)
	k := newKEK(t, s, keyName, 0)
	aad := kms.DEKAAD("org_aad", 7)
	w, err := k.Wrap(t.Context(), newDEK(), aad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Unwrap(t.Context(), w, aad); err != nil {
		t.Fatal(err)
	}
	calls := s.Calls()
	if len(calls) != 2 {
		t.Fatalf("%d requests, want 2", len(calls))
	}
	enc, dec := calls[0], calls[1]
	if !bytes.Equal(enc.AAD, aad) || !bytes.Equal(dec.AAD, aad) {
		t.Errorf("AAD received: encrypt %x, decrypt %x; want %x", enc.AAD, dec.AAD, aad)
	}
	if !enc.PlaintextCRC32C || !enc.AADCRC32C || !dec.CiphertextCRC32C || !dec.AADCRC32C {
		t.Errorf("checksums sent: %+v, %+v; want all", enc, dec)
	}
	if enc.Name != keyName || dec.Name != keyName {
		t.Errorf("names: %q, %q; want %q", enc.Name, dec.Name, keyName)
	}
}

func TestIntegrity(t *testing.T) {
	key, aad := newDEK(), kms.DEKAAD("org_crc", 1)
	for _, f := range []struct {
		name  string
		fault gcpkmstest.Fault
	}{
		{"corrupt response", gcpkmstest.CorruptResponse},
		{"unverified", gcpkmstest.UnverifiedChecksums},
	} {
		t.Run(f.name+"/once", func(t *testing.T) {
			s := newFake(t)
			k := newKEK(t, s, keyName, 0)
			s.FailNext(1, f.fault)
			w, err := k.Wrap(t.Context(), key, aad)
			if err != nil {
				t.Fatalf("Wrap: %v", err)
			}
			s.FailNext(1, f.fault)
			got, err := k.Unwrap(t.Context(), w, aad)
			if err != nil || !bytes.Equal(got, key) {
				t.Fatalf("Unwrap = %d bytes, %v; want the key", len(got), err)
			}
			if n := len(s.Calls()); n != 4 {
				t.Errorf("%d requests, want 4 (each bad response retried once)", n)
			}
		})
		t.Run(f.name+"/always", func(t *testing.T) {
			s := newFake(t)
			k := newKEK(t, s, keyName, 3)
			w, err := k.Wrap(t.Context(), key, aad)
			if err != nil {
				t.Fatal(err)
			}
			s.FailNext(3, f.fault)
			if _, err := k.Wrap(t.Context(), key, aad); !errors.Is(err, gcpkms.ErrIntegrity) || !errors.Is(err, kms.ErrUnavailable) {
				t.Errorf("Wrap = %v; want ErrIntegrity and ErrUnavailable", err)
			}
			s.FailNext(3, f.fault)
			got, err := k.Unwrap(t.Context(), w, aad)
			if !errors.Is(err, gcpkms.ErrIntegrity) || !errors.Is(err, kms.ErrUnavailable) || got != nil {
				t.Errorf("Unwrap = %d bytes, %v; want nil and ErrIntegrity", len(got), err)
			}
		})
	}
}

func TestTransportFailures(t *testing.T) {
	for _, tt := range []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"proxy 502 page", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("<html>bad gateway</html>"))
		}},
		{"200 not json", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html>")) }},
		{"connection dropped", func(w http.ResponseWriter, _ *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = conn.Close()
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			k, err := gcpkms.New(t.Context(), gcpkms.Config{
				KeyName: keyName, Endpoint: srv.URL, MaxAttempts: 2,
				ClientOptions: []option.ClientOption{option.WithoutAuthentication()},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer k.Close()
			if _, err := k.Wrap(t.Context(), newDEK(), nil); !errors.Is(err, kms.ErrUnavailable) {
				t.Errorf("Wrap = %v; want ErrUnavailable", err)
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	for _, cfg := range []gcpkms.Config{
		{},
		{KeyName: "projects/p/locations/l/keyRings/r"},
		{KeyName: keyName + "/cryptoKeyVersions/1"},
		{KeyName: keyName, Endpoint: "http://kms.example.com"},
		{KeyName: keyName, Endpoint: "https://kms.example.com/v1"},
		{KeyName: keyName, Endpoint: "https://user:pw@kms.example.com"},
		{KeyName: keyName, Endpoint: "cloudkms.googleapis.com:443"},
		{KeyName: keyName, MaxAttempts: -1},
	} {
		if k, err := gcpkms.New(t.Context(), cfg); err == nil {
			_ = k.Close()
			t.Errorf("New(%+v) succeeded", cfg)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("New error %q shows the endpoint's password", err)
		}
	}
}

func TestWrapRefuses(t *testing.T) {
	s := newFake(t)
	k := newKEK(t, s, keyName, 0)
	for _, tt := range []struct{ key, aad []byte }{
		{nil, nil},
		{make([]byte, gcpkms.MaxKeyLen+1), nil},
		{newDEK(), make([]byte, gcpkms.MaxAADLen+1)},
	} {
		if _, err := k.Wrap(t.Context(), tt.key, tt.aad); err == nil {
			t.Errorf("Wrap of %d key bytes with %d aad bytes succeeded", len(tt.key), len(tt.aad))
		}
	}
	if n := len(s.Calls()); n != 0 {
		t.Errorf("%d requests for refused wraps, want 0", n)
	}
}
