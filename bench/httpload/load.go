package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
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

// phaseDef is one measured phase: HTTP requests (url, body) or, with lib
// set, the in-process library on lib goroutines.
type phaseDef struct {
	name, url, ctype, token string
	body                    []byte
	items                   int
	lib                     int
}

// measure runs the phases at concurrency c in rounds, interleaved (phase A,
// B, C, A, B, C, …) so that a noisy neighbour hurts every phase alike, each
// round lasting d/rounds, and returns each phase's median round.
func measure(ctx context.Context, hc *http.Client, phases []phaseDef, c, rounds int, d time.Duration, only string) (map[string]result, error) {
	return measureWith(ctx, hc, phases, c, rounds, d, only, nil)
}

func measureWith(ctx context.Context, hc *http.Client, phases []phaseDef, c, rounds int, d time.Duration, only string,
	lib func(phaseDef, time.Duration) (result, error)) (map[string]result, error) {
	all := map[string][]result{}
	for range rounds {
		for _, ph := range phases {
			if only != "" && !strings.Contains(ph.name, only) {
				continue
			}
			var r result
			var err error
			if ph.lib > 0 {
				if c != 1 {
					continue
				}
				r, err = lib(ph, d/time.Duration(rounds))
			} else {
				r, err = load(ctx, hc, ph.url, ph.token, ph.body, ph.ctype, c, ph.items, d/time.Duration(rounds))
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", ph.name, err)
			}
			all[ph.name] = append(all[ph.name], r)
		}
	}
	out := map[string]result{}
	for name, rs := range all {
		slices.SortFunc(rs, func(a, b result) int { return cmp.Compare(a.reqPerSec(), b.reqPerSec()) })
		out[name] = rs[len(rs)/2]
	}
	return out, nil
}
