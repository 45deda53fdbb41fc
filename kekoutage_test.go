package keyward_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/kms/kmstest"
	"github.com/keyward/keyward/store/sqlite"
)

// TestKEKOutage: while the KMS/HSM is down, organizations whose data key is
// cached keep working until the cache TTL; the others fail with a clear,
// retryable error; when the KMS heals, everything works again by itself.
func TestKEKOutage(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kek, err := kmstest.NewFake()
	if err != nil {
		t.Fatal(err)
	}
	const ttl = 300 * time.Millisecond
	eng, err := keyward.Open(st, kek, &keyward.Options{CacheTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	for _, org := range []string{"warm", "cold"} {
		if _, err := eng.CreateOrg(ctx, org); err != nil {
			t.Fatal(err)
		}
	}
	coldCT, err := eng.Encrypt(ctx, "cold", []byte("c"), "")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(ttl + 100*time.Millisecond)                   // everything expires
	warmCT, err := eng.Encrypt(ctx, "warm", []byte("w"), "") // warm is cached again
	if err != nil {
		t.Fatal(err)
	}

	kek.SetFailing(fmt.Errorf("hsm unreachable: %w", kms.ErrUnavailable))
	if _, err := eng.Decrypt(ctx, "warm", warmCT, ""); err != nil {
		t.Fatalf("cached org during the outage: %v", err)
	}
	_, err = eng.Decrypt(ctx, "cold", coldCT, "")
	if !errors.Is(err, keyward.ErrKEKUnavailable) {
		t.Fatalf("uncached org during the outage: got %v, want ErrKEKUnavailable", err)
	}
	if _, err := eng.CreateOrg(ctx, "new"); !errors.Is(err, keyward.ErrKEKUnavailable) {
		t.Fatalf("create org during the outage: got %v, want ErrKEKUnavailable", err)
	}
	eventually(t, "cached key outlived its TTL during the outage", func() bool {
		_, err := eng.Decrypt(ctx, "warm", warmCT, "")
		return errors.Is(err, keyward.ErrKEKUnavailable)
	})

	kek.SetFailing(nil)
	for _, c := range []struct {
		org string
		ct  []byte
	}{{"warm", warmCT}, {"cold", coldCT}} {
		if _, err := eng.Decrypt(ctx, c.org, c.ct, ""); err != nil {
			t.Fatalf("%s after the KMS healed: %v", c.org, err)
		}
	}
	if _, err := eng.CreateOrg(ctx, "new"); err != nil {
		t.Fatalf("create org after the KMS healed: %v (no partial org may survive the outage)", err)
	}
}
