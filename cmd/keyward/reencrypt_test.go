package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/reencrypt"
	"github.com/keyward/keyward/store"
)

func TestCLIReencryptSecrets(t *testing.T) {
	data := filepath.Join(t.TempDir(), "kw")
	kw(t, data, "", "init").ok(t)
	kw(t, data, "", "org", "create", "acme", "globex").ok(t)
	for i := range 5 {
		kw(t, data, fmt.Sprintf("value-%d", i), "secret", "put", "--org", "acme", fmt.Sprintf("k%d", i), "--kind", "api_key").ok(t)
	}
	kw(t, data, "x", "secret", "put", "--org", "globex", "only", "--kind", "generic").ok(t)
	kw(t, data, "", "rotate", "dek", "--all").ok(t)

	// A dry run writes nothing.
	s := lastSummary(t, kw(t, data, "", "reencrypt", "--dry-run", "--json").ok(t).stdout)
	if s.Rewritten != 6 || s.Done != 6 {
		t.Fatalf("dry run: %+v", s)
	}
	// One org, then all.
	s = lastSummary(t, kw(t, data, "", "reencrypt", "--org", "acme", "--json").ok(t).stdout)
	if s.State != "done" || s.Rewritten != 5 || s.Done != 5 {
		t.Fatalf("reencrypt --org acme: %+v", s)
	}
	s = lastSummary(t, kw(t, data, "", "reencrypt", "--json").ok(t).stdout)
	if s.State != "done" || s.Rewritten != 1 || s.Current != 5 {
		t.Fatalf("reencrypt: %+v", s)
	}
	for _, org := range []string{"acme", "globex"} {
		out := kw(t, data, "", "secret", "list", "--org", org, "--json").ok(t).stdout
		if strings.Count(out, `"key_version":2`) != strings.Count(out, `"name"`) || !strings.Contains(out, `"key_version":2`) {
			t.Fatalf("secret list %s after reencrypt: %s", org, out)
		}
	}
	var v struct{ Value []byte }
	out := kw(t, data, "", "secret", "reveal", "--org", "acme", "k3", "--json").ok(t).stdout
	if err := json.Unmarshal([]byte(out), &v); err != nil || string(v.Value) != "value-3" {
		t.Fatalf("reveal after reencrypt: %s (%v)", out, err)
	}
	kw(t, data, "", "reencrypt", "--org", "nobody").failed(t, "unknown organization")
}

// TestCLIJobFlagLimits: flags a job cannot honour are usage errors (exit 2)
// naming the valid range, and nothing runs.
func TestCLIJobFlagLimits(t *testing.T) {
	data := filepath.Join(t.TempDir(), "kw")
	kw(t, data, "", "init").ok(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--max-failures", "-2"}, "--max-failures must be at least 0"},
		{[]string{"--batch", "0"}, "--batch must be at least 1"},
		{[]string{"--workers", "0"}, "--workers must be at least 1"},
	}
	for _, tt := range tests {
		r := kw(t, data, "", append([]string{"reencrypt"}, tt.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("reencrypt %v: exit %d, stderr %q; want exit 2 and %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
	// -1 (never stop) and 0 (stop at the first failure) are accepted.
	kw(t, data, "", "reencrypt", "--max-failures", "-1").ok(t)
	kw(t, data, "", "reencrypt", "--max-failures", "0").ok(t)
}

// The CLI says which limit stopped a job.
func TestJobErrorFailureLimit(t *testing.T) {
	tests := []struct {
		opts reencrypt.Options
		want string
	}{
		{reencrypt.Options{MaxFailures: 5}, "migrate stopped: more than 5 rows failed (ids above)"},
		{reencrypt.Options{FailFast: true}, "migrate stopped: a row failed (ids above)"},
	}
	for _, tt := range tests {
		err := jobError("migrate", store.Job{}, tt.opts, reencrypt.ErrTooManyFailures)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("jobError(%+v) = %v, want it to start %q", tt.opts, err, tt.want)
		}
	}
}
