package pkcs11

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"sync"

	p11 "github.com/miekg/pkcs11"

	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/secret"
)

// Wire format and limits.
const (
	// IVSize is the size of the GCM IV that starts every wrapped key.
	IVSize = 12
	// TagSize is the size of the GCM tag that ends every wrapped key.
	TagSize = 16
	// MaxKeyLen bounds the data key Wrap accepts, as for every keyward KEK.
	MaxKeyLen = 4096
	// DefaultSessions is the session pool size when Config.Sessions is 0.
	DefaultSessions = 4
	// MaxSessions bounds Config.Sessions.
	MaxSessions = 64
)

// Config names a KEK on a PKCS#11 token and how to reach it.
type Config struct {
	// Module is the absolute path of the PKCS#11 library, e.g.
	// /usr/lib/softhsm/libsofthsm2.so. It comes from keyward's
	// configuration, never from the KEK URI.
	Module string
	// Token is the token label (at most 32 bytes).
	Token string
	// Object is the key label; every version carries it. Default "kek".
	Object string
	// PIN is the user PIN, loaded with package credential from a file, a
	// file descriptor or a systemd credential. Open keeps its own copy
	// (wiped by Close), so the caller may wipe this one once Open returns.
	PIN secret.Bytes
	// Sessions is the size of the session pool, from 1 to MaxSessions;
	// 0 means DefaultSessions.
	Sessions int
	// Version, if not 0, pins the version Wrap uses (instead of the
	// highest); it must exist when the KEK opens, and Rotate is refused.
	// Every version on the token still unwraps. Use it to keep wrapping with
	// a version every member of an HSM cluster holds while a new one
	// replicates, or to roll back to an older version.
	Version uint32
}

// KEK is a [kms.KEK] whose versions are AES-256 keys inside a PKCS#11 token.
// It is safe for concurrent use; Rotate may run while others wrap and
// unwrap. Call Close when done.
type KEK struct {
	id     string
	module *module
	slot   uint
	token  string
	object string
	pinned uint32
	pool   *pool

	mu      sync.RWMutex
	handles map[uint32]p11.ObjectHandle // versions seen so far
	current uint32                      // the version Wrap uses

	rotateMu  sync.Mutex
	closeOnce sync.Once
	closeErr  error
}

var (
	_ kms.KEK     = (*KEK)(nil)
	_ kms.Rotator = (*KEK)(nil)
)

// Open opens the KEK cfg names: it loads the module (shared with other KEKs
// of the process that use it), finds the token by label, logs in and finds
// every version of the key. It fails with an error wrapping ErrNoKey if the
// token holds none (see Provision), ErrBadKey if a key under the label is
// unfit, ErrLogin if the PIN is refused, and kms.ErrUnavailable if the token
// is not present.
func Open(ctx context.Context, cfg Config) (*KEK, error) {
	return open(ctx, cfg, false)
}

// Provision generates version 1 of the KEK cfg names inside the token and
// opens it. It refuses, with an error wrapping ErrKeyExists, if the token
// holds a key with the label already.
func Provision(ctx context.Context, cfg Config) (*KEK, error) {
	return open(ctx, cfg, true)
}

func open(ctx context.Context, cfg Config, provision bool) (*KEK, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("pkcs11: open: %w", err)
	}
	if cfg.Object == "" {
		cfg.Object = DefaultObject
	}
	if cfg.Sessions == 0 {
		cfg.Sessions = DefaultSessions
	}
	if err := checkLabels(cfg.Token, cfg.Object); err != nil {
		return nil, fmt.Errorf("pkcs11: %w", err)
	}
	switch {
	case cfg.Sessions < 1 || cfg.Sessions > MaxSessions:
		return nil, fmt.Errorf("pkcs11: %d sessions; want 1 to %d", cfg.Sessions, MaxSessions)
	case cfg.PIN.IsZero():
		return nil, errors.New("pkcs11: no pin; load it with package credential from a file, descriptor or systemd credential")
	case provision && cfg.Version > 1:
		return nil, fmt.Errorf("pkcs11: provision creates version 1; version %d cannot be pinned", cfg.Version)
	}
	m, err := modules.acquire(cfg.Module)
	if err != nil {
		return nil, err
	}
	slot, err := findSlot(m.ctx, cfg.Token)
	if err != nil {
		_ = modules.release(m)
		return nil, err
	}
	modules.enter(m, slot)
	k := &KEK{
		id:     kekID(cfg.Token, cfg.Object),
		module: m,
		slot:   slot,
		token:  cfg.Token,
		object: cfg.Object,
		pinned: cfg.Version,
	}
	k.pool = newPool(m.ctx, slot, cfg.Token, secret.New(cfg.PIN.Reveal()), cfg.Sessions, k.forgetHandles)
	if err := k.load(ctx, provision); err != nil {
		_ = k.Close()
		return nil, fmt.Errorf("pkcs11: open %s: %w", k.id, err)
	}
	return k, nil
}

// load finds the key's versions (generating version 1 if provision) and
// picks the current one.
func (k *KEK) load(ctx context.Context, provision bool) error {
	ctx11 := k.module.ctx
	var keys []keyObject
	err := k.pool.do(ctx, provision, func(sh p11.SessionHandle) error {
		var err error
		if keys, err = findKeys(ctx11, sh, k.object, 0); err != nil {
			return err
		}
		if !provision {
			return nil
		}
		if len(keys) > 0 {
			return fmt.Errorf("%w: token %q holds version(s) of key %q already; use Open", ErrKeyExists, k.token, k.object)
		}
		h, err := k.create(sh, 1)
		keys = []keyObject{{handle: h, version: 1}}
		return err
	})
	if err != nil {
		return err
	}
	handles, top := versions(keys)
	if top == 0 {
		return fmt.Errorf("%w: token %q holds no key labelled %q; create version 1 with Provision", ErrNoKey, k.token, k.object)
	}
	current := top
	if k.pinned != 0 {
		if _, ok := handles[k.pinned]; !ok {
			return fmt.Errorf("%w: version %d is pinned but not on token %q", kms.ErrUnknownKEK, k.pinned, k.token)
		}
		current = k.pinned
	}
	k.mu.Lock()
	k.handles, k.current = handles, current
	k.mu.Unlock()
	return nil
}

// create generates version v and checks that no other process created the
// same version at the same moment (two keys with one version could never be
// told apart); if one did, it destroys its own and fails.
func (k *KEK) create(sh p11.SessionHandle, v uint32) (p11.ObjectHandle, error) {
	ctx11 := k.module.ctx
	h, err := generate(ctx11, sh, k.object, v)
	if err != nil {
		return 0, err
	}
	if _, err := findKeys(ctx11, sh, k.object, v); err != nil {
		_ = ctx11.DestroyObject(sh, h)
		return 0, fmt.Errorf("after generating version %d: %w (another process may have created it at the same time; try again)", v, err)
	}
	return h, nil
}

// ID returns "pkcs11:token=LABEL;object=LABEL". It names the key, not the
// version, and carries no secret.
func (k *KEK) ID() string { return k.id }

// Version returns the version Wrap uses now.
func (k *KEK) Version() uint32 {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.current
}

// Wrap encrypts key inside the token with the current version using
// CKM_AES_GCM: a random 96-bit IV, a 128-bit tag, aad authenticated. The
// wrapped bytes are IV (12) ‖ ciphertext ‖ tag (16).
func (k *KEK) Wrap(ctx context.Context, key, aad []byte) (kms.Wrapped, error) {
	if err := ctx.Err(); err != nil {
		return kms.Wrapped{}, fmt.Errorf("pkcs11: wrap with %s: %w", k.id, err)
	}
	if len(key) == 0 || len(key) > MaxKeyLen {
		return kms.Wrapped{}, fmt.Errorf("pkcs11: wrap with %s: key of %d bytes, want 1 to %d", k.id, len(key), MaxKeyLen)
	}
	v := k.Version()
	iv := make([]byte, IVSize)
	_, _ = rand.Read(iv) // crypto/rand.Read never fails
	var out []byte
	err := k.pool.do(ctx, false, func(sh p11.SessionHandle) error {
		h, err := k.handle(sh, v)
		if err != nil {
			return err
		}
		out, err = k.encrypt(sh, h, iv, key, aad)
		return err
	})
	if err != nil {
		return kms.Wrapped{}, fmt.Errorf("pkcs11: wrap with %s version %d: %w", k.id, v, err)
	}
	return kms.Wrapped{KEKID: k.id, KEKVersion: v, Ciphertext: out}, nil
}

// Unwrap decrypts w inside the token with the version w names. Every
// authentication failure (wrong AAD, wrong or tampered bytes, bad length) is
// one error wrapping kms.ErrUnwrap; a KEK id other than ID() or a version
// the token does not hold is kms.ErrUnknownKEK; token trouble is
// kms.ErrUnavailable.
func (k *KEK) Unwrap(ctx context.Context, w kms.Wrapped, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("pkcs11: unwrap with %s: %w", k.id, err)
	}
	if w.KEKID != k.id {
		return nil, fmt.Errorf("%w: key wrapped by %q, not by %s", kms.ErrUnknownKEK, w.KEKID, k.id)
	}
	if w.KEKVersion == 0 {
		return nil, fmt.Errorf("%w: %s has no version 0", kms.ErrUnknownKEK, k.id)
	}
	if n := len(w.Ciphertext); n < IVSize+1+TagSize || n > IVSize+MaxKeyLen+TagSize {
		return nil, fmt.Errorf("%w: %s version %d", kms.ErrUnwrap, k.id, w.KEKVersion)
	}
	iv, ct := w.Ciphertext[:IVSize], w.Ciphertext[IVSize:]
	var key []byte
	err := k.pool.do(ctx, false, func(sh p11.SessionHandle) error {
		h, err := k.handle(sh, w.KEKVersion)
		if err != nil {
			return err
		}
		key, err = k.decrypt(sh, h, iv, ct, aad)
		return err
	})
	switch {
	case errors.Is(err, kms.ErrUnwrap):
		return nil, fmt.Errorf("%w: %s version %d", kms.ErrUnwrap, k.id, w.KEKVersion)
	case errors.Is(err, kms.ErrUnknownKEK):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("pkcs11: unwrap with %s version %d: %w", k.id, w.KEKVersion, err)
	}
	return key, nil
}

// handle returns the object handle of version v, finding it on the token if
// this KEK has not seen it (a rotation by another process, or a handle
// forgotten after the token was reset). A version found that is higher than
// the current one becomes current, unless a version is pinned: another
// process rotated the KEK, and new wraps should follow (as with the local
// KEK), so that a rewrap to the new version is not undone by this process.
func (k *KEK) handle(sh p11.SessionHandle, v uint32) (p11.ObjectHandle, error) {
	k.mu.RLock()
	h, ok := k.handles[v]
	k.mu.RUnlock()
	if ok {
		return h, nil
	}
	keys, err := findKeys(k.module.ctx, sh, k.object, v)
	if err != nil {
		return 0, err
	}
	if len(keys) == 0 {
		return 0, fmt.Errorf("%w: %s has no version %d on token %q", kms.ErrUnknownKEK, k.id, v, k.token)
	}
	k.mu.Lock()
	k.handles[v] = keys[0].handle
	if k.pinned == 0 && v > k.current {
		k.current = v
	}
	k.mu.Unlock()
	return keys[0].handle, nil
}

// forgetHandles drops every cached handle; the next call on each version
// looks it up again.
func (k *KEK) forgetHandles() {
	k.mu.Lock()
	clear(k.handles)
	k.mu.Unlock()
}

// Rotate generates a new version in the token, one above the highest there,
// and makes it current: later wraps use it, and keys wrapped under older
// versions still unwrap. It returns the new version. Other processes using
// the KEK switch to the new version when they first meet a key wrapped under
// it (or reopen the KEK). Rotate is refused on a KEK whose Config pins a
// version.
func (k *KEK) Rotate(ctx context.Context) (uint32, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("pkcs11: rotate %s: %w", k.id, err)
	}
	if k.pinned != 0 {
		return 0, fmt.Errorf("pkcs11: rotate %s: version %d is pinned; open the kek without a version to rotate", k.id, k.pinned)
	}
	k.rotateMu.Lock()
	defer k.rotateMu.Unlock()
	var (
		handles map[uint32]p11.ObjectHandle
		next    uint32
	)
	err := k.pool.do(ctx, true, func(sh p11.SessionHandle) error {
		keys, err := findKeys(k.module.ctx, sh, k.object, 0)
		if err != nil {
			return err
		}
		var top uint32
		handles, top = versions(keys)
		if top == math.MaxUint32 {
			return errors.New("no version left")
		}
		next = top + 1
		h, err := k.create(sh, next)
		handles[next] = h
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("pkcs11: rotate %s: %w", k.id, err)
	}
	k.mu.Lock()
	maps.Copy(k.handles, handles)
	k.current = max(k.current, next)
	k.mu.Unlock()
	return next, nil
}

// Close waits for calls in flight, logs out (if no other KEK of the process
// uses the token), closes the sessions, wipes the PIN copy and releases the
// module (finalised when no other KEK uses it). Calls after Close fail with
// ErrClosed. Close is idempotent.
func (k *KEK) Close() error {
	k.closeOnce.Do(func() {
		last := modules.leave(k.module, k.slot)
		k.pool.close(last)
		k.closeErr = modules.release(k.module)
	})
	return k.closeErr
}

// String describes the KEK: id, module and current version; never the PIN.
func (k *KEK) String() string {
	return fmt.Sprintf("pkcs11.KEK(%s, module %s, version %d)", k.id, k.module.path, k.Version())
}

// GoString is String.
func (k *KEK) GoString() string { return k.String() }

// Format prints String for every verb, so no verb can reach the PIN copy by
// reflection.
func (k *KEK) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }
