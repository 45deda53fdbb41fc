// Command orgmem measures an engine with many organizations: it creates N
// orgs (each with its v1 data key), encrypts one value for each, and prints
// the process RSS and Go heap every step; then it sends rounds of traffic
// across all orgs; then Zipf-distributed decrypt traffic (s = -zipf), reporting
// the cache hit rate and decrypt latency percentiles. With the key cache
// bounded (-cache), memory must level off once the cache is full instead of
// growing with the org count.
//
//	go run ./bench/orgmem -orgs 100000 -cache 10000                 # SQLite in a temp dir
//	go run ./bench/orgmem -orgs 100000 -cache 10000 -postgres URL    # PostgreSQL (fresh schema, dropped after)
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	mathrand "math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/kms/localkms"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/postgres"
	"github.com/keyward/keyward/store/sqlite"
)

func main() {
	orgs := flag.Int("orgs", 100000, "organizations to create")
	cacheSize := flag.Int("cache", 10000, "key cache bound")
	step := flag.Int("step", 10000, "report every this many orgs")
	workers := flag.Int("workers", 8, "concurrent creators")
	pgURL := flag.String("postgres", "", "PostgreSQL URL (default: SQLite in a temp dir)")
	zipfS := flag.Float64("zipf", 1.1, "Zipf exponent s of the decrypt traffic (> 1)")
	zipfCalls := flag.Int("zipf-calls", 1000000, "decrypt calls in the Zipf phase (0: skip)")
	rounds := flag.Int("rounds", 4, "uniform traffic rounds over all orgs")
	flag.Parse()
	if err := run(*orgs, *cacheSize, *step, *workers, *rounds, *zipfCalls, *zipfS, *pgURL); err != nil {
		fmt.Fprintln(os.Stderr, "orgmem:", err)
		os.Exit(1)
	}
}

func run(orgs, cacheSize, step, workers, rounds, zipfCalls int, zipfS float64, pgURL string) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "orgmem")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, cleanup, err := openStore(ctx, dir, pgURL)
	if err != nil {
		return err
	}
	defer cleanup()
	kek, err := localkms.Create(filepath.Join(dir, "kek.key"))
	if err != nil {
		return err
	}
	eng, err := keyward.Open(st, kek, &keyward.Options{CacheSize: cacheSize})
	if err != nil {
		return err
	}
	defer eng.Close()

	cts := make([][]byte, orgs)
	fmt.Printf("%8s %10s %10s %10s %8s %10s\n", "orgs", "rss_MiB", "heap_MiB", "cached", "orgs/s", "elapsed")
	start := time.Now()
	for done := 0; done < orgs; done += step {
		n := min(step, orgs-done)
		t0 := time.Now()
		var next atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for range workers {
			wg.Go(func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= n {
						return
					}
					org := fmt.Sprintf("org-%07d", done+i)
					if _, err := eng.CreateOrg(ctx, org); err != nil {
						errs <- err
						return
					}
					ct, err := eng.Encrypt(ctx, org, []byte("sk_live_example"), "integrations.key")
					if err != nil {
						errs <- err
						return
					}
					cts[done+i] = ct
				}
			})
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			return err
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Printf("%8d %10.1f %10.1f %10d %8.0f %10s\n", done+n, rssMiB(), float64(ms.HeapAlloc)/(1<<20),
			eng.Stats().Len, float64(n)/time.Since(t0).Seconds(), time.Since(start).Round(time.Second))
	}
	// Phase 2: traffic over every org, so the cache fills to its bound and
	// stays there while keys are evicted and reloaded.
	fmt.Printf("\nencrypting across all %d orgs (cache bound %d)\n", orgs, cacheSize)
	fmt.Printf("%8s %10s %10s %10s %10s %10s\n", "calls", "rss_MiB", "heap_MiB", "cached", "unwraps", "calls/s")
	for round := 1; round <= rounds; round++ {
		t0 := time.Now()
		var next atomic.Int64
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= orgs {
						return
					}
					org := fmt.Sprintf("org-%07d", (i*7919+w)%orgs)
					if _, err := eng.Encrypt(ctx, org, []byte("sk_live_example"), "integrations.key"); err != nil {
						fmt.Fprintln(os.Stderr, "orgmem:", err)
						return
					}
				}
			})
		}
		wg.Wait()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		st := eng.Stats()
		fmt.Printf("%8d %10.1f %10.1f %10d %10d %10.0f\n", round*orgs, rssMiB(), float64(ms.HeapAlloc)/(1<<20),
			st.Len, st.Unwraps, float64(orgs)/time.Since(t0).Seconds())
	}
	if zipfCalls > 0 {
		return zipfPhase(ctx, eng, cts, zipfCalls, zipfS, workers)
	}
	return nil
}

// zipfPhase decrypts under Zipf-distributed org popularity (org 0 the most
// popular) and reports the cache hit rate and latency percentiles.
func zipfPhase(ctx context.Context, eng *keyward.Engine, cts [][]byte, calls int, s float64, workers int) error {
	before := eng.Stats()
	lat := make([][]time.Duration, workers)
	per := calls / workers
	var wg sync.WaitGroup
	var failed atomic.Int64
	t0 := time.Now()
	for w := range workers {
		wg.Go(func() {
			r := mathrand.New(mathrand.NewPCG(uint64(w), 42))
			z := mathrand.NewZipf(r, s, 1, uint64(len(cts)-1))
			l := make([]time.Duration, 0, per)
			for range per {
				i := int(z.Uint64())
				org := fmt.Sprintf("org-%07d", i)
				start := time.Now()
				if _, err := eng.Decrypt(ctx, org, cts[i], "integrations.key"); err != nil {
					failed.Add(1)
					continue
				}
				l = append(l, time.Since(start))
			}
			lat[w] = l
		})
	}
	wg.Wait()
	elapsed := time.Since(t0)
	all := slices.Concat(lat...)
	slices.Sort(all)
	after := eng.Stats()
	// The cache does not count hits; every call here is one lookup.
	misses := after.Misses - before.Misses
	hits := uint64(len(all)) + uint64(failed.Load()) - misses
	pct := func(p float64) time.Duration { return all[min(len(all)-1, int(float64(len(all))*p))] }
	fmt.Printf("\nzipf s=%.2f over %d orgs, cache bound %d, %d workers, %d decrypts (%d failed)\n", s, len(cts), after.Len, workers, len(all), failed.Load())
	fmt.Printf("hit rate %.2f%% (%d hits, %d misses), %d unwraps, %.0f decrypts/s\n",
		100*float64(hits)/float64(hits+misses), hits, misses, after.Unwraps-before.Unwraps, float64(len(all))/elapsed.Seconds())
	fmt.Printf("latency p50 %v  p90 %v  p99 %v  p99.9 %v  max %v\n", pct(0.50), pct(0.90), pct(0.99), pct(0.999), all[len(all)-1])
	if failed.Load() > 0 {
		return fmt.Errorf("%d decrypts failed", failed.Load())
	}
	return nil
}

func openStore(ctx context.Context, dir, pgURL string) (store.Store, func(), error) {
	if pgURL == "" {
		st, err := sqlite.Open(ctx, filepath.Join(dir, "keyward.db"))
		if err != nil {
			return nil, nil, err
		}
		return st, func() { st.Close() }, nil
	}
	suffix := make([]byte, 6)
	rand.Read(suffix)
	schema := "orgmem_" + hex.EncodeToString(suffix)
	st, err := postgres.Open(ctx, postgres.Config{URL: pgURL, Schema: schema})
	if err != nil {
		return nil, nil, err
	}
	return st, func() {
		st.Close()
		if c, err := pgx.Connect(context.Background(), pgURL); err == nil {
			c.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			c.Close(context.Background())
		}
	}, nil
}

// rssMiB reads the resident set size from /proc/self/status (Linux).
func rssMiB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(v), "%f", &kb)
			return kb / 1024
		}
	}
	return -1
}
