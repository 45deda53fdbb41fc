package fernet

import (
	"bytes"
	"testing"
	"time"
)

// BenchmarkDecrypt opens a 64-byte token with the right key, then with the
// second of two keys (MultiFernet after a rotation), and measures the cheap
// detection.
func BenchmarkDecrypt(b *testing.B) {
	k1, _, _ := GenerateKey()
	k2, _, _ := GenerateKey()
	tok, err := Seal(k2, bytes.Repeat([]byte("x"), 64), time.Now(), bytes.NewReader(make([]byte, 16)))
	if err != nil {
		b.Fatal(err)
	}
	in := []byte(tok)
	b.Run("one-key", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := Decrypt(in, k2); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("second-of-two", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := Decrypt(in, k1, k2); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("looks-like", func(b *testing.B) {
		for b.Loop() {
			if !LooksLike(in) {
				b.Fatal("not detected")
			}
		}
	})
}
