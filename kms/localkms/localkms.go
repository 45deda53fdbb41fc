// Package localkms is a key-encryption key (KEK) kept in a local file.
//
// DEVELOPMENT ONLY — NOT FOR PRODUCTION. The point of a KEK is that it lives
// outside the data it protects: in an HSM or a cloud KMS, where a stolen
// database dump or backup cannot reach it. A local key file usually sits next
// to the database (keyward init puts both in one data directory), so whoever
// copies the directory gets the data and the key that unwraps every data key.
// Use it for development, tests and demos; in production use a provider whose
// key never leaves its boundary: pkcs11:, awskms:, gcpkms: or transit:.
//
// # Key file
//
// The file is UTF-8 text with \n line endings, at most 1 MiB:
//
//	# keyward local key-encryption key (KEK).
//	# development only — not for production.
//	# …
//	keyward-local-kek v1 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
//	keyward-local-kek v2 …
//
// Lines starting with '#' and empty lines are ignored. Every other line is
// "keyward-local-kek", a version and a key, separated by single spaces. The
// versions are v1, v2, v3… in order with no gap (v1 cannot be dropped: it
// names the KEK, see below); each key is 32 bytes (AES-256) in padded standard
// base64. The highest version is current: it wraps, every version unwraps.
// Anything else is refused, without echoing the offending line.
//
// The file must be a regular file (not a symbolic link, see [Open]) with no
// permission for group or others (mode 0600 or 0400). [Create] writes it with
// mode 0600 and refuses to replace an existing file; [KEK.Rotate] rewrites it
// atomically, dropping any comments but the standard header.
//
// # Wrapping
//
// Wrap seals the data key with AES-256-GCM under the current version, with a
// random 96-bit nonce and the caller's AAD; the wrapped bytes are
// nonce ‖ ciphertext ‖ tag. Every authentication failure is one opaque
// [kms.ErrUnwrap].
//
// The KEK id is "local:" followed by 16 hex digits of
// SHA-256("keyward/localkms/kek-id/v1" ‖ 0x00 ‖ version 1 key): a fingerprint
// that names the key file without revealing the key. A key wrapped under
// another key file therefore fails with [kms.ErrUnknownKEK], not ErrUnwrap.
//
// Raw key bytes never appear in errors or in the printed form of any type.
package localkms

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/kms/internal/gcmkek"
)

// Sentinel errors. Functions wrap them with %w.
var (
	// ErrInsecureFile reports a key file that group or others may access, a
	// symbolic link, or a path that is not a regular file.
	ErrInsecureFile = errors.New("localkms: insecure key file")
	// ErrMalformedFile reports a key file that does not follow the format.
	ErrMalformedFile = errors.New("localkms: malformed key file")
)

// idLabel separates the id fingerprint from any other hash of the key.
const idLabel = "keyward/localkms/kek-id/v1"

// KEK is a development-only [kms.KEK] backed by a key file. It is safe for
// concurrent use; Rotate may run while others wrap and unwrap.
type KEK struct {
	path string // absolute
	id   string
	ks   atomic.Pointer[gcmkek.Keyset]
	mu   sync.Mutex // serialises Rotate
}

var _ kms.KEK = (*KEK)(nil)

// Create generates a random 256-bit KEK and writes it, as version 1, to a new
// key file at path with mode 0600. It refuses to replace an existing file
// (the error wraps fs.ErrExist) and fsyncs the file and its directory.
func Create(path string) (*KEK, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("localkms: %w", err)
	}
	keys := [][]byte{newKey()}
	defer wipe(keys)
	data := encode(keys)
	defer clear(data)
	if err := writeNew(abs, data); err != nil {
		return nil, err
	}
	return newKEK(abs, keys)
}

// Open reads the key file at path. It refuses a file that group or others may
// read or write, telling how to fix it (chmod 600 PATH), and refuses symbolic
// links and anything but a regular file: the key file is replaced by rename
// on Rotate, which would silently turn a link into a copy.
func Open(path string) (*KEK, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("localkms: %w", err)
	}
	keys, err := readKeyFile(abs)
	if err != nil {
		return nil, err
	}
	defer wipe(keys)
	return newKEK(abs, keys)
}

func newKEK(path string, keys [][]byte) (*KEK, error) {
	id := fingerprint(keys[0])
	ks, err := gcmkek.New(id, keys)
	if err != nil {
		return nil, fmt.Errorf("localkms: %s: %w", path, err)
	}
	k := &KEK{path: path, id: id}
	k.ks.Store(ks)
	return k, nil
}

// fingerprint returns the KEK id for the version 1 key.
func fingerprint(key []byte) string {
	h := sha256.New()
	h.Write([]byte(idLabel))
	h.Write([]byte{0})
	h.Write(key)
	return "local:" + hex.EncodeToString(h.Sum(nil)[:8])
}

func newKey() []byte {
	key := make([]byte, gcmkek.KeySize)
	_, _ = rand.Read(key) // crypto/rand.Read never fails
	return key
}

// wipe zeroes key copies once they are in AEADs or on disk (best effort:
// the runtime may have copied them).
func wipe(keys [][]byte) {
	for _, k := range keys {
		clear(k)
	}
}

// ID returns "local:" and a fingerprint of the file's version 1 key.
func (k *KEK) ID() string { return k.id }

// Wrap seals key under the current KEK version, authenticating aad.
func (k *KEK) Wrap(ctx context.Context, key, aad []byte) (kms.Wrapped, error) {
	return k.ks.Load().Wrap(ctx, key, aad)
}

// Unwrap opens a key wrapped by any version of this KEK. A version newer
// than those loaded (another process rotated the file) makes it re-read the
// file once.
func (k *KEK) Unwrap(ctx context.Context, w kms.Wrapped, aad []byte) ([]byte, error) {
	ks := k.ks.Load()
	if w.KEKID == k.id && w.KEKVersion > ks.Current() {
		if err := k.reload(); err != nil {
			return nil, err
		}
		ks = k.ks.Load()
	}
	return ks.Unwrap(ctx, w, aad)
}

// Version returns the version Wrap uses now.
func (k *KEK) Version() uint32 { return k.ks.Load().Current() }

// reload re-reads the key file, keeping only a file that still holds this
// KEK with at least the versions already loaded.
func (k *KEK) reload() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	keys, err := readKeyFile(k.path)
	if err != nil {
		return err
	}
	defer wipe(keys)
	if id := fingerprint(keys[0]); id != k.id {
		return fmt.Errorf("localkms: %s now holds kek %s, not %s", k.path, id, k.id)
	}
	if uint32(len(keys)) <= k.ks.Load().Current() {
		return nil
	}
	ks, err := gcmkek.New(k.id, keys)
	if err != nil {
		return fmt.Errorf("localkms: %s: %w", k.path, err)
	}
	k.ks.Store(ks)
	return nil
}

// Rotate appends a new random version to the key file and makes it current;
// later wraps use it, and keys wrapped under older versions still unwrap. It
// returns the new version.
//
// Rotate re-reads the file first (so versions another process added are
// kept), checks it still holds this KEK, and replaces it atomically. It is
// not safe against another process rotating the same file at the same moment.
func (k *KEK) Rotate(ctx context.Context) (uint32, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	keys, err := readKeyFile(k.path)
	if err != nil {
		return 0, err
	}
	defer wipe(keys)
	if id := fingerprint(keys[0]); id != k.id {
		return 0, fmt.Errorf("localkms: %s now holds kek %s, not %s; refusing to rotate", k.path, id, k.id)
	}
	if have := k.ks.Load().Current(); uint32(len(keys)) < have {
		return 0, fmt.Errorf("localkms: %s holds %d versions, fewer than the %d loaded; refusing to rotate", k.path, len(keys), have)
	}
	keys = append(keys, newKey())
	data := encode(keys)
	defer clear(data)
	if _, err := parse(data); err != nil { // never write a file Open would refuse
		return 0, fmt.Errorf("%w %s after rotation: %w", ErrMalformedFile, k.path, err)
	}
	ks, err := gcmkek.New(k.id, keys)
	if err != nil {
		return 0, fmt.Errorf("localkms: %s: %w", k.path, err)
	}
	if err := replace(k.path, data); err != nil {
		return 0, err
	}
	k.ks.Store(ks)
	return ks.Current(), nil
}

// String returns the KEK id and the key file's path, never key material.
func (k *KEK) String() string { return "localkms.KEK(" + k.id + ", " + k.path + ")" }

// GoString is String.
func (k *KEK) GoString() string { return k.String() }

// Format prints String for every verb, so no verb (%d, %x, %+v …) can reach
// the keys by reflection.
func (k *KEK) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }
