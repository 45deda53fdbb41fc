package server

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/keyward/keyward/format"
	"github.com/keyward/keyward/format/fernet"
)

// Encrypt, decrypt and rewrap, each single ({plaintext|ciphertext,
// context}) or batched ({items:[…]}). A batch is authorized as a whole:
// every item's context must be allowed, or nothing is done (403). Items
// then fail or succeed one by one, in order, each answered in place with
// its result or {"error":{code,message}}.

// authorizeContexts checks capability c for every item's context; the
// first refusal is recorded and returned.
func (s *Server) authorizeContexts(r *http.Request, p Principal, action, org string, c Capability, items []cryptItem) error {
	// Every string, "\x00" included, is a context a client may send: the
	// first item is always checked (a sentinel value would skip it).
	for i, it := range items {
		if i > 0 && it.context == items[i-1].context {
			continue // batches often repeat one context
		}
		if !p.Allows(org, c, it.context) {
			return s.forbidden(r, p, action, org, "", it.context)
		}
	}
	if c == CapEncrypt {
		return nil
	}
	// A legacy Fernet token is bound to no context: the context a client
	// names for it is not checked by decryption, so a narrow grant
	// (decrypt:channels.*) must not open the org's every Fernet token by
	// naming an allowed context. Only a grant covering every context of
	// the org does: patterns have no escape, so one matches the literal
	// name "*" only if it is made of wildcards alone (or empty).
	for _, it := range items {
		if fernet.LooksLike(it.value) && !p.Allows(org, c, "*") {
			return s.forbidden(r, p, action, org, "", it.context)
		}
	}
	return nil
}

func (s *Server) encrypt(w http.ResponseWriter, r *http.Request, p Principal) error {
	org := orgOf(r)
	body, err := s.readCrypt(w, r, "plaintext")
	if err != nil {
		return err
	}
	defer body.wipe()
	items, isBatch := body.items, body.batch
	if err := s.authorizeContexts(r, p, actionEncrypt, org, CapEncrypt, items); err != nil {
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
	// Room for every answer: the text form is 4/3 of the value plus 28
	// bytes of nonce and tag, with ~40 bytes of JSON around it.
	out := make([]byte, 0, len(items)*48+(len(body.arena)+28*len(items))*4/3+16)
	if isBatch {
		out = append(out, `{"items":[`...)
	}
	var evs []Event
	nerr := 0
	for i, it := range items {
		f, err := s.eng.EncryptField(ctx, org, it.value, it.context)
		if s.auditEncrypt {
			evs = append(evs, s.outcome(withVersion(withContext(s.event(r, p.TokenID(), actionEncrypt, org, "", "", ""), it.context), f.KeyVersion), err))
		}
		if err != nil {
			nerr++
			if !isBatch {
				s.metrics.count(actionEncrypt, 0, 1)
				return err
			}
			out = s.appendItemError(out, i, err)
			continue
		}
		out = appendSep(out, i)
		out = appendCiphertext(out, f)
		out = append(out, '}')
	}
	s.metrics.count(actionEncrypt, len(items)-nerr, nerr)
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
	body, err := s.readCrypt(w, r, "ciphertext")
	if err != nil {
		return err
	}
	defer body.wipe()
	items, isBatch := body.items, body.batch
	if err := s.authorizeContexts(r, p, action, org, c, items); err != nil {
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
		fernet    uint32 // the imported Fernet key that opened a legacy token
		err       error
	}
	res := make([]result, len(items))
	defer func() {
		for _, r := range res {
			clear(r.pt)
		}
	}()
	evs := make([]Event, len(items))
	nerr := 0
	for i, it := range items {
		ct := it.value
		f, err := format.Parse(ct)
		switch {
		case err == nil:
			res[i].version = f.KeyVersion
			if action == actionDecrypt {
				res[i].pt, err = s.eng.DecryptField(ctx, org, f, it.context)
			} else {
				res[i].ct, res[i].rewrapped, err = s.eng.Rewrap(ctx, org, ct, it.context)
			}
		case fernet.LooksLike(ct):
			// A legacy Fernet token of an org that imported its key (issue 6):
			// the engine opens it; the answer and the event name the key.
			if ref, rerr := s.eng.KeyRefOf(ctx, org, ct); rerr == nil {
				res[i].fernet = ref.Version
			}
			if action == actionDecrypt {
				res[i].pt, err = s.eng.Decrypt(ctx, org, ct, it.context)
			} else {
				res[i].ct, res[i].rewrapped, err = s.eng.Rewrap(ctx, org, ct, it.context)
			}
		}
		res[i].err = err
		if err != nil {
			nerr++
		}
		name := ""
		if res[i].fernet != 0 {
			name = "fernet:" + strconv.FormatUint(uint64(res[i].fernet), 10)
		}
		evs[i] = s.outcome(withVersion(withContext(s.event(r, p.TokenID(), action, org, name, "", ""), it.context), res[i].version), err)
	}
	s.metrics.count(action, len(items)-nerr, nerr)
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
			if rs.fernet != 0 {
				out = append(out, `","fernet_key":`...)
				out = strconv.AppendUint(out, uint64(rs.fernet), 10)
			} else {
				out = append(out, `","key_version":`...)
				out = strconv.AppendUint(out, uint64(rs.version), 10)
			}
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
