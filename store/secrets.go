package store

import (
	"context"
	"time"
)

// Secret is one row of the secret store as the store keeps it: ciphertext
// and metadata, never a plaintext. Ciphertext is a keyward field (binary
// form) sealed under the organization's DEK version KeyVersion, with the
// secret's name bound into its AAD by package secretstore.
type Secret struct {
	Org  string
	Name string
	// Kind is one of the secret kinds of package secretstore (api_key,
	// webhook_secret, email_credential, oauth_token, generic); the store
	// only keeps it.
	Kind string
	// Hint is an optional short display hint chosen by the writer (such as
	// the last 4 characters); empty when none was asked for.
	Hint       string
	Ciphertext []byte
	KeyVersion uint32
	// Revision starts at 1 when the secret is created and grows by one on
	// every write (PutSecret or SwapSecretCiphertext).
	Revision  int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// VersionCount is how many rows use one DEK version of an organization.
type VersionCount struct {
	Version uint32
	Count   int64
}

// SecretStore persists the secret store's rows. The organization must exist:
// every method answers ErrNotFound for an unknown organization, as for a
// missing secret. Names are validated by package secretstore; the store
// treats them as opaque byte strings compared bytewise. An empty org or
// name, an empty kind or ciphertext, key version 0, a negative ifRevision
// and a list limit below 1 are ErrInvalidArgument, and a refused call
// changes nothing. Slices passed in are not kept and slices returned belong
// to the caller (the store copies both ways). The conformance group Secrets
// of store/storetest fixes these semantics.
type SecretStore interface {
	// PutSecret creates or replaces the secret (s.Org, s.Name). With
	// ifRevision 0 it writes unconditionally; otherwise only if the stored
	// revision equals ifRevision (ErrStale if not, ErrNotFound if there is
	// no such secret). It returns the row as stored (revision and times set
	// by the store; CreatedAt is kept on replace).
	PutSecret(ctx context.Context, s Secret, ifRevision int64) (Secret, error)
	// GetSecret returns one secret, or ErrNotFound.
	GetSecret(ctx context.Context, org, name string) (Secret, error)
	// ListSecrets returns up to limit secrets of org with name greater than
	// after, in ascending bytewise name order (keyset pagination; after ""
	// starts at the top, and need not be a stored name). An organization
	// without secrets gives an empty, non-nil slice. A limit below 1 is
	// ErrInvalidArgument.
	ListSecrets(ctx context.Context, org, after string, limit int) ([]Secret, error)
	// DeleteSecret removes a secret, or returns ErrNotFound.
	DeleteSecret(ctx context.Context, org, name string) error
	// SwapSecretCiphertext replaces the ciphertext and key version of
	// (org, name) if and only if its ciphertext is still old
	// (compare-and-swap, used by re-encryption); otherwise ErrStale, or
	// ErrNotFound if the secret is gone. Kind, hint and CreatedAt stay;
	// the revision grows and UpdatedAt is set.
	SwapSecretCiphertext(ctx context.Context, org, name string, old, ciphertext []byte, keyVersion uint32) error
	// SecretVersionCounts returns, for each DEK version of org that some
	// secret uses, how many secrets use it, in ascending version order.
	SecretVersionCounts(ctx context.Context, org string) ([]VersionCount, error)
}
