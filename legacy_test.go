package keyward_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/format/fernet"
	"github.com/keyward/keyward/secret"
	"github.com/keyward/keyward/secretstore"
	"github.com/keyward/keyward/store"
)

// fernetVectors is format/fernet/testdata/fernet.json (Python's cryptography).
type fernetVectors struct {
	Valid []struct {
		Key, Token   string
		PlaintextB64 string `json:"plaintext_b64"`
	} `json:"valid"`
	Invalid  []struct{ Why, Key, Token string } `json:"invalid"`
	Rotation struct {
		Keys         []string `json:"keys_newest_first"`
		OldToken     string   `json:"old_token"`
		RotatedToken string   `json:"rotated_token"`
		PlaintextB64 string   `json:"plaintext_b64"`
	} `json:"rotation"`
}

func loadFernetVectors(t testing.TB) fernetVectors {
	t.Helper()
	b, err := os.ReadFile("format/fernet/testdata/fernet.json")
	if err != nil {
		t.Fatal(err)
	}
	var v fernetVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func b64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every valid vector decrypts through the engine once its key is imported;
// every invalid one is refused.
func TestDecryptFernetVectors(t *testing.T) {
	ctx := context.Background()
	v := loadFernetVectors(t)
	eng, _ := newEngine(t, "acme", "other")
	for _, c := range v.Valid {
		if _, err := eng.ImportFernetKey(ctx, "acme", []byte(c.Key)); err != nil && !errors.Is(err, keyward.ErrKeyExists) {
			t.Fatalf("ImportFernetKey: %v", err)
		}
	}
	for i, c := range v.Valid {
		got, err := eng.Decrypt(ctx, "acme", []byte(c.Token), "any context")
		if err != nil || !bytes.Equal(got, b64(t, c.PlaintextB64)) {
			t.Errorf("valid vector %d: got %q, %v; want %q", i, got, err, b64(t, c.PlaintextB64))
		}
		// Another organization does not hold the key.
		if _, err := eng.Decrypt(ctx, "other", []byte(c.Token), ""); !errors.Is(err, keyward.ErrMalformed) {
			t.Errorf("valid vector %d for an org without fernet keys: got %v, want ErrMalformed", i, err)
		}
	}
	// Each invalid vector in an org holding only the vector's key.
	for i, c := range v.Invalid {
		org := "inv" + string(rune('a'+i))
		if _, err := eng.CreateOrg(ctx, org); err != nil {
			t.Fatal(err)
		}
		if _, err := eng.ImportFernetKey(ctx, org, []byte(c.Key)); err != nil {
			t.Fatal(err)
		}
		_, err := eng.Decrypt(ctx, org, []byte(c.Token), "")
		if !errors.Is(err, keyward.ErrDecrypt) && !errors.Is(err, keyward.ErrMalformed) {
			t.Errorf("invalid vector %q: got %v, want ErrDecrypt or ErrMalformed", c.Why, err)
		}
	}
	// A token none of the org's keys signed is ErrDecrypt, nothing more.
	if _, err := eng.Decrypt(ctx, "acme", []byte(v.Rotation.OldToken), ""); err != keyward.ErrDecrypt {
		t.Errorf("token of a key not imported: got %v, want exactly ErrDecrypt", err)
	}
}

// A MultiFernet rotation: import the old key, then the new one; tokens of
// both read, and the new key is tried first.
func TestDecryptFernetRotation(t *testing.T) {
	ctx := context.Background()
	r := loadFernetVectors(t).Rotation
	eng, _ := newEngine(t, "acme")
	for i := len(r.Keys) - 1; i >= 0; i-- { // oldest first
		if _, err := eng.ImportFernetKey(ctx, "acme", []byte(r.Keys[i])); err != nil {
			t.Fatal(err)
		}
	}
	want := b64(t, r.PlaintextB64)
	for _, tok := range []string{r.OldToken, r.RotatedToken} {
		got, err := eng.Decrypt(ctx, "acme", []byte(tok), "")
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("got %q, %v; want %q", got, err, want)
		}
	}
	for tok, want := range map[string]keyward.KeyRef{
		r.OldToken:     {Kind: keyward.KindFernet, Version: 1},
		r.RotatedToken: {Kind: keyward.KindFernet, Version: 2},
	} {
		if got, err := eng.KeyRefOf(ctx, "acme", []byte(tok)); err != nil || got != want {
			t.Errorf("KeyRefOf: got %+v, %v; want %+v", got, err, want)
		}
	}
	keys, err := eng.FernetKeys(ctx, "acme")
	if err != nil || len(keys) != 2 {
		t.Fatalf("FernetKeys: %d, %v", len(keys), err)
	}
	for _, k := range keys {
		if k.Wrapped != nil || k.State != keyward.StateDecryptOnly || len(k.Fingerprint) != 16 {
			t.Errorf("FernetKeys entry %+v", k)
		}
	}
	// Importing a key again adds nothing.
	if _, err := eng.ImportFernetKey(ctx, "acme", []byte(r.Keys[0])); !errors.Is(err, keyward.ErrKeyExists) {
		t.Errorf("second import: %v, want ErrKeyExists", err)
	}
	if _, err := eng.ImportFernetKey(ctx, "acme", []byte("not a key")); !errors.Is(err, keyward.ErrMalformed) || strings.Contains(err.Error(), "not a key") {
		t.Errorf("bad key: %v, want ErrMalformed without the input", err)
	}
	if _, err := eng.ImportFernetKey(ctx, "nobody", []byte(r.Keys[0])); !errors.Is(err, keyward.ErrUnknownOrg) {
		t.Errorf("unknown org: %v, want ErrUnknownOrg", err)
	}
}

// Rewrap turns a Fernet token into a kw1 ciphertext under the active
// version, bound to the context; RewrapWith does it with keys that were
// never imported.
func TestRewrapFernet(t *testing.T) {
	ctx := context.Background()
	v := loadFernetVectors(t)
	c := v.Valid[0]
	want := b64(t, c.PlaintextB64)
	eng, _ := newEngine(t, "acme", "plain")
	if _, err := eng.RotateDEK(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.ImportFernetKey(ctx, "acme", []byte(c.Key)); err != nil {
		t.Fatal(err)
	}
	out, rewrapped, err := eng.Rewrap(ctx, "acme", []byte(c.Token), "channels.token:7")
	if err != nil || !rewrapped || !strings.HasPrefix(string(out), "kw1:2:") {
		t.Fatalf("Rewrap: %.12q…, %v, %v; want kw1:2:…, true, nil", out, rewrapped, err)
	}
	if got, err := eng.Decrypt(ctx, "acme", out, "channels.token:7"); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("decrypt rewrapped: %q, %v", got, err)
	}
	if _, err := eng.Decrypt(ctx, "acme", out, "channels.token:8"); !errors.Is(err, keyward.ErrDecrypt) {
		t.Fatalf("rewrapped under another context: %v, want ErrDecrypt", err)
	}
	// Rewrapping the result again changes nothing.
	if again, rewrapped, err := eng.Rewrap(ctx, "acme", out, "channels.token:7"); err != nil || rewrapped || !bytes.Equal(again, out) {
		t.Fatalf("second Rewrap: %v, %v", rewrapped, err)
	}

	// RewrapWith: keys held in process, none imported into "plain".
	r := v.Rotation
	var keys []*fernet.Key
	for _, s := range r.Keys {
		k, err := fernet.ParseKey([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	for _, tok := range []string{r.OldToken, r.RotatedToken} {
		out, rewrapped, err := eng.RewrapWith(ctx, "plain", []byte(tok), "c", keys)
		if err != nil || !rewrapped || !strings.HasPrefix(string(out), "kw1:1:") {
			t.Fatalf("RewrapWith: %.12q, %v, %v", out, rewrapped, err)
		}
		if got, err := eng.Decrypt(ctx, "plain", out, "c"); err != nil || !bytes.Equal(got, b64(t, r.PlaintextB64)) {
			t.Fatalf("decrypt: %q, %v", got, err)
		}
	}
	if _, _, err := eng.RewrapWith(ctx, "plain", []byte(r.OldToken), "c", keys[:1]); err != keyward.ErrDecrypt {
		t.Fatalf("RewrapWith without the right key: %v, want exactly ErrDecrypt", err)
	}
	// A keyward ciphertext goes through RewrapWith as through Rewrap.
	kw, _ := eng.EncryptText(ctx, "plain", []byte("x"), "c")
	if out, rewrapped, err := eng.RewrapWith(ctx, "plain", []byte(kw), "c", keys); err != nil || rewrapped || string(out) != kw {
		t.Fatalf("RewrapWith(kw1 current): %v, %v", rewrapped, err)
	}
	// Not a token at all.
	if _, _, err := eng.RewrapWith(ctx, "plain", []byte("gAAAAA!!"), "c", keys); !errors.Is(err, keyward.ErrMalformed) {
		t.Fatalf("RewrapWith(garbage): %v", err)
	}
}

// A retired Fernet key stops decrypting until reinstated; a destroyed one
// never decrypts again.
func TestFernetKeyLifecycle(t *testing.T) {
	ctx := context.Background()
	c := loadFernetVectors(t).Valid[1]
	eng, _ := newEngine(t, "acme")
	if _, err := eng.ImportFernetKey(ctx, "acme", []byte(c.Key)); err != nil {
		t.Fatal(err)
	}
	dec := func() error { _, err := eng.Decrypt(ctx, "acme", []byte(c.Token), ""); return err }
	if err := dec(); err != nil {
		t.Fatal(err)
	}
	if err := eng.RetireFernetKey(ctx, "acme", 1); err != nil {
		t.Fatal(err)
	}
	if err := dec(); !errors.Is(err, keyward.ErrRetired) {
		t.Fatalf("after retire: %v, want ErrRetired", err)
	}
	if err := eng.ReinstateFernetKey(ctx, "acme", 1); err != nil {
		t.Fatal(err)
	}
	if err := dec(); err != nil {
		t.Fatalf("after reinstate: %v", err)
	}
	if err := eng.DestroyFernetKey(ctx, "acme", 1); err != nil {
		t.Fatal(err)
	}
	if err := dec(); !errors.Is(err, keyward.ErrDestroyed) {
		t.Fatalf("after destroy: %v, want ErrDestroyed", err)
	}
	if err := eng.RetireFernetKey(ctx, "acme", 2); !errors.Is(err, keyward.ErrUnknownLegacyKey) {
		t.Fatalf("unknown id: %v", err)
	}
}

// Retire and destroy refuse while references remain, name them, and go
// through when forced; RetireUnused retires exactly the unused versions.
func TestRetireDestroyRefuseWithReferences(t *testing.T) {
	ctx := context.Background()
	c := loadFernetVectors(t).Valid[0]
	eng, st := newEngine(t, "acme")
	for range 3 {
		if _, err := eng.RotateDEK(ctx, "acme"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := eng.ImportFernetKey(ctx, "acme", []byte(c.Key)); err != nil {
		t.Fatal(err)
	}
	rs := st.(store.ReferenceStore)
	const src = "postgres:app/public.channels.token"
	if err := rs.SetReferences(ctx, src, []store.Reference{
		{Org: "acme", Source: src, Key: keyward.KeyRef{Kind: "dek", Version: 1}, Count: 12},
		{Org: "acme", Source: src, Key: keyward.KeyRef{Kind: "fernet", Version: 1}, Count: 3},
	}); err != nil {
		t.Fatal(err)
	}
	refs, err := eng.References(ctx, "acme")
	if err != nil || len(refs) != 2 {
		t.Fatalf("References: %+v, %v", refs, err)
	}
	tests := []struct {
		name string
		do   func(...keyward.KeyOption) error
		msg  string
	}{
		{"retire v1", func(o ...keyward.KeyOption) error { return eng.RetireKey(ctx, "acme", 1, o...) }, "12 rows in " + src},
		{"destroy v1", func(o ...keyward.KeyOption) error { return eng.DestroyKey(ctx, "acme", 1, o...) }, "12 rows in " + src},
		{"retire fernet:1", func(o ...keyward.KeyOption) error { return eng.RetireFernetKey(ctx, "acme", 1, o...) }, "3 rows in " + src},
		{"destroy fernet:1", func(o ...keyward.KeyOption) error { return eng.DestroyFernetKey(ctx, "acme", 1, o...) }, "3 rows in " + src},
	}
	for _, tt := range tests {
		err := tt.do()
		var inUse *keyward.InUseError
		if !errors.Is(err, keyward.ErrInUse) || !errors.As(err, &inUse) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: got %v, want ErrInUse naming %q", tt.name, err, tt.msg)
		}
	}
	keys, _ := eng.Keys(ctx, "acme")
	if keys[0].State != keyward.StateDecryptOnly {
		t.Fatalf("v1 changed while refused: %s", keys[0].State)
	}
	// After a complete re-encryption nothing references v1..v3: one call
	// retires them all, but not the fernet key still in use.
	retired, err := eng.RetireUnused(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := refNames(retired), "v2 v3"; got != want {
		t.Fatalf("RetireUnused: got %s, want %s (v1 and fernet:1 are in use, v4 active)", got, want)
	}
	if err := rs.SetReferences(ctx, src, nil); err != nil {
		t.Fatal(err)
	}
	retired, err = eng.RetireUnused(ctx, "acme")
	if err != nil || refNames(retired) != "v1 fernet:1" {
		t.Fatalf("RetireUnused after the migration: %s, %v", refNames(retired), err)
	}
	// Forcing goes through references.
	if err := rs.SetReferences(ctx, src, []store.Reference{{Org: "acme", Source: src, Key: keyward.KeyRef{Kind: "dek", Version: 2}, Count: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := eng.DestroyKey(ctx, "acme", 2); !errors.Is(err, keyward.ErrInUse) {
		t.Fatalf("destroy v2: %v", err)
	}
	if err := eng.DestroyKey(ctx, "acme", 2, keyward.Force()); err != nil {
		t.Fatalf("forced destroy: %v", err)
	}
	keys, _ = eng.Keys(ctx, "acme")
	if got := keys[1].State; got != keyward.StateDestroyed {
		t.Fatalf("v2 after forced destroy: %s", got)
	}
}

func refNames(refs []keyward.KeyRef) string {
	s := make([]string, len(refs))
	for i, r := range refs {
		s[i] = keyward.KeyName(r)
	}
	return strings.Join(s, " ")
}

// Shredding destroys every key of one org: its rows stop decrypting, it
// cannot encrypt, another engine on the same store drops its cached keys,
// and other orgs are unaffected.
func TestShredOrg(t *testing.T) {
	engines := openShared(t, 2, keyward.Options{ChangePoll: 20 * time.Millisecond})
	testShred(t, engines[0], engines[1])
}

func TestPostgresShredOrg(t *testing.T) {
	engines, _, _ := pgEngines(t, 2, keyward.Options{ChangePoll: 5 * time.Second})
	time.Sleep(200 * time.Millisecond) // let both engines subscribe
	testShred(t, engines[0], engines[1])
}

func testShred(t *testing.T, a, b *keyward.Engine) {
	ctx := context.Background()
	c := loadFernetVectors(t).Valid[2]
	for _, org := range []string{"doomed", "safe"} {
		if _, err := a.CreateOrg(ctx, org); err != nil {
			t.Fatal(err)
		}
		if _, err := a.ImportFernetKey(ctx, org, []byte(c.Key)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.RotateDEK(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	rows := map[string][]byte{}
	for _, org := range []string{"doomed", "safe"} {
		ct, err := a.Encrypt(ctx, org, []byte("secret of "+org), "c")
		if err != nil {
			t.Fatal(err)
		}
		rows[org] = ct
		// b caches the org's keys, DEK and Fernet.
		if _, err := b.Decrypt(ctx, org, ct, "c"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Decrypt(ctx, org, []byte(c.Token), ""); err != nil {
			t.Fatal(err)
		}
	}
	old, err := b.Encrypt(ctx, "doomed", []byte("v2 row"), "c")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.ShredOrg(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	for name, eng := range map[string]*keyward.Engine{"shredding engine": a, "other engine": b} {
		eventually(t, name+" refuses the shredded org", func() bool {
			_, err1 := eng.Decrypt(ctx, "doomed", rows["doomed"], "c")
			_, err2 := eng.Decrypt(ctx, "doomed", old, "c")
			_, err3 := eng.Decrypt(ctx, "doomed", []byte(c.Token), "")
			_, err4 := eng.Encrypt(ctx, "doomed", []byte("new"), "c")
			return errors.Is(err1, keyward.ErrDestroyed) && errors.Is(err2, keyward.ErrDestroyed) &&
				errors.Is(err3, keyward.ErrDestroyed) && errors.Is(err4, keyward.ErrShredded) && errors.Is(err4, keyward.ErrDestroyed)
		})
		got, err := eng.Decrypt(ctx, "safe", rows["safe"], "c")
		if err != nil || string(got) != "secret of safe" {
			t.Fatalf("%s: safe org: %q, %v", name, got, err)
		}
		if _, err := eng.Decrypt(ctx, "safe", []byte(c.Token), ""); err != nil {
			t.Fatalf("%s: safe org's fernet token: %v", name, err)
		}
		if _, err := eng.Encrypt(ctx, "safe", []byte("more"), "c"); err != nil {
			t.Fatalf("%s: safe org encrypt: %v", name, err)
		}
	}
	if _, err := a.RotateDEK(ctx, "doomed"); err == nil {
		t.Fatal("rotate revived a shredded org")
	}
	if _, err := a.ImportFernetKey(ctx, "doomed", []byte(loadFernetVectors(t).Valid[3].Key)); !errors.Is(err, keyward.ErrShredded) {
		t.Fatalf("import into a shredded org: %v, want ErrShredded", err)
	}
	keys, err := a.Keys(ctx, "doomed")
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range keys {
		if kv.State != keyward.StateDestroyed {
			t.Fatalf("v%d is %s after shred", kv.Version, kv.State)
		}
	}
	if err := a.ShredOrg(ctx, "doomed"); err != nil {
		t.Fatalf("second shred: %v", err)
	}
	if err := a.ShredOrg(ctx, "nobody"); !errors.Is(err, keyward.ErrUnknownOrg) {
		t.Fatalf("shred unknown: %v", err)
	}
}

// KEK rotation rewraps imported Fernet keys with the DEKs.
func TestRotateKEKRewrapsFernetKeys(t *testing.T) {
	ctx := context.Background()
	c := loadFernetVectors(t).Valid[0]
	engines := openShared(t, 2, keyward.Options{ChangePoll: -1})
	a := engines[0]
	if _, err := a.CreateOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ImportFernetKey(ctx, "acme", []byte(c.Key)); err != nil {
		t.Fatal(err)
	}
	counts, _ := a.KEKCounts(ctx)
	if len(counts) != 1 || counts[0].Count != 2 {
		t.Fatalf("KEKCounts before: %+v, want 2 keys (one DEK, one fernet)", counts)
	}
	if _, err := a.RotateKEK(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := a.RewrapDEKs(ctx, 10, nil)
	if err != nil || st.Rewrapped != 2 || st.Total != 2 {
		t.Fatalf("RewrapDEKs: %+v, %v; want 2 of 2 rewrapped", st, err)
	}
	counts, _ = a.KEKCounts(ctx)
	if len(counts) != 1 || counts[0].KEK != a.KEKTarget() || counts[0].Count != 2 {
		t.Fatalf("KEKCounts after: %+v, want 2 under %+v", counts, a.KEKTarget())
	}
	// The other engine, which had cached nothing, unwraps the rewrapped key.
	if got, err := engines[1].Decrypt(ctx, "acme", []byte(c.Token), ""); err != nil || !bytes.Equal(got, b64(t, c.PlaintextB64)) {
		t.Fatalf("decrypt after kek rotation: %q, %v", got, err)
	}
}

// BenchmarkDecryptFernet: the engine's Fernet fallback (cached imported key)
// next to a keyward ciphertext of the same org.
func BenchmarkDecryptFernet(b *testing.B) {
	ctx := context.Background()
	c := loadFernetVectors(b).Valid[0]
	eng, _ := newEngine(b, "acme")
	if _, err := eng.ImportFernetKey(ctx, "acme", []byte(c.Key)); err != nil {
		b.Fatal(err)
	}
	kw, err := eng.Encrypt(ctx, "acme", b64(b, c.PlaintextB64), "c")
	if err != nil {
		b.Fatal(err)
	}
	for name, in := range map[string][]byte{"fernet": []byte(c.Token), "kw1-binary": kw} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := eng.Decrypt(ctx, "acme", in, "c"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Retiring a Fernet key on one engine reaches another engine that had it
// cached, through the change feed.
func TestFernetRetireReachesOtherEngines(t *testing.T) {
	ctx := context.Background()
	c := loadFernetVectors(t).Valid[4]
	engines := openShared(t, 2, keyward.Options{ChangePoll: 20 * time.Millisecond})
	a, b := engines[0], engines[1]
	if _, err := a.CreateOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ImportFernetKey(ctx, "acme", []byte(c.Key)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Decrypt(ctx, "acme", []byte(c.Token), ""); err != nil {
		t.Fatal(err)
	}
	if err := a.RetireFernetKey(ctx, "acme", 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the other engine refuses the retired key", func() bool {
		_, err := b.Decrypt(ctx, "acme", []byte(c.Token), "")
		return errors.Is(err, keyward.ErrRetired)
	})
	if err := a.ReinstateFernetKey(ctx, "acme", 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the other engine reads again", func() bool {
		_, err := b.Decrypt(ctx, "acme", []byte(c.Token), "")
		return err == nil
	})
}

// The secret store's rows are exact, live references: a version holding a
// secret cannot be retired until the secret is rewritten under a newer one.
func TestRetireRefusedBySecretStore(t *testing.T) {
	ctx := context.Background()
	eng, st := newEngine(t, "acme")
	ss, err := secretstore.New(eng, st.(store.SecretStore))
	if err != nil {
		t.Fatal(err)
	}
	put := func(name string) {
		t.Helper()
		if _, err := ss.Put(ctx, "acme", name, secretstore.Kind("api_key"), secret.New([]byte("sk_"+name)), secretstore.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	put("stripe")
	put("sendgrid")
	if _, err := eng.RotateDEK(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	refs, err := eng.References(ctx, "acme")
	if err != nil || len(refs) != 1 || refs[0].Source != keyward.SecretsSource || refs[0].Count != 2 || refs[0].Key.Version != 1 {
		t.Fatalf("References: %+v, %v; want 2 rows of secrets under v1", refs, err)
	}
	err = eng.RetireKey(ctx, "acme", 1)
	if !errors.Is(err, keyward.ErrInUse) || !strings.Contains(err.Error(), "2 rows in secrets") {
		t.Fatalf("RetireKey with secrets under v1: %v", err)
	}
	put("stripe") // rewritten under v2
	if err := eng.RetireKey(ctx, "acme", 1); !strings.Contains(fmt.Sprint(err), "1 row in secrets") {
		t.Fatalf("RetireKey with one secret left: %v", err)
	}
	put("sendgrid")
	if err := eng.RetireKey(ctx, "acme", 1); err != nil {
		t.Fatalf("RetireKey once no secret uses v1: %v", err)
	}
}

// A token of a retired Fernet key still names that key (KeyRefOf), so a
// scan after the retire keeps counting it and destroy stays refused; it
// still does not decrypt.
func TestKeyRefOfRetiredFernetKey(t *testing.T) {
	ctx := context.Background()
	c := loadFernetVectors(t).Valid[1]
	eng, _ := newEngine(t, "acme")
	if _, err := eng.ImportFernetKey(ctx, "acme", []byte(c.Key)); err != nil {
		t.Fatal(err)
	}
	if err := eng.RetireFernetKey(ctx, "acme", 1); err != nil {
		t.Fatal(err)
	}
	want := keyward.KeyRef{Kind: keyward.KindFernet, Version: 1}
	if got, err := eng.KeyRefOf(ctx, "acme", []byte(c.Token)); err != nil || got != want {
		t.Fatalf("KeyRefOf after retire: got %+v, %v; want %+v", got, err, want)
	}
	if _, err := eng.Decrypt(ctx, "acme", []byte(c.Token), ""); !errors.Is(err, keyward.ErrRetired) {
		t.Fatalf("decrypt after retire: %v, want ErrRetired", err)
	}
	if err := eng.ReinstateFernetKey(ctx, "acme", 1); err != nil {
		t.Fatal(err)
	}
	if got, err := eng.KeyRefOf(ctx, "acme", []byte(c.Token)); err != nil || got != want {
		t.Fatalf("KeyRefOf after reinstate: got %+v, %v; want %+v", got, err, want)
	}
}
