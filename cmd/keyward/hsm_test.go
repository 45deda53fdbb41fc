package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/datadir"
	"github.com/keyward/keyward/store/sqlite"
)

// TestCLIWithSoftHSM drives the binary end to end with the KEK in a SoftHSM2
// token: kek create, org create, encrypt/decrypt, rotate kek (a second key
// object in the token) and decrypt again.
func TestCLIWithSoftHSM(t *testing.T) {
	module := os.Getenv("KEYWARD_TEST_PKCS11_MODULE")
	if module == "" {
		t.Skip("KEYWARD_TEST_PKCS11_MODULE is not set: skipping the SoftHSM2 CLI test (.ci/run sets it)")
	}
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		t.Skip("softhsm2-util is not installed")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "softhsm2.conf")
	writeFile(t, conf, fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", filepath.Join(dir, "tokens")))
	if err := os.Mkdir(filepath.Join(dir, "tokens"), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf) // the binary inherits it: a path, not a secret
	pin := "test-pin-1234"
	init := exec.Command(util, "--init-token", "--free", "--label", "kwtest", "--so-pin", "so-pin-5678", "--pin", pin)
	if out, err := init.CombinedOutput(); err != nil {
		t.Fatalf("softhsm2-util --init-token: %v: %s", err, out)
	}
	writeFile(t, filepath.Join(dir, "hsm-pin"), pin+"\n")
	data := filepath.Join(dir, "data")
	// An empty embedded store, without init: init would also make an admin
	// token and the audit key under its local kek, which this config does
	// not use.
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(t.Context(), filepath.Join(data, datadir.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	cfg := filepath.Join(dir, "keyward.toml")
	writeFile(t, cfg, fmt.Sprintf(`[store]
sqlite = "data/keyward.db"

[kek]
uri      = "pkcs11:token=kwtest;object=kek"
module   = %q
pin_file = "hsm-pin"
`, module))

	kw(t, "", "", "--config", cfg, "org", "list").failed(t, "kek") // no key in the token yet
	kw(t, "", "", "--config", cfg, "kek", "create").ok(t)
	kw(t, "", "", "--config", cfg, "kek", "create").failed(t, "exist")
	kw(t, "", "", "--config", cfg, "org", "create", "acme").ok(t)
	ct := strings.TrimSpace(kw(t, "", "oauth-refresh-token", "--config", cfg, "encrypt", "--org", "acme").ok(t).stdout)
	if got := kw(t, "", ct, "--config", cfg, "decrypt", "--org", "acme").ok(t).stdout; got != "oauth-refresh-token" {
		t.Fatalf("decrypt with the hsm kek: got %q", got)
	}
	kw(t, "", "", "--config", cfg, "rotate", "kek").ok(t)
	var status struct {
		Current struct {
			KEK     string `json:"kek"`
			Version uint32 `json:"version"`
		} `json:"current"`
		Wraps []struct {
			Version uint32 `json:"version"`
			Wraps   int64  `json:"wraps"`
		} `json:"wraps"`
	}
	if err := json.Unmarshal([]byte(kw(t, "", "", "--config", cfg, "kek", "--json").ok(t).stdout), &status); err != nil {
		t.Fatal(err)
	}
	// The data key and the audit key (made by org create's audit event).
	if !strings.HasPrefix(status.Current.KEK, "pkcs11:") || status.Current.Version != 2 || fmt.Sprint(status.Wraps) != "[{2 2}]" {
		t.Fatalf("kek status after rotation: got %+v, want every key under pkcs11 version 2", status)
	}
	if got := kw(t, "", ct, "--config", cfg, "decrypt", "--org", "acme").ok(t).stdout; got != "oauth-refresh-token" {
		t.Fatalf("decrypt after kek rotation: got %q", got)
	}
	// A PIN file others can read is refused, with the fix.
	if err := os.Chmod(filepath.Join(dir, "hsm-pin"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := kw(t, "", "", "--config", cfg, "org", "list")
	r.failed(t, "chmod")
	if strings.Contains(r.stderr, pin) {
		t.Fatalf("error shows the pin: %q", r.stderr)
	}
}
