package audit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/store"
)

func openLog(t testing.TB, st store.AuditStore, kek kms.KEK, o *audit.Options) *audit.Log {
	t.Helper()
	l, err := audit.Open(t.Context(), st, kek, o)
	if err != nil {
		t.Fatalf("audit.Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func event(i int) audit.Event {
	return audit.Event{
		RequestID: fmt.Sprintf("req-%d", i), TokenID: "tok_0123", Org: "acme", Action: "decrypt",
		Context: "channels.access_token", KeyVersion: 2, Outcome: audit.Allowed,
	}
}

func record(t testing.TB, l *audit.Log, n int) {
	t.Helper()
	for i := range n {
		if err := l.Record(t.Context(), event(i)); err != nil {
			t.Fatalf("Record %d: %v", i, err)
		}
	}
}

func verifyOK(t testing.TB, st store.AuditStore, kek kms.KEK, want int64) audit.Report {
	t.Helper()
	rep, err := audit.Verify(t.Context(), st, kek, nil)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if rep.Events != want || rep.FirstBad != 0 || rep.Problem != "" || rep.Head.Seq != want {
		t.Fatalf("Verify: got %+v, want %d events, all good", rep, want)
	}
	return rep
}

func TestRecordAndTail(t *testing.T) {
	for _, k := range kinds() {
		t.Run(k.name, func(t *testing.T) {
			st := k.open(t)
			kek := newKEK(t)
			now := time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.FixedZone("x", 3600))
			l := openLog(t, st, kek, &audit.Options{Now: func() time.Time { return now }})
			ev := audit.Event{
				Seq: 99, Time: time.Unix(1, 0), // ignored: the log sets them
				RequestID: "req-1", TokenID: "tok_1", Org: "acme", Action: "secrets.reveal", Name: "webhooks/stripé",
				KeyVersion: 3, Outcome: audit.Denied, Code: "forbidden", ValueMAC: l.MAC([]byte("whsec_x")),
			}
			if err := l.Record(t.Context(), ev); err != nil {
				t.Fatal(err)
			}
			record(t, l, 4)
			got, err := audit.Tail(t.Context(), st, 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 5 {
				t.Fatalf("Tail: %d events, want 5", len(got))
			}
			want := ev
			want.Seq, want.Time = 1, now.UTC().Truncate(time.Millisecond)
			if got[0] != want {
				t.Errorf("Tail[0]:\n got %+v\nwant %+v", got[0], want)
			}
			for i, e := range got {
				if e.Seq != int64(i+1) {
					t.Errorf("Tail[%d].Seq = %d", i, e.Seq)
				}
			}
			if tail, _ := audit.Tail(t.Context(), st, 3, 10); len(tail) != 2 || tail[0].Seq != 4 {
				t.Errorf("Tail(after 3): %+v", tail)
			}
			verifyOK(t, st, kek, 5)
		})
	}
}

// TestConcurrentRecord: 64 goroutines record at once; the chain verifies,
// every event is there once.
func TestConcurrentRecord(t *testing.T) {
	for _, k := range kinds() {
		t.Run(k.name, func(t *testing.T) {
			st := k.open(t)
			kek := newKEK(t)
			l := openLog(t, st, kek, nil)
			const workers, each = 64, 20
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for i := range each {
						if err := l.Record(t.Context(), event(w*each+i)); err != nil {
							t.Errorf("Record: %v", err)
							return
						}
					}
				})
			}
			wg.Wait()
			verifyOK(t, st, kek, workers*each)
			seen := map[string]bool{}
			for after := int64(0); ; {
				page, err := audit.Tail(t.Context(), st, after, 500)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range page {
					if seen[e.RequestID] {
						t.Errorf("event %s twice", e.RequestID)
					}
					seen[e.RequestID] = true
				}
				if len(page) < 500 {
					break
				}
				after = page[len(page)-1].Seq
			}
			if len(seen) != workers*each {
				t.Errorf("%d distinct events, want %d", len(seen), workers*each)
			}
		})
	}
}

// TestTwoProcesses: two logs on one store (two processes) share the audit
// key and append to one chain.
func TestTwoProcesses(t *testing.T) {
	for _, k := range kinds() {
		t.Run(k.name, func(t *testing.T) {
			st := k.open(t)
			kek := newKEK(t)
			a := openLog(t, st, kek, nil)
			b := openLog(t, st.reopen(t), kek, nil)
			if a.MAC([]byte("v")) != b.MAC([]byte("v")) {
				t.Errorf("two logs on one store: different value MACs")
			}
			if a.MAC([]byte("v")) == a.MAC([]byte("w")) || len(a.MAC(nil)) != 64 {
				t.Errorf("MAC: want 64 hex digits, distinct per value")
			}
			var wg sync.WaitGroup
			for _, l := range []*audit.Log{a, b, a, b} {
				wg.Go(func() {
					for i := range 25 {
						if err := l.Record(t.Context(), event(i)); err != nil {
							t.Errorf("Record: %v", err)
						}
					}
				})
			}
			wg.Wait()
			verifyOK(t, st, kek, 100)
			// Another KEK cannot open the log (or verify it).
			if _, err := audit.Open(t.Context(), st, newKEK(t), nil); err == nil {
				t.Errorf("Open with another KEK: no error")
			}
			if _, err := audit.Verify(t.Context(), st, newKEK(t), nil); err == nil || errors.Is(err, audit.ErrTampered) {
				t.Errorf("Verify with another KEK: got %v, want a key error (not tampering)", err)
			}
		})
	}
}

// TestTamper edits the database directly, as someone with write access
// but without the audit key could, and checks that Verify names the first
// bad event and what is wrong.
func TestTamper(t *testing.T) {
	dropSQLite := []string{`DROP TRIGGER audit_events_no_update`, `DROP TRIGGER audit_events_no_delete`}
	dropPG := []string{`DROP TRIGGER audit_events_append_only ON audit_events`}
	for _, tc := range []struct {
		name    string
		stmts   []string
		seq     int64
		problem string
	}{
		{"edit a field", []string{`UPDATE audit_events SET outcome = 'allowed', code = '' WHERE seq = 4`}, 4, audit.ProblemEdited},
		{"edit the org", []string{`UPDATE audit_events SET org_id = 'globex' WHERE seq = 1`}, 1, audit.ProblemEdited},
		{"edit the time", []string{`UPDATE audit_events SET at = at + {{1ms}} WHERE seq = 7`}, 7, audit.ProblemEdited},
		{"replace a MAC", []string{`UPDATE audit_events SET mac = (SELECT mac FROM audit_events WHERE seq = 2) WHERE seq = 6`}, 6, audit.ProblemEdited},
		{"delete a middle event", []string{`DELETE FROM audit_events WHERE seq = 5`}, 5, audit.ProblemMissing},
		{"delete several", []string{`DELETE FROM audit_events WHERE seq BETWEEN 3 AND 6`}, 3, audit.ProblemMissing},
		{"delete the last event", []string{`DELETE FROM audit_events WHERE seq = 10`}, 10, audit.ProblemTruncated},
		{"delete everything", []string{`DELETE FROM audit_events`}, 1, audit.ProblemTruncated},
		{"swap two events", []string{
			`UPDATE audit_events SET seq = 1000 WHERE seq = 3`,
			`UPDATE audit_events SET seq = 3 WHERE seq = 8`,
			`UPDATE audit_events SET seq = 8 WHERE seq = 1000`,
		}, 3, audit.ProblemReordered},
		{"insert a forged event", []string{
			`INSERT INTO audit_events SELECT seq + 1, at, request_id, token_id, org_id, action, name, context, key_version, outcome, code, value_mac, mac FROM audit_events WHERE seq = 10`,
		}, 11, audit.ProblemEdited},
	} {
		for _, k := range kinds() {
			t.Run(k.name+"/"+tc.name, func(t *testing.T) {
				st := k.open(t)
				kek := newKEK(t)
				l := openLog(t, st, kek, nil)
				for i := range 10 {
					ev := event(i)
					if i == 3 {
						ev.Outcome, ev.Code = audit.Denied, "forbidden"
					}
					if err := l.Record(t.Context(), ev); err != nil {
						t.Fatal(err)
					}
				}
				verifyOK(t, st, kek, 10)
				stmts, oneMS := dropSQLite, "1" // SQLite keeps unix milliseconds
				if k.name == "postgres" {
					stmts, oneMS = dropPG, "interval '1 millisecond'"
				}
				for _, s := range tc.stmts {
					stmts = append(stmts, strings.ReplaceAll(s, "{{1ms}}", oneMS))
				}
				st.raw(t, stmts...)
				rep, err := audit.Verify(t.Context(), st, kek, nil)
				if !errors.Is(err, audit.ErrTampered) {
					t.Fatalf("Verify after %s: got %v, want ErrTampered", tc.name, err)
				}
				if rep.FirstBad != tc.seq || rep.Problem != tc.problem {
					t.Errorf("Verify after %s: got first bad %d (%s), want %d (%s); error: %v",
						tc.name, rep.FirstBad, rep.Problem, tc.seq, tc.problem, err)
				}
				if want := fmt.Sprintf("event %d %s", tc.seq, tc.problem); !strings.Contains(err.Error(), want) {
					t.Errorf("Verify error %q does not say %q", err, want)
				}
			})
		}
	}
}

// TestTamperHead: a head moved by hand, forward or onto another MAC.
func TestTamperHead(t *testing.T) {
	for _, k := range kinds() {
		t.Run(k.name, func(t *testing.T) {
			st := k.open(t)
			kek := newKEK(t)
			l := openLog(t, st, kek, nil)
			record(t, l, 5)
			st.raw(t, `UPDATE audit_head SET mac = (SELECT mac FROM audit_events WHERE seq = 4) WHERE id = 1`)
			rep, err := audit.Verify(t.Context(), st, kek, nil)
			if !errors.Is(err, audit.ErrTampered) || rep.FirstBad != 5 || rep.Problem != audit.ProblemEdited {
				t.Errorf("head MAC replaced: got %+v, %v; want event 5 edited", rep, err)
			}
		})
	}
}

// TestGroupCommit: events queued while a transaction commits share the
// next one.
func TestGroupCommit(t *testing.T) {
	for _, k := range kinds() {
		t.Run(k.name, func(t *testing.T) {
			st := &gated{AuditStore: k.open(t), release: make(chan struct{}), entered: make(chan struct{}, 1)}
			kek := newKEK(t)
			l := openLog(t, st, kek, &audit.Options{MaxBatch: 64})
			const n = 150
			var wg sync.WaitGroup
			wg.Go(func() { record(t, l, 1) })
			<-st.entered // the first transaction is open and held
			for i := range n {
				wg.Go(func() {
					if err := l.Record(t.Context(), event(i)); err != nil {
						t.Errorf("Record: %v", err)
					}
				})
			}
			// Let every Record queue behind the held transaction.
			deadline := time.Now().Add(10 * time.Second)
			for l.Queued() < n && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			close(st.release)
			wg.Wait()
			// 1 + 64 + 64 + 22: four transactions for 151 events.
			if got, want := st.txs.Load(), int64(4); got != want {
				t.Errorf("transactions for 151 events with MaxBatch 64: got %d, want %d", got, want)
			}
			verifyOK(t, st, kek, n+1)
		})
	}
}

// gated counts AppendAudit transactions of a real store and holds the
// first one open until release is closed.
type gated struct {
	store.AuditStore
	txs     atomic.Int64
	release chan struct{}
	entered chan struct{}
}

func (g *gated) AppendAudit(ctx context.Context, build func(store.AuditHead) ([]store.AuditEvent, error)) error {
	first := g.txs.Add(1) == 1
	return g.AuditStore.AppendAudit(ctx, func(h store.AuditHead) ([]store.AuditEvent, error) {
		if first {
			g.entered <- struct{}{}
			<-g.release
		}
		return build(h)
	})
}

func TestRecordRefused(t *testing.T) {
	st := openSQLite(t)
	kek := newKEK(t)
	l := openLog(t, st, kek, nil)
	for _, tc := range []struct {
		name string
		edit func(*audit.Event)
	}{
		{"no outcome", func(e *audit.Event) { e.Outcome = "" }},
		{"unknown outcome", func(e *audit.Event) { e.Outcome = "ok" }},
		{"no action", func(e *audit.Event) { e.Action = "" }},
		{"NUL in a name", func(e *audit.Event) { e.Name = "a\x00b" }},
		{"invalid UTF-8", func(e *audit.Event) { e.Context = "\xff" }},
		{"long field", func(e *audit.Event) { e.RequestID = strings.Repeat("r", audit.MaxFieldLen+1) }},
	} {
		ev := event(0)
		tc.edit(&ev)
		if err := l.Record(t.Context(), ev); !errors.Is(err, audit.ErrInvalidEvent) {
			t.Errorf("Record(%s): got %v, want ErrInvalidEvent", tc.name, err)
		}
	}
	verifyOK(t, st, kek, 0)
}

func TestClose(t *testing.T) {
	st := openSQLite(t)
	kek := newKEK(t)
	l, err := audit.Open(t.Context(), st, kek, nil)
	if err != nil {
		t.Fatal(err)
	}
	record(t, l, 3)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := l.Record(t.Context(), event(9)); !errors.Is(err, audit.ErrClosed) {
		t.Errorf("Record after Close: got %v, want ErrClosed", err)
	}
	verifyOK(t, st, kek, 3)
}

// TestStoreFailure: a batch that cannot be written fails its Records with
// the store's error; the log keeps working once the store does.
func TestStoreFailure(t *testing.T) {
	st := openSQLite(t)
	kek := newKEK(t)
	l := openLog(t, st, kek, nil)
	record(t, l, 2)
	st.raw(t, `CREATE TRIGGER audit_down BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`)
	if err := l.Record(t.Context(), event(3)); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("Record with a failing store: got %v", err)
	}
	st.raw(t, `DROP TRIGGER audit_down`)
	record(t, l, 2)
	verifyOK(t, st, kek, 4)
}

func TestVerifyEmptyAndProgress(t *testing.T) {
	st := openSQLite(t)
	kek := newKEK(t)
	// Nothing ever logged: no key, nothing to check.
	if rep, err := audit.Verify(t.Context(), st, kek, nil); err != nil || rep.Events != 0 {
		t.Fatalf("Verify(empty store): %+v, %v", rep, err)
	}
	l := openLog(t, st, kek, &audit.Options{MaxBatch: 512})
	var wg sync.WaitGroup
	for w := range 50 {
		wg.Go(func() {
			for i := range 50 {
				if err := l.Record(t.Context(), event(w*50+i)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	var calls []int64
	rep, err := audit.Verify(t.Context(), st, kek, func(n int64) { calls = append(calls, n) })
	if err != nil || rep.Events != 2500 {
		t.Fatalf("Verify: %+v, %v", rep, err)
	}
	if fmt.Sprint(calls) != "[1000 2000 2500]" {
		t.Errorf("progress calls: got %v, want [1000 2000 2500]", calls)
	}
	if !bytes.Equal(rep.Head.MAC, mustHead(t, st).MAC) {
		t.Errorf("report head differs from the store's")
	}
}

func mustHead(t testing.TB, st store.AuditStore) store.AuditHead {
	h, err := st.AuditHead(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestKeyAAD(t *testing.T) {
	aad := audit.KeyAAD()
	if want := "\x14keyward/audit-key/v1"; string(aad) != want {
		t.Errorf("KeyAAD: got %q, want %q", aad, want)
	}
	for _, org := range []string{"", "a", "keyward/audit-key/v1"} {
		if bytes.Equal(aad, kms.DEKAAD(org, 0)) || bytes.HasPrefix(kms.DEKAAD(org, 1), aad[:2]) {
			t.Errorf("KeyAAD collides with DEKAAD(%q)", org)
		}
	}
}
