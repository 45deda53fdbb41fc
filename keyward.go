package keyward

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/singleflight"

	"github.com/keyward/keyward/format"
	"github.com/keyward/keyward/internal/byteorder"
	"github.com/keyward/keyward/keyring"
	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/store"
)

// Limits on what one call accepts. Larger input is refused with ErrTooLarge
// before any work is done.
const (
	// MaxPlaintextSize is the largest value Encrypt accepts: 4 MiB. keyward
	// protects secrets (tokens, passwords, credentials), not files.
	MaxPlaintextSize = 4 << 20
	// MaxContextSize is the longest encryption context, in bytes.
	MaxContextSize = 1024
	// MaxCiphertextSize is the longest ciphertext Decrypt accepts in any form
	// (the JSON form of a MaxPlaintextSize value is the largest).
	MaxCiphertextSize = (MaxPlaintextSize+format.Overhead)/3*4 + 1024
)

// Errors. Every decision a caller makes has a sentinel; match with errors.Is.
var (
	// ErrDecrypt is the one error for every authentication failure: wrong key,
	// wrong org, wrong context, tampered bytes. It never says which.
	ErrDecrypt = format.ErrDecrypt
	// ErrMalformed reports input that is not a keyward ciphertext at all.
	ErrMalformed = format.ErrMalformed
	// ErrUnsupported reports a ciphertext of a format version this build
	// does not read.
	ErrUnsupported = format.ErrUnsupported
	// ErrInvalidOrg reports an org id that breaks the id rules.
	ErrInvalidOrg = keyring.ErrInvalidOrg
	// ErrUnknownOrg reports an organization that does not exist.
	ErrUnknownOrg = keyring.ErrUnknownOrg
	// ErrUnknownVersion reports a key version the organization never had.
	ErrUnknownVersion = keyring.ErrUnknownVersion
	// ErrRetired reports data under a retired key version.
	ErrRetired = keyring.ErrRetired
	// ErrDestroyed reports data under a destroyed key version: unrecoverable.
	ErrDestroyed = keyring.ErrDestroyed
	// ErrActiveVersion reports an attempt to retire or destroy the active version.
	ErrActiveVersion = keyring.ErrActiveVersion
	// ErrOrgExists reports an attempt to create an organization twice.
	ErrOrgExists = store.ErrOrgExists
	// ErrUnavailable reports that the store could not be reached (for example
	// PostgreSQL restarting). The call changed nothing and can be retried;
	// keyward reconnects by itself.
	ErrUnavailable = store.ErrUnavailable
	// ErrKEKUnavailable reports that the KMS or HSM could not be reached;
	// retryable like ErrUnavailable.
	ErrKEKUnavailable = kms.ErrUnavailable
	// ErrTooLarge reports a plaintext, ciphertext or context over its limit.
	ErrTooLarge = errors.New("input too large")
	// ErrInvalidContext reports an encryption context that is not valid UTF-8.
	ErrInvalidContext = errors.New("invalid encryption context")
	// ErrKeyExhausted reports a data key version that has performed 2^32
	// encryptions, the bound for random 96-bit nonces, and has not been
	// rotated yet (automatic rotation failed, for example while the KMS is
	// down). Retry after the rotation: keys rotate.
	ErrKeyExhausted = keyring.ErrKeyExhausted
)

// Options tune an Engine. The zero value (or nil) selects the defaults.
type Options struct {
	// CacheSize bounds the number of unwrapped data keys held in memory
	// (default 10,000).
	CacheSize int
	// CacheTTL bounds how long an unwrapped data key stays in memory and
	// how long another process's key change can go unnoticed (default 5
	// minutes; negative disables expiry).
	CacheTTL time.Duration
	// NonceThreshold is the number of encryptions after which an
	// organization's data key is rotated automatically (default 2^30; random
	// 96-bit nonces stay safe to 2^32 per key).
	NonceThreshold uint64
	// UsageBlock is how many encryptions an engine reserves from the store
	// at a time (default 65,536). The stored count is never below the true
	// count and at most one block above it per engine.
	UsageBlock uint64
	// ChangePoll is how often the engine polls the store's change feed for
	// key changes made by other processes (default 1s; 10s while a push
	// notification connection, PostgreSQL LISTEN, is live). Negative
	// disables watching; then other processes' changes are seen only after
	// CacheTTL.
	ChangePoll time.Duration
}

// Engine encrypts and decrypts fields for many organizations. It is safe for
// concurrent use. Create one per process and share it.
type Engine struct {
	ring *keyring.Keyring
	mgr  *keyring.Manager

	stop     context.CancelFunc // ends the watcher and pending rotations
	mu       sync.Mutex         // guards closed against bg.Add after Close
	closed   bool
	bg       sync.WaitGroup
	rotating singleflight.Group // one automatic rotation per org at a time
}

// Open returns an Engine over st (where wrapped keys live) and kek (which
// wraps them). The caller keeps ownership of st and closes it after the
// Engine.
func Open(st store.Store, kek kms.KEK, opts *Options) (*Engine, error) {
	if opts == nil {
		opts = &Options{}
	}
	if st == nil || kek == nil {
		return nil, errors.New("keyward: open needs a store and a kek")
	}
	ctx, stop := context.WithCancel(context.Background())
	e := &Engine{stop: stop}
	ring, err := keyring.New(st, kek, keyring.Options{
		CacheSize:      opts.CacheSize,
		CacheTTL:       opts.CacheTTL,
		NonceThreshold: opts.NonceThreshold,
		UsageBlock:     opts.UsageBlock,
		Exhausted:      func(org string, v uint32) { e.autoRotate(ctx, org, v) },
	})
	if err != nil {
		stop()
		return nil, fmt.Errorf("keyward: %w", err)
	}
	mgr, err := keyring.NewManager(st, kek, ring)
	if err != nil {
		stop()
		return nil, fmt.Errorf("keyward: %w", err)
	}
	e.ring, e.mgr = ring, mgr
	if opts.ChangePoll >= 0 {
		poll := opts.ChangePoll
		if poll == 0 {
			poll = DefaultChangePoll
		}
		e.bg.Go(func() { ring.Watch(ctx, poll) })
	}
	return e, nil
}

// DefaultChangePoll is how often an engine polls for other processes' key
// changes when no push notification is live.
const DefaultChangePoll = time.Second

// Close stops watching for key changes, waits for background rotations and
// drops every cached data key. The Engine must not be used afterwards.
func (e *Engine) Close() error {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.stop()
	e.bg.Wait()
	e.ring.Close()
	return nil
}

// autoRotate rotates org away from version in the background once version
// has reached its nonce threshold. Several engines may notice at once; the
// store lets exactly one rotation through.
func (e *Engine) autoRotate(ctx context.Context, org string, version uint32) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	e.bg.Go(func() {
		e.rotating.Do(org, func() (any, error) {
			_, err := e.mgr.RotateFrom(ctx, org, version)
			return nil, err // retried at the next block reservation if it failed
		})
	})
}

// Encrypt seals plaintext for org under its active key and returns the binary
// form. aadContext names where the value lives (for example
// "channels.access_token" or "channels.access_token:42"); Decrypt must be
// given the same context, so a ciphertext moved to another column or row
// fails to decrypt.
func (e *Engine) Encrypt(ctx context.Context, org string, plaintext []byte, aadContext string) ([]byte, error) {
	if err := checkInput(len(plaintext), aadContext); err != nil {
		return nil, err
	}
	key, err := e.ring.Active(ctx, org)
	if err != nil {
		return nil, err
	}
	if err := e.ring.Reserve(ctx, key); err != nil {
		return nil, err
	}
	n := format.SealedSize(key.Version, len(plaintext))
	if aad := key.AAD(aadContext); aad != nil { // a recurring context's AAD
		return format.Seal(make([]byte, 0, n), key.AEAD, key.Version, plaintext, aad), nil
	}
	// One allocation holds the result and, behind it, the AAD: no pool, no
	// second allocation. The returned slice's capacity stops at the result.
	buf := make([]byte, n, n+format.AADSize(org, aadContext))
	aad := format.AppendAADContext(append(buf[n:], key.AADPrefix...), aadContext)
	out := format.Seal(buf[:0:n], key.AEAD, key.Version, plaintext, aad)
	key.Used(aadContext, out[n-1]) // the tag's last byte: fresh, uniform
	return out[:n:n], nil
}

// EncryptText is Encrypt returning the text form, kw1:<version>:<base64url>,
// for text columns and JSON.
func (e *Engine) EncryptText(ctx context.Context, org string, plaintext []byte, aadContext string) (string, error) {
	f, err := e.EncryptField(ctx, org, plaintext, aadContext)
	if err != nil {
		return "", err
	}
	return f.String(), nil
}

// EncryptField is Encrypt returning the parsed Field, for the structured
// (JSON) form or for apps that keep the parts in separate columns.
func (e *Engine) EncryptField(ctx context.Context, org string, plaintext []byte, aadContext string) (format.Field, error) {
	b, err := e.Encrypt(ctx, org, plaintext, aadContext)
	if err != nil {
		return format.Field{}, err
	}
	return format.ParseBinary(b)
}

// Decrypt opens a ciphertext of org in any of the three forms (binary, text
// or JSON) with the context it was encrypted with. Every authentication
// failure is ErrDecrypt. It also opens Fernet tokens with org's imported
// Fernet keys (see ImportFernetKey), so an application can read both while
// it migrates.
func (e *Engine) Decrypt(ctx context.Context, org string, ciphertext []byte, aadContext string) ([]byte, error) {
	if len(ciphertext) > MaxCiphertextSize {
		return nil, fmt.Errorf("%w: ciphertext of %d bytes exceeds %d", ErrTooLarge, len(ciphertext), MaxCiphertextSize)
	}
	f, err := format.Parse(ciphertext)
	if err != nil {
		if isFernet(ciphertext, err) { // legacy.go: an imported Fernet key's token
			pt, _, ferr := e.decryptFernet(ctx, org, ciphertext)
			return pt, ferr
		}
		return nil, err
	}
	return e.DecryptField(ctx, org, f, aadContext)
}

// DecryptField opens a parsed Field.
func (e *Engine) DecryptField(ctx context.Context, org string, f format.Field, aadContext string) ([]byte, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	// Sizes only: a context that is not valid UTF-8 was never accepted by
	// Encrypt, so it cannot authenticate; no need to scan it here.
	if err := checkSizes(len(f.Sealed)-format.Overhead, aadContext); err != nil {
		return nil, err
	}
	key, err := e.ring.Version(ctx, org, f.KeyVersion)
	if err != nil {
		return nil, err
	}
	// As in Encrypt: a recurring context's AAD, or the plaintext and,
	// behind it, the AAD in one allocation. Validate admits format V1
	// only, the format of the key's AADPrefix and of its memo.
	n := len(f.Sealed) - format.Overhead
	if aad := key.AAD(aadContext); aad != nil {
		return format.Open(make([]byte, 0, n), key.AEAD, f, aad)
	}
	buf := make([]byte, n, n+format.AADSize(org, aadContext))
	aad := format.AppendAADContext(append(buf[n:], key.AADPrefix...), aadContext)
	pt, err := format.Open(buf[:0:n], key.AEAD, f, aad)
	if err != nil {
		return nil, err
	}
	// The nonce's first byte: Encrypt samples on the tag instead, so
	// decrypting a value just encrypted is not a second, dependent sample
	// of its context. Opened, so only real uses count.
	key.Used(aadContext, f.Sealed[0])
	return pt[:n:n], nil
}

// checkInput enforces the size limits and the context rules.
func checkInput(plaintextLen int, aadContext string) error {
	if err := checkSizes(plaintextLen, aadContext); err != nil {
		return err
	}
	if !isASCII(aadContext) && !utf8.ValidString(aadContext) {
		return fmt.Errorf("%w: not valid utf-8", ErrInvalidContext)
	}
	return nil
}

// isASCII reports whether s is all ASCII, and so valid UTF-8: the usual
// context ("table.column", "table.column:row"). It ORs s eight bytes at a
// time, the last word overlapping the one before, which costs a few
// nanoseconds where the general validator's per-byte tail costs more.
func isASCII(s string) bool {
	const high = 0x8080808080808080
	n := len(s)
	if n < 8 {
		var acc byte
		for i := 0; i < n; i++ {
			acc |= s[i]
		}
		return acc < 0x80
	}
	acc := byteorder.LE64(s[n-8:])
	for ; len(s) >= 8; s = s[8:] {
		acc |= byteorder.LE64(s)
	}
	return acc&high == 0
}

// checkSizes enforces the size limits.
func checkSizes(plaintextLen int, aadContext string) error {
	if plaintextLen > MaxPlaintextSize {
		return fmt.Errorf("%w: plaintext of %d bytes exceeds %d", ErrTooLarge, plaintextLen, MaxPlaintextSize)
	}
	if len(aadContext) > MaxContextSize {
		return fmt.Errorf("%w: context of %d bytes exceeds %d", ErrTooLarge, len(aadContext), MaxContextSize)
	}
	return nil
}
