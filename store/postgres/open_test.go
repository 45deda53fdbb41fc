package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/store"
)

// secret is a password that must never show up in output.
const secret = "hunter2-Sup3rSecret"

func TestConfigRefusesPasswordInURL(t *testing.T) {
	for _, url := range []string{
		"postgres://keyward:" + secret + "@127.0.0.1:5432/test",
		"postgresql://keyward:" + secret + "@127.0.0.1/test?sslmode=disable",
		"postgres://keyward@127.0.0.1/test?password=" + secret,
		"postgres://keyward@127.0.0.1/test?sslmode=disable&passfile=/tmp/" + secret,
	} {
		_, err := Open(t.Context(), Config{URL: url})
		if err == nil || !strings.Contains(err.Error(), "password_file") {
			t.Errorf("Open with a password in the url: got error %v, want one pointing to password_file", err)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("Open error reveals the password: %v", err)
		}
	}
}

func TestConfigInvalid(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"EmptyURL", Config{}, "empty url"},
		{"KeywordValue", Config{URL: "host=127.0.0.1 user=keyward password=" + secret}, "not accepted"},
		{"OtherScheme", Config{URL: "mysql://keyward@127.0.0.1/test"}, "postgres://"},
		{"Malformed", Config{URL: "postgres://keyward:" + secret + "@[::1/test"}, "malformed url"},
		{"SchemaTooLong", Config{URL: "postgres://keyward@127.0.0.1/test", Schema: strings.Repeat("s", 64)}, "schema"},
		{"SchemaNUL", Config{URL: "postgres://keyward@127.0.0.1/test", Schema: "a\x00b"}, "schema"},
		{"SchemaNotUTF8", Config{URL: "postgres://keyward@127.0.0.1/test", Schema: "a\xffb"}, "schema"},
		{"NegativeMaxConns", Config{URL: "postgres://keyward@127.0.0.1/test", MaxConns: -1}, "max conns"},
		{"SSLPassword", Config{URL: "postgres://keyward@127.0.0.1/test?sslpassword=" + secret}, "sslpassword"},
		{"BadOption", Config{URL: "postgres://keyward@127.0.0.1/test?sslmode=sometimes"}, "parse url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Password = secret
			s, err := Open(t.Context(), tt.cfg)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%v) succeeded, want an error containing %q", tt.cfg, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open(%v): got error %v, want one containing %q", tt.cfg, err, tt.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("Open error reveals the password: %v", err)
			}
		})
	}
}

func TestConfigRedactsPassword(t *testing.T) {
	cfg := Config{URL: "postgres://keyward@db.example:5432/keyward?sslmode=verify-full", Password: secret, Schema: "kw"}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("open", "config", cfg)
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"String": cfg.String(), "%v": fmt.Sprintf("%v", cfg), "%+v": fmt.Sprintf("%+v", cfg),
		"%#v": fmt.Sprintf("%#v", cfg), "pointer": fmt.Sprint(&cfg), "slog": logged.String(), "json": string(js),
	}
	for how, out := range outputs {
		if strings.Contains(out, secret) {
			t.Errorf("%s reveals the password: %s", how, out)
		}
	}
	if !strings.Contains(cfg.String(), "db.example") || !strings.Contains(cfg.String(), redacted) {
		t.Errorf("String: got %s, want the url and %s", cfg.String(), redacted)
	}
	// A Config Open would refuse prints without its password too.
	bad := Config{URL: "postgres://keyward:" + secret + "@db.example/keyward?password=" + secret + "&sslpassword=" + secret}
	if s := bad.String(); strings.Contains(s, secret) {
		t.Errorf("String of a url with a password reveals it: %s", s)
	}
}

// closedPort returns a local TCP address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestOpenUnreachable(t *testing.T) {
	cfg := Config{URL: "postgres://keyward@" + closedPort(t) + "/test?sslmode=disable", Password: secret}
	start := time.Now()
	s, err := Open(t.Context(), cfg)
	if err == nil {
		s.Close()
		t.Fatal("Open of an unreachable server succeeded")
	}
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "retryable") {
		t.Errorf("Open of an unreachable server: got error %v, want a retryable %v", err, store.ErrUnavailable)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("Open error reveals the password: %v", err)
	}
	t.Logf("Open of an unreachable server: %v", err)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Open of a refusing server took %v, want a quick failure", d)
	}
}

// TestOpenMissingDatabase: a server that answers with a refusal that will
// not go away by itself (here: no such database) is not ErrUnavailable.
func TestOpenMissingDatabase(t *testing.T) {
	u, err := url.Parse(testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/keyward_no_such_database"
	s, err := Open(t.Context(), Config{URL: u.String(), Schema: "kw"})
	if err == nil {
		s.Close()
		t.Fatal("Open of a missing database succeeded")
	}
	if errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "3D000") {
		t.Errorf("Open of a missing database: got error %v, want SQLSTATE 3D000, not %v", err, store.ErrUnavailable)
	}
}

func TestOpenCanceled(t *testing.T) {
	cfg := config(t, newSchema(t))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	s, err := Open(ctx, cfg)
	if err == nil {
		s.Close()
		t.Fatal("Open with a canceled context succeeded")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Open with a canceled context: got error %v, want %v", err, context.Canceled)
	}
}

func TestPing(t *testing.T) {
	s := openStore(t)
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestConnectionSettings(t *testing.T) {
	schema := newSchema(t)
	s := openSchema(t, schema)
	createOrg(t, s, "acme")
	var app, path string
	if err := s.pool.QueryRow(t.Context(),
		`SELECT current_setting('application_name'), current_setting('search_path')`,
	).Scan(&app, &path); err != nil {
		t.Fatal(err)
	}
	want := pgx.Identifier{schema}.Sanitize()
	if app != "keyward/"+schema || path != want {
		t.Errorf("application_name %q, search_path %q; want %q and %q", app, path, "keyward/"+schema, want)
	}
	// The tables are in the schema, not in public.
	if n := queryInt(t, s, `SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = 'orgs'`, schema); n != 1 {
		t.Errorf("orgs table in schema %s: found %d", schema, n)
	}
}

func TestSchemaIsolation(t *testing.T) {
	a, b := openStore(t), openStore(t)
	createOrg(t, a, "acme")
	if _, err := b.Org(t.Context(), "acme"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Org(acme) in another schema: got error %v, want %v", err, store.ErrNotFound)
	}
	createOrg(t, b, "acme") // the same id is free there
	if last, err := b.LastChange(t.Context()); err != nil || last != 1 {
		t.Errorf("LastChange of the second schema: got %d, %v; want 1", last, err)
	}
}

func TestCloseThenUse(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, config(t, newSchema(t)))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	createOrg(t, s, "acme")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	calls := map[string]func() error{
		"CreateOrg":   func() error { return s.CreateOrg(ctx, store.Org{ID: "b"}, key("b", 1)) },
		"Org":         func() error { _, err := s.Org(ctx, "acme"); return err },
		"ListOrgs":    func() error { _, err := s.ListOrgs(ctx, "", 1); return err },
		"ActiveKey":   func() error { _, err := s.ActiveKey(ctx, "acme"); return err },
		"Key":         func() error { _, err := s.Key(ctx, "acme", 1); return err },
		"Keys":        func() error { _, err := s.Keys(ctx, "acme"); return err },
		"AddKey":      func() error { return s.AddKey(ctx, key("acme", 2)) },
		"SetKeyState": func() error { return s.SetKeyState(ctx, "acme", 1, store.StateRetired) },
		"DestroyKey":  func() error { return s.DestroyKey(ctx, "acme", 1) },
		"ReserveUsage": func() error {
			_, err := s.ReserveUsage(ctx, "acme", 1, 1)
			return err
		},
		"Changes":    func() error { _, err := s.Changes(ctx, 0, 10); return err },
		"LastChange": func() error { _, err := s.LastChange(ctx); return err },
		"KeysToRewrap": func() error {
			_, err := s.KeysToRewrap(ctx, store.KEKRef{ID: "other", Version: 1}, "", 0, 10)
			return err
		},
		"RewrapKey": func() error {
			return s.RewrapKey(ctx, "acme", 1, store.KEKRef{ID: "test:kek", Version: 1},
				store.KEKRef{ID: "other", Version: 1}, []byte("rewrapped"))
		},
		"KEKCounts": func() error { _, err := s.KEKCounts(ctx); return err },
		"Ping":      func() error { return s.Ping(ctx) },
		"Listen":    func() error { return s.Listen(ctx, func() {}, func(store.Change) {}) },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: got error %v, want %v", name, err, ErrClosed)
		}
	}
}

// TestOrgIDs covers the ids PostgreSQL text cannot hold (refused on write,
// never found on read) and bytewise ordering.
func TestOrgIDs(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	for _, id := range []string{"a\x00b", "\xff\xfe", strings.Repeat("x", maxOrgIDLen+1)} {
		if err := s.CreateOrg(ctx, store.Org{ID: id}, key(id, 1)); !errors.Is(err, store.ErrInvalidArgument) {
			t.Errorf("CreateOrg(%.20q): got error %v, want %v", id, err, store.ErrInvalidArgument)
		}
		if err := s.AddKey(ctx, key(id, 2)); !errors.Is(err, store.ErrInvalidArgument) {
			t.Errorf("AddKey(%.20q): got error %v, want %v", id, err, store.ErrInvalidArgument)
		}
		reads := map[string]func() error{
			"Org":          func() error { _, err := s.Org(ctx, id); return err },
			"ActiveKey":    func() error { _, err := s.ActiveKey(ctx, id); return err },
			"Key":          func() error { _, err := s.Key(ctx, id, 1); return err },
			"Keys":         func() error { _, err := s.Keys(ctx, id); return err },
			"SetKeyState":  func() error { return s.SetKeyState(ctx, id, 1, store.StateRetired) },
			"DestroyKey":   func() error { return s.DestroyKey(ctx, id, 1) },
			"ReserveUsage": func() error { _, err := s.ReserveUsage(ctx, id, 1, 1); return err },
			"RewrapKey": func() error {
				return s.RewrapKey(ctx, id, 1, store.KEKRef{ID: "test:kek", Version: 1},
					store.KEKRef{ID: "other", Version: 1}, []byte("rewrapped"))
			},
		}
		for name, call := range reads {
			if err := call(); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s(%.20q): got error %v, want %v", name, id, err, store.ErrNotFound)
			}
		}
	}
	if _, err := s.ListOrgs(ctx, "\xff", 10); !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("ListOrgs after an invalid cursor: got error %v, want %v", err, store.ErrInvalidArgument)
	}
	other := store.KEKRef{ID: "other", Version: 1}
	if _, err := s.KeysToRewrap(ctx, other, "\xff", 0, 10); !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("KeysToRewrap after an invalid cursor: got error %v, want %v", err, store.ErrInvalidArgument)
	}
	for _, bad := range []store.KEKRef{{ID: "kek\x00", Version: 1}, {ID: "\xff", Version: 1}} {
		if _, err := s.KeysToRewrap(ctx, bad, "", 0, 10); !errors.Is(err, store.ErrInvalidArgument) {
			t.Errorf("KeysToRewrap to KEK %q: got error %v, want %v", bad.ID, err, store.ErrInvalidArgument)
		}
		for name, pair := range map[string][2]store.KEKRef{"from": {bad, other}, "to": {other, bad}} {
			err := s.RewrapKey(ctx, "acme", 1, pair[0], pair[1], []byte("rewrapped"))
			if !errors.Is(err, store.ErrInvalidArgument) {
				t.Errorf("RewrapKey with %s KEK %q: got error %v, want %v", name, bad.ID, err, store.ErrInvalidArgument)
			}
		}
	}
	kv := key("k", 1)
	kv.KEKID = "kek\x00"
	if err := s.CreateOrg(ctx, store.Org{ID: "k"}, kv); !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("CreateOrg with a NUL in the KEK id: got error %v, want %v", err, store.ErrInvalidArgument)
	}

	ids := []string{"é", "a", "Z", "B", "a-b", "ab", strings.Repeat("y", maxOrgIDLen)}
	for _, id := range ids {
		createOrg(t, s, id)
	}
	orgs, err := s.ListOrgs(ctx, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range orgs {
		got = append(got, o.ID)
	}
	want := []string{"B", "Z", "a", "a-b", "ab", strings.Repeat("y", maxOrgIDLen), "é"} // bytewise
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ListOrgs: got %.40q, want bytewise order %.40q", got, want)
	}
	if page, err := s.ListOrgs(ctx, "a-b", 1); err != nil || len(page) != 1 || page[0].ID != "ab" {
		t.Errorf("ListOrgs(a-b, 1): got %v, %v; want [ab]", page, err)
	}
}
