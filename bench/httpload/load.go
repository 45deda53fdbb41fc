package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// result is one load phase's outcome.
type result struct {
	Name        string
	Concurrency int
	Requests    int
	Items       int // per request
	Elapsed     time.Duration
	P50, P99    time.Duration
}

func (r result) reqPerSec() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

func (r result) itemsPerSec() float64 { return r.reqPerSec() * float64(r.Items) }

// load sends POST url with body from concurrency workers for d, each
// waiting for its answer before sending again, and measures every
// request's latency. A non-200 answer stops the run with an error.
func load(ctx context.Context, hc *http.Client, url, token string, body []byte, ctype string, concurrency, items int, d time.Duration) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		mu   sync.Mutex
		lats []time.Duration
		ferr error
		wg   sync.WaitGroup
	)
	start := time.Now()
	for range concurrency {
		wg.Go(func() {
			mine := make([]time.Duration, 0, 1<<16)
			buf := make([]byte, 64<<10)
			for ctx.Err() == nil {
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("Content-Type", ctype)
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				t0 := time.Now()
				resp, err := hc.Do(req)
				if err != nil {
					mu.Lock()
					ferr = err
					mu.Unlock()
					cancel()
					return
				}
				for {
					if _, err := resp.Body.Read(buf); err != nil {
						break
					}
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					mu.Lock()
					ferr = fmt.Errorf("%s: status %d", url, resp.StatusCode)
					mu.Unlock()
					cancel()
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if ferr != nil {
		return result{}, ferr
	}
	if len(lats) == 0 {
		return result{}, fmt.Errorf("%s: no request completed", url)
	}
	slices.Sort(lats)
	return result{
		Concurrency: concurrency, Requests: len(lats), Items: items, Elapsed: elapsed,
		P50: lats[len(lats)/2], P99: lats[len(lats)*99/100],
	}, nil
}

// drain reads and discards a response body.
func drain(r io.Reader) { io.Copy(io.Discard, r) }
