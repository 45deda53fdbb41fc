// Command httpload measures keyward serve over loopback HTTP: requests per
// second and p50/p99 latency for single encrypt and decrypt at several
// concurrencies, items per second for 1000-item batches of encrypt,
// decrypt and rewrap, and, in the same run, two baselines: a bare HTTP
// handler that reads raw bytes and calls Engine.Encrypt (no policy, audit or
// JSON), and the in-process library's Encrypt.
//
// Everything runs in one process on 127.0.0.1 with a fresh embedded data
// directory, each phase bounded by -phase:
//
//	go run ./bench/httpload -phase 5s
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
)

func main() {
	phase := flag.Duration("phase", 5*time.Second, "duration of each measured phase")
	size := flag.Int("size", 32, "plaintext size in bytes")
	only := flag.String("only", "", "run only the phases whose name contains this (for profiling)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run (server and load) to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "httpload:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := run(context.Background(), os.Stdout, *phase, *size, *only); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "httpload:", err)
		os.Exit(1)
	}
}

// libraryOps measures in-process Encrypt with n goroutines for d.
func libraryOps(ctx context.Context, eng *keyward.Engine, org string, pt []byte, n int, d time.Duration) (float64, error) {
	var ops atomic.Int64
	var ferr atomic.Value
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for range n {
		wg.Go(func() {
			c := 0
			for time.Now().Before(deadline) {
				for range 256 {
					if _, err := eng.Encrypt(ctx, org, pt, "users.api_key"); err != nil {
						ferr.Store(err)
						return
					}
				}
				c += 256
			}
			ops.Add(int64(c))
		})
	}
	wg.Wait()
	if e, ok := ferr.Load().(error); ok {
		return 0, e
	}
	return float64(ops.Load()) / time.Since(start).Seconds(), nil
}

// bareHandler is the baseline: raw bytes in, Engine.Encrypt, raw bytes
// out. No token, no policy, no audit, no JSON, no middleware.
func bareHandler(eng *keyward.Engine, org string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pt, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read", http.StatusBadRequest)
			return
		}
		ct, err := eng.Encrypt(r.Context(), org, pt, "users.api_key")
		if err != nil {
			http.Error(w, "encrypt", http.StatusInternalServerError)
			return
		}
		w.Write(ct)
	})
}

// listen serves h on a fresh loopback port and returns its URL.
func listen(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

func httpClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, DisableCompression: true}}
}

func cores() int { return runtime.GOMAXPROCS(0) }
