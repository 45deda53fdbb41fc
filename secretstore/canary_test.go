package secretstore_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/secret"
	"github.com/keyward/keyward/secretstore"
)

// canary is a value that must never appear outside Reveal's result.
const canary = "CANARY-sk_live_9f8e7d6c5b4a39281706"

// TestCanaryStaysSealed writes a canary value through every path and checks
// that it appears in no database file (the SQLite file, its WAL and shared
// memory, in plain, hex or base64), in no error and in no metadata JSON.
func TestCanaryStaysSealed(t *testing.T) {
	f := newFixture(t, backends()[0])
	ctx := t.Context()
	value := func() secret.Bytes { return secret.FromString(canary) }
	var (
		errs  []error
		metas []secretstore.Metadata
	)
	put := func(org, name string, kind secretstore.Kind, opts secretstore.PutOptions) {
		m, err := f.ss.Put(ctx, org, name, kind, value(), opts)
		if err != nil {
			errs = append(errs, err)
			return
		}
		metas = append(metas, m)
	}
	put("acme", "canary", secretstore.APIKey, secretstore.PutOptions{})
	put("acme", "canary", secretstore.APIKey, secretstore.PutOptions{IfRevision: 1})
	put("acme", "hinted", secretstore.OAuthToken, secretstore.PutOptions{Hint: secretstore.HintLast4})
	// Refused writes of the canary: every error is checked below.
	put("acme", "canary", secretstore.APIKey, secretstore.PutOptions{IfRevision: 1}) // stale
	put("acme", "../canary", secretstore.APIKey, secretstore.PutOptions{})
	put("acme", "canary", "password", secretstore.PutOptions{})
	put("acme", "canary", secretstore.APIKey, secretstore.PutOptions{Hint: "first4"})
	put("nobody", "canary", secretstore.APIKey, secretstore.PutOptions{})
	put("a b", "canary", secretstore.APIKey, secretstore.PutOptions{})
	if len(errs) != 6 {
		t.Fatalf("refused puts: got %d errors, want 6: %v", len(errs), errs)
	}
	// A ciphertext moved to another org fails to decrypt: that error too.
	row, err := f.raw.GetSecret(ctx, "acme", "canary")
	if err != nil {
		t.Fatal(err)
	}
	row.Org = "globex"
	if _, err := f.raw.PutSecret(ctx, row, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.ss.Reveal(ctx, "globex", "canary"); err == nil {
		t.Fatal("Reveal of a moved canary succeeded")
	} else {
		errs = append(errs, err)
	}
	if m, err := f.ss.Get(ctx, "acme", "canary"); err == nil {
		metas = append(metas, m)
	}
	items, _, err := f.ss.List(ctx, "acme", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	metas = append(metas, items...)

	// The canary is really there: Reveal returns it.
	v, _, err := f.ss.Reveal(ctx, "acme", "canary")
	if err != nil || string(v.Reveal()) != canary {
		t.Fatalf("Reveal of the canary: %v", err)
	}
	v.Wipe()

	for _, err := range errs {
		if strings.Contains(err.Error(), canary) || strings.Contains(err.Error(), canary[:12]) {
			t.Errorf("an error carries the canary: %v", err)
		}
	}
	js, err := json.Marshal(metas)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(js, []byte(canary[:12])) {
		t.Errorf("metadata JSON carries the canary: %s", js)
	}
	// The writer asked for a hint on "hinted": its last 4 characters, and
	// nothing more, are in clear.
	if want := canary[len(canary)-4:]; !bytes.Contains(js, []byte(`"hint":"`+want+`"`)) {
		t.Errorf("metadata JSON lacks the requested hint %q: %s", want, js)
	}

	forms := map[string][]byte{
		"plain":  []byte(canary),
		"prefix": []byte(canary[:16]),
		"hex":    []byte(hex.EncodeToString([]byte(canary))),
		"base64": []byte(base64.StdEncoding.EncodeToString([]byte(canary))[:24]),
		"utf-16": utf16le(canary[:12]),
	}
	files, err := filepath.Glob(filepath.Join(f.dir, "keyward.db*"))
	if err != nil || len(files) < 2 {
		t.Fatalf("database files: %v, %v (want the database and its WAL)", files, err)
	}
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for form, needle := range forms {
			if bytes.Contains(b, needle) {
				t.Errorf("%s holds the canary (%s)", filepath.Base(path), form)
			}
		}
	}
}

// utf16le encodes an ASCII string as UTF-16 little-endian.
func utf16le(s string) []byte {
	out := make([]byte, 0, 2*len(s))
	for i := range len(s) {
		out = append(out, s[i], 0)
	}
	return out
}
