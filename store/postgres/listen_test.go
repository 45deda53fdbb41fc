package postgres

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/store"
)

// waitTimeout bounds every wait for a notification or a Listen to return.
const waitTimeout = 10 * time.Second

// listener runs one Listen call in the background.
type listener struct {
	ready  chan struct{}
	notes  chan store.Change
	done   chan error
	cancel context.CancelFunc
}

// startListen starts s.Listen; it is canceled and waited for at cleanup.
func startListen(t *testing.T, s *Store) *listener {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	l := &listener{
		ready:  make(chan struct{}, 1),
		notes:  make(chan store.Change, 100),
		done:   make(chan error, 1),
		cancel: cancel,
	}
	go func() {
		l.done <- s.Listen(ctx, func() { l.ready <- struct{}{} }, func(c store.Change) { l.notes <- c })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-l.done:
		case <-time.After(waitTimeout):
			t.Error("Listen did not return after cancel")
		}
	})
	return l
}

func (l *listener) waitReady(t *testing.T) {
	t.Helper()
	select {
	case <-l.ready:
	case err := <-l.done:
		t.Fatalf("Listen returned before ready: %v", err)
	case <-time.After(waitTimeout):
		t.Fatal("Listen not ready")
	}
}

// next returns the next notification.
func (l *listener) next(t *testing.T) store.Change {
	t.Helper()
	select {
	case c := <-l.notes:
		return c
	case err := <-l.done:
		t.Fatalf("Listen returned while a notification was expected: %v", err)
	case <-time.After(waitTimeout):
		t.Fatal("no notification")
	}
	return store.Change{}
}

// none checks that no notification arrives for a while.
func (l *listener) none(t *testing.T) {
	t.Helper()
	select {
	case c := <-l.notes:
		t.Errorf("unexpected notification %+v", c)
	case <-time.After(300 * time.Millisecond):
	}
}

// wait returns Listen's error; l.done is refilled so cleanup finds it.
func (l *listener) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-l.done:
		l.done <- err
		return err
	case <-time.After(waitTimeout):
		t.Fatal("Listen did not return")
	}
	return nil
}

// waitNoConnections waits until no connection with application name app is
// left: Listen does not leak its connection.
func waitNoConnections(t *testing.T, admin *pgx.Conn, app string) {
	t.Helper()
	for deadline := time.Now().Add(waitTimeout); ; {
		var n int
		if err := admin.QueryRow(t.Context(),
			`SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections of %s left", n, app)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestListenNotifiesEveryChange: a store listening hears every change made
// through another store (another process) on the schema, in feed order, and
// nothing for reservations, no-ops and refused calls.
func TestListenNotifiesEveryChange(t *testing.T) {
	t.Parallel()
	schema := newSchema(t)
	writer, watcher := openSchema(t, schema), openSchema(t, schema)
	ctx := t.Context()
	l := startListen(t, watcher)
	l.waitReady(t)

	createOrg(t, writer, "acme")
	createOrg(t, writer, "globex")
	steps := []error{
		writer.AddKey(ctx, key("acme", 2)),
		writer.SetKeyState(ctx, "acme", 1, store.StateRetired),
		writer.DestroyKey(ctx, "acme", 1),
	}
	_, err := writer.ReserveUsage(ctx, "acme", 2, 10)
	steps = append(steps, err,
		writer.SetKeyState(ctx, "acme", 1, store.StateDestroyed), // refused
		writer.DestroyKey(ctx, "acme", 1),                        // no-op
	)
	for i, err := range steps {
		if err != nil && !errors.Is(err, store.ErrInvalidTransition) {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	want, err := writer.Changes(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 5 {
		t.Fatalf("Changes: got %+v, want 5 changes", want)
	}
	var got []store.Change
	for range want {
		got = append(got, l.next(t))
	}
	if !slices.Equal(got, want) {
		t.Errorf("notifications: got %+v, want the feed %+v", got, want)
	}
	l.none(t)
}

// TestListenSchemas: listeners hear only their own schema's changes, also
// with a schema name that needs quoting and one so long that the channel
// name is a hash.
func TestListenSchemas(t *testing.T) {
	t.Parallel()
	plain := openStore(t)
	odd := openSchema(t, newSchemaNamed(t, ` Odd "Name"`))
	long := openSchema(t, newSchemaNamed(t, strings.Repeat("x", maxIdentifier-len("kwtest_")-16)))
	if len(long.schema) != maxIdentifier || !strings.Contains(long.channel, "#") {
		t.Fatalf("long schema %q (%d bytes), channel %q: want %d bytes and a hashed channel",
			long.schema, len(long.schema), long.channel, maxIdentifier)
	}
	stores := []*Store{plain, odd, long}
	var ls []*listener
	for _, s := range stores {
		l := startListen(t, s)
		l.waitReady(t)
		ls = append(ls, l)
	}
	for i, s := range stores {
		createOrg(t, s, s.schema)
		for j, l := range ls {
			if i != j {
				continue
			}
			if c := l.next(t); c != (store.Change{Seq: 1, Org: s.schema}) {
				t.Errorf("listener of %q: got %+v, want seq 1 of its own org", s.schema, c)
			}
		}
	}
	for _, l := range ls {
		l.none(t)
	}
}

// TestListenEnds: Listen returns on cancel, on deadline and on Close, and
// leaves no connection behind.
func TestListenEnds(t *testing.T) {
	t.Parallel()
	schema := newSchema(t)
	s, err := Open(t.Context(), config(t, schema))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	admin := connect(t)
	app := "keyward/" + schema + "/listen"

	l := startListen(t, s)
	l.waitReady(t)
	l.cancel()
	if err := l.wait(t); !errors.Is(err, context.Canceled) {
		t.Errorf("Listen after cancel: got error %v, want %v", err, context.Canceled)
	}
	waitNoConnections(t, admin, app)

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if err := s.Listen(ctx, func() {}, func(store.Change) {}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Listen with a deadline: got error %v, want %v", err, context.DeadlineExceeded)
	}
	waitNoConnections(t, admin, app)

	l = startListen(t, s)
	l.waitReady(t)
	s.Close()
	if err := l.wait(t); !errors.Is(err, ErrClosed) {
		t.Errorf("Listen after Close: got error %v, want %v", err, ErrClosed)
	}
	waitNoConnections(t, admin, app)
}

// TestListenSkipsForeignPayloads: a NOTIFY by hand on the channel with a
// payload that is not keyward's is skipped.
func TestListenSkipsForeignPayloads(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	l := startListen(t, s)
	l.waitReady(t)
	for _, payload := range []string{"", "hello", "x:acme", "0:acme", "-1:acme", "7:"} {
		exec(t, s, `SELECT pg_notify($1, $2)`, s.channel, payload)
	}
	createOrg(t, s, "acme")
	if c := l.next(t); c != (store.Change{Seq: 1, Org: "acme"}) {
		t.Errorf("got %+v, want seq 1 for acme after the foreign payloads", c)
	}
}

// TestChangeWaitsForEarlierWriter: a writer that has taken a seq holds the
// counter until it commits, so a later writer can neither commit nor take
// a seq before it: seq order is commit order.
func TestChangeWaitsForEarlierWriter(t *testing.T) {
	t.Parallel()
	schema := newSchema(t)
	s := openSchema(t, schema)
	admin := connect(t)
	ctx := t.Context()
	createOrg(t, s, "acme")

	tx, err := admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// An earlier writer: took seq 2, not committed yet.
	if _, err := tx.Exec(ctx, `UPDATE `+pgx.Identifier{schema}.Sanitize()+`.change_counter SET seq = seq + 1`); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.AddKey(ctx, key("acme", 2)) }()
	select {
	case err := <-done:
		t.Fatalf("AddKey committed while an earlier writer held the counter (%v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	if last, err := s.LastChange(ctx); err != nil || last != 1 {
		t.Errorf("LastChange while both are in flight: got %d, %v; want 1", last, err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("AddKey: %v", err)
	}
	changes, err := s.Changes(ctx, 1, 10)
	if err != nil || len(changes) != 1 || changes[0].Seq != 3 {
		t.Errorf("Changes after 1: got %+v, %v; want AddKey's change with seq 3", changes, err)
	}
}
