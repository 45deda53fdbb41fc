package store

import (
	"context"
	"time"
)

// KeyRef names a key that rows can reference: a DEK version of the
// organization, or one of its imported legacy (Fernet) keys.
type KeyRef struct {
	// Kind is "dek" or "fernet".
	Kind string
	// Version is the DEK version, or the legacy key's id (LegacyKey.ID).
	Version uint32
}

// Reference counts the rows of one source that use one key of one
// organization.
type Reference struct {
	Org string
	// Source names where the rows live without any credential, such as
	// "postgres:app/public.channels.access_token" for an app table column.
	// (The secret store's own references are counted live from
	// SecretStore.SecretVersionCounts and are not stored here.)
	Source    string
	Key       KeyRef
	Count     int64
	UpdatedAt time.Time
}

// ReferenceStore keeps the reference counts found by the last complete scan
// or migration of each source (keyward scan, keyward migrate).
type ReferenceStore interface {
	// SetReferences replaces, in one transaction, every count recorded for
	// source with refs (each of which must name that source); an empty refs
	// records that the source references nothing any more.
	SetReferences(ctx context.Context, source string, refs []Reference) error
	// References returns every recorded count for org with Count > 0,
	// ordered by source, kind and version.
	References(ctx context.Context, org string) ([]Reference, error)
}
