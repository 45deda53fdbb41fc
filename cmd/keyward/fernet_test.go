package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/sqlite"
)

// fernetVectors reads the rotation case of format/fernet/testdata.
func fernetRotation(t *testing.T) (keys []string, oldTok, newTok, plaintext string) {
	t.Helper()
	b, err := os.ReadFile("../../format/fernet/testdata/fernet.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Rotation struct {
			Keys         []string `json:"keys_newest_first"`
			OldToken     string   `json:"old_token"`
			RotatedToken string   `json:"rotated_token"`
			PlaintextB64 string   `json:"plaintext_b64"`
		} `json:"rotation"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	pt, err := base64.StdEncoding.DecodeString(v.Rotation.PlaintextB64)
	if err != nil {
		t.Fatal(err)
	}
	return v.Rotation.Keys, v.Rotation.OldToken, v.Rotation.RotatedToken, string(pt)
}

// setReferences records a scan result in the data directory's store, as
// keyward scan does.
func setReferences(t *testing.T, data, source string, refs ...store.Reference) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(data, "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range refs {
		refs[i].Source = source
	}
	if err := st.SetReferences(context.Background(), source, refs); err != nil {
		t.Fatal(err)
	}
}

func TestCLIFernet(t *testing.T) {
	keys, oldTok, newTok, want := fernetRotation(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "kw")
	kw(t, data, "", "init").ok(t)
	kw(t, data, "", "org", "create", "acme", "globex").ok(t)

	keyFile := filepath.Join(dir, "fernet.keys")
	if err := os.WriteFile(keyFile, []byte("# newest first\n"+keys[0]+"\n"+keys[1]+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A key file others can read is refused.
	kw(t, data, "", "fernet", "import", "--org", "acme", "--key-file", keyFile).failed(t, "chmod 600")
	if err := os.Chmod(keyFile, 0o600); err != nil {
		t.Fatal(err)
	}
	// Before the import, a Fernet token is not readable.
	kw(t, data, oldTok, "decrypt", "--org", "acme").failed(t, "fernet import")

	out := kw(t, data, "", "fernet", "import", "--org", "acme", "--key-file", keyFile).ok(t).stdout
	if !strings.Contains(out, "imported fernet:1") || !strings.Contains(out, "imported fernet:2") {
		t.Fatalf("import printed %q", out)
	}
	for _, k := range keys {
		if strings.Contains(out, k) || strings.Contains(out, k[:20]) {
			t.Fatalf("import echoed a key: %q", out)
		}
	}
	// Importing again changes nothing.
	out = kw(t, data, "", "fernet", "import", "--all", "--key-file", keyFile).ok(t).stdout
	if !strings.Contains(out, "org acme: already holds this key as fernet:2") || !strings.Contains(out, "org globex: imported fernet:1") {
		t.Fatalf("second import printed %q", out)
	}

	// decrypt reads Fernet tokens on stdin, with or without a newline.
	for _, tok := range []string{oldTok, newTok + "\n"} {
		if got := kw(t, data, tok, "decrypt", "--org", "acme").ok(t).stdout; got != want {
			t.Fatalf("decrypt fernet: got %q, want %q", got, want)
		}
	}
	kw(t, data, oldTok[:len(oldTok)-4]+"AAA=", "decrypt", "--org", "acme").failed(t, "decryption failed")

	var list struct {
		Keys []struct {
			Name, State, Fingerprint string
		} `json:"fernet_keys"`
	}
	if err := json.Unmarshal([]byte(kw(t, data, "", "fernet", "list", "--org", "acme", "--json").ok(t).stdout), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Keys) != 2 || list.Keys[0].Name != "fernet:1" || list.Keys[1].State != "decrypt-only" || len(list.Keys[0].Fingerprint) != 16 {
		t.Fatalf("fernet list: %+v", list.Keys)
	}

	// References: a scan found rows under v1 and fernet:1.
	const src = "postgres:app/public.channels.token"
	kw(t, data, "", "rotate", "dek", "--org", "acme").ok(t)
	setReferences(t, data, src,
		store.Reference{Org: "acme", Key: store.KeyRef{Kind: "dek", Version: 1}, Count: 4},
		store.Reference{Org: "acme", Key: store.KeyRef{Kind: "fernet", Version: 1}, Count: 2})
	table := kw(t, data, "", "keys", "--org", "acme").ok(t).stdout
	for _, w := range []string{"fernet:1", "fernet:2", src, "REFS"} {
		if !strings.Contains(table, w) {
			t.Fatalf("keys output lacks %q:\n%s", w, table)
		}
	}
	kw(t, data, "", "keys", "retire", "1", "--org", "acme").failed(t, "4 rows in "+src)
	kw(t, data, "", "keys", "retire", "fernet:1", "--org", "acme").failed(t, "2 rows in "+src)
	kw(t, data, "", "keys", "destroy", "fernet:1", "--org", "acme", "--yes").failed(t, "still in use")
	// --all-unused retires only fernet:2 (v1 and fernet:1 are in use, v2 active).
	if got := kw(t, data, "", "keys", "retire", "--all-unused", "--org", "acme").ok(t).stdout; !strings.Contains(got, "fernet:2") || strings.Contains(got, "v1") {
		t.Fatalf("retire --all-unused: %q", got)
	}
	kw(t, data, newTok, "decrypt", "--org", "acme").failed(t, "decryption failed")
	// Forcing says what is lost.
	r := kw(t, data, "", "keys", "retire", "fernet:1", "--org", "acme", "--force").ok(t)
	if !strings.Contains(r.stderr, "2 rows in "+src) || !strings.Contains(r.stderr, "stop decrypting") {
		t.Fatalf("forced retire stderr: %q", r.stderr)
	}
	kw(t, data, oldTok, "decrypt", "--org", "acme").failed(t, "retired")
	kw(t, data, "", "keys", "reinstate", "fernet:1", "--org", "acme").ok(t)
	kw(t, data, oldTok, "decrypt", "--org", "acme").ok(t)
	kw(t, data, "", "keys", "retire", "fernet:9", "--org", "acme").failed(t, "no fernet:9")
	kw(t, data, "", "keys", "retire", "fernet:x", "--org", "acme").failed(t, "invalid fernet key")
}

func TestCLIShred(t *testing.T) {
	data := filepath.Join(t.TempDir(), "kw")
	kw(t, data, "", "init").ok(t)
	kw(t, data, "", "org", "create", "doomed", "safe").ok(t)
	doomed := strings.TrimSpace(kw(t, data, "a", "encrypt", "--org", "doomed").ok(t).stdout)
	safe := strings.TrimSpace(kw(t, data, "b", "encrypt", "--org", "safe").ok(t).stdout)

	// Without a terminal, shred needs --yes, and changes nothing.
	kw(t, data, "", "org", "shred", "doomed").failed(t, "--yes")
	kw(t, data, doomed, "decrypt", "--org", "doomed").ok(t)

	out := kw(t, data, "", "org", "shred", "doomed", "--yes").ok(t).stdout
	if !strings.Contains(out, "unrecoverable") {
		t.Fatalf("shred printed %q", out)
	}
	kw(t, data, doomed, "decrypt", "--org", "doomed").failed(t, "destroyed")
	kw(t, data, "x", "encrypt", "--org", "doomed").failed(t, "shredded")
	kw(t, data, "", "rotate", "dek", "--org", "doomed").failed(t, "shredded")
	if got := kw(t, data, safe, "decrypt", "--org", "safe").ok(t).stdout; got != "b" {
		t.Fatalf("safe org after shred: %q", got)
	}
	// rotate --all skips the shredded org.
	if got := kw(t, data, "", "rotate", "dek", "--all").ok(t).stdout; strings.Contains(got, "doomed") || !strings.Contains(got, "safe") {
		t.Fatalf("rotate --all: %q", got)
	}
	kw(t, data, "", "org", "shred", "nobody", "--yes").failed(t, "unknown organization")
}
