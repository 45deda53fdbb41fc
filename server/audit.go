package server

import (
	"context"
	"fmt"
	"net/http"

	"golang.org/x/sync/errgroup"

	"github.com/keyward/keyward/audit"
)

// Event is an audit event (package audit): never a plaintext or a token.
type Event = audit.Event

// The outcomes.
const (
	outcomeAllowed = audit.Allowed
	outcomeDenied  = audit.Denied
	outcomeFailed  = audit.Failed
)

// Auditor records events durably: Record returns once the event is stored
// (group-committed with others). *audit.Log is one.
type Auditor interface {
	Record(ctx context.Context, ev audit.Event) error
}

// valueMAC identifies a value in an event without revealing it: the audit
// log's keyed HMAC (audit.Log.MAC), so an investigator holding a leaked
// credential can tell which write or reveal it was. "" when the auditor
// keeps no MAC key.
func (s *Server) valueMAC(v []byte) string {
	if m, ok := s.auditor.(interface{ MAC([]byte) string }); ok {
		return m.MAC(v)
	}
	return ""
}

func (s *Server) event(r *http.Request, tokenID, action, org, name string, o audit.Outcome, code string) Event {
	return Event{RequestID: info(r.Context()).id, TokenID: tokenID, Org: audit.Text(org), Action: action, Name: audit.Text(name), Outcome: o, Code: code}
}

func withContext(e Event, c string) Event { e.Context = audit.Text(c); return e }

func withVersion(e Event, v uint32) Event { e.KeyVersion = v; return e }

// outcome sets the outcome and code from the result of the operation.
func (s *Server) outcome(e Event, err error) Event {
	if err == nil {
		e.Outcome, e.Code = outcomeAllowed, ""
		return e
	}
	e.Outcome, e.Code = outcomeFailed, s.errs.classify(err).Code
	return e
}

// record makes ev durable or returns an error wrapping errAuditUnavailable.
func (s *Server) record(ctx context.Context, ev Event) error {
	if err := s.auditor.Record(ctx, ev); err != nil {
		return fmt.Errorf("%w: %w", errAuditUnavailable, err)
	}
	return nil
}

// recordAll records events concurrently, so the audit log commits them in
// as few groups as it can, and returns once all are durable.
func (s *Server) recordAll(ctx context.Context, evs []Event) error {
	if len(evs) == 1 {
		return s.record(ctx, evs[0])
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(256)
	for _, ev := range evs {
		g.Go(func() error { return s.record(gctx, ev) })
	}
	return g.Wait()
}

// recordDenial records a refusal. The refusal stands whether or not the
// event could be stored; a failure to store it is logged.
func (s *Server) recordDenial(ctx context.Context, ev Event) {
	if err := s.record(ctx, ev); err != nil {
		s.log.Error("audit: denial not recorded", "request_id", ev.RequestID, "action", ev.Action, "err", err.Error())
	}
}
