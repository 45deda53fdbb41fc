package keyward

import (
	"context"
	"errors"
	"fmt"

	"github.com/keyward/keyward/format"
	"github.com/keyward/keyward/format/fernet"
	"github.com/keyward/keyward/keyring"
	"github.com/keyward/keyward/store"
)

// Reading Fernet tokens while an application migrates off Fernet.
//
// Import the application's Fernet keys into an organization
// (ImportFernetKey, keyward fernet import): they are stored wrapped by the
// KEK, decrypt-only. From then on Decrypt (and Rewrap) accept that
// organization's Fernet tokens as well as keyward ciphertexts, so the
// application can switch its reads to keyward first and migrate the rows
// afterwards. A Fernet token carries no context: the aadContext argument is
// not checked for it (the migration writes it into the new ciphertext).
//
// The keyward path is untouched: the Fernet fallback runs only when
// format.Parse finds no keyward ciphertext and the input looks like a
// Fernet token.

// LegacyKey describes one imported legacy (Fernet) key, without key
// material.
type LegacyKey = store.LegacyKey

// KeyRef names a key that rows reference: a DEK version ("dek") or an
// imported Fernet key ("fernet").
type KeyRef = store.KeyRef

// Kinds of KeyRef.
const (
	KindDEK    = "dek"
	KindFernet = store.LegacyFernet
)

var (
	// ErrShredded reports an organization whose keys were all destroyed by
	// ShredOrg; errors wrapping it also wrap ErrDestroyed.
	ErrShredded = keyring.ErrShredded
	// ErrKeyExists reports a Fernet key the organization already holds.
	ErrKeyExists = store.ErrKeyExists
	// ErrUnknownLegacyKey reports a legacy key id the organization never had.
	ErrUnknownLegacyKey = keyring.ErrUnknownLegacyKey
)

// decryptFernet opens a Fernet token of org with its imported keys, newest
// first, and returns the plaintext and the id of the key that opened it.
func (e *Engine) decryptFernet(ctx context.Context, org string, token []byte) ([]byte, uint32, error) {
	tok, err := fernet.Parse(token)
	if err != nil {
		return nil, 0, err
	}
	set, err := e.ring.Legacy(ctx, org)
	if err != nil {
		return nil, 0, err
	}
	for _, k := range set.Keys {
		if pt, err := k.Fernet.Open(tok); err == nil {
			return pt, k.ID, nil
		}
	}
	switch {
	case len(set.Keys) > 0:
		return nil, 0, ErrDecrypt
	case set.Retired > 0:
		return nil, 0, fmt.Errorf("%w: every fernet key of org %q is retired (reinstate one with keys reinstate fernet:ID)", ErrRetired, org)
	case set.Destroyed > 0:
		return nil, 0, fmt.Errorf("%w: every fernet key of org %q is destroyed", ErrDestroyed, org)
	}
	return nil, 0, fmt.Errorf("%w: a fernet token, but org %q holds no fernet key (import it with keyward fernet import)", ErrMalformed, org)
}

// isFernet reports whether a ciphertext that format.Parse refused with err
// should be tried as a Fernet token.
func isFernet(ciphertext []byte, err error) bool {
	return errors.Is(err, format.ErrMalformed) && fernet.LooksLike(ciphertext)
}

// RewrapWith is Rewrap for a migration that holds Fernet keys without
// importing them: a Fernet token is opened with fernetKeys (tried in order,
// newest first) and then with org's imported keys, and returned as a kw1
// text ciphertext under org's active version, sealed with aadContext. Any
// other input is handled exactly as Rewrap does (fernetKeys unused). Fernet
// tokens are always rewritten (rewrapped is true). Every authentication
// failure is ErrDecrypt.
func (e *Engine) RewrapWith(ctx context.Context, org string, ciphertext []byte, aadContext string, fernetKeys []*fernet.Key) (out []byte, rewrapped bool, err error) {
	if len(ciphertext) > MaxCiphertextSize {
		return nil, false, fmt.Errorf("%w: ciphertext of %d bytes exceeds %d", ErrTooLarge, len(ciphertext), MaxCiphertextSize)
	}
	if _, perr := format.Parse(ciphertext); perr == nil || !isFernet(ciphertext, perr) {
		return e.Rewrap(ctx, org, ciphertext, aadContext)
	}
	return e.rewrapFernet(ctx, org, ciphertext, aadContext, fernetKeys)
}

// rewrapFernet turns a Fernet token into a kw1 text ciphertext.
func (e *Engine) rewrapFernet(ctx context.Context, org string, token []byte, aadContext string, fernetKeys []*fernet.Key) ([]byte, bool, error) {
	if err := checkInput(0, aadContext); err != nil {
		return nil, false, err
	}
	var pt []byte
	if len(fernetKeys) > 0 {
		p, _, err := fernet.Decrypt(token, fernetKeys...)
		if err != nil && !errors.Is(err, ErrDecrypt) {
			return nil, false, err
		}
		pt = p
	}
	if pt == nil {
		p, _, err := e.decryptFernet(ctx, org, token)
		if err != nil {
			if len(fernetKeys) > 0 && errors.Is(err, ErrMalformed) {
				err = ErrDecrypt // keys were given; none opened it
			}
			return nil, false, err
		}
		pt = p
	}
	defer clear(pt)
	text, err := e.EncryptText(ctx, org, pt, aadContext)
	if err != nil {
		return nil, false, err
	}
	return []byte(text), true, nil
}

// KeyRefOf tells which key a ciphertext of org is under, for counting
// references (keyward scan): the DEK version a keyward ciphertext names
// (as written, not authenticated: it needs no key), or the imported Fernet
// key whose MAC a Fernet token carries (checked with the key, decrypt-only
// or retired; a token none of org's keys signed is ErrDecrypt).
func (e *Engine) KeyRefOf(ctx context.Context, org string, ciphertext []byte) (KeyRef, error) {
	f, err := format.Parse(ciphertext)
	if err == nil {
		return KeyRef{Kind: KindDEK, Version: f.KeyVersion}, nil
	}
	if !isFernet(ciphertext, err) {
		return KeyRef{}, err
	}
	tok, err := fernet.Parse(ciphertext)
	if err != nil {
		return KeyRef{}, err
	}
	set, err := e.ring.Legacy(ctx, org)
	if err != nil {
		return KeyRef{}, err
	}
	keys := make([]*fernet.Key, len(set.Keys))
	for i, k := range set.Keys {
		keys[i] = k.Fernet
	}
	if i := fernet.Match(tok, keys...); i >= 0 {
		return KeyRef{Kind: KindFernet, Version: set.Keys[i].ID}, nil
	}
	// A retired key still signed its tokens: they must keep counting as
	// its references, or a scan after a retire would let destroy through.
	retired := make([]*fernet.Key, len(set.RetiredKeys))
	for i, k := range set.RetiredKeys {
		retired[i] = k.Fernet
	}
	if i := fernet.Match(tok, retired...); i >= 0 {
		return KeyRef{Kind: KindFernet, Version: set.RetiredKeys[i].ID}, nil
	}
	if set.RetiredErr != nil {
		return KeyRef{}, set.RetiredErr
	}
	return KeyRef{}, ErrDecrypt
}

// ImportFernetKey stores an application's Fernet key (URL-safe base64, as
// Fernet.generate_key() prints it) for org, wrapped by the KEK, as a
// decrypt-only legacy key with the next id (1, 2, 3…). Import the keys of a
// MultiFernet oldest first, so the newest gets the highest id (it is tried
// first). A key the organization already holds returns the existing key
// with an error wrapping ErrKeyExists. The key is never logged or returned.
func (e *Engine) ImportFernetKey(ctx context.Context, org string, encoded []byte) (LegacyKey, error) {
	k, err := e.mgr.ImportFernet(ctx, org, encoded)
	k.Wrapped = nil
	return k, err
}

// FernetKeys lists org's imported legacy keys in id order, without key
// material.
func (e *Engine) FernetKeys(ctx context.Context, org string) ([]LegacyKey, error) {
	return e.mgr.LegacyKeys(ctx, org)
}

// ShredOrg destroys every key of org at once — every data key version, the
// active one included, and every imported Fernet key — in one store
// transaction. Everything sealed for org becomes unrecoverable, and org can
// never encrypt again (Encrypt fails with ErrShredded); other organizations
// are unaffected. Other engines drop org's cached keys through the change
// feed. It cannot be undone; shredding twice is a no-op.
func (e *Engine) ShredOrg(ctx context.Context, org string) error {
	return e.mgr.Shred(ctx, org)
}
