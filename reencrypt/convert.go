package reencrypt

import (
	"context"
	"errors"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/format"
)

// Sealer is what the job needs of a keyward engine (*keyward.Engine).
type Sealer interface {
	Rewrap(ctx context.Context, org string, ciphertext []byte, aadContext string) ([]byte, bool, error)
	Encrypt(ctx context.Context, org string, plaintext []byte, aadContext string) ([]byte, error)
	Decrypt(ctx context.Context, org string, ciphertext []byte, aadContext string) ([]byte, error)
	ActiveVersion(ctx context.Context, org string) (uint32, error)
}

// Converter turns one stored value into its form under the organization's
// active key version. Keyward ciphertexts are rewrapped inside the engine,
// in their own form; Fernet tokens are opened with Fernet (if given) and
// sealed by the engine, in the text form when Text is set (text columns)
// and the binary form otherwise. Plaintexts live only inside Convert and
// are cleared before it returns.
type Converter struct {
	Sealer Sealer
	Fernet *FernetKeys
	Text   bool
}

// Convert returns the value under the active version and whether it
// changed; an unchanged value is returned as it is.
func (c *Converter) Convert(ctx context.Context, org string, v []byte, aadContext string) ([]byte, bool, error) {
	if c.Fernet != nil && IsFernet(v) {
		pt, _, err := c.Fernet.Decrypt(v)
		if err != nil {
			return nil, false, err
		}
		defer clear(pt)
		sealed, err := c.Sealer.Encrypt(ctx, org, pt, aadContext)
		if err != nil {
			return nil, false, err
		}
		if !c.Text {
			return sealed, true, nil
		}
		f, err := format.ParseBinary(sealed)
		if err != nil {
			return nil, false, err
		}
		out, err := f.MarshalText()
		return out, err == nil, err
	}
	return c.Sealer.Rewrap(ctx, org, v, aadContext)
}

// Check is Convert without encrypting (--dry-run): it opens the value to
// prove it can be converted and reports whether it would change.
func (c *Converter) Check(ctx context.Context, org string, v []byte, aadContext string) (bool, error) {
	if c.Fernet != nil && IsFernet(v) {
		pt, _, err := c.Fernet.Decrypt(v)
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
	case errors.Is(err, ErrFernet):
		return "fernet token did not verify under any --fernet-key-file key", false
	case errors.Is(err, keyward.ErrDecrypt):
		return "decryption failed (wrong org, context or key, or the value was altered)", false
	case errors.Is(err, keyward.ErrMalformed), errors.Is(err, keyward.ErrUnsupported):
		if IsFernet(v) {
			return "fernet token, but no fernet key for it (pass --fernet-key-file or import the key)", false
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
