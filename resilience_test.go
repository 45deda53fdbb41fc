package keyward_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/kms/localkms"
	"github.com/keyward/keyward/store/postgres"
)

// tcpGate forwards 127.0.0.1:port to PostgreSQL and can refuse connections
// for a while, like a database that restarts.
type tcpGate struct {
	target string
	ln     net.Listener
	addr   string
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newGate(t *testing.T, target string) *tcpGate {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &tcpGate{target: target, ln: ln, addr: ln.Addr().String()}
	g.serve(ln)
	t.Cleanup(func() { g.down(); g.wg.Wait() })
	return g
}

func (g *tcpGate) serve(ln net.Listener) {
	g.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", g.target)
			if err != nil {
				c.Close()
				continue
			}
			g.mu.Lock()
			g.conns = append(g.conns, c, up)
			g.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	})
}

// down closes the listener and every forwarded connection.
func (g *tcpGate) down() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln != nil {
		g.ln.Close()
		g.ln = nil
	}
	for _, c := range g.conns {
		c.Close()
	}
	g.conns = nil
}

// up listens again on the same address.
func (g *tcpGate) up(t *testing.T) {
	var ln net.Listener
	var err error
	for range 50 { // the port may linger briefly
		if ln, err = net.Listen("tcp", g.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	g.ln = ln
	g.mu.Unlock()
	g.serve(ln)
}

// TestPostgresOutage: while PostgreSQL refuses connections, calls that need
// the store fail with a retryable ErrUnavailable (warm keys keep working);
// once it is back, the same engine works again without a restart.
func TestPostgresOutage(t *testing.T) {
	raw := os.Getenv("KEYWARD_TEST_DATABASE_URL")
	if raw == "" {
		t.Skip("KEYWARD_TEST_DATABASE_URL is not set: skipping PostgreSQL tests (.ci/run sets it)")
	}
	ctx := context.Background()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	gate := newGate(t, u.Host)
	u.Host = gate.addr
	engines, _, schema := pgEngines(t, 1, keyward.Options{})
	_ = engines // creates the schema and its cleanup
	st, err := postgres.Open(ctx, postgres.Config{URL: u.String(), Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kek, err := localkms.Create(filepath.Join(t.TempDir(), "kek.key"))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := keyward.Open(st, kek, &keyward.Options{UsageBlock: 1 << 20, ChangePoll: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if _, err := eng.CreateOrg(ctx, "warm"); err != nil {
		t.Fatal(err)
	}
	// The engine also learns of its own CreateOrg from the change feed
	// (NOTIFY or the next poll) and then drops the org's cached keys once;
	// let that happen before warming the cache, or the outage below could
	// start just after it and find the key gone (a flake seen in CI).
	time.Sleep(300 * time.Millisecond)
	warm, err := eng.Encrypt(ctx, "warm", []byte("x"), "")
	if err != nil {
		t.Fatal(err)
	}

	gate.down()
	for i := range 3 {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		_, err := eng.CreateOrg(cctx, fmt.Sprintf("cold-%d", i))
		cancel()
		if !errors.Is(err, keyward.ErrUnavailable) {
			t.Fatalf("create org during outage: got %v, want ErrUnavailable", err)
		}
	}
	// A cached key does not need the store.
	if _, err := eng.Decrypt(ctx, "warm", warm, ""); err != nil {
		t.Fatalf("warm decrypt during outage: %v", err)
	}

	gate.up(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := eng.CreateOrg(ctx, "after")
		if err == nil {
			break
		}
		if !errors.Is(err, keyward.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("create org after recovery: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := eng.Encrypt(ctx, "after", []byte("y"), ""); err != nil {
		t.Fatalf("encrypt after recovery: %v", err)
	}
	// No partial org from the outage survived.
	for i := range 3 {
		if _, err := eng.Keys(ctx, fmt.Sprintf("cold-%d", i)); !errors.Is(err, keyward.ErrUnknownOrg) {
			t.Fatalf("org cold-%d after outage: got %v, want ErrUnknownOrg", i, err)
		}
	}
}
