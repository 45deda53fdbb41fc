package storetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

// auditStore returns s as a store.AuditStore or fails the test.
func auditStore(t *testing.T, s store.Store) store.AuditStore {
	t.Helper()
	as, ok := s.(store.AuditStore)
	if !ok {
		t.Fatalf("%T does not implement store.AuditStore", s)
	}
	return as
}

func testAudit(t *testing.T, open Opener) {
	t.Run("Key", func(t *testing.T) { testAuditKey(t, auditStore(t, open(t))) })
	t.Run("AppendAndRead", func(t *testing.T) { testAuditAppendAndRead(t, auditStore(t, open(t))) })
	t.Run("Refused", func(t *testing.T) { testAuditRefused(t, auditStore(t, open(t))) })
	t.Run("Concurrent", func(t *testing.T) { testAuditConcurrent(t, auditStore(t, open(t))) })
	t.Run("Rewrap", func(t *testing.T) { testAuditRewrap(t, auditStore(t, open(t))) })
	t.Run("RewrapRace", func(t *testing.T) { testAuditRewrapRace(t, auditStore(t, open(t))) })
}

func testAuditKey(t *testing.T, s store.AuditStore) {
	ctx := t.Context()
	_, err := s.AuditKey(ctx)
	checkErr(t, "AuditKey(new store)", err, store.ErrNotFound)
	_, err = s.InitAuditKey(ctx, store.AuditKey{KEKID: testKEK, KEKVersion: 1})
	checkErr(t, "InitAuditKey(no wrapped bytes)", err, store.ErrInvalidArgument)

	first := store.AuditKey{KEKID: testKEK, KEKVersion: 3, Wrapped: []byte("wrapped-audit-key\x00\xff")}
	before := time.Now()
	got, err := s.InitAuditKey(ctx, first)
	after := time.Now()
	if err != nil {
		t.Fatalf("InitAuditKey: %v", err)
	}
	checkTime(t, "InitAuditKey CreatedAt", got.CreatedAt, before, after)
	if got.KEKID != first.KEKID || got.KEKVersion != first.KEKVersion || !bytes.Equal(got.Wrapped, first.Wrapped) {
		t.Errorf("InitAuditKey: got %+v, want %+v", got, first)
	}
	// A second key loses: everyone agrees on the first.
	second, err := s.InitAuditKey(ctx, store.AuditKey{KEKID: "other", KEKVersion: 9, Wrapped: []byte("other")})
	if err != nil {
		t.Fatalf("InitAuditKey(second): %v", err)
	}
	if !reflect.DeepEqual(second, got) {
		t.Errorf("InitAuditKey(second): got %+v, want the first %+v", second, got)
	}
	read, err := s.AuditKey(ctx)
	if err != nil || !reflect.DeepEqual(read, got) {
		t.Errorf("AuditKey: got %+v, %v; want %+v", read, err, got)
	}
}

// auditEvent returns a recognisable event with seq and a MAC standing in
// for the chain's.
func auditEvent(seq int64, at time.Time) store.AuditEvent {
	mac := sha256.Sum256([]byte(fmt.Sprint("mac ", seq)))
	return store.AuditEvent{
		Seq: seq, Time: at.Truncate(time.Millisecond).UTC(),
		RequestID: fmt.Sprintf("req-%d", seq), TokenID: "tok_a", Org: "acme", Action: "decrypt",
		Name: "webhooks/stripe", Context: "channels.access_token:ünï", KeyVersion: uint32(seq % 5),
		Outcome: "allowed", Code: "", ValueMAC: fmt.Sprintf("%064x", seq), MAC: mac[:],
	}
}

// appendN appends n events continuing the chain, in one call.
func appendN(t *testing.T, s store.AuditStore, n int) []store.AuditEvent {
	t.Helper()
	var out []store.AuditEvent
	err := s.AppendAudit(t.Context(), func(head store.AuditHead) ([]store.AuditEvent, error) {
		out = out[:0]
		now := time.Now()
		for i := range n {
			out = append(out, auditEvent(head.Seq+1+int64(i), now))
		}
		return out, nil
	})
	if err != nil {
		t.Fatalf("AppendAudit(%d): %v", n, err)
	}
	return out
}

func checkHead(t *testing.T, s store.AuditStore, seq int64, mac []byte) {
	t.Helper()
	h, err := s.AuditHead(t.Context())
	if err != nil {
		t.Fatalf("AuditHead: %v", err)
	}
	if h.Seq != seq || !bytes.Equal(h.MAC, mac) {
		t.Errorf("AuditHead: got (%d, %x), want (%d, %x)", h.Seq, h.MAC, seq, mac)
	}
}

func testAuditAppendAndRead(t *testing.T, s store.AuditStore) {
	ctx := t.Context()
	checkHead(t, s, 0, nil)
	empty, err := s.AuditEvents(ctx, 0, 10)
	if err != nil || empty == nil || len(empty) != 0 {
		t.Errorf("AuditEvents(empty log): got %v, %v; want an empty non-nil slice", empty, err)
	}
	var want []store.AuditEvent
	want = append(want, appendN(t, s, 1)...)
	want = append(want, appendN(t, s, 7)...)
	want = append(want, appendN(t, s, 300)...)
	checkHead(t, s, 308, want[len(want)-1].MAC)

	var got []store.AuditEvent
	after := int64(0)
	for {
		page, err := s.AuditEvents(ctx, after, 100)
		if err != nil {
			t.Fatalf("AuditEvents(%d): %v", after, err)
		}
		got = append(got, page...)
		if len(page) < 100 {
			break
		}
		after = page[len(page)-1].Seq
	}
	if len(got) != len(want) {
		t.Fatalf("AuditEvents: %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("AuditEvents[%d]:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	// An empty batch writes nothing.
	if err := s.AppendAudit(ctx, func(store.AuditHead) ([]store.AuditEvent, error) { return nil, nil }); err != nil {
		t.Errorf("AppendAudit(nothing): %v", err)
	}
	checkHead(t, s, 308, want[len(want)-1].MAC)
	_, err = s.AuditEvents(ctx, 0, 0)
	checkErr(t, "AuditEvents(limit 0)", err, store.ErrInvalidArgument)
}

func testAuditRefused(t *testing.T, s store.AuditStore) {
	ctx := t.Context()
	first := appendN(t, s, 2)
	errBuild := errors.New("build failed")
	for _, tc := range []struct {
		name  string
		build func(h store.AuditHead) ([]store.AuditEvent, error)
		want  error
	}{
		{"seq gap", func(h store.AuditHead) ([]store.AuditEvent, error) {
			return []store.AuditEvent{auditEvent(h.Seq+2, time.Now())}, nil
		}, store.ErrInvalidArgument},
		{"seq reused", func(h store.AuditHead) ([]store.AuditEvent, error) {
			return []store.AuditEvent{auditEvent(h.Seq, time.Now())}, nil
		}, store.ErrInvalidArgument},
		{"second of two out of order", func(h store.AuditHead) ([]store.AuditEvent, error) {
			return []store.AuditEvent{auditEvent(h.Seq+1, time.Now()), auditEvent(h.Seq+3, time.Now())}, nil
		}, store.ErrInvalidArgument},
		{"short MAC", func(h store.AuditHead) ([]store.AuditEvent, error) {
			e := auditEvent(h.Seq+1, time.Now())
			e.MAC = e.MAC[:16]
			return []store.AuditEvent{e}, nil
		}, store.ErrInvalidArgument},
		{"build error", func(h store.AuditHead) ([]store.AuditEvent, error) {
			return nil, errBuild
		}, errBuild},
	} {
		err := s.AppendAudit(ctx, tc.build)
		checkErr(t, "AppendAudit("+tc.name+")", err, tc.want)
	}
	checkHead(t, s, 2, first[1].MAC)
	got, err := s.AuditEvents(ctx, 0, 100)
	if err != nil || len(got) != 2 {
		t.Errorf("after refused appends: %d events (%v), want 2", len(got), err)
	}
}

// testAuditConcurrent appends from many goroutines at once: each append
// sees the head the previous commit left, so the seqs are 1..n with no
// conflict and the head names the last.
func testAuditConcurrent(t *testing.T, s store.AuditStore) {
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		wg.Go(func() {
			for range each {
				err := s.AppendAudit(t.Context(), func(h store.AuditHead) ([]store.AuditEvent, error) {
					return []store.AuditEvent{auditEvent(h.Seq+1, time.Now()), auditEvent(h.Seq+2, time.Now())}, nil
				})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent AppendAudit: %v", err)
	}
	events, err := s.AuditEvents(t.Context(), 0, 1000)
	if err != nil {
		t.Fatalf("AuditEvents: %v", err)
	}
	if len(events) != 2*workers*each {
		t.Fatalf("got %d events, want %d", len(events), 2*workers*each)
	}
	for i, e := range events {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d, want %d", i, e.Seq, i+1)
		}
	}
	checkHead(t, s, events[len(events)-1].Seq, events[len(events)-1].MAC)
}
