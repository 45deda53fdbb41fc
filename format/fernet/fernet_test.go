package fernet

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

// vectors is testdata/fernet.json, written by Python's cryptography.
type vectors struct {
	Generator string `json:"generator"`
	Valid     []struct {
		Key, Token  string
		PlaintextB6 string `json:"plaintext_b64"`
	} `json:"valid"`
	Invalid []struct {
		Why, Key, Token string
	} `json:"invalid"`
	Rotation struct {
		Keys         []string `json:"keys_newest_first"`
		OldToken     string   `json:"old_token"`
		RotatedToken string   `json:"rotated_token"`
		PlaintextB64 string   `json:"plaintext_b64"`
	} `json:"rotation"`
}

func loadVectors(t testing.TB) vectors {
	t.Helper()
	b, err := os.ReadFile("testdata/fernet.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Valid) == 0 || len(v.Invalid) == 0 || len(v.Rotation.Keys) < 2 {
		t.Fatalf("testdata/fernet.json: %d valid, %d invalid, %d rotation keys", len(v.Valid), len(v.Invalid), len(v.Rotation.Keys))
	}
	return v
}

func mustKey(t testing.TB, s string) *Key {
	t.Helper()
	k, err := ParseKey([]byte(s))
	if err != nil {
		t.Fatalf("ParseKey: %v", err)
	}
	return k
}

func mustB64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestValidVectors(t *testing.T) {
	v := loadVectors(t)
	for i, c := range v.Valid {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			want := mustB64(t, c.PlaintextB6)
			k := mustKey(t, c.Key)
			if !LooksLike([]byte(c.Token)) {
				t.Errorf("LooksLike(valid token) = false, want true")
			}
			got, idx, err := Decrypt([]byte(c.Token), k)
			if err != nil || idx != 0 {
				t.Fatalf("Decrypt: index %d, err %v; want 0, nil", idx, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("plaintext: got %q, want %q", got, want)
			}
			// Writing the same plaintext with the token's timestamp and IV
			// reproduces Python's token byte for byte.
			tok, err := Parse([]byte(c.Token))
			if err != nil {
				t.Fatal(err)
			}
			if again := sealIV(k, want, tok.Timestamp, tok.raw[9:headerLen]); again != c.Token {
				t.Fatalf("sealIV: got %s, want %s", again, c.Token)
			}
		})
	}
}

func TestInvalidVectors(t *testing.T) {
	v := loadVectors(t)
	for _, c := range v.Invalid {
		t.Run(c.Why, func(t *testing.T) {
			k := mustKey(t, c.Key)
			pt, idx, err := Decrypt([]byte(c.Token), k)
			if err == nil || pt != nil || idx != -1 {
				t.Fatalf("Decrypt: got %q, index %d, err %v; want an error", pt, idx, err)
			}
			if !errors.Is(err, ErrDecrypt) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("err %v, want ErrDecrypt or ErrMalformed", err)
			}
			if strings.Contains(err.Error(), c.Token) {
				t.Fatalf("error quotes the token: %v", err)
			}
		})
	}
}

// Authentication failures of a well-formed token are exactly ErrDecrypt,
// with nothing added that could tell them apart.
func TestAuthFailuresAreOpaque(t *testing.T) {
	v := loadVectors(t)
	for _, c := range v.Invalid {
		switch c.Why {
		case "flipped bit in timestamp", "flipped bit in iv", "flipped bit in ciphertext", "flipped bit in hmac", "wrong key":
			_, _, err := Decrypt([]byte(c.Token), mustKey(t, c.Key))
			if err != ErrDecrypt {
				t.Errorf("%s: err %v, want exactly ErrDecrypt", c.Why, err)
			}
		}
	}
}

func TestMultiFernetRotation(t *testing.T) {
	v := loadVectors(t)
	r := v.Rotation
	want := mustB64(t, r.PlaintextB64)
	newest, oldest := mustKey(t, r.Keys[0]), mustKey(t, r.Keys[1])
	tests := []struct {
		name    string
		token   string
		keys    []*Key
		wantIdx int
	}{
		{"old token, both keys", r.OldToken, []*Key{newest, oldest}, 1},
		{"rotated token, both keys", r.RotatedToken, []*Key{newest, oldest}, 0},
		{"old token, old key only", r.OldToken, []*Key{oldest}, 0},
		{"rotated token, old key only", r.RotatedToken, []*Key{oldest}, -1},
		{"old token, new key only", r.OldToken, []*Key{newest}, -1},
		{"no keys", r.OldToken, nil, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, idx, err := Decrypt([]byte(tt.token), tt.keys...)
			if idx != tt.wantIdx {
				t.Fatalf("index: got %d, want %d (err %v)", idx, tt.wantIdx, err)
			}
			if tt.wantIdx < 0 {
				if err != ErrDecrypt {
					t.Fatalf("err %v, want ErrDecrypt", err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("got %q, %v; want %q", got, err, want)
			}
			tok, _ := Parse([]byte(tt.token))
			if m := Match(tok, tt.keys...); m != tt.wantIdx {
				t.Fatalf("Match: got %d, want %d", m, tt.wantIdx)
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	k, _, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	good, err := Seal(k, []byte("x"), time.Unix(1700000000, 0), strings.NewReader(strings.Repeat("i", 16)))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := b64.DecodeString(good)
	enc := func(b []byte) string { return b64.EncodeToString(b) }
	badVersion := bytes.Clone(raw)
	badVersion[0] = 0x81
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"short", good[:MinTokenLen-4]},
		{"not base64", strings.Repeat("!", len(good))},
		{"unpadded", strings.TrimRight(good, "=")},
		{"std alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(enc(append(bytes.Clone(raw), 0xfb, 0xff)))},
		{"version", enc(badVersion)},
		{"partial block", enc(append(bytes.Clone(raw), 1, 2, 3))},
		{"no ciphertext", enc(append(bytes.Clone(raw[:headerLen]), raw[len(raw)-macLen:]...))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse: err %v, want ErrMalformed", err)
			}
		})
	}
	if _, _, err := Decrypt([]byte(good), k); err != nil {
		t.Fatalf("the unmodified token: %v", err)
	}
}

// A token whose MAC is right but whose padding is not (only a key holder can
// make one) is ErrDecrypt too.
func TestBadPaddingIsErrDecrypt(t *testing.T) {
	k, _, _ := GenerateKey()
	for _, last := range []byte{0, 17, 0xff} {
		iv := bytes.Repeat([]byte{7}, 16)
		block := bytes.Repeat([]byte{last}, 16)
		raw := []byte{Version, 0, 0, 0, 0, 0, 0, 0, 1}
		raw = append(raw, iv...)
		ct := make([]byte, 16)
		encrypter(k, iv).CryptBlocks(ct, block)
		raw = append(raw, ct...)
		raw = appendMAC(k, raw)
		if _, _, err := Decrypt([]byte(b64.EncodeToString(raw)), k); err != ErrDecrypt {
			t.Errorf("padding byte %d: err %v, want ErrDecrypt", last, err)
		}
	}
}

func TestLooksLike(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"", false},
		{"gAAAAA", false},
		{"gAAAAA" + strings.Repeat("x", MinTokenLen-6), true},
		{"kw1:1:" + strings.Repeat("x", MinTokenLen), false},
		{"gQAAAA" + strings.Repeat("x", MinTokenLen), false},
	}
	for _, tt := range tests {
		if got := LooksLike([]byte(tt.in)); got != tt.want {
			t.Errorf("LooksLike(%.12q…): got %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseKey(t *testing.T) {
	_, enc, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"generated", string(enc), true},
		{"python", "_yf6_ZsCL7UQsFHo1Hzm1Mz__AA-i4qq6Ukxwse9jZY=", true},
		{"unpadded", strings.TrimRight(string(enc), "="), false},
		{"short", string(enc[:40]) + "====", false},
		{"long", string(enc) + "AAAA", false},
		{"empty", "", false},
		{"huge", strings.Repeat("A", 1<<12), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseKey([]byte(tt.in))
			if (err == nil) != tt.ok {
				t.Fatalf("ParseKey: err %v, want ok=%v", err, tt.ok)
			}
			if err != nil && (!errors.Is(err, ErrMalformed) || (tt.in != "" && strings.Contains(err.Error(), tt.in))) {
				t.Fatalf("err %v: want ErrMalformed without the input", err)
			}
			if err == nil && len(k.Fingerprint()) != 16 {
				t.Fatalf("fingerprint %q, want 16 hex digits", k.Fingerprint())
			}
		})
	}
}

func TestKeyNeverPrints(t *testing.T) {
	const enc = "_yf6_ZsCL7UQsFHo1Hzm1Mz__AA-i4qq6Ukxwse9jZY="
	k := mustKey(t, enc)
	raw, _ := b64.DecodeString(enc)
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("key", "k", k)
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s %x %q", k, k, k, k, k, k), fmt.Sprintf("%v", *k), logged.String()} {
		if strings.Contains(s, enc) || strings.Contains(s, string(raw[:16])) || strings.Contains(s, fmt.Sprintf("%x", raw[:16])) ||
			strings.Contains(s, fmt.Sprint(raw[:16])) {
			t.Fatalf("key material printed: %s", s)
		}
		if !strings.Contains(s, k.Fingerprint()) {
			t.Fatalf("fingerprint missing from %q", s)
		}
	}
	if other := mustKey(t, "nzjjyw7-Z01MEOFl3y76ANYb_kP-5mRUxlSIreg_D7c="); other.Fingerprint() == k.Fingerprint() {
		t.Fatal("two keys share a fingerprint")
	}
	if mustKey(t, enc).Fingerprint() != k.Fingerprint() {
		t.Fatal("one key, two fingerprints")
	}
}

func TestKeyFile(t *testing.T) {
	r := loadVectors(t).Rotation
	file := "# newest first\n" + r.Keys[0] + "\r\n\n  " + r.Keys[1] + "  \n"
	keys, err := ParseKeyFile([]byte(file))
	if err != nil || len(keys) != 2 {
		t.Fatalf("ParseKeyFile: %d keys, %v", len(keys), err)
	}
	if _, idx, err := Decrypt([]byte(r.OldToken), keys...); err != nil || idx != 1 {
		t.Fatalf("old token: index %d, %v; want 1", idx, err)
	}
	for _, bad := range []string{"", "# only a comment\n", r.Keys[0] + "\nnot-a-key\n"} {
		_, err := ParseKeyFile([]byte(bad))
		if !errors.Is(err, ErrMalformed) || strings.Contains(err.Error(), "not-a-key") {
			t.Errorf("ParseKeyFile(%q): %v, want ErrMalformed without the content", bad, err)
		}
	}
	if _, err := ParseKeyFile([]byte(r.Keys[0] + "\nnot-a-key\n")); !strings.Contains(err.Error(), "line 2") {
		t.Errorf("error %v does not name line 2", err)
	}
}
