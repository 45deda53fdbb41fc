package reencrypt

import (
	"context"

	"github.com/keyward/keyward/store"
)

// Row is one stored value a job visits.
type Row struct {
	// Key is the row's position in the target's key order, in the text
	// form the target chose; checkpoints record it.
	Key string
	// ID names the row in reports (the id column's value; org/name for a
	// secret). Never a value.
	ID  string
	Org string
	// Value is the stored ciphertext; nil for SQL NULL.
	Value []byte
}

// Update replaces Old with New in the row Key, if and only if the row still
// holds Old (compare-and-swap).
type Update struct {
	Key, ID, Org string
	Old, New     []byte
}

// Target is a table of ciphertexts a job walks: an application's
// PostgreSQL column (Table) or keyward's own secret store (Secrets).
type Target interface {
	// Name names the target without any credential, e.g.
	// "postgres:app/public.channels.token" or "secrets".
	Name() string
	// Count returns the number of rows the job will visit.
	Count(ctx context.Context) (int64, error)
	// Split cuts the key space into chunks of about size rows, in order.
	Split(ctx context.Context, size int) ([]store.JobChunk, error)
	// Read returns up to limit rows with after < key <= upto (an unset
	// bound is open), in key order.
	Read(ctx context.Context, after, upto store.JobKey, limit int) ([]Row, error)
	// Get reads the rows with these keys again (those that still exist).
	Get(ctx context.Context, keys []string) ([]Row, error)
	// Swap applies the updates with compare-and-swap and reports for each
	// whether it was written; a row changed meanwhile is left as it is.
	Swap(ctx context.Context, us []Update) ([]bool, error)
	// Context returns the encryption context of a row.
	Context(r Row) string
}
