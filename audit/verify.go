package audit

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"

	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/store"
)

// The problems Verify reports.
const (
	// ProblemEdited: the event's MAC does not match its contents (a field,
	// or the MAC itself, was changed, or the event was inserted).
	ProblemEdited = "edited"
	// ProblemMissing: events are missing before this seq (a gap).
	ProblemMissing = "missing"
	// ProblemReordered: the record for this seq is stored under another.
	ProblemReordered = "reordered"
	// ProblemTruncated: the log ends before the chain head.
	ProblemTruncated = "truncated"
)

// Report is the outcome of Verify.
type Report struct {
	// Events is the number of events checked.
	Events int64
	// FirstBad is the seq of the first bad event; 0 when all is well.
	FirstBad int64
	// Problem says what is wrong with it (one of the Problem constants);
	// "" when all is well.
	Problem string
	// Head is the chain head: the last seq and MAC. Record it outside the
	// database to detect a later truncation that also rewinds the head.
	Head store.AuditHead
}

// verifyPage is the number of events Verify reads at a time, and the
// distance it looks ahead for the true place of a reordered event.
const verifyPage = 1000

// Verify recomputes the whole chain of st's audit log with the audit key
// (unwrapped by kek) and checks it against the chain head, reading the log
// in pages with constant memory. progress, if not nil, is called after
// each page with the number of events checked so far. It returns an error
// wrapping ErrTampered that names the first bad event's seq and what is
// wrong with it, the report filled in either way; other errors (a store
// or KEK that cannot be reached) do not wrap ErrTampered.
func Verify(ctx context.Context, st store.AuditStore, kek kms.KEK, progress func(checked int64)) (Report, error) {
	var rep Report
	head, err := st.AuditHead(ctx)
	if err != nil {
		return rep, fmt.Errorf("audit: verify: %w", err)
	}
	rep.Head = head
	key, err := loadKey(ctx, st, kek, false)
	if errors.Is(err, errNoKey) {
		first, err := st.AuditEvents(ctx, 0, 1)
		if err != nil {
			return rep, fmt.Errorf("audit: verify: %w", err)
		}
		if head.Seq == 0 && len(first) == 0 {
			return rep, nil // nothing was ever logged
		}
		return tampered(rep, 1, ProblemEdited, "the audit key is missing from the store")
	}
	if err != nil {
		return rep, fmt.Errorf("audit: verify: %w", err)
	}
	defer clear(key)

	prev := genesis
	next := int64(1) // the seq the next event must have
	var buf []byte
	for {
		page, err := st.AuditEvents(ctx, next-1, verifyPage)
		if err != nil {
			return rep, fmt.Errorf("audit: verify: %w", err)
		}
		for i, e := range page {
			if e.Seq != next {
				if e.Seq-1 == next {
					return tampered(rep, next, ProblemMissing, fmt.Sprintf("event %d is missing (the log goes on at %d)", next, e.Seq))
				}
				return tampered(rep, next, ProblemMissing, fmt.Sprintf("events %d to %d are missing", next, e.Seq-1))
			}
			mac := chainMAC(key, prev, e, buf)
			if !hmac.Equal(mac, e.MAC) {
				if at, err := findMoved(ctx, st, key, prev, next, page[i+1:]); err != nil {
					return rep, err
				} else if at != 0 {
					return tampered(rep, next, ProblemReordered, fmt.Sprintf("the record of event %d is stored as event %d", next, at))
				}
				return tampered(rep, next, ProblemEdited, fmt.Sprintf("event %d does not match its MAC", next))
			}
			prev = e.MAC
			next++
			rep.Events++
		}
		if progress != nil && len(page) > 0 {
			progress(rep.Events)
		}
		if len(page) < verifyPage {
			break
		}
	}
	last := next - 1
	switch {
	case head.Seq > last:
		return tampered(rep, next, ProblemTruncated, fmt.Sprintf("the chain head records %d events, the log ends at %d", head.Seq, last))
	case head.Seq < last:
		return tampered(rep, head.Seq+1, ProblemEdited, fmt.Sprintf("event %d lies beyond the chain head (%d): appended outside keyward, or the head was rewound", head.Seq+1, head.Seq))
	case last > 0 && !hmac.Equal(head.MAC, prev):
		return tampered(rep, last, ProblemEdited, fmt.Sprintf("the chain head's MAC does not match event %d", last))
	}
	return rep, nil
}

// findMoved looks for the true event seq among the events after a bad one:
// one whose contents, given seq, chain from prev to its own MAC. That is
// the record of event seq stored under another seq (seqs swapped). It looks
// at most verifyPage events ahead, reading one more page if rest is short,
// and returns the seq it is stored at, or 0.
func findMoved(ctx context.Context, st store.AuditStore, key, prev []byte, seq int64, rest []store.AuditEvent) (int64, error) {
	if len(rest) < verifyPage {
		after := seq
		if len(rest) > 0 {
			after = rest[len(rest)-1].Seq
		}
		more, err := st.AuditEvents(ctx, after, verifyPage-len(rest))
		if err != nil {
			return 0, fmt.Errorf("audit: verify: %w", err)
		}
		rest = append(rest[:len(rest):len(rest)], more...)
	}
	var buf []byte
	for _, e := range rest {
		at := e.Seq
		e.Seq = seq
		if hmac.Equal(chainMAC(key, prev, e, buf), e.MAC) {
			return at, nil
		}
	}
	return 0, nil
}

// tampered fills in rep and returns it with an error wrapping ErrTampered.
func tampered(rep Report, seq int64, problem, detail string) (Report, error) {
	rep.FirstBad, rep.Problem = seq, problem
	return rep, fmt.Errorf("%w: event %d %s: %s", ErrTampered, seq, problem, detail)
}

// Tail returns up to limit events of st's log with seq greater than after,
// in seq order, as stored (Tail does not verify them).
func Tail(ctx context.Context, st store.AuditStore, after int64, limit int) ([]Event, error) {
	es, err := st.AuditEvents(ctx, after, limit)
	if err != nil {
		return nil, fmt.Errorf("audit: tail: %w", err)
	}
	out := make([]Event, len(es))
	for i, e := range es {
		out[i] = fromStore(e)
	}
	return out, nil
}
