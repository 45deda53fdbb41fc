package main

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// secretMeta is the JSON metadata the secret commands print.
type secretMeta struct {
	Org        string `json:"org"`
	Name       string `json:"name"`
	Kind       string `json:"kind"`
	Hint       string `json:"hint"`
	KeyVersion uint32 `json:"key_version"`
	Revision   int64  `json:"revision"`
	CreatedAt  string `json:"created_at"`
	UpdatedAt  string `json:"updated_at"`
}

type secretPage struct {
	Org   string       `json:"org"`
	Items []secretMeta `json:"items"`
	Next  string       `json:"next"`
}

func decodeJSON[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return v
}

func names(items []secretMeta) string {
	var n []string
	for _, m := range items {
		n = append(n, m.Name)
	}
	return strings.Join(n, ",")
}

func TestCLISecrets(t *testing.T) {
	data := filepath.Join(t.TempDir(), "kw")
	kw(t, data, "", "init").ok(t)
	kw(t, data, "", "org", "create", "acme", "globex").ok(t)

	// The value is stdin byte for byte: echo's newline is part of it, and a
	// value ending in a newline cannot have a last-4 hint.
	const value = "whsec_5WbX5kEWLlfzsGNjH64I8lOOqUB6e8FH"
	r := kw(t, data, value+"\n", "secret", "put", "--org", "acme", "webhooks/stripe", "--kind", "webhook_secret", "--hint", "last4")
	r.failed(t, "--strip-newline")
	if strings.Contains(r.stderr, "whsec_") {
		t.Fatalf("error quotes the value: %q", r.stderr)
	}
	r = kw(t, data, value+"\n", "secret", "put", "--org", "acme", "webhooks/stripe", "--kind", "webhook_secret",
		"--hint", "last4", "--strip-newline", "--json").ok(t)
	if strings.Contains(r.stdout+r.stderr, "whsec_") {
		t.Fatalf("put printed the value: %q %q", r.stdout, r.stderr)
	}
	m := decodeJSON[secretMeta](t, r.stdout)
	if m.Org != "acme" || m.Name != "webhooks/stripe" || m.Kind != "webhook_secret" || m.Hint != "e8FH" ||
		m.KeyVersion != 1 || m.Revision != 1 || m.CreatedAt == "" {
		t.Fatalf("put --json: got %+v", m)
	}

	// get: metadata, never the value.
	if got := decodeJSON[secretMeta](t, kw(t, data, "", "secret", "get", "--org", "acme", "webhooks/stripe", "--json").ok(t).stdout); got != m {
		t.Fatalf("get --json: got %+v, want %+v", got, m)
	}
	human := kw(t, data, "", "secret", "get", "--org", "acme", "webhooks/stripe").ok(t).stdout
	for _, want := range []string{"name:", "webhooks/stripe", "kind:", "webhook_secret", "hint:", "…e8FH", "key version:", "revision:"} {
		if !strings.Contains(human, want) {
			t.Errorf("get: output %q lacks %q", human, want)
		}
	}
	if strings.Contains(human, "whsec_") {
		t.Fatalf("get printed the value: %q", human)
	}

	// reveal: the value exactly, nothing else.
	if got := kw(t, data, "", "secret", "reveal", "--org", "acme", "webhooks/stripe").ok(t).stdout; got != value {
		t.Fatalf("reveal: got %q, want %q", got, value)
	}

	// --from-file: binary, with its trailing newline kept.
	bin := "\x00\x01\xfe\xff binary\r\n"
	file := filepath.Join(t.TempDir(), "value")
	if err := os.WriteFile(file, []byte(bin), 0o600); err != nil {
		t.Fatal(err)
	}
	kw(t, data, "ignored", "secret", "put", "--org", "acme", "webhooks/file", "--kind", "generic", "--from-file", file).ok(t)
	if got := kw(t, data, "", "secret", "reveal", "--org", "acme", "webhooks/file").ok(t).stdout; got != bin {
		t.Fatalf("reveal of a file value: got %q, want %q", got, bin)
	}
	kw(t, data, "hunter2hunter2", "secret", "put", "--org", "acme", "smtp/primary.password", "--kind", "email_credential").ok(t)

	// list: name order, pages.
	page := decodeJSON[secretPage](t, kw(t, data, "", "secret", "list", "--org", "acme", "--json").ok(t).stdout)
	if got, want := names(page.Items), "smtp/primary.password,webhooks/file,webhooks/stripe"; got != want || page.Next != "" {
		t.Fatalf("list --json: got %s next %q, want %s and no next", got, page.Next, want)
	}
	page = decodeJSON[secretPage](t, kw(t, data, "", "secret", "list", "--org", "acme", "--limit", "2", "--json").ok(t).stdout)
	if got := names(page.Items); got != "smtp/primary.password,webhooks/file" || page.Next != "webhooks/file" {
		t.Fatalf("list --limit 2: got %s next %q", got, page.Next)
	}
	page = decodeJSON[secretPage](t, kw(t, data, "", "secret", "list", "--org", "acme", "--limit", "2", "--after", page.Next, "--json").ok(t).stdout)
	if got := names(page.Items); got != "webhooks/stripe" || page.Next != "" {
		t.Fatalf("list second page: got %s next %q", got, page.Next)
	}
	r = kw(t, data, "", "secret", "list", "--org", "acme", "--limit", "1").ok(t)
	if !strings.HasPrefix(r.stdout, "NAME") || !strings.Contains(r.stdout, "smtp/primary.password") ||
		!strings.Contains(r.stderr, "keyward secret list --org acme --after smtp/primary.password") {
		t.Fatalf("list --limit 1: stdout %q stderr %q", r.stdout, r.stderr)
	}
	if got := decodeJSON[secretPage](t, kw(t, data, "", "secret", "list", "--org", "globex", "--json").ok(t).stdout); len(got.Items) != 0 {
		t.Fatalf("globex lists %s", names(got.Items))
	}

	// Conditional replace.
	r = kw(t, data, "rotated-secret-value", "secret", "put", "--org", "acme", "webhooks/stripe", "--kind", "webhook_secret",
		"--if-revision", "1", "--json").ok(t)
	if got := decodeJSON[secretMeta](t, r.stdout); got.Revision != 2 || got.Hint != "" || got.CreatedAt != m.CreatedAt {
		t.Fatalf("replace: got %+v", got)
	}
	kw(t, data, "late", "secret", "put", "--org", "acme", "webhooks/stripe", "--kind", "webhook_secret", "--if-revision", "1").
		failed(t, "changed since that revision: see keyward secret get --org acme webhooks/stripe")
	rev := decodeJSON[struct {
		secretMeta
		Value string `json:"value"`
	}](t, kw(t, data, "", "secret", "reveal", "--org", "acme", "webhooks/stripe", "--json").ok(t).stdout)
	if v, err := base64.StdEncoding.DecodeString(rev.Value); err != nil || string(v) != "rotated-secret-value" || rev.Revision != 2 {
		t.Fatalf("reveal --json: %+v (%v)", rev, err)
	}

	// rm: refuses without a terminal or --yes, then deletes.
	kw(t, data, "", "secret", "rm", "--org", "acme", "webhooks/stripe").failed(t, "--yes")
	kw(t, data, "", "secret", "get", "--org", "acme", "webhooks/stripe").ok(t)
	kw(t, data, "", "secret", "rm", "--org", "acme", "webhooks/stripe", "--yes").ok(t)
	kw(t, data, "", "secret", "get", "--org", "acme", "webhooks/stripe").
		failed(t, "no secret webhooks/stripe in org acme: see keyward secret list --org acme")
	kw(t, data, "", "secret", "rm", "--org", "acme", "webhooks/stripe", "--yes").failed(t, "no secret webhooks/stripe")
	page = decodeJSON[secretPage](t, kw(t, data, "", "secret", "list", "--org", "acme", "--json").ok(t).stdout)
	if got := names(page.Items); got != "smtp/primary.password,webhooks/file" {
		t.Fatalf("list after rm: %s", got)
	}
}

func TestCLISecretErrors(t *testing.T) {
	data := filepath.Join(t.TempDir(), "kw")
	kw(t, data, "", "init").ok(t)
	kw(t, data, "", "org", "create", "acme").ok(t)
	kw(t, data, "kept-value", "secret", "put", "--org", "acme", "kept", "--kind", "api_key").ok(t)
	put := func(name string, extra ...string) []string {
		return append([]string{"secret", "put", "--org", "acme", name, "--kind", "api_key"}, extra...)
	}
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"doubled slash", "v", put("a//b"), "invalid secret name"},
		{"dot dot", "v", put("../etc/passwd"), "invalid secret name"},
		{"leading slash", "v", put("/a"), "invalid secret name"},
		{"percent", "v", put("a%2Fb"), "invalid secret name"},
		{"backslash", "v", put(`a\b`), "invalid secret name"},
		{"space", "v", put("a b"), "invalid secret name"},
		{"too long", "v", put(strings.Repeat("a", 257)), "invalid secret name"},
		{"no name", "v", []string{"secret", "put", "--org", "acme", "--kind", "api_key"}, "missing secret NAME"},
		{"two names", "v", put("a", "b"), "unexpected argument"},
		{"no org", "v", []string{"secret", "put", "a", "--kind", "api_key"}, "--org"},
		{"no kind", "v", []string{"secret", "put", "--org", "acme", "a"}, "needs --kind"},
		{"bad kind", "v", []string{"secret", "put", "--org", "acme", "a", "--kind", "password"}, "invalid secret kind"},
		{"bad hint", "v", put("a", "--hint", "first4"), "--hint"},
		{"short hinted value", "short", put("a", "--hint", "last4"), "at least 12 characters"},
		{"negative revision", "v", put("a", "--if-revision", "-1"), "--if-revision"},
		{"empty value", "", put("a"), "empty secret value"},
		{"too large", strings.Repeat("x", 64<<10+1), put("a"), "too large"},
		{"missing file", "", put("a", "--from-file", "/nonexistent/value"), "no such file"},
		{"unknown org put", "v", []string{"secret", "put", "--org", "nobody", "a", "--kind", "api_key"}, "unknown organization nobody"},
		{"unknown org get", "", []string{"secret", "get", "--org", "nobody", "a"}, "unknown organization nobody"},
		{"unknown org list", "", []string{"secret", "list", "--org", "nobody"}, "unknown organization nobody"},
		{"unknown org reveal", "", []string{"secret", "reveal", "--org", "nobody", "a"}, "unknown organization nobody"},
		{"unknown org rm", "", []string{"secret", "rm", "--org", "nobody", "a", "--yes"}, "unknown organization nobody"},
		{"missing secret", "", []string{"secret", "reveal", "--org", "acme", "nope"}, "no secret nope in org acme: see keyward secret list --org acme"},
		{"bad cursor", "", []string{"secret", "list", "--org", "acme", "--after", "a//b"}, "--after"},
		{"bad limit", "", []string{"secret", "list", "--org", "acme", "--limit", "5000"}, "--limit"},
		{"get bad name", "", []string{"secret", "get", "--org", "acme", "a/.."}, "invalid secret name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := kw(t, data, tt.stdin, tt.args...)
			r.failed(t, tt.want)
			if tt.stdin != "" && len(tt.stdin) > 3 && strings.Contains(r.stderr, tt.stdin) {
				t.Errorf("error quotes the value: %q", r.stderr)
			}
		})
	}
	// None of that changed anything.
	page := decodeJSON[secretPage](t, kw(t, data, "", "secret", "list", "--org", "acme", "--json").ok(t).stdout)
	if got := names(page.Items); got != "kept" || page.Items[0].Revision != 1 {
		t.Fatalf("after errors: list %s %+v", got, page.Items)
	}
	if got := kw(t, data, "", "secret", "reveal", "--org", "acme", "kept").ok(t).stdout; got != "kept-value" {
		t.Fatalf("after errors: reveal %q", got)
	}
}

// TestCLISecretEventsIdentifyTheValue: put and reveal record the value's
// keyed HMAC (the same one for the same value), never the value.
func TestCLISecretEventsIdentifyTheValue(t *testing.T) {
	data := filepath.Join(t.TempDir(), "kw")
	kw(t, data, "", "init").ok(t)
	kw(t, data, "", "org", "create", "acme").ok(t)
	const value = "smtp-password-canary-7c1d"
	kw(t, data, value, "secret", "put", "--org", "acme", "smtp/primary", "--kind", "email_credential").ok(t)
	kw(t, data, "", "secret", "reveal", "--org", "acme", "smtp/primary").ok(t)
	out := kw(t, data, "", "audit", "tail", "-n", "10", "--json").ok(t).stdout
	if strings.Contains(out, value) {
		t.Fatalf("the audit log holds the value: %s", out)
	}
	macs := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev struct {
			Action   string `json:"action"`
			ValueMAC string `json:"value_mac"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("tail line %q: %v", line, err)
		}
		macs[ev.Action] = ev.ValueMAC
	}
	put, rev := macs["secrets.put"], macs["secrets.reveal"]
	if len(put) != 64 || put != rev {
		t.Errorf("value_mac of put %q and reveal %q: want the same 64 hex digits", put, rev)
	}
	// An investigator holding the leaked value finds it with audit mac.
	if got := strings.TrimSpace(kw(t, data, value, "audit", "mac").ok(t).stdout); got != put {
		t.Errorf("audit mac of the value = %q, want the events' %q", got, put)
	}
	if got := strings.TrimSpace(kw(t, data, value+"x", "audit", "mac").ok(t).stdout); got == put || len(got) != 64 {
		t.Errorf("audit mac of another value = %q: want another 64 hex digits", got)
	}
}
