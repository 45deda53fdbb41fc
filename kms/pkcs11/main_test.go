package pkcs11

// Test setup. The tests run against a real PKCS#11 module named by
// KEYWARD_TEST_PKCS11_MODULE (e.g. /usr/lib/softhsm/libsofthsm2.so) and skip
// without it. They need nothing else: TestMain points SoftHSM2 at a private
// token directory, and every test initialises its own token there.
//
// A PKCS#11 module is process-global once C_Initialize'd, and SoftHSM2 reads
// SOFTHSM2_CONF only then, so the configuration cannot change per test: one
// directory serves the whole package run (created here, removed at the end;
// t.Setenv cannot be used in TestMain, and tests that share a loaded module
// must not change it). TestMain also holds one reference to the module for
// the whole run, so the tests share one initialised library, as KEKs of one
// process do, instead of finalising and re-initialising it between tests.
// Isolation comes from tokens: newToken initialises a fresh token with a
// random label and random SO and user PINs in the next free slot.

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	p11 "github.com/miekg/pkcs11"

	"github.com/keyward/keyward/secret"
)

// moduleEnv names the PKCS#11 module the tests load.
const moduleEnv = "KEYWARD_TEST_PKCS11_MODULE"

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	module := os.Getenv(moduleEnv)
	if module == "" {
		return m.Run() // every test that needs a token skips
	}
	dir, err := os.MkdirTemp("", "keyward-pkcs11-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "pkcs11 tests:", err)
		return 2
	}
	defer os.RemoveAll(dir)
	conf := filepath.Join(dir, "softhsm2.conf")
	tokens := filepath.Join(dir, "tokens")
	text := "directories.tokendir = " + tokens + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
	if err := os.Mkdir(tokens, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, "pkcs11 tests:", err)
		return 2
	}
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "pkcs11 tests:", err)
		return 2
	}
	// Never touch the developer's own SoftHSM tokens.
	if err := os.Setenv("SOFTHSM2_CONF", conf); err != nil {
		fmt.Fprintln(os.Stderr, "pkcs11 tests:", err)
		return 2
	}
	mod, err := modules.acquire(module)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pkcs11 tests:", err)
		return 2
	}
	defer modules.release(mod)
	return m.Run()
}

// testModule returns the module path, or skips the test.
func testModule(tb testing.TB) string {
	tb.Helper()
	path := os.Getenv(moduleEnv)
	if path == "" {
		tb.Skipf("set %s to a PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so from apt-get install softhsm2) to run the PKCS#11 tests", moduleEnv)
	}
	return path
}

// tokenMu serialises token initialisation: every test takes the one free slot.
var tokenMu sync.Mutex

// testToken is a token newToken initialised.
type testToken struct {
	cfg   Config
	slot  uint
	soPIN string
}

// newToken initialises a fresh token (random label, SO PIN and user PIN) and
// returns a Config for it, with no key on it yet.
func newToken(tb testing.TB) testToken {
	tb.Helper()
	module := testModule(tb)
	m, err := modules.acquire(module)
	if err != nil {
		tb.Fatal(err)
	}
	defer modules.release(m)
	label, soPIN, pin := "t-"+rand.Text()[:12], rand.Text(), rand.Text()

	tokenMu.Lock()
	defer tokenMu.Unlock()
	slots, err := m.ctx.GetSlotList(true)
	if err != nil {
		tb.Fatal(err)
	}
	free, found := uint(0), false
	for _, s := range slots {
		if ti, err := m.ctx.GetTokenInfo(s); err == nil && ti.Flags&p11.CKF_TOKEN_INITIALIZED == 0 {
			free, found = s, true
			break
		}
	}
	if !found {
		tb.Fatalf("no free slot in %v to initialise a token in", slots)
	}
	if err := m.ctx.InitToken(free, soPIN, label); err != nil {
		tb.Fatalf("C_InitToken: %v", err)
	}
	sh, err := m.ctx.OpenSession(free, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
	if err != nil {
		tb.Fatal(err)
	}
	defer m.ctx.CloseSession(sh)
	if err := m.ctx.Login(sh, p11.CKU_SO, soPIN); err != nil {
		tb.Fatalf("C_Login as SO: %v", err)
	}
	if err := m.ctx.InitPIN(sh, pin); err != nil {
		tb.Fatalf("C_InitPIN: %v", err)
	}
	if err := m.ctx.Logout(sh); err != nil {
		tb.Fatal(err)
	}
	return testToken{
		cfg:   Config{Module: module, Token: label, PIN: secret.FromString(pin)},
		slot:  free,
		soPIN: soPIN,
	}
}

// provision initialises a token and provisions a KEK on it, closed at the
// end of the test.
func provision(tb testing.TB, cfg func(*Config)) (*KEK, testToken) {
	tb.Helper()
	tok := newToken(tb)
	c := tok.cfg
	if cfg != nil {
		cfg(&c)
	}
	k, err := Provision(tb.Context(), c)
	if err != nil {
		tb.Fatalf("Provision: %v", err)
	}
	tb.Cleanup(func() {
		if err := k.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return k, tok
}

// rwSession opens a read-write session logged in as the user on the KEK's
// token, for tests that poke at key objects directly.
func rwSession(tb testing.TB, k *KEK, pin secret.Bytes) p11.SessionHandle {
	tb.Helper()
	ctx := k.module.ctx
	sh, err := ctx.OpenSession(k.slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = ctx.CloseSession(sh) })
	if err := login(ctx, sh, pin.Reveal()); err != nil && !is(err, p11.CKR_USER_ALREADY_LOGGED_IN) {
		tb.Fatal(err)
	}
	return sh
}
