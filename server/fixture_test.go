package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/config"
	"github.com/keyward/keyward/datadir"
	"github.com/keyward/keyward/kms/localkms"
	"github.com/keyward/keyward/policy"
	"github.com/keyward/keyward/secretstore"
	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/store"
)

// fixture is a real server on 127.0.0.1 over a fresh embedded data
// directory (SQLite store, local KEK), with real policy, audit log and
// secret store.
type fixture struct {
	url     string
	st      store.Store
	eng     *keyward.Engine
	auth    *policy.Authority
	admin   string
	logs    *syncBuffer
	c       *contract
	hc      *http.Client
	handler http.Handler
	alog    *audit.Log
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type fixtureOptions struct {
	limits server.Limits
	// wrap replaces the store the server sees (to make one part fail).
	wrap func(store.Store) store.Store
	// quiet formats the log at info level and drops it (for benchmarks).
	quiet bool
	// wrapAuth replaces the authenticator the server sees (to observe it).
	wrapAuth func(server.Authenticator) server.Authenticator
	// postgres runs on PostgreSQL (a schema of its own) instead of SQLite.
	postgres bool
}

func newFixture(t testing.TB, fo *fixtureOptions) *fixture {
	t.Helper()
	if fo == nil {
		fo = &fixtureOptions{}
	}
	ctx := context.Background()
	var d *config.Deployment
	if fo.postgres {
		d = openPostgres(t)
	} else {
		dir := t.TempDir() + "/data"
		if err := datadir.Init(ctx, dir); err != nil {
			t.Fatal(err)
		}
		var err error
		if d, err = config.Open(ctx, config.ForDataDir(dir), func(string) string { return "" }); err != nil {
			t.Fatal(err)
		}
	}
	opts := d.Options
	opts.ChangePoll = -1
	eng, err := keyward.Open(d.Store, d.KEK, &opts)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := policy.New(d.Store.(store.TokenStore), nil)
	if err != nil {
		t.Fatal(err)
	}
	alog, err := audit.Open(ctx, d.Store.(store.AuditStore), d.KEK, nil)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := secretstore.New(eng, d.Store.(store.SecretStore))
	if err != nil {
		t.Fatal(err)
	}
	st := d.Store
	if fo.wrap != nil {
		st = fo.wrap(st)
	}
	logs := &syncBuffer{}
	var logw io.Writer = logs
	level := slog.LevelDebug
	if fo.quiet {
		logw, level = io.Discard, slog.LevelInfo
	}
	authn := server.PolicyAuthenticator(auth)
	if fo.wrapAuth != nil {
		authn = fo.wrapAuth(authn)
	}
	srv, err := server.New(server.Options{
		Engine: eng, Store: st, KEK: d.KEK,
		Auth: authn, Audit: alog, Secrets: sec,
		Logger: slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: level})),
		Limits: fo.limits,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln, server.HTTP{ShutdownTimeout: 5 * time.Second}) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		alog.Close()
		eng.Close()
		d.Close()
	})
	tok, _, err := auth.Create(ctx, []policy.Grant{{Org: policy.AnyOrg, Capability: policy.Admin}}, 0, "test admin")
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{
		url: "http://" + ln.Addr().String(), st: d.Store, eng: eng, auth: auth, admin: string(tok.Reveal()), logs: logs,
		c: loadContract(t), hc: &http.Client{Timeout: 30 * time.Second}, handler: srv.Handler(), alog: alog,
	}
}

// token creates a token with grants written as "ORG/CAP[:PATTERN]".
func (f *fixture) token(t *testing.T, ttl time.Duration, grants ...string) string {
	t.Helper()
	var gs []policy.Grant
	for _, s := range grants {
		org, spec, _ := strings.Cut(s, "/")
		g, err := policy.ParseGrant(org, spec)
		if err != nil {
			t.Fatalf("grant %q: %v", s, err)
		}
		gs = append(gs, g)
	}
	tok, _, err := f.auth.Create(context.Background(), gs, ttl, "test")
	if err != nil {
		t.Fatal(err)
	}
	return string(tok.Reveal())
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// code is the error code of an error response, or "".
func (r response) code() string {
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal(r.body, &e)
	return e.Error.Code
}

// do sends a request (body: nil, a string sent as is, or a value encoded
// as JSON) and checks the answer against the contract and the security
// headers.
func (f *fixture) do(t *testing.T, method, path, token string, body any, header ...string) response {
	t.Helper()
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ctype = strings.NewReader(b), "application/json"
	case []byte:
		rd, ctype = bytes.NewReader(b), "application/json"
	default:
		js, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd, ctype = bytes.NewReader(js), "application/json"
	}
	req, err := http.NewRequest(method, f.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	checkHeaders(t, method+" "+path, resp.StatusCode, resp.Header)
	if strings.HasPrefix(path, "/v1/") || path == "/healthz" || path == "/readyz" || path == "/metrics" {
		if _, _, err := f.c.router.FindRoute(req); err == nil {
			f.c.check(t, req, resp.StatusCode, resp.Header, data)
		}
	}
	return response{resp.StatusCode, resp.Header, data}
}

// checkHeaders checks the headers every response must carry.
func checkHeaders(t *testing.T, what string, status int, h http.Header) {
	t.Helper()
	for k, v := range map[string]string{
		"Strict-Transport-Security": "max-age=63072000; includeSubDomains; preload",
		"X-Content-Type-Options":    "nosniff",
		"X-Frame-Options":           "DENY",
		"X-Xss-Protection":          "1; mode=block",
		"Referrer-Policy":           "strict-origin-when-cross-origin",
		"Content-Security-Policy":   "default-src 'none'",
		"Cache-Control":             "no-store",
	} {
		if got := h.Get(k); got != v {
			t.Errorf("%s → %d: header %s = %q, want %q", what, status, k, got, v)
		}
	}
	if len(h.Get("X-Request-Id")) != 32 {
		t.Errorf("%s → %d: X-Request-Id = %q, want 32 hex digits", what, status, h.Get("X-Request-Id"))
	}
}

// events returns every audit event recorded so far.
func (f *fixture) events(t *testing.T) []audit.Event {
	t.Helper()
	evs, err := audit.Tail(context.Background(), f.st.(store.AuditStore), 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// openPostgres opens a deployment on PostgreSQL in a schema of its own,
// dropped at cleanup, with a local KEK.
func openPostgres(t testing.TB) *config.Deployment {
	t.Helper()
	url := os.Getenv("KEYWARD_TEST_DATABASE_URL")
	if url == "" {
		t.Skip("KEYWARD_TEST_DATABASE_URL is not set: set it to a PostgreSQL URL without password, e.g. " +
			"postgres://postgres@127.0.0.1:5432/test?sslmode=disable, to run the server on PostgreSQL")
	}
	b := make([]byte, 8)
	rand.Read(b)
	schema := "kwtest_server_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	dir := t.TempDir()
	if _, err := localkms.Create(filepath.Join(dir, "kek.key")); err != nil {
		t.Fatal(err)
	}
	c := &config.Config{Store: config.Store{Postgres: url, Schema: schema}, KEK: config.KEK{URI: "local:" + filepath.Join(dir, "kek.key")}}
	d, err := config.Open(context.Background(), c, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	return d
}
