package keyward

import (
	"context"
	"fmt"

	"github.com/keyward/keyward/format"
)

// ActiveVersion returns the version of org's data key that encrypts now.
func (e *Engine) ActiveVersion(ctx context.Context, org string) (uint32, error) {
	key, err := e.ring.Active(ctx, org)
	if err != nil {
		return 0, err
	}
	return key.Version, nil
}

// Rewrap moves a ciphertext of org to org's active key version without the
// plaintext leaving the engine: it decrypts with whatever version sealed it
// and encrypts again under the active version with the same context. The
// result has the form of the input (binary, text or JSON). A ciphertext that
// is already under the active version is returned as it is, with rewrapped
// false, so a re-encryption pass writes nothing for it. Every failure is as
// Decrypt's; nothing is written anywhere. A Fernet token of org (opened with
// its imported Fernet keys) comes back as a kw1 text ciphertext under the
// active version, sealed with aadContext.
func (e *Engine) Rewrap(ctx context.Context, org string, ciphertext []byte, aadContext string) (out []byte, rewrapped bool, err error) {
	if len(ciphertext) > MaxCiphertextSize {
		return nil, false, fmt.Errorf("%w: ciphertext of %d bytes exceeds %d", ErrTooLarge, len(ciphertext), MaxCiphertextSize)
	}
	f, err := format.Parse(ciphertext)
	if err != nil {
		if isFernet(ciphertext, err) { // legacy.go: Fernet → kw1 text form
			return e.rewrapFernet(ctx, org, ciphertext, aadContext, nil)
		}
		return nil, false, err
	}
	active, err := e.ActiveVersion(ctx, org)
	if err != nil {
		return nil, false, err
	}
	// Authenticate even a current ciphertext: rewrap must not vouch for a
	// value it could not open (and must not be an oracle that tells a valid
	// ciphertext from a forged one by its answer's shape).
	pt, err := e.DecryptField(ctx, org, f, aadContext)
	if err != nil {
		return nil, false, err
	}
	defer clear(pt)
	if f.KeyVersion == active {
		return ciphertext, false, nil
	}
	sealed, err := e.Encrypt(ctx, org, pt, aadContext)
	if err != nil {
		return nil, false, err
	}
	switch ciphertext[0] {
	case format.V1:
		return sealed, true, nil
	}
	nf, err := format.ParseBinary(sealed)
	if err != nil {
		return nil, false, err
	}
	if ciphertext[0] == '{' {
		out, err = nf.MarshalJSON()
	} else {
		out, err = nf.MarshalText()
	}
	if err != nil {
		return nil, false, err
	}
	return out, true, nil
}
