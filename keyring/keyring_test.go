package keyring_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/format"
	"github.com/keyward/keyward/keyring"
	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/kms/kmstest"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/sqlite"
)

type fixture struct {
	store store.Store
	kek   *kmstest.Fake
	ring  *keyring.Keyring
	mgr   *keyring.Manager
}

func newFixture(t *testing.T, opts keyring.Options) *fixture {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kek, err := kmstest.NewFake()
	if err != nil {
		t.Fatal(err)
	}
	return newFixtureOn(t, st, kek, opts)
}

func newFixtureOn(t *testing.T, st store.Store, kek *kmstest.Fake, opts keyring.Options) *fixture {
	t.Helper()
	ring, err := keyring.New(st, kek, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ring.Close)
	mgr, err := keyring.NewManager(st, kek, ring)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{store: st, kek: kek, ring: ring, mgr: mgr}
}

func (f *fixture) createOrg(t *testing.T, org string) {
	t.Helper()
	if _, err := f.mgr.CreateOrg(context.Background(), org); err != nil {
		t.Fatalf("CreateOrg(%q): %v", org, err)
	}
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, keyring.Options{})
	f.createOrg(t, "acme")

	k1, err := f.ring.Active(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := k1.Version, uint32(1); got != want {
		t.Fatalf("active version: got %d, want %d", got, want)
	}
	ct := format.Seal(nil, k1.AEAD, 1, []byte("secret"), []byte("aad"))

	v, err := f.mgr.Rotate(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := v, uint32(2); got != want {
		t.Fatalf("rotate: got v%d, want v%d", got, want)
	}
	k2, err := f.ring.Active(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := k2.Version, uint32(2); got != want {
		t.Fatalf("active after rotate: got v%d, want v%d", got, want)
	}
	open := func() error {
		k, err := f.ring.Version(ctx, "acme", 1)
		if err != nil {
			return err
		}
		fld, err := format.ParseBinary(ct)
		if err != nil {
			return err
		}
		_, err = format.Open(nil, k.AEAD, fld, []byte("aad"))
		return err
	}
	if err := open(); err != nil {
		t.Fatalf("decrypt-only v1 after rotate: %v", err)
	}

	if err := f.mgr.Retire(ctx, "acme", 1); err != nil {
		t.Fatal(err)
	}
	err = open()
	if !errors.Is(err, keyring.ErrRetired) || !strings.Contains(err.Error(), "version 1") {
		t.Fatalf("retired v1: got %v, want ErrRetired naming version 1", err)
	}
	if err := f.mgr.Reinstate(ctx, "acme", 1); err != nil {
		t.Fatal(err)
	}
	if err := open(); err != nil {
		t.Fatalf("reinstated v1: %v", err)
	}
	if err := f.mgr.Destroy(ctx, "acme", 1); err != nil {
		t.Fatal(err)
	}
	if err := open(); !errors.Is(err, keyring.ErrDestroyed) {
		t.Fatalf("destroyed v1: got %v, want ErrDestroyed", err)
	}
	kv, err := f.store.Key(ctx, "acme", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(kv.Wrapped) != 0 {
		t.Fatalf("destroyed v1 still has %d wrapped bytes", len(kv.Wrapped))
	}
}

func TestManagerRefusals(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, keyring.Options{})
	f.createOrg(t, "acme")
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"retire active", func() error { return f.mgr.Retire(ctx, "acme", 1) }, keyring.ErrActiveVersion},
		{"destroy active", func() error { return f.mgr.Destroy(ctx, "acme", 1) }, keyring.ErrActiveVersion},
		{"retire unknown version", func() error { return f.mgr.Retire(ctx, "acme", 9) }, keyring.ErrUnknownVersion},
		{"retire unknown org", func() error { return f.mgr.Retire(ctx, "nobody", 1) }, keyring.ErrUnknownOrg},
		{"rotate unknown org", func() error { _, err := f.mgr.Rotate(ctx, "nobody"); return err }, keyring.ErrUnknownOrg},
		{"create twice", func() error { _, err := f.mgr.CreateOrg(ctx, "acme"); return err }, store.ErrOrgExists},
		{"create empty id", func() error { _, err := f.mgr.CreateOrg(ctx, ""); return err }, keyring.ErrInvalidOrg},
		{"create odd id", func() error { _, err := f.mgr.CreateOrg(ctx, "a/../b"); return err }, keyring.ErrInvalidOrg},
		{"active of unknown org", func() error { _, err := f.ring.Active(ctx, "nobody"); return err }, keyring.ErrUnknownOrg},
		{"version 0", func() error { _, err := f.ring.Version(ctx, "acme", 0); return err }, keyring.ErrUnknownVersion},
		{"version 7", func() error { _, err := f.ring.Version(ctx, "acme", 7); return err }, keyring.ErrUnknownVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.do(); !errors.Is(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	keys, err := f.mgr.Keys(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(keys), 1; got != want || keys[0].State != store.StateActive {
		t.Fatalf("after refusals: got %d keys (%v), want 1 active", got, keys)
	}
}

func TestValidateOrgID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"acme", true},
		{"Acme-Corp_1.eu", true},
		{"0f8fad5b-d9cb-469f-a165-70867728950e", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{"-acme", false},
		{".hidden", false},
		{"a b", false},
		{"a/b", false},
		{"a\x00b", false},
		{"a\nb", false},
		{"café", false},
		{"a%2fb", false},
		{"acme;drop", false},
	}
	for _, tt := range tests {
		err := keyring.ValidateOrgID(tt.id)
		if got := err == nil; got != tt.ok {
			t.Errorf("ValidateOrgID(%q): got ok=%v (%v), want ok=%v", tt.id, got, err, tt.ok)
		}
		if err != nil && !errors.Is(err, keyring.ErrInvalidOrg) {
			t.Errorf("ValidateOrgID(%q): got %v, want ErrInvalidOrg", tt.id, err)
		}
	}
}

// TestSingleFlight checks that 100 concurrent misses for one organization
// cause exactly one KEK unwrap.
func TestSingleFlight(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, keyring.Options{})
	f.createOrg(t, "acme")
	f.ring.Invalidate("acme")
	f.kek.SetUnwrapDelay(100 * time.Millisecond) // keep the first load in flight while the others arrive
	before := f.kek.Unwraps()

	var wg sync.WaitGroup
	errs := make(chan error, 100)
	start := make(chan struct{})
	for range 100 {
		wg.Go(func() {
			<-start
			k, err := f.ring.Active(ctx, "acme")
			if err == nil && k.Version != 1 {
				err = fmt.Errorf("got version %d", k.Version)
			}
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got, want := f.kek.Unwraps()-before, int64(1); got != want {
		t.Fatalf("unwraps for 100 concurrent misses: got %d, want %d", got, want)
	}
}

func TestCacheBound(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, keyring.Options{CacheSize: 3})
	for i := range 10 {
		org := fmt.Sprintf("org-%d", i)
		f.createOrg(t, org)
		if _, err := f.ring.Active(ctx, org); err != nil {
			t.Fatal(err)
		}
	}
	st := f.ring.Stats()
	if st.Len > 3 {
		t.Fatalf("cache holds %d keys, want at most 3", st.Len)
	}
	if st.Evictions < 7 {
		t.Fatalf("evictions: got %d, want at least 7", st.Evictions)
	}
	// The most recently used keys are still cached: no unwrap for them.
	before := f.kek.Unwraps()
	for _, org := range []string{"org-9", "org-8", "org-7"} {
		if _, err := f.ring.Active(ctx, org); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.kek.Unwraps() - before; got != 0 {
		t.Fatalf("recently used keys caused %d unwraps, want 0", got)
	}
	// The least recently used one was evicted and is loaded again.
	if _, err := f.ring.Active(ctx, "org-0"); err != nil {
		t.Fatal(err)
	}
	if got := f.kek.Unwraps() - before; got != 1 {
		t.Fatalf("evicted key caused %d unwraps, want 1", got)
	}
}

func TestCacheTTL(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, keyring.Options{CacheTTL: 20 * time.Millisecond})
	f.createOrg(t, "acme")
	if _, err := f.ring.Active(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.ring.Stats().Len != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("key still cached 5s after a 20ms TTL")
		}
		time.Sleep(10 * time.Millisecond)
	}
	before := f.kek.Unwraps()
	if _, err := f.ring.Active(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if got := f.kek.Unwraps() - before; got != 1 {
		t.Fatalf("expired key: got %d unwraps, want 1", got)
	}
}

// recordingKEK remembers every key it unwrapped, to check they get zeroed.
type recordingKEK struct {
	*kmstest.Fake
	mu   sync.Mutex
	keys [][]byte
}

func (r *recordingKEK) Unwrap(ctx context.Context, w kms.Wrapped, aad []byte) ([]byte, error) {
	k, err := r.Fake.Unwrap(ctx, w, aad)
	r.mu.Lock()
	r.keys = append(r.keys, k)
	r.mu.Unlock()
	return k, err
}

func TestUnwrappedKeyZeroed(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, keyring.Options{})
	f.createOrg(t, "acme")
	rec := &recordingKEK{Fake: f.kek}
	ring, err := keyring.New(f.store, rec, keyring.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Close()
	if _, err := ring.Active(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if got, want := len(rec.keys), 1; got != want {
		t.Fatalf("unwraps: got %d, want %d", got, want)
	}
	if k := rec.keys[0]; len(k) != format.KeySize || !bytes.Equal(k, make([]byte, format.KeySize)) {
		t.Fatalf("unwrapped key buffer was not zeroed after use")
	}
}

// swappedStore serves org A's wrapped key as if it were org B's row: what an
// attacker with write access to the database could do.
type swappedStore struct {
	store.Store
	from, to string
}

func (s swappedStore) ActiveKey(ctx context.Context, org string) (store.KeyVersion, error) {
	if org == s.to {
		kv, err := s.Store.ActiveKey(ctx, s.from)
		kv.Org = s.to
		return kv, err
	}
	return s.Store.ActiveKey(ctx, org)
}

func TestWrappedKeyBoundToOrg(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, keyring.Options{})
	f.createOrg(t, "org-a")
	f.createOrg(t, "org-b")
	ring, err := keyring.New(swappedStore{Store: f.store, from: "org-a", to: "org-b"}, f.kek, keyring.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Close()
	if _, err := ring.Active(ctx, "org-b"); !errors.Is(err, kms.ErrUnwrap) {
		t.Fatalf("org A's wrapped key under org B: got %v, want kms.ErrUnwrap", err)
	}
	if _, err := ring.Active(ctx, "org-a"); err != nil {
		t.Fatalf("org A itself: %v", err)
	}
}

func TestConcurrentRotate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, keyring.Options{})
	f.createOrg(t, "acme")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := f.mgr.Rotate(ctx, "acme"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	keys, err := f.mgr.Keys(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	active := 0
	for i, k := range keys {
		if got, want := k.Version, uint32(i+1); got != want {
			t.Fatalf("version at %d: got %d, want %d", i, got, want)
		}
		if k.State == store.StateActive {
			active++
		}
	}
	if got, want := len(keys), 9; got != want {
		t.Fatalf("versions: got %d, want %d", got, want)
	}
	if active != 1 {
		t.Fatalf("active versions: got %d, want 1", active)
	}
	k, err := f.ring.Active(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := k.Version, uint32(9); got != want {
		t.Fatalf("active after rotations: got v%d, want v%d", got, want)
	}
}
