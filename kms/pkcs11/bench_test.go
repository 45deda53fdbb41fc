package pkcs11

import (
	"fmt"
	"testing"

	"github.com/keyward/keyward/kms"
)

// Benchmarks of Wrap and Unwrap through the token, one at a time and from
// 8×GOMAXPROCS goroutines, with pools of 1, 2, 4 and 8 sessions. They report
// ops/s; compare the parallel runs across pool sizes to see whether more
// sessions help on a given token (on SoftHSM, the number of CPUs bounds it;
// on a network HSM, round trips make more sessions pay off further).

var sessionCounts = []int{1, 2, 4, 8}

func BenchmarkWrap(b *testing.B) {
	for _, n := range sessionCounts {
		k, _ := provision(b, func(c *Config) { c.Sessions = n })
		key, aad := newDEK(), kms.DEKAAD("org_bench", 1)
		b.Run(fmt.Sprintf("sessions=%d/serial", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := k.Wrap(b.Context(), key, aad); err != nil {
					b.Fatal(err)
				}
			}
			opsPerSecond(b)
		})
		b.Run(fmt.Sprintf("sessions=%d/parallel", n), func(b *testing.B) {
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := k.Wrap(b.Context(), key, aad); err != nil {
						b.Error(err)
						return
					}
				}
			})
			opsPerSecond(b)
		})
	}
}

func BenchmarkUnwrap(b *testing.B) {
	for _, n := range sessionCounts {
		k, _ := provision(b, func(c *Config) { c.Sessions = n })
		aad := kms.DEKAAD("org_bench", 1)
		w, err := k.Wrap(b.Context(), newDEK(), aad)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("sessions=%d/serial", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := k.Unwrap(b.Context(), w, aad); err != nil {
					b.Fatal(err)
				}
			}
			opsPerSecond(b)
		})
		b.Run(fmt.Sprintf("sessions=%d/parallel", n), func(b *testing.B) {
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := k.Unwrap(b.Context(), w, aad); err != nil {
						b.Error(err)
						return
					}
				}
			})
			opsPerSecond(b)
		})
	}
}

func opsPerSecond(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "ops/s")
	}
}
