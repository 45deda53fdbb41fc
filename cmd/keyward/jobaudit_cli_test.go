package main

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/datadir"
	"github.com/keyward/keyward/reencrypt"
	"github.com/keyward/keyward/store/sqlite"
)

// jobEvents returns the events of the log whose action starts with kind+".".
func jobEvents(t *testing.T, data, kind string) (string, []auditEvent) {
	t.Helper()
	raw, evs := auditTail(t, data)
	var out []auditEvent
	for _, ev := range evs {
		if strings.HasPrefix(ev.Action, kind+".") {
			out = append(out, ev)
		}
	}
	return raw, out
}

// checkJobEvents compares events with want, and checks that each start and
// its finish share one CLI request id.
func checkJobEvents(t *testing.T, step string, got []auditEvent, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		t.Fatalf("%s: %d events %+v, want %d %+v", step, len(got), got, len(wants), wants)
	}
	for i, w := range wants {
		g := got[i]
		gw := want{org: g.Org, action: g.Action, name: g.Name, context: g.Context, version: g.KeyVersion, outcome: g.Outcome, code: g.Code}
		if gw != w {
			t.Errorf("%s: event %d = %+v, want %+v", step, i, gw, w)
		}
		if g.TokenID != "cli" || !strings.HasPrefix(g.RequestID, "cli-") {
			t.Errorf("%s: event %d: token %q request %q, want cli and cli-…", step, i, g.TokenID, g.RequestID)
		}
		if i%2 == 1 && g.RequestID != got[i-1].RequestID {
			t.Errorf("%s: finish request id %q, start's %q: want one invocation", step, g.RequestID, got[i-1].RequestID)
		}
	}
}

func TestCLIReencryptAudited(t *testing.T) {
	const canary = "canary-REENCRYPT-VALUE-93c1"
	data := filepath.Join(t.TempDir(), "kw")
	kw(t, data, "", "init").ok(t)
	kw(t, data, "", "org", "create", "acme", "globex").ok(t)
	for i := range 4 {
		kw(t, data, fmt.Sprintf("%s-%d", canary, i), "secret", "put", "--org", "acme", fmt.Sprintf("k%d", i), "--kind", "generic").ok(t)
	}
	kw(t, data, canary, "secret", "put", "--org", "globex", "only", "--kind", "generic").ok(t)
	kw(t, data, "", "rotate", "dek", "--all").ok(t)

	dry := lastSummary(t, kw(t, data, "", "reencrypt", "--dry-run", "--json").ok(t).stdout)
	acme := lastSummary(t, kw(t, data, "", "reencrypt", "--org", "acme", "--json").ok(t).stdout)
	all := lastSummary(t, kw(t, data, "", "reencrypt", "--json").ok(t).stdout)
	kw(t, data, "", "reencrypt", "--org", "nobody").failed(t, "unknown organization")
	if dry.Rewritten != 5 || acme.Rewritten != 5-1 || all.Rewritten != 1 || all.Current != 4 || acme.Job == all.Job {
		t.Fatalf("summaries: dry %+v, acme %+v, all %+v", dry, acme, all)
	}

	raw, evs := jobEvents(t, data, "reencrypt")
	checkJobEvents(t, "reencrypt", evs, []want{
		{org: "*", action: "reencrypt.start", name: "secrets", context: "dry-run", outcome: "allowed", code: "dry_run"},
		{org: "*", action: "reencrypt.finish", name: "secrets", context: "dry-run rewritten=5 current=0 skipped=0 failed=0", outcome: "allowed", code: "dry_run"},
		{org: "acme", action: "reencrypt.start", name: "secrets", context: "job=" + acme.Job, outcome: "allowed"},
		{org: "acme", action: "reencrypt.finish", name: "secrets", context: "job=" + acme.Job + " state=done rewritten=4 current=0 skipped=0 failed=0", outcome: "allowed"},
		{org: "*", action: "reencrypt.start", name: "secrets", context: "job=" + all.Job, outcome: "allowed"},
		{org: "*", action: "reencrypt.finish", name: "secrets", context: "job=" + all.Job + " state=done rewritten=1 current=4 skipped=0 failed=0", outcome: "allowed"},
		{org: "nobody", action: "reencrypt.start", name: "secrets", context: "job=" + reencrypt.JobID("reencrypt", "secrets", "nobody"), outcome: "failed", code: "unknown_org"},
	})
	if strings.Contains(raw, canary) {
		t.Errorf("a secret value is in the audit log")
	}
	if got := kw(t, data, "", "audit", "verify").ok(t).stdout; !strings.HasPrefix(got, "audit log intact: ") {
		t.Errorf("audit verify: %q", got)
	}
}

// TestCLIReencryptFailsClosed: a run whose start cannot be recorded does
// not start; nothing is rewritten.
func TestCLIReencryptFailsClosed(t *testing.T) {
	data := filepath.Join(t.TempDir(), "kw")
	kw(t, data, "", "init").ok(t)
	kw(t, data, "", "org", "create", "acme").ok(t)
	kw(t, data, "v", "secret", "put", "--org", "acme", "k", "--kind", "generic").ok(t)
	kw(t, data, "", "rotate", "dek", "--org", "acme").ok(t)

	db, err := sql.Open("sqlite", "file://"+filepath.Join(data, datadir.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TRIGGER audit_refuse BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit disk full'); END`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	for _, args := range [][]string{{"reencrypt"}, {"reencrypt", "--dry-run"}, {"reencrypt", "--org", "acme"}} {
		r := kw(t, data, "", args...)
		r.failed(t, "reencrypt not started: the audit log could not record it")
		if r.stdout != "" {
			t.Errorf("%v: stdout %q, want nothing", args, r.stdout)
		}
	}
	st, err := sqlite.Open(t.Context(), filepath.Join(data, datadir.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, org := range []string{"", "acme"} {
		if j, err := st.Job(t.Context(), reencrypt.JobID("reencrypt", "secrets", org)); err == nil {
			t.Errorf("job %+v was created although its start was not recorded", j)
		}
	}
	st.Close()
	out := kw(t, data, "", "secret", "list", "--org", "acme", "--json").ok(t).stdout
	if !strings.Contains(out, `"key_version":1`) {
		t.Errorf("secret list after refused reencrypt: %s, want still at v1", out)
	}
}

func TestMigrateAudited(t *testing.T) {
	db := newAppDB(t)
	data := filepath.Join(t.TempDir(), "kw")
	const n = 400
	plain, keyFile := mixedTable(t, db, data, n)

	dry := lastSummary(t, kw(t, data, "", append(migrateArgs(db, keyFile), "--dry-run")...).ok(t).stdout)
	s := lastSummary(t, kw(t, data, "", migrateArgs(db, keyFile)...).ok(t).stdout)
	if s.State != "done" || s.Rewritten != n || dry.Rewritten != n {
		t.Fatalf("migrate: dry %+v, run %+v", dry, s)
	}
	checkMigrated(t, db, data, plain)

	raw, evs := jobEvents(t, data, "migrate")
	checkJobEvents(t, "migrate", evs, []want{
		{org: "*", action: "migrate.start", name: db.target(), context: "dry-run", outcome: "allowed", code: "dry_run"},
		{org: "*", action: "migrate.finish", name: db.target(), context: fmt.Sprintf("dry-run rewritten=%d current=0 skipped=0 failed=0", n), outcome: "allowed", code: "dry_run"},
		{org: "*", action: "migrate.start", name: db.target(), context: "job=" + s.Job, outcome: "allowed"},
		{org: "*", action: "migrate.finish", name: db.target(), context: fmt.Sprintf("job=%s state=done rewritten=%d current=%d skipped=%d failed=%d", s.Job, s.Rewritten, s.Current, s.Skipped, s.Failed), outcome: "allowed"},
	})
	if strings.Contains(raw, db.url) || strings.Contains(raw, "127.0.0.1") || strings.Contains(raw, "token-") {
		t.Errorf("the audit log names the DSN or a value:\n%s", raw)
	}
	// A job that completed with failed rows is allowed, the rows counted;
	// one stopped by them ends failed, with the job's outcome code.
	if _, err := db.pool.Exec(t.Context(), `INSERT INTO `+db.schema+`.secrets VALUES ($1, 'acme', 'not a ciphertext')`, n+1); err != nil {
		t.Fatal(err)
	}
	r := kw(t, data, "", migrateArgs(db, keyFile)...)
	r.failed(t, "1 rows failed")
	if _, err := db.pool.Exec(t.Context(), `INSERT INTO `+db.schema+`.secrets VALUES (0, 'acme', 'not a ciphertext either'), (-1, 'acme', 'nor this')`); err != nil {
		t.Fatal(err)
	}
	r2 := kw(t, data, "", migrateArgs(db, keyFile, "--max-failures", "1", "--batch", "10", "--workers", "1")...)
	r2.failed(t, "more than 1 rows failed")
	stopped := lastSummary(t, r2.stdout)
	_, evs = jobEvents(t, data, "migrate")
	checkJobEvents(t, "migrate with failed rows", evs[4:], []want{
		{org: "*", action: "migrate.start", name: db.target(), context: "job=" + s.Job, outcome: "allowed"},
		{org: "*", action: "migrate.finish", name: db.target(), context: fmt.Sprintf("job=%s state=done rewritten=0 current=%d skipped=0 failed=1", s.Job, n), outcome: "allowed"},
		{org: "*", action: "migrate.start", name: db.target(), context: "job=" + s.Job, outcome: "allowed"},
		{org: "*", action: "migrate.finish", name: db.target(), context: fmt.Sprintf("job=%s state=failed rewritten=0 current=%d skipped=0 failed=2", s.Job, stopped.Mine.Current), outcome: "failed", code: "too_many_failures"},
	})
	// scan decrypts nothing and records nothing.
	scanTotals(t, data, db)
	if _, after := jobEvents(t, data, "scan"); len(after) != 0 {
		t.Errorf("scan recorded %+v, want nothing", after)
	}
	if got := kw(t, data, "", "audit", "verify").ok(t).stdout; !strings.HasPrefix(got, "audit log intact: ") {
		t.Errorf("audit verify: %q", got)
	}
}
