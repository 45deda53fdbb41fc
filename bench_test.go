package keyward_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"testing"
)

var benchSizes = []int{32, 256, 4096}

// BenchmarkRawGCM is the baseline: crypto/cipher AES-256-GCM with random
// nonces, sealing and opening into fresh slices as a caller that keeps its
// results must.
func BenchmarkRawGCM(b *testing.B) {
	key := randomBytes(b, 32)
	block, err := aes.NewCipher(key)
	if err != nil {
		b.Fatal(err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		b.Fatal(err)
	}
	aad := []byte("\x0dkeyward/field\x01\x00\x04acme\x00\x00\x00\x01\x00\x00\x00\x0eintegrations.k")
	for _, size := range benchSizes {
		pt := randomBytes(b, size)
		b.Run(fmt.Sprintf("SealOpen/%d", size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				ct := aead.Seal(nil, nil, pt, aad)
				if _, err := aead.Open(nil, nil, ct, aad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEngine measures the library with a warm key cache.
func BenchmarkEngine(b *testing.B) {
	ctx := context.Background()
	eng, _ := newEngine(b, "acme")
	for _, size := range benchSizes {
		pt := randomBytes(b, size)
		b.Run(fmt.Sprintf("EncryptDecrypt/%d", size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				ct, err := eng.Encrypt(ctx, "acme", pt, "integrations.k")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := eng.Decrypt(ctx, "acme", ct, "integrations.k"); err != nil {
					b.Fatal(err)
				}
			}
		})
		// A context per row ("integrations.k:<id>"), as apps that bind a
		// value to its row use: no context recurs, so the key's AAD memo
		// never hits (keyring/aadmemo.go) and every call builds its AAD.
		rows := make([]string, 4096)
		for i := range rows {
			rows[i] = fmt.Sprintf("integrations.k:%d", 100000+i)
		}
		b.Run(fmt.Sprintf("EncryptDecryptRow/%d", size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			i := 0
			for b.Loop() {
				row := rows[i%len(rows)]
				i++
				ct, err := eng.Encrypt(ctx, "acme", pt, row)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := eng.Decrypt(ctx, "acme", ct, row); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("Encrypt/%d", size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := eng.Encrypt(ctx, "acme", pt, "integrations.k"); err != nil {
					b.Fatal(err)
				}
			}
		})
		ct, err := eng.Encrypt(ctx, "acme", pt, "integrations.k")
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("Decrypt/%d", size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := eng.Decrypt(ctx, "acme", ct, "integrations.k"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("EncryptDecryptText/%d", size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				s, err := eng.EncryptText(ctx, "acme", pt, "integrations.k")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := eng.Decrypt(ctx, "acme", []byte(s), "integrations.k"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("Parallel/%d", size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					ct, err := eng.Encrypt(ctx, "acme", pt, "integrations.k")
					if err != nil {
						b.Error(err)
						return
					}
					if _, err := eng.Decrypt(ctx, "acme", ct, "integrations.k"); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
