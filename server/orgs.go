package server

import (
	"net/http"
	"time"
)

type createOrgRequest struct {
	Org string `json:"org"`
}

type orgResponse struct {
	Org        string    `json:"org"`
	KeyVersion uint32    `json:"key_version"`
	CreatedAt  time.Time `json:"created_at"`
}

// createOrg creates an organization and its data key version 1. It needs
// keys:manage (or admin) on every org, "*": a grant scoped to one org
// cannot mint new tenants.
func (s *Server) createOrg(w http.ResponseWriter, r *http.Request, p Principal) error {
	var req createOrgRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	if !p.Allows(AnyOrg, CapKeysManage, "") {
		return s.forbidden(r, p, actionOrgCreate, req.Org, "", "")
	}
	ctx := r.Context()
	ev := s.event(r, p.TokenID(), actionOrgCreate, req.Org, "", outcomeAllowed, "")
	if err := s.record(ctx, ev); err != nil {
		return err
	}
	kv, err := s.eng.CreateOrg(ctx, req.Org)
	if err != nil {
		s.recordFailure(r, ev, err)
		return err
	}
	s.writeJSON(w, http.StatusCreated, orgResponse{Org: kv.Org, KeyVersion: kv.Version, CreatedAt: kv.CreatedAt})
	return nil
}

// recordFailure records that an allowed change then failed (its allowed
// event is already durable). Best effort: the failure is the answer.
func (s *Server) recordFailure(r *http.Request, ev Event, err error) {
	ev = s.outcome(ev, err)
	if rerr := s.record(r.Context(), ev); rerr != nil {
		s.log.Error("audit: failure not recorded", "request_id", ev.RequestID, "action", ev.Action, "err", rerr.Error())
	}
}
