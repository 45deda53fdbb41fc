package server

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/keyward/keyward/format"
)

// Encrypt, decrypt and rewrap, each single ({plaintext|ciphertext,
// context}) or batched ({items:[…]}). A batch is authorized as a whole:
// every item's context must be allowed, or nothing is done (403). Items
// then fail or succeed one by one, in order, each answered in place with
// its result or {"error":{code,message}}.

type encryptItem struct {
	Plaintext b64    `json:"plaintext"`
	Context   string `json:"context"`
}

type encryptRequest struct {
	Plaintext b64           `json:"plaintext"`
	Context   string        `json:"context"`
	Items     []encryptItem `json:"items"`
}

type cipherItem struct {
	Ciphertext *string `json:"ciphertext"`
	Context    string  `json:"context"`
}

type cipherRequest struct {
	Ciphertext *string      `json:"ciphertext"`
	Context    string       `json:"context"`
	Items      []cipherItem `json:"items"`
}

// batchShape checks that a request is single or batch, not both or neither.
func (s *Server) batchShape(single bool, hasContext bool, items int, isBatch bool, field string) error {
	switch {
	case isBatch && (single || hasContext):
		return apiErr(http.StatusBadRequest, CodeInvalidRequest, "send either "+field+" and context, or items, not both")
	case isBatch && items == 0:
		return apiErr(http.StatusBadRequest, CodeInvalidRequest, "items is empty")
	case isBatch && items > s.limits.MaxBatch:
		return apiErr(http.StatusRequestEntityTooLarge, CodeBatchTooLarge, "a batch holds at most "+strconv.Itoa(s.limits.MaxBatch)+" items")
	case !isBatch && !single:
		return apiErr(http.StatusBadRequest, CodeInvalidRequest, field+" is required (or items, for a batch)")
	}
	return nil
}

// authorizeContexts checks capability c for every context; the first
// refusal is recorded and returned.
func (s *Server) authorizeContexts(r *http.Request, p Principal, action, org string, c Capability, contexts func(yield func(string) bool)) error {
	for ctx := range contexts {
		if !p.Allows(org, c, ctx) {
			return s.forbidden(r, p, action, org, "", ctx)
		}
	}
	return nil
}

func (s *Server) encrypt(w http.ResponseWriter, r *http.Request, p Principal) error {
	org := orgOf(r)
	var req encryptRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	defer func() {
		clear(req.Plaintext)
		for _, it := range req.Items {
			clear(it.Plaintext)
		}
	}()
	isBatch := req.Items != nil
	if err := s.batchShape(req.Plaintext != nil, req.Context != "", len(req.Items), isBatch, "plaintext"); err != nil {
		return err
	}
	if !isBatch {
		req.Items = []encryptItem{{req.Plaintext, req.Context}}
	}
	if err := s.authorizeContexts(r, p, actionEncrypt, org, CapEncrypt, func(yield func(string) bool) {
		for _, it := range req.Items {
			if !yield(it.Context) {
				return
			}
		}
	}); err != nil {
		return err
	}
	ctx := r.Context()
	if isBatch {
		// One check for the whole batch: an unknown org or an unreachable
		// store fails the request rather than every item.
		if _, err := s.eng.ActiveVersion(ctx, org); err != nil {
			return err
		}
	}
	out := make([]byte, 0, 64*len(req.Items)+16)
	if isBatch {
		out = append(out, `{"items":[`...)
	}
	var evs []Event
	for i, it := range req.Items {
		if it.Plaintext == nil {
			it.Plaintext = b64{}
		}
		f, err := s.eng.EncryptField(ctx, org, it.Plaintext, it.Context)
		if s.auditEncrypt {
			evs = append(evs, s.outcome(s.event(r, p.TokenID(), actionEncrypt, org, "", "", "").withContext(it.Context).withVersion(f.KeyVersion), err))
		}
		if err != nil {
			s.metrics.items.WithLabelValues("encrypt", "error").Inc()
			if !isBatch {
				return err
			}
			out = s.appendItemError(out, i, err)
			continue
		}
		s.metrics.items.WithLabelValues("encrypt", "ok").Inc()
		out = appendSep(out, i)
		out = appendCiphertext(out, f)
		out = append(out, '}')
	}
	if isBatch {
		out = append(out, "]}"...)
	}
	out = append(out, '\n')
	if len(evs) > 0 {
		if err := s.recordAll(ctx, evs); err != nil {
			return err
		}
	}
	s.writeRaw(w, http.StatusOK, out)
	return nil
}

// appendSep starts item i of a batch (or the single object).
func appendSep(out []byte, i int) []byte {
	if i > 0 {
		out = append(out, ',')
	}
	return out
}

// appendCiphertext appends `{"ciphertext":"kw1:…","key_version":N` (the
// text form needs no escaping: it is "kw1", digits, colons and base64url).
func appendCiphertext(out []byte, f format.Field) []byte {
	out = append(out, `{"ciphertext":"`...)
	out, _ = f.AppendText(out)
	out = append(out, `","key_version":`...)
	out = strconv.AppendUint(out, uint64(f.KeyVersion), 10)
	return out
}

// appendItemError appends a batch item's error object.
func (s *Server) appendItemError(out []byte, i int, err error) []byte {
	out = appendSep(out, i)
	e := s.errs.classify(err)
	body := errorBody(e)
	return append(out, body[:len(body)-1]...) // without the newline
}

func (s *Server) decodeCipher(w http.ResponseWriter, r *http.Request) ([]cipherItem, bool, error) {
	var req cipherRequest
	if err := s.decode(w, r, &req); err != nil {
		return nil, false, err
	}
	isBatch := req.Items != nil
	if err := s.batchShape(req.Ciphertext != nil, req.Context != "", len(req.Items), isBatch, "ciphertext"); err != nil {
		return nil, false, err
	}
	if !isBatch {
		return []cipherItem{{req.Ciphertext, req.Context}}, false, nil
	}
	for _, it := range req.Items {
		if it.Ciphertext == nil {
			return nil, false, apiErr(http.StatusBadRequest, CodeInvalidRequest, "every item needs a ciphertext")
		}
	}
	return req.Items, true, nil
}

func (s *Server) decrypt(w http.ResponseWriter, r *http.Request, p Principal) error {
	return s.openAll(w, r, p, actionDecrypt, CapDecrypt)
}

func (s *Server) rewrap(w http.ResponseWriter, r *http.Request, p Principal) error {
	return s.openAll(w, r, p, actionRewrap, CapRewrap)
}

// openAll serves decrypt and rewrap: both authenticate ciphertexts and are
// audited item by item, allowed or failed, before the answer leaves.
func (s *Server) openAll(w http.ResponseWriter, r *http.Request, p Principal, action string, c Capability) error {
	org := orgOf(r)
	items, isBatch, err := s.decodeCipher(w, r)
	if err != nil {
		return err
	}
	if err := s.authorizeContexts(r, p, action, org, c, func(yield func(string) bool) {
		for _, it := range items {
			if !yield(it.Context) {
				return
			}
		}
	}); err != nil {
		return err
	}
	ctx := r.Context()
	if isBatch {
		if _, err := s.eng.ActiveVersion(ctx, org); err != nil {
			return err
		}
	}
	type result struct {
		pt        []byte
		ct        []byte
		version   uint32
		rewrapped bool
		err       error
	}
	res := make([]result, len(items))
	defer func() {
		for _, r := range res {
			clear(r.pt)
		}
	}()
	evs := make([]Event, len(items))
	for i, it := range items {
		ct := []byte(*it.Ciphertext)
		f, err := format.Parse(ct)
		if err == nil {
			res[i].version = f.KeyVersion
			if action == actionDecrypt {
				res[i].pt, err = s.eng.DecryptField(ctx, org, f, it.Context)
			} else {
				res[i].ct, res[i].rewrapped, err = s.eng.Rewrap(ctx, org, ct, it.Context)
			}
		}
		res[i].err = err
		op, oc := action, "ok"
		if err != nil {
			oc = "error"
		}
		s.metrics.items.WithLabelValues(op, oc).Inc()
		evs[i] = s.outcome(s.event(r, p.TokenID(), action, org, "", "", "").withContext(it.Context).withVersion(res[i].version), err)
	}
	if err := s.recordAll(ctx, evs); err != nil {
		return err
	}
	if !isBatch && res[0].err != nil {
		return res[0].err
	}
	out := make([]byte, 0, 64*len(items)+16)
	if isBatch {
		out = append(out, `{"items":[`...)
	}
	for i, rs := range res {
		if rs.err != nil {
			out = s.appendItemError(out, i, rs.err)
			continue
		}
		out = appendSep(out, i)
		if action == actionDecrypt {
			out = append(out, `{"plaintext":"`...)
			out = base64.StdEncoding.AppendEncode(out, rs.pt)
			out = append(out, `","key_version":`...)
			out = strconv.AppendUint(out, uint64(rs.version), 10)
		} else {
			nf, err := format.Parse(rs.ct)
			if err != nil { // cannot happen: the engine just produced it
				return err
			}
			out = append(out, `{"ciphertext":`...)
			out = appendJSONString(out, string(rs.ct))
			out = append(out, `,"key_version":`...)
			out = strconv.AppendUint(out, uint64(nf.KeyVersion), 10)
			out = append(out, `,"rewrapped":`...)
			out = strconv.AppendBool(out, rs.rewrapped)
		}
		out = append(out, '}')
	}
	if isBatch {
		out = append(out, "]}"...)
	}
	out = append(out, '\n')
	s.writeRaw(w, http.StatusOK, out)
	clear(out)
	return nil
}

// appendJSONString appends v as a JSON string.
func appendJSONString(out []byte, v string) []byte {
	b, _ := json.Marshal(v)
	return append(out, b...)
}
