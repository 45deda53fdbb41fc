package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/store"
)

// terminate ends, on the server, every connection with application name
// app, as an administrator or a server restart would, and returns how many
// there were.
func terminate(t *testing.T, admin *pgx.Conn, app string) int64 {
	t.Helper()
	var n int64
	if err := admin.QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1 AND pid <> pg_backend_pid()`, app).Scan(&n); err != nil {
		t.Fatalf("terminate %s: %v", app, err)
	}
	return n
}

// eventually calls fn until it succeeds, failing the test if that takes
// longer than within or fn fails other than with store.ErrUnavailable.
func eventually(t *testing.T, within time.Duration, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := fn()
		if err == nil {
			return
		}
		if !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("%s: got error %v, want success or %v", what, err, store.ErrUnavailable)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %v: %v", what, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTerminatedConnections kills every connection of the store's pool on
// the server side: calls fail with store.ErrUnavailable or succeed on a new
// connection, and succeed again shortly after, without reopening the store.
func TestTerminatedConnections(t *testing.T) {
	t.Parallel()
	schema := newSchema(t)
	cfg := config(t, schema)
	cfg.MaxConns = 4
	s := openConfig(t, cfg)
	admin := connect(t)
	ctx := t.Context()
	createOrg(t, s, "acme")
	for round := range 3 {
		// Fill the pool.
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() { _, _ = s.Keys(ctx, "acme") })
		}
		wg.Wait()
		if n := terminate(t, admin, "keyward/"+schema); n == 0 {
			t.Fatalf("round %d: no connection of the store found to terminate", round)
		}
		_, err := s.ActiveKey(ctx, "acme")
		if err != nil && !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("round %d: ActiveKey right after the kill: got error %v, want success or %v", round, err, store.ErrUnavailable)
		}
		eventually(t, 5*time.Second, "ActiveKey after the kill", func() error {
			_, err := s.ActiveKey(ctx, "acme")
			return err
		})
		for i := range 20 {
			if _, err := s.Keys(ctx, "acme"); err != nil {
				t.Fatalf("round %d: Keys %d after recovery: %v", round, i, err)
			}
		}
		org := fmt.Sprintf("org-%d", round)
		eventually(t, 5*time.Second, "CreateOrg after the kill", func() error {
			err := s.CreateOrg(ctx, store.Org{ID: org}, key(org, 1))
			if errors.Is(err, store.ErrOrgExists) {
				return nil // an earlier attempt committed before its connection died
			}
			return err
		})
	}
}

// TestOutage cuts the network between the store and the server for about
// two seconds with a proxy: calls fail fast with store.ErrUnavailable and
// work again once the server is reachable, on the same Store.
func TestOutage(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, u.Host)
	u.Host = p.addr
	s := openConfig(t, Config{URL: u.String(), Schema: newSchema(t), MaxConns: 4})
	ctx := t.Context()
	createOrg(t, s, "acme")

	p.stop()
	down := time.Now()
	const timeout = time.Second
	calls := map[string]func(ctx context.Context) error{
		"ActiveKey": func(ctx context.Context) error { _, err := s.ActiveKey(ctx, "acme"); return err },
		"CreateOrg": func(ctx context.Context) error { return s.CreateOrg(ctx, store.Org{ID: "b"}, key("b", 1)) },
		"AddKey":    func(ctx context.Context) error { return s.AddKey(ctx, key("acme", 2)) },
		"ReserveUsage": func(ctx context.Context) error {
			_, err := s.ReserveUsage(ctx, "acme", 1, 1)
			return err
		},
		"Ping": func(ctx context.Context) error { return s.Ping(ctx) },
	}
	var slowest time.Duration
	for time.Since(down) < 2*time.Second {
		for name, call := range calls {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			start := time.Now()
			err := call(ctx)
			cancel()
			slowest = max(slowest, time.Since(start))
			if !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("%s during the outage: got error %v, want %v", name, err, store.ErrUnavailable)
			}
			if d := time.Since(start); d >= timeout {
				t.Errorf("%s during the outage took %v, want a fast failure", name, d)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}

	t.Logf("slowest failure during the outage: %v", slowest)
	p.restart()
	eventually(t, 10*time.Second, "ActiveKey after the outage", func() error {
		_, err := s.ActiveKey(ctx, "acme")
		return err
	})
	if err := s.AddKey(ctx, key("acme", 2)); err != nil {
		t.Errorf("AddKey after the outage: %v", err)
	}
	createOrg(t, s, "after")
}

// TestCreateOrgInterrupted kills the connection of a CreateOrg that has
// inserted the organization and its version 1 but not committed (it waits
// for the change counter, held by the test): nothing of it survives, and
// the id can be created afterwards.
func TestCreateOrgInterrupted(t *testing.T) {
	t.Parallel()
	schema := newSchema(t)
	s := openSchema(t, schema)
	admin := connect(t)
	ctx := t.Context()
	q := pgx.Identifier{schema}.Sanitize()

	tx, err := admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `SELECT seq FROM `+q+`.change_counter FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.CreateOrg(ctx, store.Org{ID: "acme"}, key("acme", 1)) }()

	// Wait until CreateOrg waits for the lock, with its rows inserted.
	var pid int32
	for deadline := time.Now().Add(10 * time.Second); ; {
		err := admin.QueryRow(ctx, `SELECT pid FROM pg_stat_activity
			WHERE application_name = $1 AND wait_event_type = 'Lock'`, "keyward/"+schema).Scan(&pid)
		if err == nil {
			break
		}
		if !errors.Is(err, pgx.ErrNoRows) || time.Now().After(deadline) {
			t.Fatalf("find the waiting CreateOrg: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("interrupted CreateOrg: got error %v, want %v", err, store.ErrUnavailable)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}

	for _, query := range []string{
		`SELECT count(*) FROM orgs`, `SELECT count(*) FROM key_versions`, `SELECT count(*) FROM changes`,
	} {
		if n := queryInt(t, s, query); n != 0 {
			t.Errorf("%s after the interrupted CreateOrg: %d, want 0", query, n)
		}
	}
	eventually(t, 5*time.Second, "CreateOrg after the interruption", func() error {
		return s.CreateOrg(ctx, store.Org{ID: "acme"}, key("acme", 1))
	})
}

// TestCreateOrgUnderKills creates organizations from several goroutines
// while their connections are killed over and over: whatever each call
// returned, no organization exists without its version 1, and each has
// exactly its one change in the feed.
func TestCreateOrgUnderKills(t *testing.T) {
	t.Parallel()
	schema := newSchema(t)
	cfg := config(t, schema)
	cfg.MaxConns = 8
	s := openConfig(t, cfg)
	admin := connect(t)
	ctx := t.Context()

	var (
		stop    atomic.Bool
		created sync.Map // ids whose CreateOrg returned nil
		kills   int64
		wg      sync.WaitGroup
		errs    = make([]error, 4)
	)
	for w := range errs {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				id := fmt.Sprintf("w%d-%04d", w, i)
				err := s.CreateOrg(ctx, store.Org{ID: id}, key(id, 1))
				switch {
				case err == nil:
					created.Store(id, true)
				case !errors.Is(err, store.ErrUnavailable):
					errs[w] = fmt.Errorf("CreateOrg(%s): %w", id, err)
					return
				}
			}
		})
	}
	for deadline := time.Now().Add(1500 * time.Millisecond); time.Now().Before(deadline); {
		kills += terminate(t, admin, "keyward/"+schema)
		time.Sleep(15 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	for w, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", w, err)
		}
	}
	if kills == 0 {
		t.Fatal("no connection was killed")
	}

	orgs := queryInt(t, s, `SELECT count(*) FROM orgs`)
	checks := map[string]int64{
		`SELECT count(*) FROM orgs o WHERE NOT EXISTS
			(SELECT FROM key_versions k WHERE k.org_id = o.id AND k.version = 1 AND k.state = 'active')`: 0,
		`SELECT count(*) FROM key_versions`: orgs,
		`SELECT count(*) FROM changes`:      orgs,
		`SELECT count(*) FROM orgs o WHERE NOT EXISTS
			(SELECT FROM changes c WHERE c.org_id = o.id AND c.version = 1)`: 0,
	}
	for query, want := range checks {
		if got := queryInt(t, s, query); got != want {
			t.Errorf("%s: got %d, want %d", query, got, want)
		}
	}
	n := 0
	created.Range(func(id, _ any) bool {
		n++
		if _, err := s.ActiveKey(ctx, id.(string)); err != nil {
			t.Errorf("ActiveKey(%s) of a created org: %v", id, err)
		}
		return true
	})
	t.Logf("%d connections killed; %d CreateOrg calls succeeded, %d orgs stored", kills, n, orgs)
	if int64(n) > orgs || n == 0 {
		t.Errorf("%d CreateOrg calls succeeded, %d orgs stored", n, orgs)
	}
}

// TestListenTerminated kills Listen's connection: Listen returns an error
// wrapping store.ErrUnavailable, and a new Listen works.
func TestListenTerminated(t *testing.T) {
	t.Parallel()
	schema := newSchema(t)
	s := openSchema(t, schema)
	admin := connect(t)
	l := startListen(t, s)
	l.waitReady(t)
	if n := terminate(t, admin, "keyward/"+schema+"/listen"); n != 1 {
		t.Fatalf("terminated %d listening connections, want 1", n)
	}
	if err := l.wait(t); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Listen after its connection was killed: got error %v, want %v", err, store.ErrUnavailable)
	}

	l = startListen(t, s)
	l.waitReady(t)
	createOrg(t, s, "acme")
	if c := l.next(t); c != (store.Change{Seq: 1, Org: "acme"}) {
		t.Errorf("notification after reconnecting: got %+v, want seq 1 for acme", c)
	}
	l.cancel()
	if err := l.wait(t); !errors.Is(err, context.Canceled) {
		t.Errorf("Listen after cancel: got error %v, want %v", err, context.Canceled)
	}
	waitNoConnections(t, admin, "keyward/"+schema+"/listen")
}
