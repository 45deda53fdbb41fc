package reencrypt_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/kms/kmstest"
	"github.com/keyward/keyward/reencrypt"
	"github.com/keyward/keyward/secret"
	"github.com/keyward/keyward/secretstore"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/postgres"
)

// secretsStore is what the secret-store tests need of a keyward store.
type secretsStore interface {
	store.Store
	store.JobStore
	reencrypt.SecretStore
	store.SecretStore
}

// secretStores returns an engine on each store implementation.
func secretStores(t *testing.T) map[string]func(t *testing.T) (*keyward.Engine, secretsStore) {
	return map[string]func(t *testing.T) (*keyward.Engine, secretsStore){
		"sqlite": func(t *testing.T) (*keyward.Engine, secretsStore) {
			eng, st := engine(t)
			return eng, st
		},
		"postgres": func(t *testing.T) (*keyward.Engine, secretsStore) {
			url := os.Getenv(envURL)
			_, schema := appPool(t) // skips without a database; dropped at cleanup
			st, err := postgres.Open(t.Context(), postgres.Config{URL: url, Schema: schema})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			kek, err := kmstest.NewFake()
			if err != nil {
				t.Fatal(err)
			}
			eng, err := keyward.Open(st, kek, &keyward.Options{ChangePoll: -1})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { eng.Close() })
			return eng, st
		},
	}
}

func TestReencryptSecrets(t *testing.T) {
	for name, open := range secretStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			eng, st := open(t)
			ss, err := secretstore.New(eng, st)
			if err != nil {
				t.Fatal(err)
			}
			// Orgs with 0, 1 and many secrets, so batches and chunks
			// cross organization boundaries.
			want := map[[2]string]string{}
			counts := map[string]int{"a-empty": 0, "b-one": 1, "c-many": 120, "d-some": 37}
			for org, n := range counts {
				if _, err := eng.CreateOrg(ctx, org); err != nil {
					t.Fatal(err)
				}
				for i := range n {
					name := fmt.Sprintf("svc/%03d", i)
					v := fmt.Sprintf("%s-value-%d", org, i)
					if _, err := ss.Put(ctx, org, name, secretstore.Kind("generic"), secret.New([]byte(v)), secretstore.PutOptions{}); err != nil {
						t.Fatal(err)
					}
					want[[2]string{org, name}] = v
				}
			}
			for org := range counts {
				if _, err := eng.RotateDEK(ctx, org); err != nil {
					t.Fatal(err)
				}
			}
			// The application keeps writing while the job runs.
			var wg sync.WaitGroup
			stop := make(chan struct{})
			var mu sync.Mutex
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					name := fmt.Sprintf("svc/%03d", i%120)
					v := fmt.Sprintf("fresh-%d", i)
					mu.Lock()
					_, err := ss.Put(ctx, "c-many", name, secretstore.Kind("generic"), secret.New([]byte(v)), secretstore.PutOptions{})
					if err == nil {
						want[[2]string{"c-many", name}] = v
					}
					mu.Unlock()
					if err != nil {
						t.Error(err)
						return
					}
				}
			})
			sum, err := reencrypt.Run(ctx, st, reencrypt.NewSecrets(st, ""), &reencrypt.Converter{Sealer: eng},
				reencrypt.Options{Kind: "reencrypt", Batch: 7, ChunkRows: 30, Workers: 3})
			close(stop)
			wg.Wait()
			if err != nil {
				t.Fatal(err)
			}
			if j := sum.Job; j.Done != 158 || j.Total != 158 || j.Failed != 0 || j.State != store.JobDone {
				t.Fatalf("job: %+v", j)
			}
			check := func(version uint32, orgs ...string) {
				t.Helper()
				for _, org := range orgs {
					items, _, err := ss.List(ctx, org, "", 1000)
					if err != nil {
						t.Fatal(err)
					}
					if len(items) != counts[org] {
						t.Fatalf("%s: %d secrets, want %d", org, len(items), counts[org])
					}
					for _, m := range items {
						v, _, err := ss.Reveal(ctx, org, m.Name)
						if err != nil {
							t.Fatal(err)
						}
						if got := string(v.Reveal()); got != want[[2]string{org, m.Name}] || m.KeyVersion != version {
							t.Fatalf("%s/%s: got %q v%d, want %q v%d", org, m.Name, got, m.KeyVersion, want[[2]string{org, m.Name}], version)
						}
					}
				}
			}
			check(2, "a-empty", "b-one", "c-many", "d-some")

			// One org only: the others stay where they are.
			for _, org := range []string{"c-many", "d-some"} {
				if _, err := eng.RotateDEK(ctx, org); err != nil {
					t.Fatal(err)
				}
			}
			sum, err = reencrypt.Run(ctx, st, reencrypt.NewSecrets(st, "d-some"), &reencrypt.Converter{Sealer: eng},
				reencrypt.Options{Kind: "reencrypt", Org: "d-some", Batch: 10})
			if err != nil {
				t.Fatal(err)
			}
			if j := sum.Job; j.Done != 37 || j.Rewritten != 37 {
				t.Fatalf("job of d-some: %+v", j)
			}
			check(3, "d-some")
			check(2, "c-many")
		})
	}
}

// A worker with no chunk left waits for one, but wakes when a worker of its
// own process finishes: a one-chunk job with many workers ends without
// waiting out the poll interval (an hour here; the context would end the
// test long before).
func TestIdleWorkersWakeAtJobEnd(t *testing.T) {
	eng, st := engine(t)
	ss, err := secretstore.New(eng, st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.CreateOrg(t.Context(), "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := ss.Put(t.Context(), "acme", "svc/one", secretstore.Kind("generic"), secret.New([]byte("v")), secretstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	sum, err := reencrypt.Run(ctx, st, reencrypt.NewSecrets(st, ""), &reencrypt.Converter{Sealer: eng},
		reencrypt.Options{Kind: "reencrypt", Workers: 4, Poll: time.Hour})
	if err != nil {
		t.Fatalf("Run: %v (idle workers were not woken at the job's end)", err)
	}
	if j := sum.Job; j.State != store.JobDone || j.Done != 1 {
		t.Fatalf("job: %+v", j)
	}
}
