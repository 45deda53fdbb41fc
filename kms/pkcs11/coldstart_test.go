package pkcs11

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/store/sqlite"
)

// BenchmarkColdStart measures an engine starting cold against an HSM KEK:
// 10,000 organizations exist, and a fresh engine (empty cache) decrypts one
// value of each, so every call reads the store and unwraps in the token.
//
//	KEYWARD_TEST_PKCS11_MODULE=/usr/lib/softhsm/libsofthsm2.so \
//	  go test -run '^$' -bench ColdStart -benchtime 3x ./kms/pkcs11/
func BenchmarkColdStart(b *testing.B) {
	const orgs = 10000
	ctx := context.Background()
	kek, _ := provision(b, func(c *Config) { c.Sessions = 4 })
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "keyward.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	setup, err := keyward.Open(st, kek, &keyward.Options{ChangePoll: -1})
	if err != nil {
		b.Fatal(err)
	}
	cts := make([][]byte, orgs)
	parallel(b, orgs, func(i int) error {
		org := fmt.Sprintf("org-%05d", i)
		if _, err := setup.CreateOrg(ctx, org); err != nil {
			return err
		}
		ct, err := setup.Encrypt(ctx, org, []byte("sk_live_example"), "k")
		cts[i] = ct
		return err
	})
	setup.Close()

	for b.Loop() {
		eng, err := keyward.Open(st, kek, &keyward.Options{ChangePoll: -1, CacheSize: orgs})
		if err != nil {
			b.Fatal(err)
		}
		parallel(b, orgs, func(i int) error {
			_, err := eng.Decrypt(ctx, fmt.Sprintf("org-%05d", i), cts[i], "k")
			return err
		})
		if got := eng.Stats().Unwraps; got != orgs {
			b.Fatalf("cold start unwrapped %d keys, want %d", got, orgs)
		}
		eng.Close()
	}
	b.ReportMetric(float64(orgs*b.N)/b.Elapsed().Seconds(), "orgs/s")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/coldstart")
}

// parallel runs fn(0..n-1) on 8 goroutines and fails b on the first error.
func parallel(b *testing.B, n int, fn func(i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		b.Fatal(first)
	}
}
