package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/datadir"
	"github.com/keyward/keyward/policy"
)

// auditEvent is one line of keyward audit tail --json.
type auditEvent struct {
	Seq        int64  `json:"seq"`
	RequestID  string `json:"request_id"`
	TokenID    string `json:"token_id"`
	Org        string `json:"org"`
	Action     string `json:"action"`
	Name       string `json:"name"`
	Context    string `json:"context"`
	KeyVersion uint32 `json:"key_version"`
	Outcome    string `json:"outcome"`
	Code       string `json:"code"`
}

// auditTail returns the raw JSON lines and the events of the whole log.
func auditTail(t *testing.T, data string) (string, []auditEvent) {
	t.Helper()
	out := kw(t, data, "", "audit", "tail", "-n", "1000000", "--json").ok(t).stdout
	var evs []auditEvent
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var ev auditEvent
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("audit tail --json: %v in %q", err, out)
		}
		evs = append(evs, ev)
	}
	return out, evs
}

// want is an expected event: what the CLI decides, without seq and ids.
type want struct {
	org, action, name, context string
	version                    uint32
	outcome, code              string
}

func TestCLIAuditsDecisions(t *testing.T) {
	const (
		canary       = "canary-PLAINTEXT-7f3a9c"    // decrypted through the CLI
		secretCanary = "canary-SECRET-VALUE-51be0d" // revealed through the CLI
	)
	dir := t.TempDir()
	data := filepath.Join(dir, "kw")
	kw(t, data, "", "init").ok(t)

	fkeys, _, fernetTok, _ := fernetRotation(t)
	keyFile := filepath.Join(dir, "fernet.keys")
	if err := os.WriteFile(keyFile, []byte(fkeys[0]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var ct string // acme's ciphertext of canary, set by a step

	steps := []struct {
		name  string
		stdin func() string
		args  []string
		fail  string // the error expected, "" for success
		want  []want
	}{
		{"org create", nil, []string{"org", "create", "acme", "globex"}, "",
			[]want{{org: "acme", action: "org.create", version: 1, outcome: "allowed"}, {org: "globex", action: "org.create", version: 1, outcome: "allowed"}}},
		{"org create existing", nil, []string{"org", "create", "acme"}, "exists",
			[]want{{org: "acme", action: "org.create", outcome: "failed", code: "org_exists"}}},
		{"encrypt is not a decision to audit", func() string { return canary }, []string{"encrypt", "--org", "acme", "--context", "smtp.password"}, "", nil},
		{"decrypt", func() string { return ct }, []string{"decrypt", "--org", "acme", "--context", "smtp.password"}, "",
			[]want{{org: "acme", action: "decrypt", context: "smtp.password", version: 1, outcome: "allowed"}}},
		{"decrypt --json", func() string { return ct }, []string{"decrypt", "--org", "acme", "--context", "smtp.password", "--json"}, "",
			[]want{{org: "acme", action: "decrypt", context: "smtp.password", version: 1, outcome: "allowed"}}},
		{"decrypt wrong context", func() string { return ct }, []string{"decrypt", "--org", "acme", "--context", "imap.password"}, "decryption failed",
			[]want{{org: "acme", action: "decrypt", context: "imap.password", version: 1, outcome: "failed", code: "decrypt_failed"}}},
		{"decrypt unknown org", func() string { return ct }, []string{"decrypt", "--org", "nope", "--context", "smtp.password"}, "unknown organization",
			[]want{{org: "nope", action: "decrypt", context: "smtp.password", version: 1, outcome: "failed", code: "unknown_org"}}},
		{"decrypt malformed", func() string { return "kw1:zz" }, []string{"decrypt", "--org", "acme"}, "malformed ciphertext",
			[]want{{org: "acme", action: "decrypt", outcome: "failed", code: "malformed_ciphertext"}}},
		{"secret put", func() string { return secretCanary }, []string{"secret", "put", "--org", "acme", "smtp/primary", "--kind", "generic"}, "",
			[]want{{org: "acme", action: "secrets.put", name: "smtp/primary", version: 1, outcome: "allowed"}}},
		{"secret get is not audited", nil, []string{"secret", "get", "--org", "acme", "smtp/primary"}, "", nil},
		{"secret reveal", nil, []string{"secret", "reveal", "--org", "acme", "smtp/primary"}, "",
			[]want{{org: "acme", action: "secrets.reveal", name: "smtp/primary", version: 1, outcome: "allowed"}}},
		{"secret reveal --json", nil, []string{"secret", "reveal", "--org", "acme", "smtp/primary", "--json"}, "",
			[]want{{org: "acme", action: "secrets.reveal", name: "smtp/primary", version: 1, outcome: "allowed"}}},
		{"secret reveal missing", nil, []string{"secret", "reveal", "--org", "acme", "smtp/other"}, "no secret smtp/other",
			[]want{{org: "acme", action: "secrets.reveal", name: "smtp/other", outcome: "failed", code: "secret_not_found"}}},
		{"secret put unknown org", func() string { return "x" }, []string{"secret", "put", "--org", "nope", "a", "--kind", "generic"}, "unknown organization",
			[]want{{org: "nope", action: "secrets.put", name: "a", outcome: "failed", code: "unknown_org"}}},
		{"secret rm", nil, []string{"secret", "rm", "--org", "acme", "smtp/primary", "--yes"}, "",
			[]want{{org: "acme", action: "secrets.delete", name: "smtp/primary", outcome: "allowed"}}},
		{"secret rm missing", nil, []string{"secret", "rm", "--org", "acme", "smtp/primary", "--yes"}, "no secret",
			[]want{{org: "acme", action: "secrets.delete", name: "smtp/primary", outcome: "failed", code: "secret_not_found"}}},
		{"rotate dek", nil, []string{"rotate", "dek", "--org", "acme"}, "",
			[]want{{org: "acme", action: "keys.rotate", version: 2, outcome: "allowed"}}},
		{"rotate dek --all", nil, []string{"rotate", "dek", "--all"}, "",
			[]want{{org: "acme", action: "keys.rotate", version: 3, outcome: "allowed"}, {org: "globex", action: "keys.rotate", version: 2, outcome: "allowed"}}},
		{"rotate dek unknown org", nil, []string{"rotate", "dek", "--org", "nope"}, "unknown organization",
			[]want{{org: "nope", action: "keys.rotate", outcome: "failed", code: "unknown_org"}}},
		{"keys retire", nil, []string{"keys", "retire", "1", "--org", "acme"}, "",
			[]want{{org: "acme", action: "keys.retire", name: "v1", version: 1, outcome: "allowed"}}},
		{"decrypt under a retired key", func() string { return ct }, []string{"decrypt", "--org", "acme", "--context", "smtp.password"}, "retired",
			[]want{{org: "acme", action: "decrypt", context: "smtp.password", version: 1, outcome: "failed", code: "key_retired"}}},
		{"keys reinstate", nil, []string{"keys", "reinstate", "v1", "--org", "acme"}, "",
			[]want{{org: "acme", action: "keys.reinstate", name: "v1", version: 1, outcome: "allowed"}}},
		{"keys retire active", nil, []string{"keys", "retire", "3", "--org", "acme"}, "active",
			[]want{{org: "acme", action: "keys.retire", name: "v3", version: 3, outcome: "failed", code: "active_version"}}},
		// A secret under v3 makes v3 in use once v4 is active.
		{"secret put under v3", func() string { return secretCanary }, []string{"secret", "put", "--org", "acme", "smtp/primary", "--kind", "generic"}, "",
			[]want{{org: "acme", action: "secrets.put", name: "smtp/primary", version: 3, outcome: "allowed"}}},
		{"rotate dek to v4", nil, []string{"rotate", "dek", "--org", "acme"}, "",
			[]want{{org: "acme", action: "keys.rotate", version: 4, outcome: "allowed"}}},
		{"keys retire in use", nil, []string{"keys", "retire", "3", "--org", "acme"}, "in use",
			[]want{{org: "acme", action: "keys.retire", name: "v3", version: 3, outcome: "failed", code: "key_in_use"}}},
		{"keys retire --force", nil, []string{"keys", "retire", "3", "--org", "acme", "--force"}, "",
			[]want{{org: "acme", action: "keys.retire", name: "v3", version: 3, outcome: "allowed", code: "forced"}}},
		{"keys destroy --force", nil, []string{"keys", "destroy", "3", "--org", "acme", "--force", "--yes"}, "",
			[]want{{org: "acme", action: "keys.destroy", name: "v3", version: 3, outcome: "allowed", code: "forced"}}},
		{"secret reveal under a destroyed key", nil, []string{"secret", "reveal", "--org", "acme", "smtp/primary"}, "destroyed",
			[]want{{org: "acme", action: "secrets.reveal", name: "smtp/primary", outcome: "failed", code: "key_destroyed"}}},
		{"keys retire --all-unused", nil, []string{"keys", "retire", "--all-unused", "--org", "acme"}, "",
			[]want{{org: "acme", action: "keys.retire", name: "v1", version: 1, outcome: "allowed"}, {org: "acme", action: "keys.retire", name: "v2", version: 2, outcome: "allowed"}}},
		{"keys retire --all-unused, none left", nil, []string{"keys", "retire", "--all-unused", "--org", "acme"}, "", nil},
		{"fernet import", nil, []string{"fernet", "import", "--org", "acme", "--key-file", keyFile}, "",
			[]want{{org: "acme", action: "fernet.import", name: "fernet:1", outcome: "allowed"}}},
		{"fernet import again", nil, []string{"fernet", "import", "--org", "acme", "--key-file", keyFile}, "",
			[]want{{org: "acme", action: "fernet.import", name: "fernet:1", outcome: "allowed", code: "exists"}}},
		{"fernet import unknown org", nil, []string{"fernet", "import", "--org", "nope", "--key-file", keyFile}, "unknown organization",
			[]want{{org: "nope", action: "fernet.import", outcome: "failed", code: "unknown_org"}}},
		{"decrypt a fernet token", func() string { return fernetTok }, []string{"decrypt", "--org", "acme"}, "",
			[]want{{org: "acme", action: "decrypt", name: "fernet:1", outcome: "allowed"}}},
		{"keys retire fernet", nil, []string{"keys", "retire", "fernet:1", "--org", "acme"}, "",
			[]want{{org: "acme", action: "keys.retire", name: "fernet:1", outcome: "allowed"}}},
		{"rotate kek", nil, []string{"rotate", "kek"}, "",
			[]want{{org: "*", action: "kek.rotate", name: "local", version: 2, outcome: "allowed"}, {org: "*", action: "kek.rewrap", name: "local", version: 2, outcome: "allowed"}}},
		{"rotate kek --rewrap-only", nil, []string{"rotate", "kek", "--rewrap-only"}, "",
			[]want{{org: "*", action: "kek.rewrap", name: "local", version: 2, outcome: "allowed"}}},
		{"token revoke unknown", nil, []string{"token", "revoke", "tok_nope"}, "no token",
			[]want{{org: "*", action: "token.revoke", name: "tok_nope", outcome: "failed", code: "token_not_found"}}},
		{"org shred", nil, []string{"org", "shred", "globex", "--yes"}, "",
			[]want{{org: "globex", action: "org.shred", outcome: "allowed"}}},
		{"usage errors decide nothing", nil, []string{"decrypt"}, "--org", nil},
	}

	_, before := auditTail(t, data)
	seen := map[string]bool{} // request ids
	for _, s := range steps {
		stdin := ""
		if s.stdin != nil {
			stdin = s.stdin()
		}
		r := kw(t, data, stdin, s.args...)
		if s.fail != "" {
			r.failed(t, s.fail)
		} else {
			r.ok(t)
		}
		if s.name == "encrypt is not a decision to audit" {
			ct = strings.TrimSpace(r.stdout)
		}
		_, all := auditTail(t, data)
		got := all[len(before):]
		before = all
		if len(got) != len(s.want) {
			t.Errorf("%s: %d events, want %d: %+v", s.name, len(got), len(s.want), got)
			continue
		}
		for i, g := range got {
			w := s.want[i]
			gw := want{g.Org, g.Action, g.Name, g.Context, g.KeyVersion, g.Outcome, g.Code}
			if s.name == "rotate kek" || s.name == "rotate kek --rewrap-only" {
				gw.name = strings.SplitN(gw.name, ":", 2)[0] // the KEK id, e.g. local:…
			}
			if gw != w {
				t.Errorf("%s: event %d: got %+v, want %+v", s.name, i, gw, w)
			}
			if g.TokenID != "cli" || !strings.HasPrefix(g.RequestID, "cli-") || len(g.RequestID) != len("cli-")+16 {
				t.Errorf("%s: event %d: token id %q, request id %q; want cli and cli-<16 hex>", s.name, i, g.TokenID, g.RequestID)
			}
			if g.RequestID != got[0].RequestID {
				t.Errorf("%s: request ids %q and %q: want one per invocation", s.name, got[0].RequestID, g.RequestID)
			}
		}
		if len(got) > 0 {
			if seen[got[0].RequestID] {
				t.Errorf("%s: request id %q reused by another invocation", s.name, got[0].RequestID)
			}
			seen[got[0].RequestID] = true
		}
	}
	tok := strings.TrimSpace(kw(t, data, "", "token", "create", "--org", "acme", "--allow", "decrypt").ok(t).stdout)
	_, all := auditTail(t, data)
	if id, _ := policy.TokenID(tok); all[len(all)-1] != (auditEvent{Seq: all[len(all)-1].Seq, RequestID: all[len(all)-1].RequestID,
		TokenID: "cli", Org: "*", Action: "token.create", Name: id, Outcome: "allowed"}) {
		t.Errorf("token create: last event %+v, want token.create of %s", all[len(all)-1], id)
	}

	if got := kw(t, data, "", "audit", "verify").ok(t).stdout; !strings.HasPrefix(got, "audit log intact: ") {
		t.Errorf("audit verify: %q", got)
	}

	// Neither canary nor the ciphertext appears in the log as printed or
	// in the database files.
	out, _ := auditTail(t, data)
	for _, s := range []string{canary, secretCanary, ct, tok} {
		if strings.Contains(out, s) {
			t.Errorf("audit tail --json holds %q", s)
		}
	}
	files, _ := filepath.Glob(filepath.Join(data, datadir.DBFile+"*"))
	if len(files) == 0 {
		t.Fatal("no database file")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{canary, secretCanary} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds the plaintext %q", filepath.Base(f), s)
			}
		}
	}
}

// TestCLIAuditFailsClosed: when the audit log cannot record a decrypt or a
// reveal, the plaintext is not printed and the command fails.
func TestCLIAuditFailsClosed(t *testing.T) {
	const value = "fail-closed-value-2b7c"
	data := filepath.Join(t.TempDir(), "kw")
	kw(t, data, "", "init").ok(t)
	kw(t, data, "", "org", "create", "acme").ok(t)
	ct := strings.TrimSpace(kw(t, data, value, "encrypt", "--org", "acme").ok(t).stdout)
	kw(t, data, value, "secret", "put", "--org", "acme", "db/password", "--kind", "generic").ok(t)
	if got := kw(t, data, ct, "decrypt", "--org", "acme").ok(t).stdout; got != value {
		t.Fatalf("decrypt before: got %q, want %q", got, value)
	}

	// The audit log refuses every append from now on.
	db, err := sql.Open("sqlite", "file://"+filepath.Join(data, datadir.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TRIGGER audit_refuse BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit disk full'); END`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	for _, c := range []struct {
		name  string
		stdin string
		args  []string
	}{
		{"decrypt", ct, []string{"decrypt", "--org", "acme"}},
		{"decrypt --json", ct, []string{"decrypt", "--org", "acme", "--json"}},
		{"secret reveal", "", []string{"secret", "reveal", "--org", "acme", "db/password"}},
		{"secret reveal --json", "", []string{"secret", "reveal", "--org", "acme", "db/password", "--json"}},
	} {
		r := kw(t, data, c.stdin, c.args...)
		r.failed(t, "not printed: the audit log could not record it")
		if r.stdout != "" {
			t.Errorf("%s: stdout %q, want nothing when the decision is not audited", c.name, r.stdout)
		}
	}
	// A failed decrypt keeps its own error (and exit status) and warns.
	r := kw(t, data, ct, "decrypt", "--org", "acme", "--context", "wrong")
	if r.code != 1 || !strings.Contains(r.stderr, "decryption failed") || !strings.Contains(r.stderr, "warning: the audit log could not record it") {
		t.Errorf("failed decrypt, unaudited: exit %d, stderr %q", r.code, r.stderr)
	}
}
