package server

import (
	"errors"
	"net/http"
	"time"

	"github.com/keyward/keyward/errcode"
	"github.com/keyward/keyward/store"
)

type jobResponse struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"`
	Target     string     `json:"target"`
	Org        string     `json:"org,omitempty"`
	State      string     `json:"state"`
	Total      int64      `json:"total"`
	Done       int64      `json:"done"`
	Rewritten  int64      `json:"rewritten"`
	Current    int64      `json:"current"`
	Skipped    int64      `json:"skipped"`
	Failed     int64      `json:"failed"`
	Error      string     `json:"error,omitempty"`
	StartedAt  time.Time  `json:"started_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

var errJobNotFound = apiErr(http.StatusNotFound, errcode.JobNotFound, "no such job")

// getJob reports a re-encryption, migration or scan job's progress. It
// needs keys:manage on the job's org ("*" for a job over every org).
func (s *Server) getJob(w http.ResponseWriter, r *http.Request, p Principal) error {
	if s.jobs == nil {
		return errJobNotFound
	}
	j, err := s.jobs.Job(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return errJobNotFound
	}
	if err != nil {
		return err
	}
	org := j.Org
	if org == "" {
		org = AnyOrg
	}
	if !p.Allows(org, CapKeysManage, "") {
		// Job ids are predictable (a hash of kind, target and org), so a
		// 403 here would tell any token which orgs have jobs, and so exist:
		// the denial is audited, and the answer is the unknown job's.
		_ = s.forbidden(r, p, actionJobGet, j.Org, j.ID, "")
		return errJobNotFound
	}
	resp := jobResponse{
		ID: j.ID, Kind: j.Kind, Target: j.Target, Org: j.Org, State: string(j.State),
		Total: j.Total, Done: j.Done, Rewritten: j.Rewritten, Current: j.Current, Skipped: j.Skipped, Failed: j.Failed,
		Error: j.Error, StartedAt: j.StartedAt, UpdatedAt: j.UpdatedAt,
	}
	if !j.FinishedAt.IsZero() {
		resp.FinishedAt = &j.FinishedAt
	}
	s.writeJSON(w, http.StatusOK, resp)
	return nil
}
