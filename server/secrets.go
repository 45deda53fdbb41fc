package server

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/keyward/keyward/errcode"
	"github.com/keyward/keyward/secret"
	"github.com/keyward/keyward/secretstore"
)

// SecretStore is the typed secret store (*secretstore.Store).
type SecretStore interface {
	Put(ctx context.Context, org, name string, kind secretstore.Kind, value secret.Bytes, opts secretstore.PutOptions) (secretstore.Metadata, error)
	Get(ctx context.Context, org, name string) (secretstore.Metadata, error)
	Reveal(ctx context.Context, org, name string) (secret.Bytes, secretstore.Metadata, error)
	List(ctx context.Context, org, after string, limit int) ([]secretstore.Metadata, string, error)
	Delete(ctx context.Context, org, name string) error
}

// List page sizes.
const (
	defaultListLimit = 100
	maxListLimit     = 1000
)

func (s *Server) secretRoutes(mux *http.ServeMux) {
	if s.secrets == nil {
		return
	}
	mux.Handle("PUT /v1/orgs/{org}/secrets/{name}", s.v1(actionSecretPut, s.putSecret))
	mux.Handle("GET /v1/orgs/{org}/secrets/{name}", s.v1(actionSecretGet, s.getSecret))
	mux.Handle("DELETE /v1/orgs/{org}/secrets/{name}", s.v1(actionSecretDel, s.deleteSecret))
	mux.Handle("POST /v1/orgs/{org}/secrets/{name}/reveal", s.v1(actionSecretShow, s.revealSecret))
	mux.Handle("GET /v1/orgs/{org}/secrets", s.v1(actionSecretList, s.listSecrets))
}

type putSecretRequest struct {
	Kind       string `json:"kind"`
	Value      b64    `json:"value"`
	Hint       string `json:"hint"`
	IfRevision int64  `json:"if_revision"`
}

type secretMetadata struct {
	Org        string    `json:"org"`
	Name       string    `json:"name"`
	Kind       string    `json:"kind"`
	Hint       string    `json:"hint,omitempty"`
	KeyVersion uint32    `json:"key_version"`
	Revision   int64     `json:"revision"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

func metadata(m secretstore.Metadata) secretMetadata {
	return secretMetadata{Org: m.Org, Name: m.Name, Kind: string(m.Kind), Hint: m.Hint, KeyVersion: m.KeyVersion,
		Revision: m.Revision, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
}

// putSecret creates or replaces a secret: secrets:write on its name. The
// decision is durable before the write.
func (s *Server) putSecret(w http.ResponseWriter, r *http.Request, p Principal) error {
	org, name := orgOf(r), r.PathValue("name")
	if !p.Allows(org, CapSecretsWrite, name) {
		return s.forbidden(r, p, actionSecretPut, org, name, "")
	}
	var req putSecretRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	value := secret.New(req.Value)
	clear(req.Value)
	defer value.Wipe()
	if req.Value == nil {
		return apiErr(http.StatusBadRequest, errcode.InvalidRequest, "value is required")
	}
	if req.IfRevision < 0 {
		return apiErr(http.StatusBadRequest, errcode.InvalidRequest, "if_revision must be 0 or more")
	}
	ctx := r.Context()
	ev := s.event(r, p.TokenID(), actionSecretPut, org, name, outcomeAllowed, "")
	ev.ValueMAC = s.valueMAC(value.Reveal())
	if err := s.record(ctx, ev); err != nil {
		return err
	}
	md, err := s.secrets.Put(ctx, org, name, secretstore.Kind(req.Kind), value, secretstore.PutOptions{Hint: req.Hint, IfRevision: req.IfRevision})
	if err != nil {
		s.recordFailure(r, ev, err)
		return err
	}
	status := http.StatusOK
	if md.Revision == 1 {
		status = http.StatusCreated
	}
	s.writeJSON(w, status, metadata(md))
	return nil
}

// getSecret returns metadata, never the value: secrets:read on its name.
func (s *Server) getSecret(w http.ResponseWriter, r *http.Request, p Principal) error {
	org, name := orgOf(r), r.PathValue("name")
	if !p.Allows(org, CapSecretsRead, name) {
		return s.forbidden(r, p, actionSecretGet, org, name, "")
	}
	ctx := r.Context()
	md, err := s.secrets.Get(ctx, org, name)
	if rerr := s.record(ctx, s.outcome(withVersion(s.event(r, p.TokenID(), actionSecretGet, org, name, "", ""), md.KeyVersion), err)); rerr != nil {
		return rerr
	}
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, metadata(md))
	return nil
}

type secretValue struct {
	secretMetadata
	Value []byte `json:"value"`
}

// revealSecret returns the value: secrets:reveal on its name. The event is
// durable before the value leaves.
func (s *Server) revealSecret(w http.ResponseWriter, r *http.Request, p Principal) error {
	org, name := orgOf(r), r.PathValue("name")
	if !p.Allows(org, CapSecretsReveal, name) {
		return s.forbidden(r, p, actionSecretShow, org, name, "")
	}
	ctx := r.Context()
	v, md, err := s.secrets.Reveal(ctx, org, name)
	defer v.Wipe()
	ev := s.outcome(withVersion(s.event(r, p.TokenID(), actionSecretShow, org, name, "", ""), md.KeyVersion), err)
	if err == nil {
		ev.ValueMAC = s.valueMAC(v.Reveal())
	}
	if rerr := s.record(ctx, ev); rerr != nil {
		return rerr
	}
	if err != nil {
		return err
	}
	value := v.Reveal()
	if value == nil {
		value = []byte{}
	}
	s.writeJSON(w, http.StatusOK, secretValue{metadata(md), value})
	return nil
}

type secretList struct {
	Secrets []secretMetadata `json:"secrets"`
	Next    string           `json:"next,omitempty"`
}

// listSecrets lists metadata a page at a time: secrets:read in the org;
// names the token's patterns do not allow are left out of the page.
func (s *Server) listSecrets(w http.ResponseWriter, r *http.Request, p Principal) error {
	org := orgOf(r)
	if !p.AllowsSome(org, CapSecretsRead) {
		return s.forbidden(r, p, actionSecretList, org, "", "")
	}
	q := r.URL.Query()
	limit := defaultListLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			return apiErr(http.StatusBadRequest, errcode.InvalidRequest, "limit must be between 1 and "+strconv.Itoa(maxListLimit))
		}
		limit = n
	}
	ctx := r.Context()
	out, err := s.visibleSecrets(ctx, p, org, q.Get("after"), limit)
	if rerr := s.record(ctx, s.outcome(s.event(r, p.TokenID(), actionSecretList, org, "", "", ""), err)); rerr != nil {
		return rerr
	}
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, out)
	return nil
}

// visibleSecrets reads the store's pages from after on until it holds limit
// names p may read and knows whether one more follows. The cursor it returns
// is the last name on the page, which p may read: the store's own cursor is
// the last name it scanned, which p's patterns may hide.
func (s *Server) visibleSecrets(ctx context.Context, p Principal, org, after string, limit int) (secretList, error) {
	out := secretList{Secrets: make([]secretMetadata, 0, min(limit, defaultListLimit))}
	for {
		items, next, err := s.secrets.List(ctx, org, after, maxListLimit)
		if err != nil {
			return secretList{}, err
		}
		for _, m := range items {
			if !p.Allows(org, CapSecretsRead, m.Name) {
				continue
			}
			if len(out.Secrets) == limit {
				out.Next = out.Secrets[limit-1].Name
				return out, nil
			}
			out.Secrets = append(out.Secrets, metadata(m))
		}
		if next == "" {
			return out, nil
		}
		after = next
	}
}

// deleteSecret deletes a secret: secrets:write on its name.
func (s *Server) deleteSecret(w http.ResponseWriter, r *http.Request, p Principal) error {
	org, name := orgOf(r), r.PathValue("name")
	if !p.Allows(org, CapSecretsWrite, name) {
		return s.forbidden(r, p, actionSecretDel, org, name, "")
	}
	ctx := r.Context()
	ev := s.event(r, p.TokenID(), actionSecretDel, org, name, outcomeAllowed, "")
	if err := s.record(ctx, ev); err != nil {
		return err
	}
	if err := s.secrets.Delete(ctx, org, name); err != nil {
		s.recordFailure(r, ev, err)
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
