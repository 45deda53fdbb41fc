package keyward_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/kms/kmstest"
	"github.com/keyward/keyward/store/sqlite"
)

// TestNonceHardLimit: random 96-bit nonces are safe for 2^32 encryptions
// per key. When automatic rotation cannot run (the KMS is down, so no new
// data key can be wrapped), an engine must stop encrypting under the old
// version at 2^32 instead of going on past the bound; it encrypts again
// once the rotation succeeds.
func TestNonceHardLimit(t *testing.T) {
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
	const block = 16
	eng, err := keyward.Open(st, kek, &keyward.Options{UsageBlock: block, ChangePoll: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if _, err := eng.CreateOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Encrypt(ctx, "acme", []byte("x"), ""); err != nil { // caches v1, reserves a block
		t.Fatal(err)
	}
	// Other processes have used v1 almost up to the bound.
	const room = 40
	if _, err := st.ReserveUsage(ctx, "acme", 1, 1<<32-block-room); err != nil {
		t.Fatal(err)
	}
	kek.SetFailing(fmt.Errorf("hsm unreachable: %w", kms.ErrUnavailable))

	ok := 0
	var last error
	for range 200 {
		ct, err := eng.EncryptText(ctx, "acme", []byte("x"), "")
		if err != nil {
			last = err
			break
		}
		if !strings.HasPrefix(ct, "kw1:1:") {
			t.Fatalf("encrypted under another version during the outage: %.8s", ct)
		}
		ok++
	}
	// One encryption done before, block-1 left of its block, room more.
	if want := block - 1 + room; ok != want {
		t.Fatalf("got %d encryptions under v1 before the limit, want %d (error: %v)", ok, want, last)
	}
	if !errors.Is(last, keyward.ErrKeyExhausted) {
		t.Fatalf("past the limit: got %v, want ErrKeyExhausted", last)
	}
	keys, err := eng.Keys(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if keys[0].Version != 1 || keys[0].Usage < 1<<32 {
		t.Fatalf("v1 usage %d, want at least 2^32 reserved", keys[0].Usage)
	}

	kek.SetFailing(nil)
	eventually(t, "no encryption after the kms healed", func() bool {
		ct, err := eng.EncryptText(ctx, "acme", []byte("x"), "")
		return err == nil && !strings.HasPrefix(ct, "kw1:1:")
	})
}
