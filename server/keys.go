package server

import (
	"net/http"
	"time"

	"github.com/keyward/keyward/store"
)

type keyResponse struct {
	Version    uint32      `json:"version"`
	State      string      `json:"state"`
	Usage      uint64      `json:"usage"`
	KEKID      string      `json:"kek_id"`
	KEKVersion uint32      `json:"kek_version"`
	References []reference `json:"references"`
	CreatedAt  time.Time   `json:"created_at"`
	UpdatedAt  time.Time   `json:"updated_at"`
}

// reference counts rows of one source that use a key version: "secrets"
// (the secret store, counted live) or an app table from its last scan.
type reference struct {
	Source string `json:"source"`
	Count  int64  `json:"count"`
}

type keysResponse struct {
	Org           string        `json:"org"`
	ActiveVersion uint32        `json:"active_version"`
	Keys          []keyResponse `json:"keys"`
}

// listKeys lists an org's data key versions with state, usage and
// references. It needs keys:manage.
func (s *Server) listKeys(w http.ResponseWriter, r *http.Request, p Principal) error {
	org := orgOf(r)
	if !p.Allows(org, CapKeysManage, "") {
		return s.forbidden(r, p, actionKeysList, org, "", "")
	}
	ctx := r.Context()
	keys, err := s.eng.Keys(ctx, org)
	if err == nil {
		var refs map[uint32][]reference
		refs, err = s.references(r, org)
		if err == nil {
			resp := keysResponse{Org: org, Keys: make([]keyResponse, 0, len(keys))}
			for _, k := range keys {
				if k.State == store.StateActive {
					resp.ActiveVersion = k.Version
				}
				kr := refs[k.Version]
				if kr == nil {
					kr = []reference{}
				}
				resp.Keys = append(resp.Keys, keyResponse{
					Version: k.Version, State: string(k.State), Usage: k.Usage, KEKID: k.KEKID, KEKVersion: k.KEKVersion,
					References: kr, CreatedAt: k.CreatedAt, UpdatedAt: k.UpdatedAt,
				})
			}
			if err = s.record(ctx, s.event(r, p.TokenID(), actionKeysList, org, "", outcomeAllowed, "")); err != nil {
				return err
			}
			s.writeJSON(w, http.StatusOK, resp)
			return nil
		}
	}
	if rerr := s.record(ctx, s.outcome(s.event(r, p.TokenID(), actionKeysList, org, "", "", ""), err)); rerr != nil {
		return rerr
	}
	return err
}

// references gathers the reference counts the store knows for org's DEK
// versions: the secret store's, live, and those recorded by scans.
func (s *Server) references(r *http.Request, org string) (map[uint32][]reference, error) {
	refs := map[uint32][]reference{}
	ctx := r.Context()
	if ss, ok := s.st.(store.SecretStore); ok {
		counts, err := ss.SecretVersionCounts(ctx, org)
		if err != nil {
			return nil, err
		}
		for _, c := range counts {
			refs[c.Version] = append(refs[c.Version], reference{Source: "secrets", Count: c.Count})
		}
	}
	if rs, ok := s.st.(store.ReferenceStore); ok {
		recs, err := rs.References(ctx, org)
		if err != nil {
			return nil, err
		}
		for _, c := range recs {
			if c.Key.Kind == "dek" {
				refs[c.Key.Version] = append(refs[c.Key.Version], reference{Source: c.Source, Count: c.Count})
			}
		}
	}
	return refs, nil
}

type rotateResponse struct {
	Org           string `json:"org"`
	ActiveVersion uint32 `json:"active_version"`
}

// rotateKey makes a new data key version active. It needs keys:manage.
func (s *Server) rotateKey(w http.ResponseWriter, r *http.Request, p Principal) error {
	org := orgOf(r)
	if !p.Allows(org, CapKeysManage, "") {
		return s.forbidden(r, p, actionKeysRotate, org, "", "")
	}
	ctx := r.Context()
	ev := s.event(r, p.TokenID(), actionKeysRotate, org, "", outcomeAllowed, "")
	if err := s.record(ctx, ev); err != nil {
		return err
	}
	v, err := s.eng.RotateDEK(ctx, org)
	if err != nil {
		s.recordFailure(r, ev, err)
		return err
	}
	s.writeJSON(w, http.StatusOK, rotateResponse{Org: org, ActiveVersion: v})
	return nil
}
