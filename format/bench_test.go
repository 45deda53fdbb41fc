package format

import (
	"bytes"
	"testing"
)

var benchSizes = []struct {
	name string
	n    int
}{
	{"32B", 32},
	{"256B", 256},
	{"4KiB", 4 << 10},
}

const benchOrg, benchContext, benchKV = "org_01HZX3K9", "channels.access_token#1234567", 3

// BenchmarkSeal measures AAD construction plus Seal into pooled buffers, as
// the encrypt hot path does it.
func BenchmarkSeal(b *testing.B) {
	aead := mustAEAD(b, testKey())
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			plaintext := bytes.Repeat([]byte{'p'}, size.n)
			aad := make([]byte, 0, AADSize(benchOrg, benchContext))
			out := make([]byte, 0, SealedSize(benchKV, size.n))
			b.SetBytes(int64(size.n))
			b.ReportAllocs()
			for b.Loop() {
				aad = AppendAAD(aad[:0], V1, benchOrg, benchKV, benchContext)
				out = Seal(out[:0], aead, benchKV, plaintext, aad)
			}
		})
	}
}

// BenchmarkOpen measures parsing the binary form, rebuilding the AAD and
// Open into a pooled buffer, as the decrypt hot path does it.
func BenchmarkOpen(b *testing.B) {
	aead := mustAEAD(b, testKey())
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			plaintext := bytes.Repeat([]byte{'p'}, size.n)
			sealed := Seal(nil, aead, benchKV, plaintext, AppendAAD(nil, V1, benchOrg, benchKV, benchContext))
			aad := make([]byte, 0, AADSize(benchOrg, benchContext))
			out := make([]byte, 0, size.n)
			b.SetBytes(int64(size.n))
			b.ReportAllocs()
			for b.Loop() {
				f, err := ParseBinary(sealed)
				if err != nil {
					b.Fatal(err)
				}
				aad = AppendAAD(aad[:0], f.Version, benchOrg, f.KeyVersion, benchContext)
				if out, err = Open(out[:0], aead, f, aad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpenText is Open from the text form (one allocation: the
// decoded sealed bytes).
func BenchmarkOpenText(b *testing.B) {
	aead := mustAEAD(b, testKey())
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			plaintext := bytes.Repeat([]byte{'p'}, size.n)
			f, _ := ParseBinary(Seal(nil, aead, benchKV, plaintext, AppendAAD(nil, V1, benchOrg, benchKV, benchContext)))
			text, _ := f.MarshalText()
			aad := make([]byte, 0, AADSize(benchOrg, benchContext))
			out := make([]byte, 0, size.n)
			b.SetBytes(int64(size.n))
			b.ReportAllocs()
			for b.Loop() {
				f, err := ParseText(text)
				if err != nil {
					b.Fatal(err)
				}
				aad = AppendAAD(aad[:0], f.Version, benchOrg, f.KeyVersion, benchContext)
				if out, err = Open(out[:0], aead, f, aad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
