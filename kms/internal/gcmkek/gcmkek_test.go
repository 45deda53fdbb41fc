package gcmkek_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/kms/internal/gcmkek"
)

var testKey = bytes.Repeat([]byte{7}, gcmkek.KeySize)

func TestNewInvalid(t *testing.T) {
	tests := []struct {
		name, id string
		keys     [][]byte
		wantMsg  string
	}{
		{"empty id", "", [][]byte{testKey}, "empty kek id"},
		{"no keys", "t:1", nil, "no key versions"},
		{"short key", "t:1", [][]byte{testKey[:16]}, "key version 1 is 16 bytes, want 32"},
		{"long second key", "t:1", [][]byte{testKey, append(testKey, 0)}, "key version 2 is 33 bytes, want 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := gcmkek.New(tt.id, tt.keys)
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("New = %v, %v; want error containing %q", ks, err, tt.wantMsg)
			}
		})
	}
}

func TestWrapKeyLength(t *testing.T) {
	ks, err := gcmkek.New("t:1", [][]byte{testKey})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, gcmkek.MaxKeyLen + 1} {
		if _, err := ks.Wrap(t.Context(), make([]byte, n), nil); err == nil {
			t.Errorf("Wrap of a %d-byte key succeeded, want an error", n)
		}
	}
	for _, n := range []int{1, 16, 32, gcmkek.MaxKeyLen} {
		w, err := ks.Wrap(t.Context(), bytes.Repeat([]byte{1}, n), nil)
		if err != nil {
			t.Errorf("Wrap of a %d-byte key: %v", n, err)
		} else if got := len(w.Ciphertext); got != 12+n+16 {
			t.Errorf("Wrap of a %d-byte key: %d wrapped bytes, want %d", n, got, 12+n+16)
		}
	}
}

func TestAppendLeavesOriginal(t *testing.T) {
	ks, err := gcmkek.New("t:1", [][]byte{testKey})
	if err != nil {
		t.Fatal(err)
	}
	ks2, err := ks.Append(kek2)
	if err != nil {
		t.Fatal(err)
	}
	if ks.Current() != 1 || ks2.Current() != 2 {
		t.Errorf("Current() = %d and %d after Append, want 1 and 2", ks.Current(), ks2.Current())
	}
	if got := fmt.Sprintf("%v %+v %#v %d %x", ks2, ks2, ks2, ks2, ks2); strings.Count(got, "gcmkek.Keyset(t:1, 2 versions)") != 5 {
		t.Errorf("printed Keyset = %q", got)
	}
}

// sealFixed builds a wrapped key the way the wire format is documented,
// nonce ‖ ciphertext ‖ tag, with plain AES-GCM and a fixed nonce, so that it
// is the same in every process (fuzz workers included).
func sealFixed(t testing.TB, kek, key, aad []byte) []byte {
	block, err := aes.NewCipher(kek)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	nonce := bytes.Repeat([]byte{0x5c}, gcm.NonceSize())
	return gcm.Seal(nonce, nonce, key, aad)
}

var kek2 = bytes.Repeat([]byte{8}, gcmkek.KeySize)

func TestWireFormat(t *testing.T) {
	ks, err := gcmkek.New("t:1", [][]byte{testKey, kek2})
	if err != nil {
		t.Fatal(err)
	}
	aad, dek := kms.DEKAAD("org", 1), []byte("0123456789abcdef0123456789abcdef")
	for v, kek := range [][]byte{testKey, kek2} {
		w := kms.Wrapped{KEKID: "t:1", KEKVersion: uint32(v + 1), Ciphertext: sealFixed(t, kek, dek, aad)}
		if got, err := ks.Unwrap(t.Context(), w, aad); err != nil || !bytes.Equal(got, dek) {
			t.Errorf("version %d: Unwrap of nonce‖ct‖tag = %v; want the key", v+1, err)
		}
	}
	w, err := ks.Wrap(t.Context(), dek, aad)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(kek2)
	gcm, _ := cipher.NewGCM(block)
	if got, err := gcm.Open(nil, w.Ciphertext[:12], w.Ciphertext[12:], aad); err != nil || !bytes.Equal(got, dek) {
		t.Errorf("plain AES-GCM cannot open Wrap's output as nonce‖ct‖tag: %v", err)
	}
}

func FuzzUnwrap(f *testing.F) {
	ks, err := gcmkek.New("t:1", [][]byte{testKey, kek2})
	if err != nil {
		f.Fatal(err)
	}
	aad := kms.DEKAAD("org", 1)
	genuine := sealFixed(f, kek2, testKey, aad)
	f.Add(genuine, uint32(2), aad)
	f.Add(genuine, uint32(1), aad)
	f.Add([]byte{}, uint32(1), []byte{})
	f.Add(make([]byte, 28), uint32(2), aad)
	f.Fuzz(func(t *testing.T, ct []byte, version uint32, fuzzAAD []byte) {
		key, err := ks.Unwrap(t.Context(), kms.Wrapped{KEKID: "t:1", KEKVersion: version, Ciphertext: ct}, fuzzAAD)
		if err == nil {
			// Only the genuine wrap can authenticate.
			if !bytes.Equal(ct, genuine) || version != 2 || !bytes.Equal(fuzzAAD, aad) || !bytes.Equal(key, testKey) {
				t.Fatalf("forged unwrap accepted: version %d, %d bytes", version, len(ct))
			}
			return
		}
		if key != nil {
			t.Fatalf("Unwrap returned a key with error %v", err)
		}
		if !errors.Is(err, kms.ErrUnwrap) && !errors.Is(err, kms.ErrUnknownKEK) {
			t.Fatalf("Unwrap error %v is neither ErrUnwrap nor ErrUnknownKEK", err)
		}
		if (version == 1 || version == 2) != errors.Is(err, kms.ErrUnwrap) {
			t.Fatalf("version %d: error %v has the wrong sentinel", version, err)
		}
	})
}
