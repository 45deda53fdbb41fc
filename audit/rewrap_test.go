package audit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/store"
)

// retiredKEK is a real KEK with its versions below `below` disabled, as an
// operator disables an old version in the HSM or KMS after a rotation (the
// fake KMS, like the local key file, never forgets a version by itself).
type retiredKEK struct {
	kms.KEK
	below uint32
}

func (r retiredKEK) Unwrap(ctx context.Context, w kms.Wrapped, aad []byte) ([]byte, error) {
	if w.KEKVersion < r.below {
		return nil, fmt.Errorf("%w: version %d is disabled", kms.ErrUnknownKEK, w.KEKVersion)
	}
	return r.KEK.Unwrap(ctx, w, aad)
}

func storedKEK(t testing.TB, st store.AuditStore) store.AuditKey {
	t.Helper()
	k, err := st.AuditKey(t.Context())
	if err != nil {
		t.Fatalf("AuditKey: %v", err)
	}
	return k
}

func rewrapKey(t testing.TB, st store.AuditStore, kek kms.KEK, want bool) {
	t.Helper()
	got, err := audit.RewrapKey(t.Context(), st, kek)
	if err != nil || got != want {
		t.Fatalf("RewrapKey: got %v, %v; want %v, nil", got, err, want)
	}
}

// TestRewrapKey: after a KEK rotation, RewrapKey moves the audit key to the
// new version; with the old versions disabled the log still verifies, a
// new process appends with the same key, and a log opened before the
// rewrap goes on appending.
func TestRewrapKey(t *testing.T) {
	for _, k := range kinds() {
		t.Run(k.name, func(t *testing.T) {
			ctx := t.Context()
			st := k.open(t)
			kek := newKEK(t)

			rewrapKey(t, st, kek, false) // no audit key yet: nothing to do, and none is made
			if _, err := st.AuditKey(ctx); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("AuditKey after RewrapKey on an empty store: got %v, want ErrNotFound", err)
			}

			before := openLog(t, st, kek, nil)
			record(t, before, 5)
			valueMAC := before.MAC([]byte("value"))
			rewrapKey(t, st, kek, false) // already under the current version
			old := storedKEK(t, st)
			if old.KEKVersion != 1 {
				t.Fatalf("audit key KEK version before rotation: got %d, want 1", old.KEKVersion)
			}

			for range 2 {
				if _, err := kek.Rotate(ctx); err != nil {
					t.Fatal(err)
				}
			}
			retired := retiredKEK{KEK: kek, below: 3}
			// The control: with versions 1 and 2 disabled, an audit key
			// left on version 1 can no longer be read.
			if _, err := audit.Verify(ctx, st, retired, nil); !errors.Is(err, kms.ErrUnknownKEK) || errors.Is(err, audit.ErrTampered) {
				t.Fatalf("Verify with the audit key's KEK version disabled: got %v, want ErrUnknownKEK", err)
			}

			rewrapKey(t, st, kek, true)
			got := storedKEK(t, st)
			if got.KEKID != kek.ID() || got.KEKVersion != 3 || !got.CreatedAt.Equal(old.CreatedAt) || bytes.Equal(got.Wrapped, old.Wrapped) {
				t.Fatalf("audit key after rewrap: got %s#%d created %v (wrap changed: %v), want %s#3 created %v with a new wrap",
					got.KEKID, got.KEKVersion, got.CreatedAt, !bytes.Equal(got.Wrapped, old.Wrapped), kek.ID(), old.CreatedAt)
			}
			rewrapKey(t, st, kek, false) // idempotent
			rewrapKey(t, st, retired, false)

			verifyOK(t, st, retired, 5)
			after := openLog(t, st.reopen(t), retired, nil)
			if got := after.MAC([]byte("value")); got != valueMAC {
				t.Errorf("value MAC after rewrap: got %s, want %s (the key must not change)", got, valueMAC)
			}
			record(t, after, 3)
			record(t, before, 2) // a log opened before the rewrap holds the same key
			verifyOK(t, st, retired, 10)
		})
	}
}

// TestRewrapKeyResumes: a rotation whose rewrap never ran (a crash), then
// another rotation: one RewrapKey moves the key from the oldest version
// straight to the newest.
func TestRewrapKeyResumes(t *testing.T) {
	st := openSQLite(t)
	kek := newKEK(t)
	record(t, openLog(t, st, kek, nil), 3)
	for range 3 {
		if _, err := kek.Rotate(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	rewrapKey(t, st, kek, true)
	if got := storedKEK(t, st).KEKVersion; got != 4 {
		t.Fatalf("audit key KEK version: got %d, want 4", got)
	}
	verifyOK(t, st, retiredKEK{KEK: kek, below: 4}, 3)
}

// interloper runs another process's rewrap just before the first
// RewrapAuditKey call goes through, so that call loses its swap.
type interloper struct {
	store.AuditStore
	once  sync.Once
	other func()
}

func (i *interloper) RewrapAuditKey(ctx context.Context, from, to store.KEKRef, wrapped []byte) error {
	i.once.Do(i.other)
	return i.AuditStore.RewrapAuditKey(ctx, from, to, wrapped)
}

// TestRewrapKeyLostSwap: when another process moves the key between
// RewrapKey's read and its swap, RewrapKey reads again, finds the key on the
// current version and reports that it moved nothing; the stored wrap is the
// other process's.
func TestRewrapKeyLostSwap(t *testing.T) {
	for _, k := range kinds() {
		t.Run(k.name, func(t *testing.T) {
			st := k.open(t)
			kek := newKEK(t)
			record(t, openLog(t, st, kek, nil), 2)
			if _, err := kek.Rotate(t.Context()); err != nil {
				t.Fatal(err)
			}
			other := st.reopen(t)
			var theirs store.AuditKey
			racing := &interloper{AuditStore: st, other: func() {
				rewrapKey(t, other, kek, true)
				theirs = storedKEK(t, other)
			}}
			rewrapKey(t, racing, kek, false)
			if got := storedKEK(t, st); got.KEKVersion != 2 || !bytes.Equal(got.Wrapped, theirs.Wrapped) {
				t.Fatalf("audit key after a lost swap: got version %d, want 2 with the winner's wrap", got.KEKVersion)
			}
			verifyOK(t, st, retiredKEK{KEK: kek, below: 2}, 2)
		})
	}
}

// TestRewrapKeyConcurrent: several processes rewrap at once; exactly one
// moves the key, none fails.
func TestRewrapKeyConcurrent(t *testing.T) {
	for _, k := range kinds() {
		t.Run(k.name, func(t *testing.T) {
			st := k.open(t)
			kek := newKEK(t)
			record(t, openLog(t, st, kek, nil), 4)
			if _, err := kek.Rotate(t.Context()); err != nil {
				t.Fatal(err)
			}
			const procs = 6
			stores := make([]store.AuditStore, procs)
			for i := range stores {
				stores[i] = st.reopen(t)
			}
			moved := make([]bool, procs)
			errs := make([]error, procs)
			var wg sync.WaitGroup
			for i := range procs {
				wg.Go(func() { moved[i], errs[i] = audit.RewrapKey(t.Context(), stores[i], kek) })
			}
			wg.Wait()
			n := 0
			for i := range procs {
				if errs[i] != nil {
					t.Errorf("RewrapKey %d: %v", i, errs[i])
				}
				if moved[i] {
					n++
				}
			}
			if n != 1 {
				t.Errorf("RewrapKey calls that moved the key: got %d, want 1", n)
			}
			verifyOK(t, st, retiredKEK{KEK: kek, below: 2}, 4)
		})
	}
}

// TestRewrapKeyOtherKEK: a key wrapped by another KEK is refused and left
// as it is.
func TestRewrapKeyOtherKEK(t *testing.T) {
	st := openSQLite(t)
	record(t, openLog(t, st, newKEK(t), nil), 1)
	before := storedKEK(t, st)
	other := newKEK(t)
	if _, err := other.Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}
	moved, err := audit.RewrapKey(t.Context(), st, other)
	if moved || !errors.Is(err, kms.ErrUnknownKEK) {
		t.Fatalf("RewrapKey with another KEK: got %v, %v; want false, ErrUnknownKEK", moved, err)
	}
	if after := storedKEK(t, st); !bytes.Equal(after.Wrapped, before.Wrapped) || after.KEKVersion != before.KEKVersion {
		t.Fatalf("audit key changed after a refused rewrap")
	}
}
