package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// binary is the keyward command built once for the end-to-end tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "keyward-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "keyward")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build keyward:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// kw runs the built binary with stdin and a data directory in the
// environment, as a user's shell would.
func kw(t *testing.T, data, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "KEYWARD_DATA="+data)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run keyward %v: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}

func (r result) ok(t *testing.T) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d, stderr: %s", r.code, r.stderr)
	}
	return r
}

// failed checks a non-zero exit with a one-line lowercase error containing want.
func (r result) failed(t *testing.T, want string) {
	t.Helper()
	if r.code == 0 {
		t.Fatalf("exit 0, want failure; stdout: %q", r.stdout)
	}
	msg := strings.TrimSuffix(r.stderr, "\n")
	if strings.Contains(msg, "\n") {
		t.Fatalf("error spans lines: %q", r.stderr)
	}
	if !strings.HasPrefix(msg, "keyward: ") || !strings.Contains(msg, want) {
		t.Fatalf("stderr: got %q, want a line containing %q", msg, want)
	}
	if rest := strings.TrimPrefix(msg, "keyward: "); rest != "" && strings.ToLower(rest[:1]) != rest[:1] {
		t.Fatalf("error not lowercase: %q", msg)
	}
}

func TestCLIRoundTrip(t *testing.T) {
	data := filepath.Join(t.TempDir(), "kw")
	kw(t, data, "", "init").ok(t)
	kw(t, data, "", "org", "create", "acme").ok(t)

	ct := strings.TrimSpace(kw(t, data, "hunter2", "encrypt", "--org", "acme", "--context", "smtp.password").ok(t).stdout)
	if !strings.HasPrefix(ct, "kw1:1:") {
		t.Fatalf("encrypt printed %q, want kw1:1:…", ct)
	}
	if got := kw(t, data, ct+"\n", "decrypt", "--org", "acme", "--context", "smtp.password").ok(t).stdout; got != "hunter2" {
		t.Fatalf("decrypt: got %q, want %q", got, "hunter2")
	}

	// --data overrides $KEYWARD_DATA.
	if got := kw(t, "/nonexistent", ct, "--data", data, "decrypt", "--org", "acme", "--context", "smtp.password").ok(t).stdout; got != "hunter2" {
		t.Fatalf("decrypt with --data: got %q", got)
	}

	// Rotation: new ciphertexts carry v2, old ones still decrypt.
	kw(t, data, "", "rotate", "dek", "--org", "acme").ok(t)
	ct2 := strings.TrimSpace(kw(t, data, "hunter3", "encrypt", "--org", "acme").ok(t).stdout)
	if !strings.HasPrefix(ct2, "kw1:2:") {
		t.Fatalf("after rotate: %q, want kw1:2:…", ct2)
	}
	if got := kw(t, data, ct, "decrypt", "--org", "acme", "--context", "smtp.password").ok(t).stdout; got != "hunter2" {
		t.Fatalf("old ciphertext after rotate: got %q", got)
	}

	var keys struct {
		Org  string `json:"org"`
		Keys []struct {
			Version uint32 `json:"version"`
			State   string `json:"state"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(kw(t, data, "", "keys", "--org", "acme", "--json").ok(t).stdout), &keys); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(keys.Keys), "[{1 decrypt-only} {2 active}]"; got != want {
		t.Fatalf("keys --json: got %s, want %s", got, want)
	}

	// Retire refuses v1's data with a clear error; reinstate brings it back.
	kw(t, data, "", "keys", "retire", "1", "--org", "acme").ok(t)
	kw(t, data, ct, "decrypt", "--org", "acme", "--context", "smtp.password").failed(t, "version 1")
	kw(t, data, "", "keys", "reinstate", "v1", "--org", "acme").ok(t)
	kw(t, data, ct, "decrypt", "--org", "acme", "--context", "smtp.password").ok(t)

	// Destroy needs confirmation; without a terminal, --yes.
	kw(t, data, "", "keys", "destroy", "1", "--org", "acme").failed(t, "--yes")
	kw(t, data, "", "keys", "destroy", "1", "--org", "acme", "--yes").ok(t)
	kw(t, data, ct, "decrypt", "--org", "acme", "--context", "smtp.password").failed(t, "destroyed")
}

func TestCLIErrors(t *testing.T) {
	data := filepath.Join(t.TempDir(), "kw")
	kw(t, data, "", "org", "list").failed(t, "keyward init")
	kw(t, data, "", "init").ok(t)
	kw(t, data, "", "init").failed(t, "refusing to overwrite")
	kw(t, data, "", "org", "create", "acme", "globex").ok(t)
	ct := strings.TrimSpace(kw(t, data, "secret", "encrypt", "--org", "acme").ok(t).stdout)

	tampered := []byte(ct)
	if i := len(tampered) - 3; tampered[i] == 'A' {
		tampered[i] = 'B'
	} else {
		tampered[i] = 'A'
	}
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"tampered", string(tampered), []string{"decrypt", "--org", "acme"}, "decryption failed"},
		{"other org", ct, []string{"decrypt", "--org", "globex"}, "decryption failed"},
		{"other context", ct, []string{"decrypt", "--org", "acme", "--context", "x"}, "decryption failed"},
		{"unknown org encrypt", "x", []string{"encrypt", "--org", "nobody"}, "unknown organization"},
		{"unknown org decrypt", ct, []string{"decrypt", "--org", "nobody"}, "unknown organization"},
		{"missing org", "x", []string{"encrypt"}, "--org"},
		{"odd org", "x", []string{"org", "create", "a/b"}, "invalid organization id"},
		{"duplicate org", "", []string{"org", "create", "acme"}, "already exists"},
		{"malformed", "kw1:1:!!!", []string{"decrypt", "--org", "acme"}, "malformed"},
		{"empty stdin", "", []string{"decrypt", "--org", "acme"}, "no ciphertext"},
		{"unknown version", strings.Replace(ct, "kw1:1:", "kw1:7:", 1), []string{"decrypt", "--org", "acme"}, "version 7"},
		{"oversized", strings.Repeat("x", 4<<20+1), []string{"encrypt", "--org", "acme"}, "too large"},
		{"unknown command", "", []string{"frobnicate"}, "unknown command"},
		{"bad version", "", []string{"keys", "retire", "zero", "--org", "acme"}, "invalid key version"},
		{"retire active", "", []string{"keys", "retire", "1", "--org", "acme"}, "rotate first"},
		{"rotate both", "", []string{"rotate", "dek", "--org", "acme", "--all"}, "exactly one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kw(t, data, tt.stdin, tt.args...).failed(t, tt.want)
		})
	}
	// None of that changed anything.
	if got := kw(t, data, ct, "decrypt", "--org", "acme").ok(t).stdout; got != "secret" {
		t.Fatalf("after errors: got %q", got)
	}
	if got := kw(t, data, "", "org", "list").ok(t).stdout; got != "acme\nglobex\n" {
		t.Fatalf("org list after errors: got %q", got)
	}
}

func TestCLIInitPermissions(t *testing.T) {
	data := filepath.Join(t.TempDir(), "kw")
	kw(t, data, "", "init").ok(t)
	for name, want := range map[string]os.FileMode{".": 0o700, "kek.key": 0o600, "keyward.db": 0o600} {
		fi, err := os.Stat(filepath.Join(data, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: got mode %o, want %o", name, got, want)
		}
	}
	// A KEK file readable by others is refused with a fix.
	if err := os.Chmod(filepath.Join(data, "kek.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	kw(t, data, "", "org", "list").failed(t, "chmod 600")
}

func TestCLIJSON(t *testing.T) {
	data := filepath.Join(t.TempDir(), "kw")
	kw(t, data, "", "init", "--json").ok(t)
	kw(t, data, "", "org", "create", "acme", "--json").ok(t)
	var enc struct {
		Org        string `json:"org"`
		KeyVersion uint32 `json:"key_version"`
		Ciphertext string `json:"ciphertext"`
	}
	if err := json.Unmarshal([]byte(kw(t, data, "\x00bin\xff", "encrypt", "--org", "acme", "--json").ok(t).stdout), &enc); err != nil {
		t.Fatal(err)
	}
	if enc.Org != "acme" || enc.KeyVersion != 1 || !strings.HasPrefix(enc.Ciphertext, "kw1:1:") {
		t.Fatalf("encrypt --json: got %+v", enc)
	}
	var dec struct {
		Plaintext []byte `json:"plaintext"`
	}
	if err := json.Unmarshal([]byte(kw(t, data, enc.Ciphertext, "decrypt", "--org", "acme", "--json").ok(t).stdout), &dec); err != nil {
		t.Fatal(err)
	}
	if got, want := string(dec.Plaintext), "\x00bin\xff"; got != want {
		t.Fatalf("decrypt --json: got %q, want %q", got, want)
	}
	var orgs []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(kw(t, data, "", "org", "list", "--json").ok(t).stdout), &orgs); err != nil {
		t.Fatal(err)
	}
	if len(orgs) != 1 || orgs[0].ID != "acme" {
		t.Fatalf("org list --json: got %+v", orgs)
	}

	kw(t, data, "", "org", "create", "globex").ok(t)
	var rotated []struct {
		Org     string `json:"org"`
		Version uint32 `json:"version"`
	}
	if err := json.Unmarshal([]byte(kw(t, data, "", "rotate", "dek", "--all", "--json").ok(t).stdout), &rotated); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(rotated), "[{acme 2} {globex 2}]"; got != want {
		t.Fatalf("rotate dek --all --json: got %s, want %s", got, want)
	}
}

func TestCLIRotateKEK(t *testing.T) {
	data := filepath.Join(t.TempDir(), "kw")
	kw(t, data, "", "init").ok(t)
	kw(t, data, "", "org", "create", "acme", "globex").ok(t)
	kw(t, data, "", "rotate", "dek", "--org", "acme").ok(t)
	ct := strings.TrimSpace(kw(t, data, "token", "encrypt", "--org", "acme").ok(t).stdout)

	var st struct {
		KEKVersion uint32 `json:"kek_version"`
		Total      int64  `json:"total"`
		Rewrapped  int64  `json:"rewrapped"`
	}
	out := kw(t, data, "", "rotate", "kek", "--json", "--batch", "1").ok(t).stdout
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &st); err != nil {
		t.Fatalf("rotate kek --json: %v in %q", err, out)
	}
	if st.KEKVersion != 2 || st.Total != 3 || st.Rewrapped != 3 {
		t.Fatalf("rotate kek: got %+v, want version 2 with 3 of 3 rewrapped", st)
	}
	if got := kw(t, data, ct, "decrypt", "--org", "acme").ok(t).stdout; got != "token" {
		t.Fatalf("decrypt after kek rotation: got %q", got)
	}
	var status struct {
		Wraps []struct {
			Version uint32 `json:"version"`
			Wraps   int64  `json:"wraps"`
		} `json:"wraps"`
	}
	if err := json.Unmarshal([]byte(kw(t, data, "", "kek", "--json").ok(t).stdout), &status); err != nil {
		t.Fatal(err)
	}
	// 3 data keys and the audit key (made by the first audited command).
	if got, want := fmt.Sprint(status.Wraps), "[{2 4}]"; got != want {
		t.Fatalf("kek --json wraps: got %s, want %s", got, want)
	}
	if got := kw(t, data, "", "rotate", "kek", "--rewrap-only").ok(t).stdout; !strings.Contains(got, "rewrapped 0 ") {
		t.Fatalf("rewrap-only after completion: got %q", got)
	}
}
