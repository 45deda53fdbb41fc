// Command ratio measures issue 2's speed goal – the library's Encrypt+Decrypt
// of a small value against raw crypto/cipher AES-256-GCM seal+open of the
// same value – with the two interleaved in short windows.
//
// `go test -bench` runs each benchmark for a second or more, one after the
// other; on a shared virtual machine the speed of the CPU moves by 10–20 %
// from one second to the next, so the ratio of two such results moves as
// much as the difference being measured. Here raw and library run in
// alternating windows of the same number of operations (a few milliseconds
// each, the order swapped every pair), and the ratio is taken per pair of
// neighbouring windows: noise slower than a window hits both sides alike.
// It prints the median of those ratios, their quartiles, and the ratio of
// the totals.
//
// The raw side does what BenchmarkRawGCM does: Seal(nil, …) and Open(nil, …)
// with an AAD of the same length as the library's, each allocating its
// result. The library side calls Engine.Encrypt and Engine.Decrypt with a
// warm key cache on the embedded store, as BenchmarkEngine does. Garbage
// made in one window may be collected in the next, so a little of the
// library's larger allocations is charged to raw; windows of many
// collections' length (the default) keep that small.
//
// With -rows the library side gives every call its own row's context
// ("integrations.k:<id>", cycling through 4096 rows), so no context recurs
// and the key's AAD memo (keyring/aadmemo.go) never helps; the raw side
// uses an AAD of that length.
//
//	go run ./bench/ratio                       # 32 B, 20 s
//	go run ./bench/ratio -rows                 # a context per row
//	go run ./bench/ratio -size 256 -duration 60s
package main

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/format"
	"github.com/keyward/keyward/kms/localkms"
	"github.com/keyward/keyward/store/sqlite"
)

func main() {
	size := flag.Int("size", 32, "plaintext bytes")
	window := flag.Duration("window", 20*time.Millisecond, "length of one window (each side)")
	duration := flag.Duration("duration", 20*time.Second, "total measuring time")
	rows := flag.Bool("rows", false, "a context per row: no context recurs")
	flag.Parse()
	if err := run(*size, *window, *duration, *rows); err != nil {
		fmt.Fprintln(os.Stderr, "ratio:", err)
		os.Exit(1)
	}
}

const (
	org        = "acme"
	aadContext = "integrations.k"
)

func run(size int, window, duration time.Duration, perRow bool) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "ratio")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(ctx, filepath.Join(dir, "keyward.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	kek, err := localkms.Create(filepath.Join(dir, "kek.key"))
	if err != nil {
		return err
	}
	eng, err := keyward.Open(st, kek, nil)
	if err != nil {
		return err
	}
	defer eng.Close()
	if _, err := eng.CreateOrg(ctx, org); err != nil {
		return err
	}

	key := make([]byte, 32)
	plaintext := make([]byte, size)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	if _, err := rand.Read(plaintext); err != nil {
		return err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return err
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return err
	}
	contexts := []string{aadContext}
	if perRow {
		contexts = make([]string, 4096)
		for i := range contexts {
			contexts[i] = fmt.Sprintf("%s:%d", aadContext, 100000+i)
		}
	}
	aad := format.AppendAAD(nil, format.V1, org, 1, contexts[0])

	raw := func(n int) (time.Duration, error) {
		start := time.Now()
		for range n {
			ct := aead.Seal(nil, nil, plaintext, aad)
			if _, err := aead.Open(nil, nil, ct, aad); err != nil {
				return 0, err
			}
		}
		return time.Since(start), nil
	}
	lib := func(n int) (time.Duration, error) {
		start := time.Now()
		for i := range n {
			c := contexts[i%len(contexts)]
			ct, err := eng.Encrypt(ctx, org, plaintext, c)
			if err != nil {
				return 0, err
			}
			if _, err := eng.Decrypt(ctx, org, ct, c); err != nil {
				return 0, err
			}
		}
		return time.Since(start), nil
	}

	// Warm up both sides (key cache, nonce reservation, CPU caches) and
	// size the windows from the raw side's speed.
	if _, err := lib(100_000); err != nil {
		return err
	}
	d, err := raw(100_000)
	if err != nil {
		return err
	}
	n := max(1000, int(window.Nanoseconds()*100_000/max(1, d.Nanoseconds())))

	var ratios, rawNs, libNs []float64
	var rawTotal, libTotal time.Duration
	for end := time.Now().Add(duration); time.Now().Before(end); {
		var r, l time.Duration
		var errR, errL error
		if len(ratios)%2 == 0 {
			r, errR = raw(n)
			l, errL = lib(n)
		} else {
			l, errL = lib(n)
			r, errR = raw(n)
		}
		if err := errors.Join(errR, errL); err != nil {
			return err
		}
		rawTotal += r
		libTotal += l
		ratios = append(ratios, float64(l)/float64(r))
		rawNs = append(rawNs, float64(r.Nanoseconds())/float64(n))
		libNs = append(libNs, float64(l.Nanoseconds())/float64(n))
	}
	slices.Sort(ratios)
	slices.Sort(rawNs)
	slices.Sort(libNs)
	fmt.Printf("size %d B, %d context(s), %d window pairs of %d operations each\n", size, len(contexts), len(ratios), n)
	fmt.Printf("raw seal+open        median %6.1f ns/op\n", quantile(rawNs, 0.5))
	fmt.Printf("Encrypt+Decrypt      median %6.1f ns/op\n", quantile(libNs, 0.5))
	fmt.Printf("ratio per pair       median %.3f  (quartiles %.3f – %.3f)\n",
		quantile(ratios, 0.5), quantile(ratios, 0.25), quantile(ratios, 0.75))
	fmt.Printf("ratio of the totals  %.3f\n", float64(libTotal)/float64(rawTotal))
	return nil
}

// quantile returns the q-quantile of sorted values (nearest rank).
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}
