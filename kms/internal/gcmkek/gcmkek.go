// Package gcmkek is the AES-256-GCM core shared by keyward's in-process KEKs:
// the development key file (kms/localkms) and the test fake (kms/kmstest).
//
// A [Keyset] is an immutable, versioned list of AEADs under one KEK id. Version
// n is the n-th key, the last one is current. Wrap seals with the current
// version; Unwrap looks the version up. The wire form of a wrapped key is
// nonce (12) ‖ ciphertext ‖ tag (16), as produced by
// [cipher.NewGCMWithRandomNonce], with the caller's AAD authenticated.
//
// Owners that rotate build a new Keyset with [Keyset.Append] and swap it in
// atomically, so readers never lock. A Keyset keeps no raw key bytes, only the
// AEADs, and prints itself without them.
package gcmkek

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/keyward/keyward/kms"
)

// KeySize is the size of every KEK version: AES-256.
const KeySize = 32

// MaxKeyLen bounds the data key Wrap accepts. keyward wraps 32-byte DEKs and
// 32-byte Fernet keys; the bound (the AWS KMS Encrypt limit) only catches
// misuse.
const MaxKeyLen = 4096

// Keyset is an immutable list of KEK versions under one id. It is safe for
// concurrent use.
type Keyset struct {
	id    string
	aeads []cipher.AEAD // aeads[v-1] is version v
}

// New returns a Keyset named id whose version i+1 is keys[i]. Each key must be
// KeySize bytes. New does not retain keys; the caller may wipe them.
func New(id string, keys [][]byte) (*Keyset, error) {
	if id == "" {
		return nil, errors.New("gcmkek: empty kek id")
	}
	if len(keys) == 0 {
		return nil, errors.New("gcmkek: no key versions")
	}
	ks := &Keyset{id: id, aeads: make([]cipher.AEAD, 0, len(keys))}
	for _, k := range keys {
		var err error
		if ks, err = ks.Append(k); err != nil {
			return nil, err
		}
	}
	return ks, nil
}

// Append returns a new Keyset with key as the next, now current, version.
// k is left unchanged.
func (k *Keyset) Append(key []byte) (*Keyset, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("gcmkek: key version %d is %d bytes, want %d", len(k.aeads)+1, len(key), KeySize)
	}
	if len(k.aeads) == math.MaxUint32 {
		return nil, errors.New("gcmkek: no kek version left")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("gcmkek: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("gcmkek: %w", err)
	}
	aeads := make([]cipher.AEAD, len(k.aeads), len(k.aeads)+1)
	copy(aeads, k.aeads)
	return &Keyset{id: k.id, aeads: append(aeads, aead)}, nil
}

// ID returns the KEK id every Wrapped of this Keyset carries.
func (k *Keyset) ID() string { return k.id }

// Current returns the version Wrap uses: the highest.
func (k *Keyset) Current() uint32 { return uint32(len(k.aeads)) }

// Wrap seals key under the current version, authenticating aad.
func (k *Keyset) Wrap(ctx context.Context, key, aad []byte) (kms.Wrapped, error) {
	if err := ctx.Err(); err != nil {
		return kms.Wrapped{}, fmt.Errorf("kms: wrap with %s: %w", k.id, err)
	}
	if len(key) == 0 || len(key) > MaxKeyLen {
		return kms.Wrapped{}, fmt.Errorf("kms: wrap with %s: key of %d bytes, want 1 to %d", k.id, len(key), MaxKeyLen)
	}
	v := k.Current()
	return kms.Wrapped{
		KEKID:      k.id,
		KEKVersion: v,
		Ciphertext: k.aeads[v-1].Seal(nil, nil, key, aad),
	}, nil
}

// Unwrap opens w, which must name this Keyset and one of its versions. Every
// authentication failure is the same error wrapping kms.ErrUnwrap.
func (k *Keyset) Unwrap(ctx context.Context, w kms.Wrapped, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("kms: unwrap with %s: %w", k.id, err)
	}
	if w.KEKID != k.id {
		return nil, fmt.Errorf("%w: key wrapped by %q, not by %s", kms.ErrUnknownKEK, w.KEKID, k.id)
	}
	if w.KEKVersion == 0 || w.KEKVersion > k.Current() {
		return nil, fmt.Errorf("%w: %s has no version %d (versions 1 to %d)", kms.ErrUnknownKEK, k.id, w.KEKVersion, k.Current())
	}
	key, err := k.aeads[w.KEKVersion-1].Open(nil, nil, w.Ciphertext, aad)
	if err != nil {
		// err is crypto/cipher's opaque "message authentication failed";
		// say nothing more about why.
		return nil, fmt.Errorf("%w: %s version %d", kms.ErrUnwrap, k.id, w.KEKVersion)
	}
	return key, nil
}

// String describes the Keyset without key material.
func (k *Keyset) String() string {
	return fmt.Sprintf("gcmkek.Keyset(%s, %d versions)", k.id, len(k.aeads))
}

// GoString is String: the AEADs hold expanded keys and are never printed.
func (k *Keyset) GoString() string { return k.String() }

// Format prints String for every verb, so no verb (%d, %x, %+v …) can reach
// the AEADs by reflection.
func (k *Keyset) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }
