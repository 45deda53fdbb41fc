package fernet

import (
	"bytes"
	"testing"
	"time"
)

// FuzzDecrypt feeds arbitrary tokens to Parse and Decrypt: they must never
// panic, a parsed token must re-encode to the input (one encoding per
// token), and only a token carrying a valid MAC under the key may decrypt.
func FuzzDecrypt(f *testing.F) {
	v := loadVectors(f)
	for _, c := range v.Valid {
		f.Add([]byte(c.Token))
	}
	for _, c := range v.Invalid {
		f.Add([]byte(c.Token))
	}
	k := mustKey(f, v.Valid[0].Key)
	f.Fuzz(func(t *testing.T, token []byte) {
		tok, err := Parse(token)
		if err == nil {
			if got := b64.EncodeToString(tok.raw); got != string(token) {
				t.Fatalf("parsed %q re-encodes to %q", token, got)
			}
		}
		pt, idx, err := Decrypt(token, k)
		if err != nil {
			if pt != nil || idx != -1 {
				t.Fatalf("error %v with plaintext %q, index %d", err, pt, idx)
			}
			return
		}
		// Success means the token is what Seal writes for this plaintext.
		if again := sealIV(k, pt, tok.Timestamp, tok.raw[9:headerLen]); again != string(token) {
			t.Fatalf("decrypted a token Seal would not write: %q", token)
		}
	})
}

// FuzzRoundTrip seals arbitrary plaintexts and reads them back.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte(""), int64(0))
	f.Add([]byte("sixteen bytes!!!"), int64(1795355170))
	k, _, err := GenerateKey()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, pt []byte, ts int64) {
		tok, err := Seal(k, pt, time.Unix(ts, 0), bytes.NewReader(make([]byte, 16)))
		if err != nil {
			t.Fatal(err)
		}
		got, idx, err := Decrypt([]byte(tok), k)
		if err != nil || idx != 0 || !bytes.Equal(got, pt) {
			t.Fatalf("round trip: got %q, %d, %v; want %q", got, idx, err, pt)
		}
	})
}
