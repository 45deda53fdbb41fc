//go:build cgo

package config_test

// PKCS#11 tests run against a real module named by
// KEYWARD_TEST_PKCS11_MODULE (e.g. /usr/lib/softhsm/libsofthsm2.so) and
// skip without it. As in package kms/pkcs11: a module is process-global once
// C_Initialize'd and SoftHSM2 reads SOFTHSM2_CONF only then, so TestMain
// points SoftHSM2 at a private token directory for the whole run and keeps
// the module initialised until the end, and every test initialises its own
// token (random label and PINs) in the next free slot. The KEKs that
// config.Open opens share that initialisation (kms/pkcs11 finds the module
// initialised and leaves C_Finalize to its owner, TestMain).

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	p11 "github.com/miekg/pkcs11"

	"github.com/keyward/keyward/config"
	"github.com/keyward/keyward/credential"
	"github.com/keyward/keyward/kms/pkcs11"
)

// cgoEnabled reports whether package pkcs11 is built.
const cgoEnabled = true

// pkcs11ModuleEnv names the PKCS#11 module the tests load.
const pkcs11ModuleEnv = "KEYWARD_TEST_PKCS11_MODULE"

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	module := os.Getenv(pkcs11ModuleEnv)
	if module == "" {
		return m.Run() // the PKCS#11 tests skip
	}
	dir, err := os.MkdirTemp("", "keyward-config-pkcs11-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "config tests:", err)
		return 2
	}
	defer os.RemoveAll(dir)
	tokens, conf := filepath.Join(dir, "tokens"), filepath.Join(dir, "softhsm2.conf")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, "config tests:", err)
		return 2
	}
	text := "directories.tokendir = " + tokens + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "config tests:", err)
		return 2
	}
	// Never touch the developer's own SoftHSM tokens.
	if err := os.Setenv("SOFTHSM2_CONF", conf); err != nil {
		fmt.Fprintln(os.Stderr, "config tests:", err)
		return 2
	}
	ctx := p11.New(module)
	if ctx == nil {
		fmt.Fprintf(os.Stderr, "config tests: %s is not a PKCS#11 module\n", module)
		return 2
	}
	defer ctx.Destroy()
	if err := ctx.Initialize(); err != nil {
		fmt.Fprintln(os.Stderr, "config tests: C_Initialize:", err)
		return 2
	}
	defer ctx.Finalize()
	return m.Run()
}

// testPKCS11Module returns the module path, or skips the test.
func testPKCS11Module(t *testing.T) string {
	t.Helper()
	path := os.Getenv(pkcs11ModuleEnv)
	if path == "" {
		t.Skipf("set %s to a PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so from apt-get install softhsm2) to test pkcs11: KEKs", pkcs11ModuleEnv)
	}
	return path
}

// newToken initialises a fresh token with a random label, SO PIN and user
// PIN in the module TestMain initialised, and returns the label and PIN.
func newToken(t *testing.T, module string) (label, pin string) {
	t.Helper()
	ctx := p11.New(module)
	if ctx == nil {
		t.Fatalf("cannot load %s", module)
	}
	defer ctx.Destroy() // not Finalize: TestMain owns the initialisation
	var perr p11.Error
	if err := ctx.Initialize(); err != nil && !(errors.As(err, &perr) && perr == p11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		t.Fatalf("C_Initialize: %v", err)
	}
	label, soPIN, pin := "kw-"+rand.Text()[:12], rand.Text(), rand.Text()
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		t.Fatal(err)
	}
	free, found := uint(0), false
	for _, s := range slots {
		if ti, err := ctx.GetTokenInfo(s); err == nil && ti.Flags&p11.CKF_TOKEN_INITIALIZED == 0 {
			free, found = s, true
			break
		}
	}
	if !found {
		t.Fatalf("no free slot in %v to initialise a token in", slots)
	}
	if err := ctx.InitToken(free, soPIN, label); err != nil {
		t.Fatalf("C_InitToken: %v", err)
	}
	sh, err := ctx.OpenSession(free, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.CloseSession(sh)
	if err := ctx.Login(sh, p11.CKU_SO, soPIN); err != nil {
		t.Fatalf("C_Login as SO: %v", err)
	}
	if err := ctx.InitPIN(sh, pin); err != nil {
		t.Fatalf("C_InitPIN: %v", err)
	}
	if err := ctx.Logout(sh); err != nil {
		t.Fatal(err)
	}
	return label, pin
}

func TestOpenPKCS11(t *testing.T) {
	module := testPKCS11Module(t)
	ctx := t.Context()
	label, pin := newToken(t, module)
	dir := newDataDir(t)
	writeSecret(t, filepath.Join(dir, "hsm-pin"), []byte(pin+"\n"))
	uri := "pkcs11:token=" + label + ";object=kek"
	kekTable := "[store]\nsqlite = \"keyward.db\"\n[kek]\nuri = " + strconv.Quote(uri) + "\nmodule = " + strconv.Quote(module) + "\nsessions = 2\n"
	c, err := config.Parse([]byte(kekTable+"pin_file = \"hsm-pin\"\n"), dir)
	if err != nil {
		t.Fatal(err)
	}

	// Before provisioning the token holds no key.
	if d, err := config.Open(ctx, c, env(nil)); !errors.Is(err, pkcs11.ErrNoKey) {
		if err == nil {
			d.Close()
		}
		t.Fatalf("Open before ProvisionKEK: %v, want pkcs11.ErrNoKey", err)
	}
	if err := config.ProvisionKEK(ctx, c, env(nil)); err != nil {
		t.Fatalf("ProvisionKEK: %v", err)
	}
	if err := config.ProvisionKEK(ctx, c, env(nil)); !errors.Is(err, pkcs11.ErrKeyExists) {
		t.Errorf("second ProvisionKEK: %v, want pkcs11.ErrKeyExists", err)
	}

	d, err := config.Open(ctx, c, env(nil))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if d.KEK.ID() != uri {
		t.Errorf("KEK id = %q, want %q", d.KEK.ID(), uri)
	}
	wrapUnwrap(t, d.KEK)
	roundTrip(t, d, "acme")
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// The same token with the PIN from a systemd credential or a descriptor;
	// the data written above is still readable.
	for name, src := range secretKeys(t, t.TempDir(), "pin", "hsm-pin", []byte(pin)) {
		if strings.HasSuffix(name, "_file") {
			continue
		}
		t.Run(name, func(t *testing.T) {
			c, err := config.Parse([]byte(kekTable+src.lines), dir)
			if err != nil {
				t.Fatal(err)
			}
			d, err := config.Open(ctx, c, src.getenv)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer d.Close()
			wrapUnwrap(t, d.KEK)
			if _, err := d.Store.Org(ctx, "acme"); err != nil {
				t.Errorf("org: %v", err)
			}
		})
	}
}

func TestOpenPKCS11Errors(t *testing.T) {
	module := testPKCS11Module(t)
	ctx := t.Context()
	label, pin := newToken(t, module)
	dir := newDataDir(t)
	kekTable := "[store]\nsqlite = \"keyward.db\"\n[kek]\nuri = \"pkcs11:token=" + label + ";object=kek\"\nmodule = " + strconv.Quote(module) + "\npin_file = \"hsm-pin\"\n"
	c, err := config.Parse([]byte(kekTable), dir)
	if err != nil {
		t.Fatal(err)
	}
	pinFile := filepath.Join(dir, "hsm-pin")

	// A PIN file others may read is refused before the token is touched.
	writeSecret(t, pinFile, []byte(pin))
	if err := os.Chmod(pinFile, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := config.ProvisionKEK(ctx, c, env(nil)); !errors.Is(err, credential.ErrInsecureFile) || strings.Contains(err.Error(), pin) {
		t.Errorf("ProvisionKEK with a 0644 pin file: %v, want ErrInsecureFile", err)
	}
	if err := os.Chmod(pinFile, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := config.ProvisionKEK(ctx, c, env(nil)); err != nil {
		t.Fatalf("ProvisionKEK: %v", err)
	}

	// A token that is not there.
	other, err := config.Parse([]byte(strings.Replace(kekTable, label, "kw-absent", 1)), dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := config.Open(ctx, other, env(nil)); err == nil || !strings.Contains(err.Error(), `no token labelled "kw-absent"`) {
		t.Errorf("Open of an absent token: %v", err)
	}

	// A wrong PIN: the error says so and does not repeat it (last: a wrong
	// PIN counts towards the token's lockout).
	wrong := "wrong-" + canary
	writeSecret(t, pinFile, []byte(wrong))
	_, err = config.Open(ctx, c, env(nil))
	if !errors.Is(err, pkcs11.ErrLogin) || strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), pin) {
		t.Errorf("Open with a wrong PIN: %v, want pkcs11.ErrLogin without the PIN", err)
	}
}
