package keyward_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/kms/localkms"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/sqlite"
)

// benchStores opens each store kind available: SQLite always, PostgreSQL
// when KEYWARD_TEST_DATABASE_URL is set.
func benchStores(b *testing.B) map[string]func(b *testing.B) store.Store {
	stores := map[string]func(b *testing.B) store.Store{
		"sqlite": func(b *testing.B) store.Store {
			st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "keyward.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			return st
		},
	}
	if os.Getenv("KEYWARD_TEST_DATABASE_URL") != "" {
		stores["postgres"] = func(b *testing.B) store.Store { return openPostgresBench(b) }
	}
	return stores
}

func benchEngineOn(b *testing.B, st store.Store, opts keyward.Options) *keyward.Engine {
	kek, err := localkms.Create(filepath.Join(b.TempDir(), "kek.key"))
	if err != nil {
		b.Fatal(err)
	}
	eng, err := keyward.Open(st, kek, &opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { eng.Close() })
	return eng
}

// BenchmarkStore compares the stores on the operations that touch them:
// creating orgs, loading a data key cold (store read + KEK unwrap), and the
// warm encrypt path, which must not depend on the store at all.
func BenchmarkStore(b *testing.B) {
	ctx := context.Background()
	for name, open := range benchStores(b) {
		b.Run(name+"/CreateOrg", func(b *testing.B) {
			eng := benchEngineOn(b, open(b), keyward.Options{})
			i := 0
			for b.Loop() {
				if _, err := eng.CreateOrg(ctx, fmt.Sprintf("org-%d", i)); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "orgs/s")
		})
		b.Run(name+"/ColdLoad", func(b *testing.B) {
			// A cache of one key and 64 orgs visited in turn: every call is a
			// miss that reads the store and unwraps.
			eng := benchEngineOn(b, open(b), keyward.Options{CacheSize: 1, ChangePoll: -1})
			const orgs = 64
			cts := make([][]byte, orgs)
			for i := range orgs {
				org := fmt.Sprintf("org-%d", i)
				if _, err := eng.CreateOrg(ctx, org); err != nil {
					b.Fatal(err)
				}
				ct, err := eng.Encrypt(ctx, org, []byte("x"), "")
				if err != nil {
					b.Fatal(err)
				}
				cts[i] = ct
			}
			before := eng.Stats().Unwraps
			i := 0
			for b.Loop() {
				if _, err := eng.Decrypt(ctx, fmt.Sprintf("org-%d", i%orgs), cts[i%orgs], ""); err != nil {
					b.Fatal(err)
				}
				i++
			}
			if got := eng.Stats().Unwraps - before; got < uint64(b.N) {
				b.Fatalf("%d unwraps for %d calls: not cold", got, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "loads/s")
		})
		b.Run(name+"/WarmEncrypt32", func(b *testing.B) {
			eng := benchEngineOn(b, open(b), keyward.Options{})
			if _, err := eng.CreateOrg(ctx, "acme"); err != nil {
				b.Fatal(err)
			}
			pt := make([]byte, 32)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := eng.Encrypt(ctx, "acme", pt, "c"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
