package awskms_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/kms/awskms"
	"github.com/keyward/keyward/kms/kmstest"
)

// These tests run against the local fake in fake_test.go, not against AWS.

func credentials(secret string) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: fakeAccessKey, SecretAccessKey: secret, Source: "test"}, nil
	})
}

// testConfig returns a Config for keyID at the fake, with fast retries.
func testConfig(f *fakeKMS, keyID string) awskms.Config {
	return awskms.Config{
		KeyID:          keyID,
		Credentials:    credentials(fakeSecretKey),
		Endpoint:       f.URL,
		MaxBackoff:     time.Millisecond,
		AttemptTimeout: 5 * time.Second,
	}
}

func newKEK(t testing.TB, cfg awskms.Config) *awskms.KEK {
	t.Helper()
	k, err := awskms.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return k
}

func TestConformance(t *testing.T) {
	t.Run("key arn", func(t *testing.T) {
		kmstest.Run(t, func(t *testing.T) kms.KEK {
			f := newFakeKMS(t)
			return newKEK(t, testConfig(f, f.CreateKey()))
		})
	})
	t.Run("alias arn", func(t *testing.T) {
		kmstest.Run(t, func(t *testing.T) kms.KEK {
			f := newFakeKMS(t)
			return newKEK(t, testConfig(f, f.CreateAlias("keyward", f.CreateKey())))
		})
	})
	t.Run("rotated key", func(t *testing.T) {
		kmstest.Run(t, func(t *testing.T) kms.KEK {
			f := newFakeKMS(t)
			arn := f.CreateKey()
			f.RotateKey(arn)
			return newKEK(t, testConfig(f, arn))
		})
	})
}

// wrap wraps a fixed data key for org at DEK version 1.
func wrap(t *testing.T, k *awskms.KEK, org string) (kms.Wrapped, []byte, []byte) {
	t.Helper()
	key, aad := bytes.Repeat([]byte{0x5a}, 32), kms.DEKAAD(org, 1)
	w, err := k.Wrap(t.Context(), key, aad)
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	return w, key, aad
}

func TestWrappedNamesKey(t *testing.T) {
	f := newFakeKMS(t)
	arn := f.CreateKey()
	k := newKEK(t, testConfig(f, arn))
	w, _, _ := wrap(t, k, "acme")
	if want := "awskms:" + arn; k.ID() != want || w.KEKID != want || w.KEKVersion != 1 {
		t.Errorf("ID() = %q, Wrapped = %q v%d; want %q v1", k.ID(), w.KEKID, w.KEKVersion, want)
	}
	cfg, err := awskms.ParseURI(k.ID())
	if err != nil || cfg.KeyID != arn || cfg.Region != fakeRegion {
		t.Errorf("ParseURI(ID()) = %+v, %v; want the key arn and its region", cfg, err)
	}
	if got := fmt.Sprintf("%v %+v %#v %x", k, k, k, k); strings.Count(got, "awskms.KEK("+arn+")") != 4 {
		t.Errorf("formatted KEK = %q", got)
	}
}

func TestEncryptionContextSent(t *testing.T) {
	f := newFakeKMS(t)
	arn := f.CreateKey()
	k := newKEK(t, testConfig(f, arn))
	w, key, aad := wrap(t, k, "acme")
	if got, err := k.Unwrap(t.Context(), w, aad); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("Unwrap = %v; want the key", err)
	}
	want := base64.RawURLEncoding.EncodeToString(aad)
	calls := f.Calls()
	if len(calls) != 2 || calls[0].Op != "Encrypt" || calls[1].Op != "Decrypt" {
		t.Fatalf("calls = %+v, want Encrypt then Decrypt", calls)
	}
	for _, c := range calls {
		if len(c.Context) != 1 || c.Context[awskms.ContextKey] != want {
			t.Errorf("%s encryption context = %v, want {%q: %q}", c.Op, c.Context, awskms.ContextKey, want)
		}
		if c.KeyID != arn {
			t.Errorf("%s KeyId = %q, want the pinned arn %q", c.Op, c.KeyID, arn)
		}
	}
}

func TestSigV4(t *testing.T) {
	f := newFakeKMS(t)
	arn := f.CreateKey()
	wrap(t, newKEK(t, testConfig(f, arn)), "acme")
	c := f.Calls()[0]
	m := sigV4Auth.FindStringSubmatch(c.Authorization)
	if m == nil || c.AuthError != "" {
		t.Fatalf("Authorization %q (fake: %q), want a valid SigV4 header", c.Authorization, c.AuthError)
	}
	if m[1] != fakeAccessKey || m[3] != fakeRegion {
		t.Errorf("credential scope %s/%s, want %s/%s", m[1], m[3], fakeAccessKey, fakeRegion)
	}

	t.Run("wrong secret", func(t *testing.T) {
		cfg := testConfig(f, arn)
		cfg.Credentials = credentials("not-the-secret")
		_, err := newKEK(t, cfg).Wrap(t.Context(), make([]byte, 32), kms.DEKAAD("acme", 1))
		if !errors.Is(err, awskms.ErrAccessDenied) || errors.Is(err, kms.ErrUnavailable) {
			t.Errorf("Wrap error = %v, want ErrAccessDenied only", err)
		}
	})
	t.Run("credentials provider fails", func(t *testing.T) {
		cfg := testConfig(f, arn)
		boom := errors.New("metadata service unreachable")
		cfg.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{}, boom
		})
		_, err := newKEK(t, cfg).Wrap(t.Context(), make([]byte, 32), kms.DEKAAD("acme", 1))
		if !errors.Is(err, kms.ErrUnavailable) || !errors.Is(err, boom) {
			t.Errorf("Wrap error = %v, want ErrUnavailable wrapping the provider's error", err)
		}
	})
}

func TestAccessDenied(t *testing.T) {
	f := newFakeKMS(t)
	k := newKEK(t, testConfig(f, f.CreateKey()))
	w, _, aad := wrap(t, k, "acme")
	f.Deny(true)
	before := f.Count("Decrypt")
	_, err := k.Unwrap(t.Context(), w, aad)
	if !errors.Is(err, awskms.ErrAccessDenied) || errors.Is(err, kms.ErrUnavailable) || errors.Is(err, kms.ErrUnwrap) {
		t.Errorf("Unwrap error = %v, want ErrAccessDenied only", err)
	}
	if n := f.Count("Decrypt") - before; n != 1 {
		t.Errorf("access denied was sent %d times, want 1 (not retried)", n)
	}
}

func TestThrottleThenHeal(t *testing.T) {
	f := newFakeKMS(t)
	k := newKEK(t, testConfig(f, f.CreateKey())) // 3 attempts
	w, key, aad := wrap(t, k, "acme")

	f.Throttle(2)
	before := f.Count("Decrypt")
	if got, err := k.Unwrap(t.Context(), w, aad); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("Unwrap after 2 throttles = %v; want the key (retried)", err)
	}
	if n := f.Count("Decrypt") - before; n != 3 {
		t.Errorf("Decrypt sent %d times, want 3", n)
	}

	f.Throttle(1000)
	before = f.Count("Decrypt")
	_, err := k.Unwrap(t.Context(), w, aad)
	if !errors.Is(err, kms.ErrUnavailable) || errors.Is(err, kms.ErrUnwrap) {
		t.Errorf("Unwrap while throttled = %v, want ErrUnavailable", err)
	}
	if n := f.Count("Decrypt") - before; n != 3 {
		t.Errorf("Decrypt sent %d times while throttled, want 3 (MaxAttempts)", n)
	}
	if _, err := k.Wrap(t.Context(), key, aad); !errors.Is(err, kms.ErrUnavailable) {
		t.Errorf("Wrap while throttled = %v, want ErrUnavailable", err)
	}

	f.Throttle(0)
	if got, err := k.Unwrap(t.Context(), w, aad); err != nil || !bytes.Equal(got, key) {
		t.Errorf("Unwrap after throttling stopped = %v; want the key", err)
	}
}

func TestServerErrorThenHeal(t *testing.T) {
	f := newFakeKMS(t)
	cfg := testConfig(f, f.CreateKey())
	cfg.MaxAttempts = 4
	k := newKEK(t, cfg)
	w, key, aad := wrap(t, k, "acme")
	for _, tt := range []struct {
		status int
		code   string
	}{
		{http.StatusInternalServerError, "KMSInternalException"},
		{http.StatusInternalServerError, "DependencyTimeoutException"},
		{http.StatusServiceUnavailable, "ServiceUnavailable"},
		{http.StatusBadGateway, "BadGateway"},
	} {
		t.Run(tt.code, func(t *testing.T) {
			f.Fail(3, tt.status, tt.code)
			if got, err := k.Unwrap(t.Context(), w, aad); err != nil || !bytes.Equal(got, key) {
				t.Errorf("Unwrap after 3 failures = %v; want the key on the 4th attempt", err)
			}
			f.Fail(4, tt.status, tt.code)
			_, err := k.Unwrap(t.Context(), w, aad)
			if !errors.Is(err, kms.ErrUnavailable) || errors.Is(err, kms.ErrUnwrap) {
				t.Errorf("Unwrap after 4 failures = %v, want ErrUnavailable", err)
			}
		})
	}
}

func TestNetworkFailures(t *testing.T) {
	f := newFakeKMS(t)
	cfg := testConfig(f, f.CreateKey())
	cfg.AttemptTimeout = 250 * time.Millisecond
	k := newKEK(t, cfg)
	w, key, aad := wrap(t, k, "acme")

	t.Run("dropped connections", func(t *testing.T) {
		f.Drop(2)
		if got, err := k.Unwrap(t.Context(), w, aad); err != nil || !bytes.Equal(got, key) {
			t.Errorf("Unwrap after 2 dropped connections = %v; want the key", err)
		}
		f.Drop(3)
		if _, err := k.Unwrap(t.Context(), w, aad); !errors.Is(err, kms.ErrUnavailable) {
			t.Errorf("Unwrap after 3 dropped connections = %v, want ErrUnavailable", err)
		}
	})
	t.Run("attempt timeout", func(t *testing.T) {
		f.Stall(1, time.Minute)
		if got, err := k.Unwrap(t.Context(), w, aad); err != nil || !bytes.Equal(got, key) {
			t.Errorf("Unwrap after one stalled attempt = %v; want the key", err)
		}
		f.Stall(3, time.Minute)
		if _, err := k.Unwrap(t.Context(), w, aad); !errors.Is(err, kms.ErrUnavailable) {
			t.Errorf("Unwrap after 3 stalled attempts = %v, want ErrUnavailable", err)
		}
	})
	t.Run("caller deadline", func(t *testing.T) {
		cfg := cfg
		cfg.AttemptTimeout = time.Minute
		k := newKEK(t, cfg)
		f.Stall(1, time.Minute)
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := k.Unwrap(ctx, w, aad)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Unwrap error = %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Unwrap took %v after its deadline", d)
		}
	})
	t.Run("nothing listening", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cfg := cfg
		cfg.Endpoint = "http://" + l.Addr().String()
		_ = l.Close()
		_, err = newKEK(t, cfg).Wrap(t.Context(), key, aad)
		if !errors.Is(err, kms.ErrUnavailable) {
			t.Errorf("Wrap to a closed port = %v, want ErrUnavailable", err)
		}
	})
}

func TestKeyStates(t *testing.T) {
	f := newFakeKMS(t)
	arn := f.CreateKey()
	k := newKEK(t, testConfig(f, arn))
	w, key, aad := wrap(t, k, "acme")
	for _, state := range []string{stateDisabled, statePendingDeletion} {
		t.Run(state, func(t *testing.T) {
			f.SetKeyState(arn, state)
			before := f.Count("Decrypt")
			_, err := k.Unwrap(t.Context(), w, aad)
			if !errors.Is(err, kms.ErrUnavailable) || !errors.Is(err, awskms.ErrKeyUnusable) || errors.Is(err, kms.ErrUnwrap) {
				t.Errorf("Unwrap error = %v, want ErrUnavailable and ErrKeyUnusable", err)
			}
			if n := f.Count("Decrypt") - before; n != 1 {
				t.Errorf("Decrypt sent %d times, want 1 (a key state is not retried)", n)
			}
			if _, err := k.Wrap(t.Context(), key, aad); !errors.Is(err, awskms.ErrKeyUnusable) {
				t.Errorf("Wrap error = %v, want ErrKeyUnusable", err)
			}
			if err := k.Check(t.Context()); !errors.Is(err, awskms.ErrKeyUnusable) {
				t.Errorf("Check error = %v, want ErrKeyUnusable", err)
			}
			f.SetKeyState(arn, stateEnabled)
			if got, err := k.Unwrap(t.Context(), w, aad); err != nil || !bytes.Equal(got, key) {
				t.Errorf("Unwrap after re-enabling = %v; want the key", err)
			}
		})
	}
	t.Run("deleted", func(t *testing.T) {
		f.DeleteKey(arn)
		if _, err := k.Unwrap(t.Context(), w, aad); !errors.Is(err, kms.ErrUnknownKEK) || errors.Is(err, kms.ErrUnavailable) {
			t.Errorf("Unwrap error = %v, want ErrUnknownKEK", err)
		}
		if _, err := k.Wrap(t.Context(), key, aad); !errors.Is(err, kms.ErrUnknownKEK) {
			t.Errorf("Wrap error = %v, want ErrUnknownKEK", err)
		}
	})
}

func TestRotationInKMS(t *testing.T) {
	f := newFakeKMS(t)
	arn := f.CreateKey()
	k := newKEK(t, testConfig(f, arn))
	old, key, aad := wrap(t, k, "acme")
	f.RotateKey(arn)
	f.RotateKey(arn)
	nw, _, _ := wrap(t, k, "acme")
	if BlobVersion(old.Ciphertext) != 1 || BlobVersion(nw.Ciphertext) != 3 {
		t.Fatalf("fake backing versions %d and %d, want 1 and 3", BlobVersion(old.Ciphertext), BlobVersion(nw.Ciphertext))
	}
	for _, w := range []kms.Wrapped{old, nw} {
		if w.KEKVersion != 1 {
			t.Errorf("KEKVersion = %d, want 1 whatever the backing version", w.KEKVersion)
		}
		if got, err := k.Unwrap(t.Context(), w, aad); err != nil || !bytes.Equal(got, key) {
			t.Errorf("Unwrap of backing version %d = %v; want the key", BlobVersion(w.Ciphertext), err)
		}
	}
}

// TestPinnedKey: a blob of another KMS key is refused even if its Wrapped is
// relabelled with this KEK's id, because Decrypt names the key.
func TestPinnedKey(t *testing.T) {
	f := newFakeKMS(t)
	a := newKEK(t, testConfig(f, f.CreateKey()))
	b := newKEK(t, testConfig(f, f.CreateKey()))
	w, _, aad := wrap(t, a, "acme")
	w.KEKID = b.ID()
	if key, err := b.Unwrap(t.Context(), w, aad); !errors.Is(err, kms.ErrUnwrap) || key != nil {
		t.Errorf("Unwrap of another key's blob = %v, want ErrUnwrap", err)
	}
	if calls := f.Calls(); calls[len(calls)-1].Op != "Decrypt" {
		t.Errorf("the refusal did not come from KMS")
	}
}

func TestCheck(t *testing.T) {
	f := newFakeKMS(t)
	arn := f.CreateKey()
	alias := f.CreateAlias("keyward", arn)
	for _, id := range []string{arn, alias} {
		cfg := testConfig(f, id)
		cfg.CheckKey = true
		newKEK(t, cfg)
	}
	t.Run("missing key", func(t *testing.T) {
		cfg := testConfig(f, keyARN("00000000-0000-0000-0000-000000000000"))
		cfg.CheckKey = true
		if _, err := awskms.New(t.Context(), cfg); !errors.Is(err, kms.ErrUnknownKEK) {
			t.Errorf("New error = %v, want ErrUnknownKEK", err)
		}
	})
	t.Run("signing key", func(t *testing.T) {
		other := f.CreateKey()
		f.SetKeySpec(other, "ECC_NIST_P256", "SIGN_VERIFY")
		cfg := testConfig(f, other)
		cfg.CheckKey = true
		if _, err := awskms.New(t.Context(), cfg); !errors.Is(err, awskms.ErrInvalidConfig) {
			t.Errorf("New error = %v, want ErrInvalidConfig", err)
		}
		_, err := newKEK(t, testConfig(f, other)).Wrap(t.Context(), make([]byte, 32), kms.DEKAAD("acme", 1))
		if err == nil || errors.Is(err, kms.ErrUnavailable) {
			t.Errorf("Wrap under a signing key = %v, want a non-retryable error", err)
		}
	})
}

func TestNewRefuses(t *testing.T) {
	f := newFakeKMS(t)
	good := testConfig(f, f.CreateKey())
	for name, mod := range map[string]func(*awskms.Config){
		"no key id":            func(c *awskms.Config) { c.KeyID = "" },
		"bare key id":          func(c *awskms.Config) { c.KeyID = strings.TrimPrefix(c.KeyID, arnPrefix()+"key/") },
		"alias name":           func(c *awskms.Config) { c.KeyID = "alias/keyward" },
		"other region":         func(c *awskms.Config) { c.Region = "us-east-1" },
		"no credentials":       func(c *awskms.Config) { c.Credentials = nil },
		"http to remote host":  func(c *awskms.Config) { c.Endpoint = "http://kms.example.com" },
		"ftp endpoint":         func(c *awskms.Config) { c.Endpoint = "ftp://127.0.0.1" },
		"endpoint with query":  func(c *awskms.Config) { c.Endpoint = "https://kms.example.com/?a=b" },
		"endpoint with user":   func(c *awskms.Config) { c.Endpoint = "https://u:p@kms.example.com" },
		"negative attempts":    func(c *awskms.Config) { c.MaxAttempts = -1 },
		"negative timeout":     func(c *awskms.Config) { c.AttemptTimeout = -time.Second },
		"uppercase key id arn": func(c *awskms.Config) { c.KeyID = strings.ToUpper(c.KeyID) },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := good
			mod(&cfg)
			if k, err := awskms.New(t.Context(), cfg); !errors.Is(err, awskms.ErrInvalidConfig) || k != nil {
				t.Errorf("New = %v, %v; want ErrInvalidConfig", k, err)
			}
		})
	}
	if len(f.Calls()) != 0 {
		t.Errorf("New without CheckKey called KMS")
	}
	cfg := good
	cfg.Region, cfg.Endpoint = fakeRegion, "https://kms.eu-west-1.amazonaws.com"
	if _, err := awskms.New(t.Context(), cfg); err != nil {
		t.Errorf("New with matching region and https endpoint: %v", err)
	}
}

func TestWrapRefuses(t *testing.T) {
	f := newFakeKMS(t)
	k := newKEK(t, testConfig(f, f.CreateKey()))
	aad := kms.DEKAAD("acme", 1)
	for name, args := range map[string][2][]byte{
		"empty key":     {nil, aad},
		"oversized key": {make([]byte, 4097), aad},
		"empty aad":     {make([]byte, 32), nil},
		"oversized aad": {make([]byte, 32), make([]byte, 1025)},
	} {
		if _, err := k.Wrap(t.Context(), args[0], args[1]); err == nil {
			t.Errorf("Wrap with %s succeeded", name)
		}
	}
	if len(f.Calls()) != 0 {
		t.Errorf("refused wraps reached KMS")
	}
}

func BenchmarkUnwrap(b *testing.B) {
	f := newFakeKMS(b)
	k := newKEK(b, testConfig(f, f.CreateKey()))
	aad := kms.DEKAAD("acme", 1)
	w, err := k.Wrap(b.Context(), make([]byte, 32), aad)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Unwrap(b.Context(), w, aad); err != nil {
			b.Fatal(err)
		}
	}
}
