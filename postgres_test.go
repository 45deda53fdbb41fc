package keyward_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/postgres"
)

// pgEngines opens n engines, each with its own connection pool, on one fresh
// PostgreSQL schema. It skips when KEYWARD_TEST_DATABASE_URL is unset.
func pgEngines(t *testing.T, n int, opts keyward.Options) ([]*keyward.Engine, *pgx.Conn, string) {
	t.Helper()
	url := os.Getenv("KEYWARD_TEST_DATABASE_URL")
	if url == "" {
		t.Skip("KEYWARD_TEST_DATABASE_URL is not set: skipping PostgreSQL tests (.ci/run sets it)")
	}
	ctx := context.Background()
	suffix := make([]byte, 6)
	rand.Read(suffix)
	schema := "kwtest_engine_" + hex.EncodeToString(suffix)
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		admin.Close(context.Background())
	})
	engines := openEngines(t, n, opts, func() (store.Store, error) {
		return postgres.Open(ctx, postgres.Config{URL: url, Schema: schema})
	})
	return engines, admin, schema
}

// TestPostgresCrossInstance: a rotation through one engine is used by the
// other within a second; a destruction is refused by the other within a
// second. Notifications make this prompt; the poll interval is set to 5s so
// that only LISTEN/NOTIFY can meet the bound.
func TestPostgresCrossInstance(t *testing.T) {
	ctx := context.Background()
	engines, _, _ := pgEngines(t, 2, keyward.Options{ChangePoll: 5 * time.Second})
	a, b := engines[0], engines[1]
	if _, err := a.CreateOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let both engines subscribe
	old, err := b.EncryptText(ctx, "acme", []byte("v1 data"), "c")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.RotateDEK(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	eventually(t, "b still encrypts with v1", func() bool {
		ct, err := b.EncryptText(ctx, "acme", []byte("x"), "c")
		return err == nil && strings.HasPrefix(ct, "kw1:2:")
	})
	if d := time.Since(start); d > time.Second {
		t.Errorf("b used the new version after %v, want within 1s", d)
	}
	if _, err := b.Decrypt(ctx, "acme", []byte(old), "c"); err != nil {
		t.Fatal(err)
	}
	if err := a.DestroyKey(ctx, "acme", 1); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	eventually(t, "b still decrypts destroyed v1", func() bool {
		_, err := b.Decrypt(ctx, "acme", []byte(old), "c")
		return errors.Is(err, keyward.ErrDestroyed)
	})
	if d := time.Since(start); d > time.Second {
		t.Errorf("b refused the destroyed version after %v, want within 1s", d)
	}
}

// TestPostgresConcurrentEngines: 8 goroutines × 2 engines create orgs, rotate
// and encrypt at once; afterwards SQL finds exactly one active version per
// org and versions 1..n with no gap or reuse.
func TestPostgresConcurrentEngines(t *testing.T) {
	ctx := context.Background()
	engines, admin, schema := pgEngines(t, 2, keyward.Options{NonceThreshold: 200, UsageBlock: 16, ChangePoll: 100 * time.Millisecond})
	shared := []string{"shared-0", "shared-1", "shared-2"}
	for _, org := range shared {
		if _, err := engines[0].CreateOrg(ctx, org); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for e, eng := range engines {
		for g := range 8 {
			wg.Go(func() {
				own := fmt.Sprintf("org-%d-%d", e, g)
				if _, err := eng.CreateOrg(ctx, own); err != nil {
					t.Error(err)
					return
				}
				for i := range 40 {
					org := shared[(g+i)%len(shared)]
					if i%2 == 0 {
						org = own
					}
					pt := fmt.Appendf(nil, "%d/%d/%d", e, g, i)
					ct, err := eng.Encrypt(ctx, org, pt, "c")
					if err != nil {
						t.Error(err)
						return
					}
					if got, err := eng.Decrypt(ctx, org, ct, "c"); err != nil || string(got) != string(pt) {
						t.Errorf("round trip: got (%q, %v)", got, err)
						return
					}
					if i%10 == 0 {
						if _, err := eng.RotateDEK(ctx, org); err != nil {
							t.Error(err)
							return
						}
					}
				}
			})
		}
	}
	wg.Wait()
	q := func(sql string) int {
		var n int
		if err := admin.QueryRow(ctx, strings.ReplaceAll(sql, "S.", pgx.Identifier{schema}.Sanitize()+".")).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := q(`SELECT count(*) FROM (SELECT org_id FROM S.key_versions WHERE state = 'active' GROUP BY org_id HAVING count(*) <> 1) x`); n != 0 {
		t.Errorf("%d orgs without exactly one active version", n)
	}
	if n := q(`SELECT count(*) FROM (SELECT org_id FROM S.key_versions GROUP BY org_id HAVING max(version) <> count(*) OR min(version) <> 1) x`); n != 0 {
		t.Errorf("%d orgs whose versions are not exactly 1..n", n)
	}
	if got, want := q(`SELECT count(*) FROM S.orgs`), 3+16; got != want {
		t.Errorf("orgs: got %d, want %d", got, want)
	}
}

// openPostgresBench opens a PostgreSQL store on a fresh schema for a benchmark.
func openPostgresBench(b *testing.B) *postgres.Store {
	ctx := context.Background()
	url := os.Getenv("KEYWARD_TEST_DATABASE_URL")
	suffix := make([]byte, 6)
	rand.Read(suffix)
	schema := "kwbench_" + hex.EncodeToString(suffix)
	st, err := postgres.Open(ctx, postgres.Config{URL: url, Schema: schema})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		st.Close()
		if c, err := pgx.Connect(context.Background(), url); err == nil {
			c.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			c.Close(context.Background())
		}
	})
	return st
}
