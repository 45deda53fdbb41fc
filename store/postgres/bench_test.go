package postgres

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// benchParallelism is how many goroutines per GOMAXPROCS the parallel
// benchmarks run, and benchConns the pool size: the calls wait on the
// database, not the CPU, so more callers than CPUs is the realistic load.
const (
	benchParallelism = 8
	benchConns       = 16
)

// benchStore opens a store on a fresh schema for a benchmark.
func benchStore(b *testing.B) *Store {
	b.Helper()
	cfg := config(b, newSchema(b))
	cfg.MaxConns = benchConns
	return openConfig(b, cfg)
}

// reportOps adds the throughput to a benchmark's output.
func reportOps(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkCreateOrg measures org creation: one statement (org, version 1,
// change, notification) and a durable commit. Key changes are serialised on
// the change counter, so parallel callers share its rate.
func BenchmarkCreateOrg(b *testing.B) {
	for _, par := range []bool{false, true} {
		name := "Serial"
		if par {
			name = "Parallel"
		}
		b.Run(name, func(b *testing.B) {
			s := benchStore(b)
			var n atomic.Int64
			create := func() {
				id := fmt.Sprintf("org-%09d", n.Add(1))
				if err := s.CreateOrg(b.Context(), org(id), key(id, 1)); err != nil {
					b.Error(err)
				}
			}
			if par {
				b.SetParallelism(benchParallelism)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						create()
					}
				})
			} else {
				for b.Loop() {
					create()
				}
			}
			reportOps(b)
		})
	}
}

// BenchmarkActiveKey measures the read a keyring makes on a cache miss, from
// parallel goroutines, over 1000 orgs.
func BenchmarkActiveKey(b *testing.B) {
	s := benchStore(b)
	const orgs = 1000
	for i := range orgs {
		id := fmt.Sprintf("org-%04d", i)
		if err := s.CreateOrg(b.Context(), org(id), key(id, 1)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	var n atomic.Int64
	b.SetParallelism(benchParallelism)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.ActiveKey(b.Context(), fmt.Sprintf("org-%04d", n.Add(1)%orgs)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportOps(b)
}

// BenchmarkReserveUsage measures reservations from parallel goroutines:
// SameVersion contends for one row (one org's active key, the worst case),
// ManyOrgs spreads them over 1000 orgs.
func BenchmarkReserveUsage(b *testing.B) {
	for _, orgs := range []int{1, 1000} {
		name := "SameVersion"
		if orgs > 1 {
			name = "ManyOrgs"
		}
		b.Run(name, func(b *testing.B) {
			s := benchStore(b)
			for i := range orgs {
				id := fmt.Sprintf("org-%04d", i)
				if err := s.CreateOrg(b.Context(), org(id), key(id, 1)); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			var n atomic.Int64
			b.SetParallelism(benchParallelism)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := fmt.Sprintf("org-%04d", n.Add(1)%int64(orgs))
					if _, err := s.ReserveUsage(b.Context(), id, 1, 4096); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportOps(b)
		})
	}
}
