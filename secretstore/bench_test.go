package secretstore_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward/secret"
	"github.com/keyward/keyward/secretstore"
)

// benchNames is how many secrets the benchmarks spread their calls over.
const benchNames = 1000

// BenchmarkPut measures Put (encrypt + one write transaction) of a 32-byte
// value, replacing one of benchNames secrets each call, from one goroutine
// and from GOMAXPROCS×4 goroutines. PostgreSQL runs when
// KEYWARD_TEST_DATABASE_URL is set.
func BenchmarkPut(b *testing.B) {
	value := secret.FromString("sk_live_0123456789abcdefghijklmn")
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			f := newFixture(b, be)
			b.Run("serial", func(b *testing.B) {
				i := 0
				for b.Loop() {
					if _, err := f.ss.Put(b.Context(), "acme", benchName(i), secretstore.APIKey, value, secretstore.PutOptions{}); err != nil {
						b.Fatal(err)
					}
					i++
				}
				reportOps(b)
			})
			b.Run("parallel", func(b *testing.B) {
				var n atomic.Int64
				b.SetParallelism(4)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := int(n.Add(1))
						if _, err := f.ss.Put(b.Context(), "acme", benchName(i), secretstore.APIKey, value, secretstore.PutOptions{}); err != nil {
							b.Error(err)
							return
						}
					}
				})
				reportOps(b)
			})
		})
	}
}

// BenchmarkReveal measures Reveal (one read + decrypt with a cached data
// key) of benchNames 32-byte secrets in turn, serial and parallel.
func BenchmarkReveal(b *testing.B) {
	value := secret.FromString("sk_live_0123456789abcdefghijklmn")
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			f := newFixture(b, be)
			for i := range benchNames {
				if _, err := f.ss.Put(b.Context(), "acme", benchName(i), secretstore.APIKey, value, secretstore.PutOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			b.Run("serial", func(b *testing.B) {
				i := 0
				for b.Loop() {
					v, _, err := f.ss.Reveal(b.Context(), "acme", benchName(i))
					if err != nil {
						b.Fatal(err)
					}
					v.Wipe()
					i++
				}
				reportOps(b)
			})
			b.Run("parallel", func(b *testing.B) {
				var n atomic.Int64
				b.SetParallelism(4)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						v, _, err := f.ss.Reveal(b.Context(), "acme", benchName(int(n.Add(1))))
						if err != nil {
							b.Error(err)
							return
						}
						v.Wipe()
					}
				})
				reportOps(b)
			})
		})
	}
}

func benchName(i int) string { return fmt.Sprintf("bench/s%04d", i%benchNames) }

// reportOps adds an ops/s metric.
func reportOps(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "ops/s")
	}
}
