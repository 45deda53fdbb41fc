package store

import (
	"context"
	"time"
)

// AuditMACSize is the length of an audit event's chain MAC (HMAC-SHA256).
const AuditMACSize = 32

// AuditEvent is one event of the audit log as the store keeps it. Package
// audit fills every field, including Seq, Time and MAC (the keyed hash
// chain); the store keeps them exactly (Time at millisecond precision: the
// caller passes a time already truncated to milliseconds, in UTC).
type AuditEvent struct {
	Seq        int64
	Time       time.Time
	RequestID  string
	TokenID    string
	Org        string
	Action     string
	Name       string
	Context    string
	KeyVersion uint32
	Outcome    string
	Code       string
	ValueMAC   string
	// MAC chains this event to the previous one (AuditMACSize bytes).
	MAC []byte
}

// AuditHead is the end of the audit chain: the last event's seq and MAC
// (0 and nil while the log is empty). It is kept in its own row, updated in
// the transaction of every append, so deleting the last events leaves a
// head that points past the end of the log.
type AuditHead struct {
	Seq int64
	MAC []byte
}

// AuditKey is the audit log's key as the store keeps it: wrapped by a KEK,
// with the KEK's id and version, like a data key.
type AuditKey struct {
	KEKID      string
	KEKVersion uint32
	Wrapped    []byte
	CreatedAt  time.Time
}

// AuditStore persists the audit log (package audit). Implementations are
// safe for concurrent use, also by several processes sharing the database:
// appends are serialised on the chain head.
type AuditStore interface {
	// InitAuditKey stores k as the audit key unless one is stored already,
	// and returns the stored key either way (so processes that race on a
	// new database agree on one key). An empty KEK id or wrapped key is
	// ErrInvalidArgument.
	InitAuditKey(ctx context.Context, k AuditKey) (AuditKey, error)
	// AuditKey returns the stored audit key, or ErrNotFound.
	AuditKey(ctx context.Context) (AuditKey, error)
	// RewrapAuditKey replaces the stored audit key's wrapped bytes with
	// wrapped under to, if and only if it is still wrapped by from
	// (compare-and-swap); otherwise it returns ErrStale and changes
	// nothing. It drives KEK rotation, like RewrapKey for data keys: the
	// audit key itself does not change, only its wrap, so processes that
	// hold it unwrapped go on appending. No stored key is ErrNotFound; an
	// empty from or to KEK id or wrapped key and to.Version 0 (KEK versions
	// start at 1) are ErrInvalidArgument. CreatedAt stays as it is.
	RewrapAuditKey(ctx context.Context, from, to KEKRef, wrapped []byte) error
	// AppendAudit appends events in one transaction: it locks the chain
	// head (so no other process appends meanwhile), calls build with it,
	// inserts the events build returns and sets the head to the last of
	// them, then commits. The events must have seqs head.Seq+1,
	// head.Seq+2, … and MACs of AuditMACSize bytes, else the call is
	// ErrInvalidArgument and nothing is written. An error from build is
	// returned as it is, and nothing is written. build must not call the
	// store; it may be called again if the store retries the transaction.
	AppendAudit(ctx context.Context, build func(head AuditHead) ([]AuditEvent, error)) error
	// AuditHead returns the chain head.
	AuditHead(ctx context.Context) (AuditHead, error)
	// AuditEvents returns up to limit events with seq greater than after,
	// in ascending seq order (keyset pagination). A limit below 1 is
	// ErrInvalidArgument.
	AuditEvents(ctx context.Context, after int64, limit int) ([]AuditEvent, error)
}
