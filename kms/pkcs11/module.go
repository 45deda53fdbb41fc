package pkcs11

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	p11 "github.com/miekg/pkcs11"

	"github.com/keyward/keyward/kms"
)

// module is one loaded PKCS#11 library, shared by every KEK of the process
// that names the same file.
//
// PKCS#11 state is per process, not per handle: C_Initialize may succeed
// once per process, C_Finalize ends every session of every user of the
// library, and a login belongs to the application's whole connection to a
// token rather than to a session (C_Logout on any session logs all of them
// out). Two KEKs that each loaded, initialised and finalised the library on
// their own would therefore break each other. The registry below reference
// counts the library (finalised when the last KEK closes) and the KEKs per
// slot (the last one to leave a token logs out).
type module struct {
	path  string // canonical: absolute, symbolic links resolved
	ctx   *p11.Ctx
	owner bool // our C_Initialize succeeded, so C_Finalize is ours too

	// Guarded by registry.mu.
	refs  int
	slots map[uint]int // open KEKs per slot
}

// registry holds the modules loaded in this process.
type registry struct {
	mu   sync.Mutex
	mods map[string]*module
}

// modules is this package's only package-level mutable state: it mirrors the
// process-global state of the PKCS#11 libraries themselves (see module), so it
// adds no global behaviour that was not there already. Nothing else in the
// package is global; every KEK holds a reference to its module.
var modules registry

// acquire loads and initialises the module at path, or takes another
// reference to it when it is loaded already.
func (r *registry) acquire(path string) (*module, error) {
	canon, err := canonicalModule(path)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if m, ok := r.mods[canon]; ok {
		m.refs++
		return m, nil
	}
	ctx := p11.New(canon)
	if ctx == nil {
		return nil, fmt.Errorf("pkcs11: cannot load module %s: not a PKCS#11 library (dlopen or C_GetFunctionList failed)", canon)
	}
	owner := true
	if err := ctx.Initialize(); err != nil {
		if !is(err, p11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
			ctx.Destroy()
			return nil, fmt.Errorf("pkcs11: module %s: C_Initialize: %w", canon, err)
		}
		// Another library in this process initialised the module; it owns
		// C_Finalize, and we must never call it.
		owner = false
	}
	m := &module{path: canon, ctx: ctx, owner: owner, refs: 1, slots: map[uint]int{}}
	if r.mods == nil {
		r.mods = map[string]*module{}
	}
	r.mods[canon] = m
	return m, nil
}

// release drops a reference to m; the last one finalises (if we initialised
// it) and unloads the module.
func (r *registry) release(m *module) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	m.refs--
	if m.refs > 0 {
		return nil
	}
	delete(r.mods, m.path)
	var err error
	if m.owner {
		if e := m.ctx.Finalize(); e != nil {
			err = fmt.Errorf("pkcs11: module %s: C_Finalize: %w", m.path, e)
		}
	}
	m.ctx.Destroy()
	return err
}

// enter records one more KEK using slot.
func (r *registry) enter(m *module, slot uint) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m.slots[slot]++
}

// leave records that a KEK stops using slot and reports whether it was the
// last, so that it should log the application out of the token.
func (r *registry) leave(m *module, slot uint) (last bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m.slots[slot]--
	if m.slots[slot] > 0 {
		return false
	}
	delete(m.slots, slot)
	return true
}

// canonicalModule checks that path names an existing regular file by an
// absolute path, and resolves symbolic links so two spellings of one library
// share one module. A relative path is refused: dlopen would search the
// library path for it, and which library is loaded must not depend on the
// environment.
func canonicalModule(path string) (string, error) {
	if path == "" {
		return "", errors.New("pkcs11: no module path (the PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so)")
	}
	if !filepath.IsAbs(path) {
		return "", fmt.Errorf("pkcs11: module path %q is not absolute", path)
	}
	canon, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", fmt.Errorf("pkcs11: module: %w", err)
	}
	fi, err := os.Stat(canon)
	if err != nil {
		return "", fmt.Errorf("pkcs11: module: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("pkcs11: module %s is not a regular file", canon)
	}
	return canon, nil
}

// findSlot returns the slot holding the one present token labelled label.
// No such token is kms.ErrUnavailable (a removable token may be plugged in
// later); two are refused, since the label must name one token.
func findSlot(ctx *p11.Ctx, label string) (uint, error) {
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("pkcs11: C_GetSlotList: %w: %w", kms.ErrUnavailable, err)
	}
	var (
		found  []uint
		others []string
		info   p11.TokenInfo
	)
	for _, s := range slots {
		ti, err := ctx.GetTokenInfo(s)
		if err != nil {
			continue // removed since C_GetSlotList
		}
		if ti.Label != label {
			if ti.Flags&p11.CKF_TOKEN_INITIALIZED != 0 && len(others) < 8 {
				others = append(others, fmt.Sprintf("%q", ti.Label))
			}
			continue
		}
		found = append(found, s)
		info = ti
	}
	switch {
	case len(found) == 0:
		slices.Sort(others)
		present := "none"
		if len(others) > 0 {
			present = strings.Join(others, ", ")
		}
		return 0, fmt.Errorf("pkcs11: no token labelled %q is present (present: %s): %w", label, present, kms.ErrUnavailable)
	case len(found) > 1:
		return 0, fmt.Errorf("pkcs11: %d tokens are labelled %q (slots %v); relabel one so the label names a single token", len(found), label, found)
	case info.Flags&p11.CKF_USER_PIN_INITIALIZED == 0:
		return 0, fmt.Errorf("%w: token %q has no user pin yet (set one with C_InitPIN, e.g. softhsm2-util --init-token --pin …)", ErrLogin, label)
	case info.Flags&p11.CKF_USER_PIN_LOCKED != 0:
		return 0, fmt.Errorf("%w: the user pin of token %q is locked after too many wrong attempts; the security officer must reset it", ErrLogin, label)
	}
	return found[0], nil
}
