package reencrypt_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/reencrypt"
)

type fernetVectors struct {
	Valid []struct {
		Key, Token   string
		PlaintextB64 string `json:"plaintext_b64"`
	}
	Invalid []struct {
		Why, Key, Token string
	}
	Rotation struct {
		Keys         []string `json:"keys_newest_first"`
		OldToken     string   `json:"old_token"`
		RotatedToken string   `json:"rotated_token"`
		PlaintextB64 string   `json:"plaintext_b64"`
	}
}

func loadFernetVectors(t testing.TB) fernetVectors {
	t.Helper()
	b, err := os.ReadFile("testdata/fernet.json")
	if err != nil {
		t.Fatal(err)
	}
	var v fernetVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func mustKeys(t testing.TB, keys ...string) *reencrypt.FernetKeys {
	t.Helper()
	fk, err := reencrypt.ParseFernetKeys([]byte(strings.Join(keys, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	return fk
}

// TestFernetVectors checks the Fernet reader against tokens made by Python's
// cryptography library.
func TestFernetVectors(t *testing.T) {
	v := loadFernetVectors(t)
	if len(v.Valid) == 0 || len(v.Invalid) == 0 {
		t.Fatal("no vectors")
	}
	for i, tc := range v.Valid {
		want, _ := base64.StdEncoding.DecodeString(tc.PlaintextB64)
		if !reencrypt.IsFernet([]byte(tc.Token)) {
			t.Errorf("valid %d: IsFernet false", i)
		}
		got, idx, err := mustKeys(t, tc.Key).Decrypt([]byte(tc.Token))
		if err != nil || string(got) != string(want) || idx != 0 {
			t.Errorf("valid %d: got %q, %d, %v; want %q", i, got, idx, err, want)
		}
	}
	for _, tc := range v.Invalid {
		got, _, err := mustKeys(t, tc.Key).Decrypt([]byte(tc.Token))
		if !errors.Is(err, keyward.ErrDecrypt) && !errors.Is(err, keyward.ErrMalformed) || got != nil {
			t.Errorf("invalid (%s): got %q, %v; want ErrDecrypt or ErrMalformed", tc.Why, got, err)
		}
	}
	r := v.Rotation
	want, _ := base64.StdEncoding.DecodeString(r.PlaintextB64)
	fk := mustKeys(t, append([]string{"# newest first", ""}, r.Keys...)...)
	for tok, wantIdx := range map[string]int{r.OldToken: 1, r.RotatedToken: 0} {
		got, idx, err := fk.Decrypt([]byte(tok))
		if err != nil || string(got) != string(want) || idx != wantIdx {
			t.Errorf("rotation: got %q, key %d, %v; want %q, key %d", got, idx, err, want, wantIdx)
		}
	}
}

func TestFernetKeyFile(t *testing.T) {
	for name, in := range map[string]string{
		"empty":      "",
		"comments":   "# nothing\n\n",
		"not base64": "not a key!\n",
		"short key":  base64.URLEncoding.EncodeToString([]byte("short")),
	} {
		if _, err := reencrypt.ParseFernetKeys([]byte(in)); !errors.Is(err, reencrypt.ErrFernetKeys) {
			t.Errorf("%s: got %v, want ErrFernetKeys", name, err)
		} else if strings.Contains(err.Error(), "not a key!") {
			t.Errorf("%s: error quotes the file: %v", name, err)
		}
	}
	v := loadFernetVectors(t)
	for tok, want := range map[string]bool{v.Valid[0].Token: true, "gAAAAABr": false, "kw1:1:abc": false, "gQAAAABr" + v.Valid[0].Token[8:]: false, "": false} {
		if got := reencrypt.IsFernet([]byte(tok)); got != want {
			t.Errorf("IsFernet(%q) = %v, want %v", tok, got, want)
		}
	}
}

func FuzzFernetDecrypt(f *testing.F) {
	v := loadFernetVectors(f)
	fk := mustKeys(f, v.Valid[0].Key)
	for _, tc := range v.Invalid {
		f.Add(tc.Token)
	}
	f.Add(v.Valid[0].Token)
	f.Fuzz(func(t *testing.T, tok string) {
		pt, _, err := fk.Decrypt([]byte(tok))
		if err != nil && pt != nil {
			t.Fatal("plaintext with an error")
		}
		reencrypt.IsFernet([]byte(tok))
	})
}
