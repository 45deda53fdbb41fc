package pkcs11

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"

	p11 "github.com/miekg/pkcs11"

	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/kms/kmstest"
	"github.com/keyward/keyward/secret"
)

// TestConformance runs the KEK conformance suite, one fresh token per subtest.
func TestConformance(t *testing.T) {
	testModule(t)
	kmstest.Run(t, func(t *testing.T) kms.KEK {
		k, _ := provision(t, nil)
		return k
	})
}

func newDEK() []byte {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return key
}

func mustWrap(t *testing.T, k *KEK, key, aad []byte) kms.Wrapped {
	t.Helper()
	w, err := k.Wrap(t.Context(), key, aad)
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	return w
}

func mustUnwrap(t *testing.T, k *KEK, w kms.Wrapped, aad, want []byte) {
	t.Helper()
	got, err := k.Unwrap(t.Context(), w, aad)
	if err != nil {
		t.Fatalf("Unwrap of a version %d wrap: %v", w.KEKVersion, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Unwrap of a version %d wrap returned another key", w.KEKVersion)
	}
}

func TestWrappedLayout(t *testing.T) {
	k, tok := provision(t, nil)
	if want := "pkcs11:token=" + tok.cfg.Token + ";object=kek"; k.ID() != want {
		t.Errorf("ID() = %q, want %q", k.ID(), want)
	}
	w := mustWrap(t, k, newDEK(), kms.DEKAAD("org", 1))
	if len(w.Ciphertext) != IVSize+32+TagSize {
		t.Errorf("wrapped a 32-byte key into %d bytes, want %d", len(w.Ciphertext), IVSize+32+TagSize)
	}
	if w.KEKVersion != 1 || w.KEKID != k.ID() {
		t.Errorf("Wrapped names %s version %d, want %s version 1", w.KEKID, w.KEKVersion, k.ID())
	}
	for _, n := range []int{0, MaxKeyLen + 1} {
		if _, err := k.Wrap(t.Context(), make([]byte, n), nil); err == nil {
			t.Errorf("Wrap of a %d-byte key succeeded", n)
		}
	}
	// The largest key and an empty AAD go through the token too.
	big := bytes.Repeat([]byte{7}, MaxKeyLen)
	mustUnwrap(t, k, mustWrap(t, k, big, nil), nil, big)
}

func TestRotate(t *testing.T) {
	k, tok := provision(t, nil)
	ctx := t.Context()
	key1, key2, aad := newDEK(), newDEK(), kms.DEKAAD("org_rot", 1)
	w1 := mustWrap(t, k, key1, aad)

	v, err := k.Rotate(ctx)
	if err != nil || v != 2 {
		t.Fatalf("Rotate = %d, %v; want 2", v, err)
	}
	w2 := mustWrap(t, k, key2, aad)
	if w1.KEKVersion != 1 || w2.KEKVersion != 2 || k.Version() != 2 {
		t.Fatalf("versions: first wrap %d, second %d, current %d; want 1, 2, 2", w1.KEKVersion, w2.KEKVersion, k.Version())
	}
	mustUnwrap(t, k, w1, aad, key1)
	mustUnwrap(t, k, w2, aad, key2)
	// A version 1 wrap relabelled as version 2 must not open.
	if _, err := k.Unwrap(ctx, kms.Wrapped{KEKID: w1.KEKID, KEKVersion: 2, Ciphertext: w1.Ciphertext}, aad); !errors.Is(err, kms.ErrUnwrap) {
		t.Errorf("version 1 wrap presented as version 2: %v, want ErrUnwrap", err)
	}
	if v, err := k.Rotate(ctx); err != nil || v != 3 {
		t.Fatalf("second Rotate = %d, %v; want 3", v, err)
	}

	// A new Open sees every version and wraps with the highest.
	k2, err := Open(ctx, tok.cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer k2.Close()
	if k2.Version() != 3 {
		t.Errorf("reopened KEK is at version %d, want 3", k2.Version())
	}
	mustUnwrap(t, k2, w1, aad, key1)
	mustUnwrap(t, k2, w2, aad, key2)
	if w := mustWrap(t, k2, key1, aad); w.KEKVersion != 3 {
		t.Errorf("reopened KEK wraps with version %d, want 3", w.KEKVersion)
	}

	// Provision refuses a token that has the key.
	if k3, err := Provision(ctx, tok.cfg); !errors.Is(err, ErrKeyExists) {
		if k3 != nil {
			k3.Close()
		}
		t.Errorf("Provision on a provisioned token: %v, want ErrKeyExists", err)
	}
}

func TestPinnedVersion(t *testing.T) {
	k, tok := provision(t, nil)
	ctx := t.Context()
	key, aad := newDEK(), kms.DEKAAD("org_pin", 3)
	if _, err := k.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	w2 := mustWrap(t, k, key, aad)

	cfg := tok.cfg
	cfg.Version = 1
	pinned, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open pinned to version 1: %v", err)
	}
	defer pinned.Close()
	w1 := mustWrap(t, pinned, key, aad)
	if w1.KEKVersion != 1 || pinned.ID() != k.ID() {
		t.Errorf("pinned KEK wraps with %s version %d, want %s version 1", pinned.ID(), w1.KEKVersion, k.ID())
	}
	mustUnwrap(t, pinned, w2, aad, key) // every version still unwraps
	mustUnwrap(t, k, w1, aad, key)
	if _, err := pinned.Rotate(ctx); err == nil {
		t.Error("Rotate of a pinned KEK succeeded")
	}
	cfg.Version = 9
	if k9, err := Open(ctx, cfg); !errors.Is(err, kms.ErrUnknownKEK) {
		if k9 != nil {
			k9.Close()
		}
		t.Errorf("Open pinned to a missing version: %v, want ErrUnknownKEK", err)
	}
}

// TestRotationElsewhere: a KEK sees versions another KEK (in production,
// another process) created, on first use.
func TestRotationElsewhere(t *testing.T) {
	k1, tok := provision(t, nil)
	ctx := t.Context()
	k2, err := Open(ctx, tok.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer k2.Close()
	if _, err := k1.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	key, aad := newDEK(), kms.DEKAAD("org_else", 1)
	if w := mustWrap(t, k2, key, aad); w.KEKVersion != 1 || k2.Version() != 1 {
		t.Errorf("k2 wraps with version %d before it meets version 2, want 1", w.KEKVersion)
	}
	w := mustWrap(t, k1, key, aad)
	mustUnwrap(t, k2, w, aad, key)
	if w := mustWrap(t, k2, key, aad); w.KEKVersion != 2 || k2.Version() != 2 {
		t.Errorf("k2 wraps with version %d after unwrapping a version 2 key, want 2", w.KEKVersion)
	}
	// A pinned KEK meets version 2 and stays on version 1.
	cfg := tok.cfg
	cfg.Version = 1
	pinned, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pinned.Close()
	mustUnwrap(t, pinned, w, aad, key)
	if pinned.Version() != 1 {
		t.Errorf("pinned KEK moved to version %d", pinned.Version())
	}
	// Closing one KEK on a shared token and module leaves the other working:
	// no logout, no C_Finalize while it is open.
	if err := k1.Close(); err != nil {
		t.Fatal(err)
	}
	mustUnwrap(t, k2, w, aad, key)
	if _, err := k1.Wrap(ctx, key, aad); !errors.Is(err, ErrClosed) {
		t.Errorf("Wrap after Close: %v, want ErrClosed", err)
	}
	if err := k1.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestWrongPIN(t *testing.T) {
	tok := newToken(t)
	cfg := tok.cfg
	const wrong = "wrong-pin-7d1c"
	cfg.PIN = secret.FromString(wrong)
	k, err := Provision(t.Context(), cfg)
	if err == nil {
		k.Close()
		t.Fatal("Provision with a wrong PIN succeeded")
	}
	if !errors.Is(err, ErrLogin) || !strings.Contains(err.Error(), "wrong pin") {
		t.Errorf("wrong PIN: %v, want ErrLogin saying wrong pin", err)
	}
	for _, out := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		if strings.Contains(out, wrong) || strings.Contains(out, string(tok.cfg.PIN.Reveal())) {
			t.Errorf("error text contains a PIN: %s", out)
		}
	}
	// The right PIN still works: one failure did not lock the token.
	k, err = Provision(t.Context(), tok.cfg)
	if err != nil {
		t.Fatalf("Provision with the right PIN after a wrong one: %v", err)
	}
	defer k.Close()
	pin := string(tok.cfg.PIN.Reveal())
	for _, out := range []string{k.String(), fmt.Sprintf("%v %+v %#v %s %x %d", k, k, k, k, k, k), fmt.Sprintf("%+v %#v", tok.cfg, tok.cfg)} {
		if strings.Contains(out, pin) {
			t.Errorf("printed form contains the PIN: %s", out)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	tok := newToken(t)
	ctx := t.Context()
	with := func(f func(*Config)) Config { c := tok.cfg; f(&c); return c }
	tests := []struct {
		name string
		cfg  Config
		want error
	}{
		{"no key yet", tok.cfg, ErrNoKey},
		{"no such token", with(func(c *Config) { c.Token = "absent" }), kms.ErrUnavailable},
		{"no pin", with(func(c *Config) { c.PIN = secret.Bytes{} }), nil},
		{"relative module", with(func(c *Config) { c.Module = "libsofthsm2.so" }), nil},
		{"missing module", with(func(c *Config) { c.Module = "/nonexistent/libpkcs11.so" }), nil},
		{"not a module", with(func(c *Config) { c.Module = "/etc/hostname" }), nil},
		{"too many sessions", with(func(c *Config) { c.Sessions = MaxSessions + 1 }), nil},
		{"negative sessions", with(func(c *Config) { c.Sessions = -1 }), nil},
		{"long token label", with(func(c *Config) { c.Token = strings.Repeat("t", 33) }), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := Open(ctx, tt.cfg)
			if err == nil {
				k.Close()
				t.Fatal("Open succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Open: %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), string(tok.cfg.PIN.Reveal())) {
				t.Errorf("error contains the PIN: %v", err)
			}
		})
	}
}

// TestRefusesUnfitKeys: a key under the label that is extractable, not
// sensitive, too short, imported, or has no version in CKA_ID is refused, not
// skipped; so are two keys with one version.
func TestRefusesUnfitKeys(t *testing.T) {
	k, tok := provision(t, nil)
	sh := rwSession(t, k, tok.cfg.PIN)
	ctx11 := k.module.ctx
	attrs := func(label string, id []byte, more ...*p11.Attribute) []*p11.Attribute {
		return append([]*p11.Attribute{
			p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
			p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
			p11.NewAttribute(p11.CKA_TOKEN, true),
			p11.NewAttribute(p11.CKA_PRIVATE, true),
			p11.NewAttribute(p11.CKA_LABEL, label),
			p11.NewAttribute(p11.CKA_ID, id),
			p11.NewAttribute(p11.CKA_ENCRYPT, true),
			p11.NewAttribute(p11.CKA_DECRYPT, true),
		}, more...)
	}
	sensitive := []*p11.Attribute{p11.NewAttribute(p11.CKA_SENSITIVE, true), p11.NewAttribute(p11.CKA_EXTRACTABLE, false)}
	len32 := p11.NewAttribute(p11.CKA_VALUE_LEN, 32)
	tests := []struct {
		label    string
		attrs    []*p11.Attribute
		imported bool
	}{
		{"extractable", attrs("extractable", versionID(1), len32, p11.NewAttribute(p11.CKA_SENSITIVE, true), p11.NewAttribute(p11.CKA_EXTRACTABLE, true)), false},
		{"not-sensitive", attrs("not-sensitive", versionID(1), len32, p11.NewAttribute(p11.CKA_SENSITIVE, false), p11.NewAttribute(p11.CKA_EXTRACTABLE, false)), false},
		{"aes-128", attrs("aes-128", versionID(1), append(sensitive, p11.NewAttribute(p11.CKA_VALUE_LEN, 16))...), false},
		{"no-version", attrs("no-version", []byte("kek-1"), append(sensitive, len32)...), false},
		{"version-0", attrs("version-0", versionID(0), append(sensitive, len32)...), false},
		{"imported", attrs("imported", versionID(1), append(sensitive, p11.NewAttribute(p11.CKA_VALUE, newDEK()))...), true},
		// A second version 1 next to the provisioned one.
		{"kek", attrs("kek", versionID(1), append(sensitive, len32)...), false},
	}
	for _, tt := range tests {
		t.Run(tt.label, func(t *testing.T) {
			var err error
			if tt.imported {
				_, err = ctx11.CreateObject(sh, tt.attrs)
			} else {
				_, err = ctx11.GenerateKey(sh, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_GEN, nil)}, tt.attrs)
			}
			if err != nil {
				t.Fatalf("making the key: %v", err)
			}
			cfg := tok.cfg
			cfg.Object = tt.label
			k2, err := Open(t.Context(), cfg)
			if err == nil {
				k2.Close()
				t.Fatal("Open accepted the key")
			}
			if !errors.Is(err, ErrBadKey) {
				t.Errorf("Open: %v, want ErrBadKey", err)
			}
		})
	}
}
