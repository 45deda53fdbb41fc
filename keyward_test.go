package keyward_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/format"
	"github.com/keyward/keyward/kms/localkms"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/sqlite"
)

// newEngine opens an engine on a fresh SQLite store and local KEK.
func newEngine(t testing.TB, orgs ...string) (*keyward.Engine, store.Store) {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kek, err := localkms.Create(filepath.Join(dir, "kek.key"))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := keyward.Open(st, kek, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	for _, org := range orgs {
		if _, err := eng.CreateOrg(context.Background(), org); err != nil {
			t.Fatal(err)
		}
	}
	return eng, st
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRoundTripAllForms(t *testing.T) {
	ctx := context.Background()
	eng, _ := newEngine(t, "acme")
	forms := []struct {
		name    string
		encrypt func(pt []byte) ([]byte, error)
	}{
		{"binary", func(pt []byte) ([]byte, error) {
			return eng.Encrypt(ctx, "acme", pt, "channels.token")
		}},
		{"text", func(pt []byte) ([]byte, error) {
			s, err := eng.EncryptText(ctx, "acme", pt, "channels.token")
			if err == nil && !strings.HasPrefix(s, "kw1:1:") {
				err = fmt.Errorf("text form %.10q… lacks prefix kw1:1:", s)
			}
			return []byte(s), err
		}},
		{"json", func(pt []byte) ([]byte, error) {
			f, err := eng.EncryptField(ctx, "acme", pt, "channels.token")
			if err != nil {
				return nil, err
			}
			return json.Marshal(f)
		}},
	}
	sizes := []int{0, 1, 64 << 10, 1 << 20}
	for _, form := range forms {
		for _, size := range sizes {
			t.Run(fmt.Sprintf("%s/%d", form.name, size), func(t *testing.T) {
				pt := randomBytes(t, size)
				ct, err := form.encrypt(pt)
				if err != nil {
					t.Fatal(err)
				}
				got, err := eng.Decrypt(ctx, "acme", ct, "channels.token")
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, pt) {
					t.Fatalf("round trip of %d bytes: got %d different bytes", size, len(got))
				}
			})
		}
	}
}

func TestIsolation(t *testing.T) {
	ctx := context.Background()
	eng, _ := newEngine(t, "org-a", "org-b")
	ct, err := eng.Encrypt(ctx, "org-a", []byte("whsec_abc"), "webhooks.secret:17")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, org, ctx string
	}{
		{"other org", "org-b", "webhooks.secret:17"},
		{"other context", "org-a", "webhooks.secret:18"},
		{"other column", "org-a", "channels.token:17"},
		{"empty context", "org-a", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := eng.Decrypt(ctx, tt.org, ct, tt.ctx)
			if err != keyward.ErrDecrypt {
				t.Fatalf("got (%q, %v), want ErrDecrypt exactly", got, err)
			}
		})
	}
}

func TestBitFlipsRejected(t *testing.T) {
	ctx := context.Background()
	eng, _ := newEngine(t, "acme")
	ct, err := eng.Encrypt(ctx, "acme", randomBytes(t, 64), "c")
	if err != nil {
		t.Fatal(err)
	}
	for bit := range len(ct) * 8 {
		mut := bytes.Clone(ct)
		mut[bit/8] ^= 1 << (bit % 8)
		_, err := eng.Decrypt(ctx, "acme", mut, "c")
		switch {
		case err == nil:
			t.Fatalf("bit %d flipped: decrypted", bit)
		case errors.Is(err, keyward.ErrDecrypt), errors.Is(err, keyward.ErrMalformed),
			errors.Is(err, keyward.ErrUnsupported), errors.Is(err, keyward.ErrUnknownVersion):
		default:
			t.Fatalf("bit %d flipped: unexpected error %v", bit, err)
		}
	}
}

func TestTextVersionDigitChanged(t *testing.T) {
	ctx := context.Background()
	eng, _ := newEngine(t, "acme")
	s1, err := eng.EncryptText(ctx, "acme", []byte("v1 value"), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.RotateDEK(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	// v2 exists now, so pointing the v1 ciphertext at it reaches the AEAD.
	tampered := strings.Replace(s1, "kw1:1:", "kw1:2:", 1)
	if _, err := eng.Decrypt(ctx, "acme", []byte(tampered), ""); err != keyward.ErrDecrypt {
		t.Fatalf("version digit 1→2: got %v, want ErrDecrypt", err)
	}
	tampered = strings.Replace(s1, "kw1:1:", "kw1:3:", 1)
	if _, err := eng.Decrypt(ctx, "acme", []byte(tampered), ""); !errors.Is(err, keyward.ErrUnknownVersion) {
		t.Fatalf("version digit 1→3: got %v, want ErrUnknownVersion", err)
	}
	tampered = strings.Replace(s1, "kw1:", "kw2:", 1)
	if _, err := eng.Decrypt(ctx, "acme", []byte(tampered), ""); !errors.Is(err, keyward.ErrUnsupported) {
		t.Fatalf("format version kw1→kw2: got %v, want ErrUnsupported", err)
	}
}

func TestRotation(t *testing.T) {
	ctx := context.Background()
	eng, _ := newEngine(t, "acme")
	old, err := eng.EncryptText(ctx, "acme", []byte("old secret"), "c")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := eng.RotateDEK(ctx, "acme"); err != nil || v != 2 {
		t.Fatalf("RotateDEK: got (%d, %v), want (2, nil)", v, err)
	}
	fresh, err := eng.EncryptText(ctx, "acme", []byte("new secret"), "c")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(fresh, "kw1:2:") {
		t.Fatalf("new ciphertext %.8q…: want version 2", fresh)
	}
	for _, tc := range []struct{ ct, want string }{{old, "old secret"}, {fresh, "new secret"}} {
		got, err := eng.Decrypt(ctx, "acme", []byte(tc.ct), "c")
		if err != nil || string(got) != tc.want {
			t.Fatalf("decrypt after rotate: got (%q, %v), want %q", got, err, tc.want)
		}
	}
	if err := eng.RetireKey(ctx, "acme", 1); err != nil {
		t.Fatal(err)
	}
	_, err = eng.Decrypt(ctx, "acme", []byte(old), "c")
	if !errors.Is(err, keyward.ErrRetired) || !strings.Contains(err.Error(), "version 1") {
		t.Fatalf("retired: got %v, want ErrRetired naming version 1", err)
	}
	if err := eng.ReinstateKey(ctx, "acme", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Decrypt(ctx, "acme", []byte(old), "c"); err != nil {
		t.Fatalf("reinstated: %v", err)
	}
	if err := eng.DestroyKey(ctx, "acme", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Decrypt(ctx, "acme", []byte(old), "c"); !errors.Is(err, keyward.ErrDestroyed) {
		t.Fatalf("destroyed: got %v, want ErrDestroyed", err)
	}
	if got, err := eng.Decrypt(ctx, "acme", []byte(fresh), "c"); err != nil || string(got) != "new secret" {
		t.Fatalf("v2 after destroying v1: got (%q, %v)", got, err)
	}
}

func TestConcurrentOrgs(t *testing.T) {
	ctx := context.Background()
	orgs := make([]string, 10)
	for i := range orgs {
		orgs[i] = fmt.Sprintf("org-%02d", i)
	}
	eng, _ := newEngine(t, orgs...)
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Go(func() {
			for i := range 50 {
				org := orgs[(g+i)%len(orgs)]
				pt := fmt.Appendf(nil, "%s/%d/%d", org, g, i)
				ct, err := eng.Encrypt(ctx, org, pt, "ctx")
				if err != nil {
					t.Error(err)
					return
				}
				got, err := eng.Decrypt(ctx, org, ct, "ctx")
				if err != nil || !bytes.Equal(got, pt) {
					t.Errorf("goroutine %d: got (%q, %v), want %q", g, got, err, pt)
					return
				}
				if i == 25 && g%16 == 0 {
					if _, err := eng.RotateDEK(ctx, org); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	eng, st := newEngine(t, "acme")
	good, err := eng.Encrypt(ctx, "acme", []byte("x"), "")
	if err != nil {
		t.Fatal(err)
	}
	goodText, _ := eng.EncryptText(ctx, "acme", []byte("x"), "")
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"empty ciphertext", func() error { _, err := eng.Decrypt(ctx, "acme", nil, ""); return err }, keyward.ErrMalformed},
		{"truncated binary", func() error { _, err := eng.Decrypt(ctx, "acme", good[:10], ""); return err }, keyward.ErrMalformed},
		{"truncated text", func() error { _, err := eng.Decrypt(ctx, "acme", []byte(goodText[:12]), ""); return err }, keyward.ErrMalformed},
		{"garbage", func() error { _, err := eng.Decrypt(ctx, "acme", []byte("hello world"), ""); return err }, keyward.ErrMalformed},
		{"bad json", func() error { _, err := eng.Decrypt(ctx, "acme", []byte(`{"v":1,"kv":1}`), ""); return err }, keyward.ErrMalformed},
		{"unknown key version", func() error {
			_, err := eng.Decrypt(ctx, "acme", []byte(strings.Replace(goodText, "kw1:1:", "kw1:99:", 1)), "")
			return err
		}, keyward.ErrUnknownVersion},
		{"unknown org decrypt", func() error { _, err := eng.Decrypt(ctx, "nobody", good, ""); return err }, keyward.ErrUnknownOrg},
		{"unknown org encrypt", func() error { _, err := eng.Encrypt(ctx, "nobody", []byte("x"), ""); return err }, keyward.ErrUnknownOrg},
		{"empty org", func() error { _, err := eng.Encrypt(ctx, "", []byte("x"), ""); return err }, keyward.ErrInvalidOrg},
		{"odd org", func() error { _, err := eng.Encrypt(ctx, "../etc", []byte("x"), ""); return err }, keyward.ErrInvalidOrg},
		{"org with newline", func() error { _, err := eng.Decrypt(ctx, "acme\n", good, ""); return err }, keyward.ErrInvalidOrg},
		{"create odd org", func() error { _, err := eng.CreateOrg(ctx, "a b"); return err }, keyward.ErrInvalidOrg},
		{"oversized plaintext", func() error {
			_, err := eng.Encrypt(ctx, "acme", make([]byte, keyward.MaxPlaintextSize+1), "")
			return err
		}, keyward.ErrTooLarge},
		{"oversized ciphertext", func() error {
			_, err := eng.Decrypt(ctx, "acme", make([]byte, keyward.MaxCiphertextSize+1), "")
			return err
		}, keyward.ErrTooLarge},
		{"oversized context", func() error {
			_, err := eng.Encrypt(ctx, "acme", []byte("x"), strings.Repeat("c", keyward.MaxContextSize+1))
			return err
		}, keyward.ErrTooLarge},
		{"invalid utf-8 context", func() error { _, err := eng.Encrypt(ctx, "acme", []byte("x"), "\xff"); return err }, keyward.ErrInvalidContext},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.do(); !errors.Is(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	// Nothing changed: still one org with one active version that decrypts.
	orgs, err := st.ListOrgs(ctx, "", 10)
	if err != nil || len(orgs) != 1 {
		t.Fatalf("orgs after bad input: got %v (%v), want [acme]", orgs, err)
	}
	keys, err := eng.Keys(ctx, "acme")
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys after bad input: got %v (%v), want one", keys, err)
	}
	if got, err := eng.Decrypt(ctx, "acme", good, ""); err != nil || string(got) != "x" {
		t.Fatalf("good ciphertext after bad input: got (%q, %v)", got, err)
	}
}

func TestKeysHoldNoKeyMaterial(t *testing.T) {
	eng, _ := newEngine(t, "acme")
	keys, err := eng.Keys(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if len(k.Wrapped) != 0 {
			t.Fatalf("Keys returned %d wrapped bytes for v%d", len(k.Wrapped), k.Version)
		}
	}
}

// FuzzDecrypt feeds arbitrary bytes to Decrypt: it must never panic and
// never succeed on input it did not produce.
func FuzzDecrypt(f *testing.F) {
	eng, _ := newEngine(f, "acme")
	ctx := context.Background()
	ct, _ := eng.Encrypt(ctx, "acme", []byte("seed"), "c")
	txt, _ := eng.EncryptText(ctx, "acme", []byte("seed"), "c")
	fld, _ := eng.EncryptField(ctx, "acme", []byte("seed"), "c")
	js, _ := json.Marshal(fld)
	for _, s := range [][]byte{ct, []byte(txt), js, {0x01}, []byte("kw1:"), []byte("{}")} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		pt, err := eng.Decrypt(ctx, "acme", in, "c")
		if err == nil && !bytes.Equal(pt, []byte("seed")) {
			t.Fatalf("decrypted forged input to %q", pt)
		}
		if err == nil {
			if _, perr := format.Parse(in); perr != nil {
				t.Fatalf("decrypted input the parser rejects: %v", perr)
			}
		}
	})
}
