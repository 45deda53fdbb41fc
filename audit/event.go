package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keyward/keyward/store"
)

// Outcome is what became of an audited request.
type Outcome string

// The outcomes.
const (
	// Allowed: policy allowed the request and it was carried out.
	Allowed Outcome = "allowed"
	// Denied: policy refused the request.
	Denied Outcome = "denied"
	// Failed: policy allowed the request but it failed (e.g. the
	// ciphertext did not decrypt).
	Failed Outcome = "failed"
)

// Valid reports whether o is one of the outcomes.
func (o Outcome) Valid() bool { return o == Allowed || o == Denied || o == Failed }

// Event is one audit event. It never holds a plaintext or a secret.
type Event struct {
	// Seq and Time are set by the log when the event is appended (Time in
	// UTC, milliseconds); Record ignores what the caller puts there.
	Seq  int64
	Time time.Time

	RequestID string
	TokenID   string
	Org       string
	// Action names the operation, e.g. "decrypt" or "secrets.reveal".
	Action string
	// Name is the secret name, when there is one.
	Name string
	// Context is the encryption context, when there is one.
	Context    string
	KeyVersion uint32
	Outcome    Outcome
	// Code is a stable error code when the outcome is not Allowed (e.g.
	// "forbidden", "decrypt_failed"); never a value.
	Code string
	// ValueMAC identifies a value without revealing it: Log.MAC(value),
	// the hex HMAC-SHA256 of the value under the deployment's audit value
	// key. Empty when no value needs identifying.
	ValueMAC string
}

// MaxFieldLen bounds each text field of an event, in bytes.
const MaxFieldLen = 4096

// Errors.
var (
	// ErrTampered reports an audit log whose chain does not verify.
	ErrTampered = errors.New("audit: log tampered")
	// ErrInvalidEvent reports an event Record refuses (nothing is written).
	ErrInvalidEvent = errors.New("audit: invalid event")
	// ErrClosed reports a Record after Close.
	ErrClosed = errors.New("audit: log closed")
)

// validate checks the caller's fields of ev.
func validate(ev Event) error {
	if !ev.Outcome.Valid() {
		return fmt.Errorf("%w: outcome %q (want allowed, denied or failed)", ErrInvalidEvent, ev.Outcome)
	}
	for _, f := range []struct{ name, v string }{
		{"request id", ev.RequestID}, {"token id", ev.TokenID}, {"org", ev.Org}, {"action", ev.Action},
		{"name", ev.Name}, {"context", ev.Context}, {"code", ev.Code}, {"value mac", ev.ValueMAC},
	} {
		switch {
		case len(f.v) > MaxFieldLen:
			return fmt.Errorf("%w: %s of %d bytes, want at most %d", ErrInvalidEvent, f.name, len(f.v), MaxFieldLen)
		case !utf8.ValidString(f.v) || strings.ContainsRune(f.v, 0):
			return fmt.Errorf("%w: %s is not UTF-8 without NUL bytes", ErrInvalidEvent, f.name)
		}
	}
	if ev.Action == "" {
		return fmt.Errorf("%w: empty action", ErrInvalidEvent)
	}
	return nil
}

// eventLabel starts every event's encoding: a version for the encoding.
const eventLabel = "keyward/audit/event/v1"

// encode returns the canonical encoding of e that the chain MACs:
//
//	u8 len(label) ‖ label ‖ u64be seq ‖ i64be unix milliseconds ‖
//	str request id ‖ str token id ‖ str org ‖ str action ‖ str name ‖
//	str context ‖ u32be key version ‖ str outcome ‖ str code ‖ str value mac
//
// where str is u32be length ‖ bytes. Every variable part is length-prefixed,
// so no two events share an encoding.
func encode(dst []byte, e store.AuditEvent) []byte {
	dst = append(dst, byte(len(eventLabel)))
	dst = append(dst, eventLabel...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.Seq))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.Time.UnixMilli()))
	for _, s := range []string{e.RequestID, e.TokenID, e.Org, e.Action, e.Name, e.Context} {
		dst = appendStr(dst, s)
	}
	dst = binary.BigEndian.AppendUint32(dst, e.KeyVersion)
	for _, s := range []string{e.Outcome, e.Code, e.ValueMAC} {
		dst = appendStr(dst, s)
	}
	return dst
}

func appendStr(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
	return append(dst, s...)
}

// genesis is the "previous MAC" of the first event.
var genesis = make([]byte, sha256.Size)

// chainMAC returns HMAC-SHA256(key, prev ‖ encode(e)).
func chainMAC(key, prev []byte, e store.AuditEvent, buf []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(prev)
	m.Write(encode(buf[:0], e))
	return m.Sum(nil)
}

// toStore converts an event of the caller with its seq and time.
func toStore(ev Event, seq int64, at time.Time) store.AuditEvent {
	return store.AuditEvent{
		Seq: seq, Time: at, RequestID: ev.RequestID, TokenID: ev.TokenID, Org: ev.Org,
		Action: ev.Action, Name: ev.Name, Context: ev.Context, KeyVersion: ev.KeyVersion,
		Outcome: string(ev.Outcome), Code: ev.Code, ValueMAC: ev.ValueMAC,
	}
}

// fromStore converts a stored event.
func fromStore(e store.AuditEvent) Event {
	return Event{
		Seq: e.Seq, Time: e.Time, RequestID: e.RequestID, TokenID: e.TokenID, Org: e.Org,
		Action: e.Action, Name: e.Name, Context: e.Context, KeyVersion: e.KeyVersion,
		Outcome: Outcome(e.Outcome), Code: e.Code, ValueMAC: e.ValueMAC,
	}
}
