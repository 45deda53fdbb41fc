package reencrypt

import (
	"context"
	"errors"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/format"
	"github.com/keyward/keyward/format/fernet"
)

// Sealer is what the job needs of a keyward engine (*keyward.Engine).
type Sealer interface {
	// RewrapWith moves a ciphertext to the active version; a Fernet token
	// is opened with the given keys, then with org's imported ones.
	RewrapWith(ctx context.Context, org string, ciphertext []byte, aadContext string, fernetKeys []*fernet.Key) ([]byte, bool, error)
	Decrypt(ctx context.Context, org string, ciphertext []byte, aadContext string) ([]byte, error)
	ActiveVersion(ctx context.Context, org string) (uint32, error)
}

// Converter turns one stored value into its form under the organization's
// active key version, inside the engine (Engine.RewrapWith): a keyward
// ciphertext keeps its form; a Fernet token (opened with the keys of
// Fernet, else with the organization's imported keys) becomes the text
// form, or the binary form unless Text is set (bytea columns). No plaintext
// leaves the engine.
type Converter struct {
	Sealer Sealer
	Fernet *FernetKeys
	Text   bool
}

// Convert returns the value under the active version and whether it
// changed; an unchanged value is returned as it is.
func (c *Converter) Convert(ctx context.Context, org string, v []byte, aadContext string) ([]byte, bool, error) {
	out, changed, err := c.Sealer.RewrapWith(ctx, org, v, aadContext, c.Fernet.Keys())
	if err != nil || !changed || c.Text || !IsFernet(v) {
		return out, changed, err
	}
	f, err := format.ParseText(out) // a Fernet token came back as text
	if err != nil {
		return nil, false, err
	}
	out, err = f.MarshalBinary()
	return out, err == nil, err
}

// Check is Convert without encrypting (--dry-run): it opens the value to
// prove it can be converted and reports whether it would change.
func (c *Converter) Check(ctx context.Context, org string, v []byte, aadContext string) (bool, error) {
	if IsFernet(v) {
		if c.Fernet != nil {
			if pt, _, err := c.Fernet.Decrypt(v); err == nil {
				clear(pt)
				return true, nil
			}
		}
		pt, err := c.Sealer.Decrypt(ctx, org, v, aadContext) // imported keys
		clear(pt)
		return err == nil, err
	}
	f, err := format.Parse(v)
	if err != nil {
		return false, err
	}
	pt, err := c.Sealer.Decrypt(ctx, org, v, aadContext)
	clear(pt)
	if err != nil {
		return false, err
	}
	active, err := c.Sealer.ActiveVersion(ctx, org)
	if err != nil {
		return false, err
	}
	return f.KeyVersion != active, nil
}

// rowError sorts an error of Convert or Check: a reason to report for the
// row (never the value), or fatal for an error that is not the row's fault
// (the store or the KEK unreachable, the context ended), which stops the
// job so that it can resume later.
func rowError(v []byte, err error) (reason string, fatal bool) {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, keyward.ErrUnavailable), errors.Is(err, keyward.ErrKEKUnavailable):
		return "", true
	case errors.Is(err, keyward.ErrDecrypt) && IsFernet(v):
		return "fernet token did not verify under any given or imported fernet key", false
	case errors.Is(err, keyward.ErrDecrypt):
		return "decryption failed (wrong org, context or key, or the value was altered)", false
	case errors.Is(err, keyward.ErrMalformed), errors.Is(err, keyward.ErrUnsupported):
		if IsFernet(v) {
			return "fernet token, but no fernet key for it (pass --fernet-key-file, or import the key with keyward fernet import)", false
		}
		return "neither a keyward ciphertext nor a fernet token", false
	case errors.Is(err, keyward.ErrUnknownOrg):
		return "unknown organization", false
	case errors.Is(err, keyward.ErrInvalidOrg):
		return "invalid organization id", false
	case errors.Is(err, keyward.ErrUnknownVersion):
		return "unknown key version", false
	case errors.Is(err, keyward.ErrRetired):
		return "key version is retired", false
	case errors.Is(err, keyward.ErrDestroyed):
		return "key version is destroyed", false
	case errors.Is(err, keyward.ErrTooLarge):
		return "value too large", false
	case errors.Is(err, keyward.ErrInvalidContext):
		return "invalid encryption context", false
	}
	return "", true
}

// ParseField returns the text form of a binary keyward ciphertext.
func ParseField(binary []byte) (string, error) {
	f, err := format.ParseBinary(binary)
	if err != nil {
		return "", err
	}
	return f.String(), nil
}
