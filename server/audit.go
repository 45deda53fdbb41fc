package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

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

func (s *Server) event(r *http.Request, tokenID, action, org, name string, o audit.Outcome, code string) Event {
	return Event{RequestID: info(r.Context()).id, TokenID: tokenID, Org: auditText(org), Action: action, Name: auditText(name), Outcome: o, Code: code}
}

func withContext(e Event, c string) Event { e.Context = auditText(c); return e }

// maxAuditText bounds what an event repeats of a caller's input: contexts
// and names are at most 1 KiB when valid, org ids 64 bytes.
const maxAuditText = 1024

// auditText makes caller input (an org, a name, a context as sent, valid
// or not) fit an audit event: valid UTF-8 without NUL bytes, at most
// maxAuditText bytes, marked with "…" where it was cut. An event is kept
// for every request, even one whose input the engine refuses.
func auditText(s string) string {
	if len(s) <= maxAuditText && utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	s = strings.ToValidUTF8(s, "\ufffd")
	s = strings.ReplaceAll(s, "\x00", "\ufffd")
	if len(s) > maxAuditText {
		cut := maxAuditText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

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
