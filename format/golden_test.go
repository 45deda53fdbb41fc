package format

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.json from goldenInputs")

const goldenPath = "testdata/golden.json"

// goldenFile is testdata/golden.json. Byte strings are hex; text and json
// are the exact encodings.
type goldenFile struct {
	Comment string       `json:"comment"`
	Cases   []goldenCase `json:"cases"`
}

type goldenCase struct {
	Name       string `json:"name"`
	Key        string `json:"key"`
	Nonce      string `json:"nonce"`
	Plaintext  string `json:"plaintext"`
	Org        string `json:"org"`
	KeyVersion uint32 `json:"key_version"`
	Context    string `json:"context"`
	AAD        string `json:"aad"`
	Binary     string `json:"binary"`
	Text       string `json:"text"`
	JSON       string `json:"json"`
}

// goldenInputs are the cases -update writes. Existing vectors must never
// change: add cases, do not edit them.
func goldenInputs() []goldenCase {
	seq := func(start byte, n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = start + byte(i)
		}
		return hex.EncodeToString(b)
	}
	hx := func(s string) string { return hex.EncodeToString([]byte(s)) }
	return []goldenCase{
		{Name: "empty plaintext", Key: seq(0x00, 32), Nonce: seq(0xa0, 12), Plaintext: "",
			Org: "acme", KeyVersion: 1, Context: "channels.access_token"},
		{Name: "short plaintext", Key: seq(0x00, 32), Nonce: seq(0xb0, 12), Plaintext: hx("hunter2"),
			Org: "acme", KeyVersion: 2, Context: "users.smtp_password#42"},
		{Name: "unicode plaintext", Key: seq(0x40, 32), Nonce: seq(0xc0, 12), Plaintext: hx("pässwörd 🔑 秘密"),
			Org: "org_01HZX3K9", KeyVersion: 7, Context: "webhooks.signing_secret"},
		{Name: "long context", Key: seq(0x60, 32), Nonce: seq(0x10, 12), Plaintext: hx("sk_live_0123456789abcdef"),
			Org: "550e8400-e29b-41d4-a716-446655440000", KeyVersion: 1,
			Context: "integrations.oauth_refresh_token#" + strings.Repeat("0123456789abcdef", 20)},
		{Name: "key version 1", Key: seq(0x80, 32), Nonce: seq(0x20, 12), Plaintext: hx("api-key"),
			Org: "a", KeyVersion: 1, Context: ""},
		{Name: "key version 300 (two-byte uvarint)", Key: seq(0x90, 32), Nonce: seq(0x30, 12), Plaintext: hx("rotated many times"),
			Org: "acme", KeyVersion: 300, Context: "channels.access_token#7"},
		{Name: "key version 4294967295 (five-byte uvarint)", Key: seq(0xe0, 32), Nonce: seq(0xf0, 12), Plaintext: seq(0x00, 64),
			Org: "max", KeyVersion: 1<<32 - 1, Context: "t.c"},
	}
}

// computeGolden derives aad, binary, text and json of c from its inputs,
// sealing with the fixed nonce.
func computeGolden(t *testing.T, c goldenCase) goldenCase {
	t.Helper()
	key, nonce, pt := mustHex(t, c.Key), mustHex(t, c.Nonce), mustHex(t, c.Plaintext)
	aad := AppendAAD(nil, V1, c.Org, c.KeyVersion, c.Context)
	f := sealFixedNonce(t, key, nonce, c.KeyVersion, pt, aad)
	bin, err := f.MarshalBinary()
	if err != nil {
		t.Fatalf("%s: MarshalBinary: %v", c.Name, err)
	}
	text, err := f.MarshalText()
	if err != nil {
		t.Fatalf("%s: MarshalText: %v", c.Name, err)
	}
	js, err := f.MarshalJSON()
	if err != nil {
		t.Fatalf("%s: MarshalJSON: %v", c.Name, err)
	}
	c.AAD, c.Binary, c.Text, c.JSON = hex.EncodeToString(aad), hex.EncodeToString(bin), string(text), string(js)
	return c
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex in golden vectors: %v", err)
	}
	return b
}

func loadGolden(t testing.TB) goldenFile {
	t.Helper()
	data, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("read golden vectors: %v (generate with go test -run TestGolden -update)", err)
	}
	var g goldenFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&g); err != nil {
		t.Fatalf("decode %s: %v", goldenPath, err)
	}
	return g
}

func TestGolden(t *testing.T) {
	if *update {
		writeGolden(t)
	}
	g := loadGolden(t)
	if got, min := len(g.Cases), 7; got < min {
		t.Fatalf("%s has %d cases, want at least %d", goldenPath, got, min)
	}
	kvs := map[uint32]bool{}
	for _, c := range g.Cases {
		kvs[c.KeyVersion] = true
		t.Run(c.Name, func(t *testing.T) {
			want := computeGolden(t, c)
			for _, cmp := range []struct{ what, got, want string }{
				{"aad", c.AAD, want.AAD},
				{"binary", c.Binary, want.Binary},
				{"text", c.Text, want.Text},
				{"json", c.JSON, want.JSON},
			} {
				if cmp.got != cmp.want {
					t.Errorf("%s drifted:\n stored   %s\n computed %s", cmp.what, cmp.got, cmp.want)
				}
			}
			// The stored encodings open with a random-nonce AEAD.
			aead := mustAEAD(t, mustHex(t, c.Key))
			plaintext := mustHex(t, c.Plaintext)
			for _, enc := range []struct {
				name  string
				bytes []byte
			}{
				{"binary", mustHex(t, c.Binary)},
				{"text", []byte(c.Text)},
				{"json", []byte(c.JSON)},
			} {
				f, err := Parse(enc.bytes)
				if err != nil {
					t.Fatalf("Parse(%s): %v", enc.name, err)
				}
				if got, want := f.KeyVersion, c.KeyVersion; got != want {
					t.Errorf("%s: KeyVersion = %d, want %d", enc.name, got, want)
				}
				if got, want := f.Nonce(), mustHex(t, c.Nonce); !bytes.Equal(got, want) {
					t.Errorf("%s: nonce = %x, want %x", enc.name, got, want)
				}
				pt, err := Open(nil, aead, f, AppendAAD(nil, f.Version, c.Org, f.KeyVersion, c.Context))
				if err != nil {
					t.Fatalf("Open(%s): %v", enc.name, err)
				}
				if !bytes.Equal(pt, plaintext) {
					t.Errorf("Open(%s) = %x, want %x", enc.name, pt, plaintext)
				}
			}
		})
	}
	for _, kv := range []uint32{1, 300, 1<<32 - 1} {
		if !kvs[kv] {
			t.Errorf("no golden case with key version %d", kv)
		}
	}
}

func writeGolden(t *testing.T) {
	t.Helper()
	g := goldenFile{
		Comment: "keyward field ciphertext format v1 golden vectors; see docs/FORMAT.md. " +
			"Sealed with AES-256-GCM and the fixed nonce given (real seals use a random nonce). " +
			"Never edit an existing case: the format must not drift. Regenerate with: go test ./format -run TestGolden -update",
	}
	for _, c := range goldenInputs() {
		g.Cases = append(g.Cases, computeGolden(t, c))
	}
	data, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(goldenPath, append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d cases)", goldenPath, len(g.Cases))
}
