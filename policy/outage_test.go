package policy_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/policy"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/postgres"
)

// gate forwards TCP connections to a database server until it is shut,
// when it drops every connection and refuses new ones: an outage.
type gate struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	shut   bool
	conns  []net.Conn
}

func startGate(t *testing.T, target string) *gate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{ln: ln, target: target}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go g.forward(c)
		}
	}()
	t.Cleanup(g.close)
	return g
}

func (g *gate) forward(c net.Conn) {
	d, err := net.Dial("tcp", g.target)
	if err != nil {
		c.Close()
		return
	}
	g.mu.Lock()
	if g.shut {
		g.mu.Unlock()
		c.Close()
		d.Close()
		return
	}
	g.conns = append(g.conns, c, d)
	g.mu.Unlock()
	go func() { io.Copy(d, c); d.Close() }()
	io.Copy(c, d)
	c.Close()
}

func (g *gate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.shut = true
	g.ln.Close()
	for _, c := range g.conns {
		c.Close()
	}
}

// TestStoreOutageIsNotUnauthenticated: when PostgreSQL cannot be reached,
// Authenticate fails with store.ErrUnavailable, never ErrUnauthenticated
// (a 503 to retry, not a 401 that tells clients their token is bad).
func TestStoreOutageIsNotUnauthenticated(t *testing.T) {
	raw := os.Getenv("KEYWARD_TEST_DATABASE_URL")
	if raw == "" {
		t.Skip("KEYWARD_TEST_DATABASE_URL is not set: set it to a PostgreSQL URL to run the outage test")
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	g := startGate(t, u.Host)
	u.Host = g.ln.Addr().String()
	b := make([]byte, 8)
	rand.Read(b)
	schema := "kwtest_policy_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, raw)
		if err != nil {
			t.Errorf("drop schema: %v", err)
			return
		}
		defer conn.Close(ctx)
		conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
	})
	st, err := postgres.Open(t.Context(), postgres.Config{URL: u.String(), Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := newAuthority(t, st, &policy.Options{CacheTTL: -1})
	tok, _ := create(t, a, 0, "acme/decrypt")
	if _, err := a.Authenticate(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	g.close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	_, err = a.Authenticate(ctx, tok)
	if err == nil || errors.Is(err, policy.ErrUnauthenticated) || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Authenticate during an outage: got %v, want store.ErrUnavailable and not ErrUnauthenticated", err)
	}
}
