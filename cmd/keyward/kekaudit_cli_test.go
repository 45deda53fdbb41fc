package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keyward/datadir"
	"github.com/keyward/keyward/kms/localkms"
	"github.com/keyward/keyward/store/sqlite"
)

// storedAuditKEK returns the KEK version that wraps the data directory's
// audit key, read from the store as a server would.
func storedAuditKEK(t *testing.T, data string) uint32 {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(data, datadir.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	k, err := st.AuditKey(t.Context())
	if err != nil {
		t.Fatalf("AuditKey: %v", err)
	}
	return k.KEKVersion
}

type kekStatus struct {
	Current struct {
		Version uint32 `json:"version"`
	} `json:"current"`
	Wraps []struct {
		Version  uint32 `json:"version"`
		Wraps    int64  `json:"wraps"`
		AuditKey bool   `json:"audit_key"`
	} `json:"wraps"`
}

func kekStatusOf(t *testing.T, data string) string {
	t.Helper()
	var s kekStatus
	out := kw(t, data, "", "kek", "--json").ok(t).stdout
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("kek --json: %v in %q", err, out)
	}
	return fmt.Sprintf("current %d %v", s.Current.Version, s.Wraps)
}

type rotateResult struct {
	KEKVersion uint32 `json:"kek_version"`
	Rewrapped  int64  `json:"rewrapped"`
	AuditKey   *struct {
		KEKVersion uint32 `json:"kek_version"`
		Rewrapped  bool   `json:"rewrapped"`
	} `json:"audit_key"`
}

func rotateKEKJSON(t *testing.T, data string, args ...string) rotateResult {
	t.Helper()
	out := kw(t, data, "", append([]string{"rotate", "kek", "--json"}, args...)...).ok(t).stdout
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var r rotateResult
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		t.Fatalf("rotate kek --json: %v in %q", err, out)
	}
	return r
}

func auditVerifyEvents(t *testing.T, data string) int64 {
	t.Helper()
	var v struct {
		OK     bool  `json:"ok"`
		Events int64 `json:"events"`
	}
	out := kw(t, data, "", "audit", "verify", "--json").ok(t).stdout
	lines := strings.Split(strings.TrimSpace(out), "\n") // progress lines, then the report
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &v); err != nil || !v.OK {
		t.Fatalf("audit verify --json: %v, %q", err, out)
	}
	return v.Events
}

// TestCLIRotateKEKAuditKey: rotate kek moves the audit key along with the
// data keys and reports it; kek counts it; the log verifies and appends
// afterwards; an interrupted rotation is finished by --rewrap-only.
func TestCLIRotateKEKAuditKey(t *testing.T) {
	data := filepath.Join(t.TempDir(), "kw")
	kw(t, data, "", "init").ok(t)
	kw(t, data, "", "org", "create", "acme").ok(t)

	// org create recorded an event, which made the audit key under
	// version 1: the first rotation moves it with the data key.
	if r := rotateKEKJSON(t, data); r.KEKVersion != 2 || r.Rewrapped != 1 || r.AuditKey == nil || !r.AuditKey.Rewrapped || r.AuditKey.KEKVersion != 2 {
		t.Fatalf("first rotate kek: got %+v, want version 2, 1 data key and the audit key rewrapped", r)
	}
	kw(t, data, "", "token", "create", "--org", "acme", "--allow", "decrypt:*").ok(t) // appends under version 2
	if got, want := kekStatusOf(t, data), "current 2 [{2 2 true}]"; got != want {
		t.Fatalf("kek --json with the audit key: got %s, want %s", got, want)
	}

	r := rotateKEKJSON(t, data)
	if r.KEKVersion != 3 || r.Rewrapped != 1 || r.AuditKey == nil || !r.AuditKey.Rewrapped || r.AuditKey.KEKVersion != 3 {
		t.Fatalf("rotate kek: got %+v, want version 3, 1 data key and the audit key rewrapped", r)
	}
	if got := storedAuditKEK(t, data); got != 3 {
		t.Fatalf("stored audit key KEK version: got %d, want 3", got)
	}
	if got, want := kekStatusOf(t, data), "current 3 [{3 2 true}]"; got != want {
		t.Fatalf("kek --json after rotation: got %s, want %s (version 2 wraps nothing)", got, want)
	}
	// init's token.create; org.create; kek.rotate, kek.rewrap; token.create; kek.rotate, kek.rewrap.
	if got := auditVerifyEvents(t, data); got != 7 {
		t.Fatalf("audit verify after rotation: %d events, want 7", got)
	}
	kw(t, data, "", "token", "create", "--org", "acme", "--allow", "decrypt:*").ok(t) // appends with the rewrapped key
	if got := auditVerifyEvents(t, data); got != 8 {
		t.Fatalf("audit verify after a new event: %d events, want 8", got)
	}

	// Idempotent: nothing left to move.
	if r := rotateKEKJSON(t, data, "--rewrap-only"); r.Rewrapped != 0 || r.AuditKey == nil || r.AuditKey.Rewrapped || r.AuditKey.KEKVersion != 3 {
		t.Fatalf("rotate kek --rewrap-only after completion: got %+v, want nothing moved, audit key on 3", r)
	}

	// An interrupted rotation: a new KEK version exists, nothing was moved.
	kek, err := localkms.Open(filepath.Join(data, datadir.KEKFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kek.Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, want := kekStatusOf(t, data), "current 4 [{3 2 true}]"; got != want {
		t.Fatalf("kek --json after an interrupted rotation: got %s, want %s", got, want)
	}
	out := kw(t, data, "", "rotate", "kek", "--rewrap-only").ok(t).stdout
	if !strings.Contains(out, "rewrapped 1 data key versions") || !strings.Contains(out, "rewrapped the audit key; it is wrapped by "+kek.ID()+"#4") {
		t.Fatalf("rotate kek --rewrap-only: got %q, want the data key and the audit key moved to version 4", out)
	}
	if got := storedAuditKEK(t, data); got != 4 {
		t.Fatalf("stored audit key KEK version after resume: got %d, want 4", got)
	}
	status := kw(t, data, "", "kek").ok(t).stdout
	if !strings.Contains(status, "current: "+kek.ID()+"#4") || !regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(kek.ID())+` +4 +2 +audit key$`).MatchString(status) {
		t.Fatalf("kek: got %q, want version 4 wrapping 2 keys, the audit key among them", status)
	}
	// Two kek.rewrap events since: the idempotent one and the resume.
	if got := auditVerifyEvents(t, data); got != 10 {
		t.Fatalf("audit verify after resume: %d events, want 10", got)
	}
	if out := kw(t, data, "", "rotate", "kek", "--rewrap-only").ok(t).stdout; !strings.Contains(out, "the audit key is wrapped by "+kek.ID()+"#4 already") {
		t.Fatalf("rotate kek --rewrap-only, nothing to do: got %q", out)
	}
}
