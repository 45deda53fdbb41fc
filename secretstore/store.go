package secretstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keyward/keyward/format"
	"github.com/keyward/keyward/keyring"
	"github.com/keyward/keyward/secret"
	"github.com/keyward/keyward/store"
)

// MaxValueSize is the largest secret value, in bytes: 64 KiB. Secrets are
// keys, tokens and passwords; a PEM certificate chain fits with room to
// spare. Larger values are refused with ErrTooLarge before any work is done.
const MaxValueSize = 64 << 10

// Listing limits (Store.List).
const (
	// DefaultListLimit is the page size when the caller asks for 0 or less.
	DefaultListLimit = 100
	// MaxListLimit is the largest page; larger limits are lowered to it.
	MaxListLimit = 1000
)

// Metadata describes a stored secret. It never holds the value; Hint is
// the writer-requested display hint, empty when none was asked for.
type Metadata struct {
	Org        string    `json:"org"`
	Name       string    `json:"name"`
	Kind       Kind      `json:"kind"`
	Hint       string    `json:"hint,omitempty"`
	KeyVersion uint32    `json:"key_version"`
	Revision   int64     `json:"revision"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// PutOptions tune Store.Put. The zero value writes unconditionally without
// a hint.
type PutOptions struct {
	// Hint is HintNone ("") or HintLast4 ("last4").
	Hint string
	// IfRevision, when above 0, replaces the secret only if it is at that
	// revision (ErrConflict otherwise, ErrNotFound if it does not exist).
	// 0 creates or replaces unconditionally.
	IfRevision int64
}

// Cipher seals and opens values for an organization under an encryption
// context, returning and accepting keyward's binary ciphertext form.
// *keyward.Engine satisfies it.
type Cipher interface {
	Encrypt(ctx context.Context, org string, plaintext []byte, aadContext string) ([]byte, error)
	Decrypt(ctx context.Context, org string, ciphertext []byte, aadContext string) ([]byte, error)
}

// Store is the secret store. It is safe for concurrent use.
type Store struct {
	c  Cipher
	st store.SecretStore
}

// New returns a Store that encrypts with c and keeps rows in st.
func New(c Cipher, st store.SecretStore) (*Store, error) {
	if c == nil || st == nil {
		return nil, errors.New("secretstore: new needs a cipher and a store")
	}
	return &Store{c: c, st: st}, nil
}

// Put encrypts value and stores it as the secret name of org, creating it
// or replacing its kind, hint and value (the creation time stays). It
// returns the new metadata. The caller keeps value and wipes it when done.
func (s *Store) Put(ctx context.Context, org, name string, kind Kind, value secret.Bytes, opts PutOptions) (Metadata, error) {
	fail := func(err error) (Metadata, error) {
		return Metadata{}, fmt.Errorf("secretstore: put %q in org %q: %w", name, org, err)
	}
	if err := checkOrgName(org, name); err != nil {
		return fail(err)
	}
	if !kind.Valid() {
		_, err := ParseKind(string(kind))
		return fail(err)
	}
	switch {
	case value.Len() == 0:
		return fail(ErrEmptyValue)
	case value.Len() > MaxValueSize:
		return fail(fmt.Errorf("%w: %d bytes, at most %d allowed", ErrTooLarge, value.Len(), MaxValueSize))
	case opts.IfRevision < 0:
		return fail(fmt.Errorf("%w: %d (want 0 or a revision from 1)", ErrInvalidRevision, opts.IfRevision))
	}
	hint, err := makeHint(opts.Hint, value.Reveal())
	if err != nil {
		return fail(err)
	}
	ct, err := s.c.Encrypt(ctx, org, value.Reveal(), AADContext(name))
	if err != nil {
		return fail(err)
	}
	f, err := format.ParseBinary(ct)
	if err != nil {
		return fail(fmt.Errorf("the cipher returned no keyward binary ciphertext: %w", err))
	}
	row, err := s.st.PutSecret(ctx, store.Secret{
		Org: org, Name: name, Kind: string(kind), Hint: hint,
		Ciphertext: ct, KeyVersion: f.KeyVersion,
	}, opts.IfRevision)
	switch {
	case errors.Is(err, store.ErrStale):
		return fail(fmt.Errorf("%w: %w", ErrConflict, err))
	case errors.Is(err, store.ErrNotFound) && opts.IfRevision == 0:
		return fail(fmt.Errorf("%w: %q", ErrUnknownOrg, org))
	case errors.Is(err, store.ErrNotFound):
		return fail(s.notFound(ctx, org))
	case err != nil:
		return fail(err)
	}
	return metadata(row), nil
}

// Get returns the metadata of one secret, never its value.
func (s *Store) Get(ctx context.Context, org, name string) (Metadata, error) {
	row, err := s.get(ctx, org, name)
	if err != nil {
		return Metadata{}, fmt.Errorf("secretstore: get %q in org %q: %w", name, org, err)
	}
	return metadata(row), nil
}

// Reveal decrypts one secret and returns its value with its metadata. The
// caller owns the value and wipes it when done. A ciphertext that does not
// belong to this name and organization fails with keyward.ErrDecrypt.
func (s *Store) Reveal(ctx context.Context, org, name string) (secret.Bytes, Metadata, error) {
	fail := func(err error) (secret.Bytes, Metadata, error) {
		return secret.Bytes{}, Metadata{}, fmt.Errorf("secretstore: reveal %q in org %q: %w", name, org, err)
	}
	row, err := s.get(ctx, org, name)
	if err != nil {
		return fail(err)
	}
	pt, err := s.c.Decrypt(ctx, org, row.Ciphertext, AADContext(name))
	if err != nil {
		return fail(err)
	}
	value := secret.New(pt)
	clear(pt)
	return value, metadata(row), nil
}

// List returns up to limit secrets of org with names after after, in
// bytewise name order, and the cursor of the next page: pass next as after
// to continue; "" means there is no more. A limit of 0 or less selects
// DefaultListLimit; above MaxListLimit, MaxListLimit. after is "" or a
// valid name.
func (s *Store) List(ctx context.Context, org, after string, limit int) (items []Metadata, next string, err error) {
	fail := func(err error) ([]Metadata, string, error) {
		return nil, "", fmt.Errorf("secretstore: list org %q after %q: %w", org, after, err)
	}
	if err := keyring.ValidateOrgID(org); err != nil {
		return fail(err)
	}
	if after != "" {
		if err := ValidateName(after); err != nil {
			return fail(fmt.Errorf("cursor: %w", err))
		}
	}
	switch {
	case limit <= 0:
		limit = DefaultListLimit
	case limit > MaxListLimit:
		limit = MaxListLimit
	}
	rows, err := s.st.ListSecrets(ctx, org, after, limit+1)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fail(fmt.Errorf("%w: %q", ErrUnknownOrg, org))
	case err != nil:
		return fail(err)
	}
	if len(rows) > limit {
		rows = rows[:limit]
		next = rows[limit-1].Name
	}
	items = make([]Metadata, len(rows))
	for i, r := range rows {
		items[i] = metadata(r)
	}
	return items, next, nil
}

// Delete removes one secret. Its ciphertext is gone from the store; copies
// in backups stay sealed under the organization's key.
func (s *Store) Delete(ctx context.Context, org, name string) error {
	fail := func(err error) error {
		return fmt.Errorf("secretstore: delete %q in org %q: %w", name, org, err)
	}
	if err := checkOrgName(org, name); err != nil {
		return fail(err)
	}
	err := s.st.DeleteSecret(ctx, org, name)
	if errors.Is(err, store.ErrNotFound) {
		err = s.notFound(ctx, org)
	}
	if err != nil {
		return fail(err)
	}
	return nil
}

// get reads one row, telling an unknown organization from a missing secret.
func (s *Store) get(ctx context.Context, org, name string) (store.Secret, error) {
	if err := checkOrgName(org, name); err != nil {
		return store.Secret{}, err
	}
	row, err := s.st.GetSecret(ctx, org, name)
	if errors.Is(err, store.ErrNotFound) {
		return store.Secret{}, s.notFound(ctx, org)
	}
	return row, err
}

// notFound explains a store.ErrNotFound about a secret of org: ErrUnknownOrg
// if the organization does not exist, else ErrNotFound. It asks the store
// for one listed row, a read on the primary key.
func (s *Store) notFound(ctx context.Context, org string) error {
	if _, err := s.st.ListSecrets(ctx, org, "", 1); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %q", ErrUnknownOrg, org)
	}
	return ErrNotFound
}

// checkOrgName validates the organization id and secret name of a call.
func checkOrgName(org, name string) error {
	if err := keyring.ValidateOrgID(org); err != nil {
		return err
	}
	return ValidateName(name)
}

// metadata is the public view of a stored row: everything but the
// ciphertext.
func metadata(r store.Secret) Metadata {
	return Metadata{
		Org: r.Org, Name: r.Name, Kind: Kind(r.Kind), Hint: r.Hint,
		KeyVersion: r.KeyVersion, Revision: r.Revision,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}
