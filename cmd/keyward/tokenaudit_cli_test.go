package main

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/datadir"
	"github.com/keyward/keyward/policy"
	"github.com/keyward/keyward/store/sqlite"
)

// authenticate checks token against the data directory's store, as a
// server on it would.
func authenticate(t *testing.T, data, token string) (policy.Principal, error) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(data, datadir.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, err := policy.New(st, nil)
	if err != nil {
		t.Fatal(err)
	}
	return a.Authenticate(t.Context(), token)
}

func TestCLIToken(t *testing.T) {
	data := filepath.Join(t.TempDir(), "kw")
	kw(t, data, "", "init").ok(t)

	// A grant for an org that does not exist would gain access the day it is
	// created: refused, audited as failed, and no token is made.
	r := kw(t, data, "", "token", "create", "--org", "acme", "--allow", "decrypt")
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "create it first with keyward org create acme") {
		t.Fatalf("token create for an unknown org: exit %d, stdout %q, stderr %q; want exit 1 naming org create", r.code, r.stdout, r.stderr)
	}
	if out := kw(t, data, "", "token", "list", "--json").ok(t).stdout; strings.Count(out, `"id"`) != 1 {
		t.Fatalf("token list after the refusal: %s, want only init's admin token", out)
	}
	kw(t, data, "", "org", "create", "acme").ok(t)

	r = kw(t, data, "", "token", "create", "--org", "acme", "--allow", "decrypt:channels.*",
		"--allow", "secrets:reveal:webhooks/*", "--description", "billing worker").ok(t)
	tok := strings.TrimSuffix(r.stdout, "\n")
	if !strings.HasPrefix(tok, "kw_") || strings.Contains(tok, "\n") || len(tok) != policy.TokenLen {
		t.Fatalf("token create printed %q, want one kw_ token", r.stdout)
	}
	if !strings.Contains(r.stderr, "shown once") || strings.Contains(r.stderr, tok) {
		t.Errorf("stderr %q: want the notice, never the token", r.stderr)
	}
	p, err := authenticate(t, data, tok)
	if err != nil {
		t.Fatalf("the printed token does not authenticate: %v", err)
	}
	if !p.Allows("acme", policy.Decrypt, "channels.token") || p.Allows("acme", policy.Encrypt, "x") ||
		!p.Allows("acme", policy.SecretsReveal, "webhooks/stripe") || p.Allows("globex", policy.Decrypt, "channels.token") {
		t.Errorf("grants of the created token: %+v", p.Grants)
	}

	var created struct {
		ID, Token, Description, State string
		Grants                        []string
		ExpiresAt                     *time.Time `json:"expires_at"`
	}
	out := kw(t, data, "", "token", "create", "--org", "*", "--allow", "admin", "--expires", "30d", "--json").ok(t).stdout
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("token create --json: %v: %q", err, out)
	}
	if id, _ := policy.TokenID(created.Token); id != created.ID || created.State != "live" ||
		strings.Join(created.Grants, ",") != "*/admin" || created.ExpiresAt == nil ||
		created.ExpiresAt.Before(time.Now().Add(29*24*time.Hour)) {
		t.Errorf("token create --json: %+v", created)
	}

	var list []struct {
		ID, State, Description string
		Grants                 []string
	}
	if err := json.Unmarshal([]byte(kw(t, data, "", "token", "list", "--json").ok(t).stdout), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 { // init's admin token, and the two created here
		t.Fatalf("token list: %+v, want 3 tokens", list)
	}
	firstID, _ := policy.TokenID(tok)
	plain := kw(t, data, "", "token", "list").ok(t).stdout
	if !strings.Contains(plain, firstID) || !strings.Contains(plain, "billing worker") || strings.Contains(plain, tok) ||
		strings.Contains(plain, created.Token) {
		t.Errorf("token list: %q", plain)
	}

	kw(t, data, "", "token", "revoke", firstID).ok(t)
	if _, err := authenticate(t, data, tok); !errors.Is(err, policy.ErrUnauthenticated) {
		t.Errorf("revoked token: got %v, want ErrUnauthenticated", err)
	}
	if !strings.Contains(kw(t, data, "", "token", "list").ok(t).stdout, "revoked") {
		t.Errorf("token list does not show the revocation")
	}
	kw(t, data, "", "token", "revoke", firstID).ok(t) // idempotent

	kw(t, data, "", "token", "revoke", "tok_nope").failed(t, "no token tok_nope")
	kw(t, data, "", "token", "create", "--org", "acme", "--allow", "Decrypt").failed(t, "unknown capability")
	kw(t, data, "", "token", "create", "--org", "acme").failed(t, "--allow")
	kw(t, data, "", "token", "create", "--allow", "decrypt").failed(t, "--org")
	kw(t, data, "", "token", "create", "--org", "acme/x", "--allow", "decrypt").failed(t, "org")
	kw(t, data, "", "token", "create", "--org", "acme", "--allow", "admin:x*").failed(t, "takes no pattern")
	kw(t, data, "", "token", "create", "--org", "acme", "--allow", "decrypt", "--expires", "soon").failed(t, "--expires")
	if got := kw(t, data, "", "token", "list", "--json").ok(t).stdout; strings.Count(got, `"id"`) != 3 { // with init's admin token
		t.Errorf("refused creates stored something: %s", got)
	}
}

func TestCLIAudit(t *testing.T) {
	data := filepath.Join(t.TempDir(), "kw")
	kw(t, data, "", "init").ok(t)
	kw(t, data, "", "audit", "verify").ok(t) // init's admin token: one event
	var ids []string
	for range 5 {
		tok := strings.TrimSpace(kw(t, data, "", "token", "create", "--org", "*", "--allow", "decrypt").ok(t).stdout)
		id, _ := policy.TokenID(tok)
		ids = append(ids, id)
	}
	kw(t, data, "", "token", "revoke", ids[0]).ok(t)

	if got := kw(t, data, "", "audit", "verify").ok(t).stdout; !strings.HasPrefix(got, "audit log intact: 7 events; head seq 7 mac ") {
		t.Errorf("audit verify: %q", got)
	}
	lines := strings.Split(strings.TrimSpace(kw(t, data, "", "audit", "tail", "-n", "2", "--json").ok(t).stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("audit tail -n 2: %d lines: %q", len(lines), lines)
	}
	var ev struct {
		Seq                   int64
		Action, Name, Outcome string
		Token                 string `json:"token_id"`
	}
	if err := json.Unmarshal([]byte(lines[1]), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Seq != 7 || ev.Action != "token.revoke" || ev.Name != ids[0] || ev.Outcome != "allowed" {
		t.Errorf("last event: %+v", ev)
	}
	if plain := kw(t, data, "", "audit", "tail").ok(t).stdout; strings.Count(plain, "\n") != 7 || !strings.Contains(plain, "token.create") {
		t.Errorf("audit tail: %q", plain)
	}

	// Edit event 3 directly in the database, as someone with access to the
	// file but not to the audit key could.
	db, err := sql.Open("sqlite", "file://"+filepath.Join(data, datadir.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`DROP TRIGGER audit_events_no_update`, `UPDATE audit_events SET name = 'tok_other' WHERE seq = 3`} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	r := kw(t, data, "", "audit", "verify")
	r.failed(t, "event 3 edited")
	if r.code != 1 {
		t.Errorf("audit verify of a tampered log: exit %d, want 1", r.code)
	}
	var rep struct {
		OK       bool  `json:"ok"`
		FirstBad int64 `json:"first_bad"`
		Problem  string
	}
	r = kw(t, data, "", "audit", "verify", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 1 {
		t.Fatalf("audit verify --json: exit %d, %q, %v", r.code, r.stdout, err)
	}
	if rep.OK || rep.FirstBad != 3 || rep.Problem != "edited" {
		t.Errorf("audit verify --json: %+v", rep)
	}
}

func TestCLIAuditFollow(t *testing.T) {
	data := filepath.Join(t.TempDir(), "kw")
	kw(t, data, "", "init").ok(t)
	kw(t, data, "", "token", "create", "--org", "*", "--allow", "decrypt").ok(t)

	cmd := exec.Command(binary, "audit", "tail", "--follow", "--interval", "50ms", "--json")
	cmd.Env = append(os.Environ(), "KEYWARD_DATA="+data)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	next := func() string {
		t.Helper()
		got := make(chan string, 1)
		go func() {
			if lines.Scan() {
				got <- lines.Text()
			} else {
				got <- ""
			}
		}()
		select {
		case l := <-got:
			return l
		case <-time.After(20 * time.Second):
			t.Fatal("audit tail --follow printed nothing for 20s")
			return ""
		}
	}
	if l := next(); !strings.Contains(l, `"seq":1`) {
		t.Fatalf("first line: %q", l)
	}
	kw(t, data, "", "token", "create", "--org", "*", "--allow", "encrypt").ok(t)
	if l := next(); !strings.Contains(l, `"seq":2`) || !strings.Contains(l, "token.create") {
		t.Fatalf("followed line: %q", l)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("audit tail --follow after an interrupt: %v, want exit 0", err)
	}
}
