package transittest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// answer is a response: status, JSON body (nil for none) and extra headers.
type answer struct {
	status int
	body   any
	header map[string]string
}

// vaultErrors is Vault's error body.
func vaultErrors(status int, msgs ...string) answer {
	if msgs == nil {
		msgs = []string{}
	}
	return answer{status: status, body: map[string]any{"errors": msgs}}
}

// ok wraps data in Vault's response envelope.
func ok(data any, warnings []string) answer {
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	var w any
	if len(warnings) > 0 {
		w = warnings
	}
	return answer{status: http.StatusOK, body: map[string]any{
		"request_id": hex.EncodeToString(id), "lease_id": "", "renewable": false, "lease_duration": 0,
		"data": data, "wrap_info": nil, "warnings": w, "auth": nil,
	}}
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.mu.Lock()
	call := Call{Method: r.Method, Token: r.Header.Get("X-Vault-Token"), Namespace: r.Header.Get("X-Vault-Namespace")}
	a := s.handle(&call, r, body)
	call.Status = a.status
	s.calls = append(s.calls, call)
	s.mu.Unlock()

	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(a.status)
	if a.body != nil {
		_ = json.NewEncoder(w).Encode(a.body)
	}
}

// handle answers one request (the caller holds s.mu).
func (s *Server) handle(call *Call, r *http.Request, body []byte) answer {
	path, found := strings.CutPrefix(r.URL.Path, "/v1/")
	if ns := strings.Trim(call.Namespace, "/"); ns != "" {
		path = ns + "/" + path
	}
	call.Path = path
	if len(s.faults) > 0 {
		f := s.faults[0]
		s.faults = s.faults[1:]
		switch f {
		case RateLimited:
			a := vaultErrors(http.StatusTooManyRequests, fmt.Sprintf("request path %q: rate limit quota exceeded", path))
			a.header = map[string]string{"Retry-After": "1"}
			return a
		case Sealed:
			return vaultErrors(http.StatusServiceUnavailable, "Vault is sealed")
		case Internal:
			return vaultErrors(http.StatusInternalServerError, "1 error occurred:\n\t* internal error\n\n")
		case PermissionDenied:
			return vaultErrors(http.StatusForbidden, "1 error occurred:\n\t* permission denied\n\n")
		}
	}
	if call.Token != s.token {
		return vaultErrors(http.StatusForbidden, "2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n")
	}
	mount, rest := s.route(path)
	if !found || mount == "" {
		return vaultErrors(http.StatusNotFound, fmt.Sprintf("no handler for route %q. route entry not found.", path))
	}
	keys := s.mounts[mount]
	op, name, _ := strings.Cut(rest, "/")
	switch {
	case r.Method == http.MethodPost && (op == "encrypt" || op == "decrypt") && !strings.Contains(name, "/"):
		p, warnings, bad := s.params(call, body)
		if bad != nil {
			return *bad
		}
		if op == "encrypt" {
			return encrypt(keys[name], p, warnings)
		}
		return decrypt(keys[name], p, warnings)
	case r.Method == http.MethodGet && op == "keys" && !strings.Contains(name, "/"):
		if k := keys[name]; k != nil {
			return ok(k.info(name), nil)
		}
		return vaultErrors(http.StatusNotFound)
	case (r.Method == http.MethodPost || r.Method == http.MethodPut) && op == "keys" && strings.HasSuffix(name, "/rotate"):
		name = strings.TrimSuffix(name, "/rotate")
		k := keys[name]
		if k == nil {
			return vaultErrors(http.StatusBadRequest, "no existing key named "+name+" could be found")
		}
		k.rotate()
		return ok(k.info(name), nil)
	}
	return vaultErrors(http.StatusMethodNotAllowed, "1 error occurred:\n\t* unsupported operation\n\n")
}

// route splits path into the longest mount it lies under and the rest.
func (s *Server) route(path string) (mount, rest string) {
	for m := range s.mounts {
		if r, ok := strings.CutPrefix(path, m+"/"); ok && len(m) > len(mount) {
			mount, rest = m, r
		}
	}
	return mount, rest
}

// params is the decoded body of an encrypt or decrypt request.
type params struct {
	plaintext, context, ad []byte
	hasPlaintext, hasAD    bool
	ciphertextText         string
}

// known lists the parameters transit's encrypt and decrypt accept.
func known(name string, ignoreAD bool) bool {
	switch name {
	case "plaintext", "ciphertext", "context", "nonce", "key_version", "reference", "type",
		"convergent_encryption", "partial_failure_response_code", "batch_input":
		return true
	case "associated_data":
		return !ignoreAD
	}
	return false
}

// params decodes body, recording associated_data in call. Unknown parameters
// are ignored with Vault's warning.
func (s *Server) params(call *Call, body []byte) (params, []string, *answer) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		a := vaultErrors(http.StatusBadRequest, "error parsing JSON")
		return params{}, nil, &a
	}
	var p params
	var unknown []string
	for name, v := range raw {
		if !known(name, s.ignoreAD) {
			unknown = append(unknown, name)
			continue
		}
		var str string
		if json.Unmarshal(v, &str) != nil {
			continue // not a string: irrelevant to the fake
		}
		var err error
		switch name {
		case "plaintext":
			p.hasPlaintext = true
			p.plaintext, err = base64.StdEncoding.DecodeString(str)
		case "ciphertext":
			p.ciphertextText = str
		case "context":
			p.context, err = base64.StdEncoding.DecodeString(str)
		case "associated_data":
			p.hasAD = str != ""
			p.ad, err = base64.StdEncoding.DecodeString(str)
		}
		if err != nil {
			a := vaultErrors(http.StatusBadRequest, "failed to base64-decode "+name)
			return params{}, nil, &a
		}
	}
	call.AssociatedData, call.HasAssociatedData = slices.Clone(p.ad), p.hasAD
	var warnings []string
	if len(unknown) > 0 && (s.warnAD || !slices.Contains(unknown, "associated_data")) {
		slices.Sort(unknown)
		warnings = append(warnings, "Endpoint ignored these unrecognized parameters: ["+strings.Join(unknown, " ")+"]")
	}
	return p, warnings, nil
}

// checkInputs applies transit's checks on context and associated_data.
func checkInputs(k *key, p params) *answer {
	if k.opts.Derived && len(p.context) == 0 {
		a := vaultErrors(http.StatusBadRequest, "missing 'context' for key derivation; the key was created using a derived key, which means additional, per-request information must be included in order to perform operations with the key")
		return &a
	}
	if p.hasAD && !k.aeadType() {
		a := vaultErrors(http.StatusBadRequest, fmt.Sprintf("'[0].associated_data' provided for non-AEAD cipher suite %s", k.opts.Type))
		return &a
	}
	return nil
}

func encrypt(k *key, p params, warnings []string) answer {
	if k == nil {
		// Encrypting would create the key, which needs "create": the
		// fake's token, like a least-privilege policy, has only "update".
		return vaultErrors(http.StatusForbidden, "1 error occurred:\n\t* permission denied\n\n")
	}
	if !p.hasPlaintext {
		return vaultErrors(http.StatusBadRequest, "missing plaintext to encrypt")
	}
	if a := checkInputs(k, p); a != nil {
		return *a
	}
	v := len(k.versions)
	aead := k.aead(v, p.context)
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	sealed := aead.Seal(nonce, nonce, p.plaintext, adOf(p))
	clear(p.plaintext)
	return ok(map[string]any{
		"ciphertext":  "vault:v" + strconv.Itoa(v) + ":" + base64.StdEncoding.EncodeToString(sealed),
		"key_version": v,
	}, warnings)
}

func decrypt(k *key, p params, warnings []string) answer {
	bad := func(msg string) answer { return vaultErrors(http.StatusBadRequest, msg) }
	if k == nil {
		return bad("encryption key not found")
	}
	if p.ciphertextText == "" {
		return bad("missing ciphertext to decrypt")
	}
	if a := checkInputs(k, p); a != nil {
		return *a
	}
	rest, found := strings.CutPrefix(p.ciphertextText, "vault:v")
	if !found {
		return bad("invalid ciphertext: no prefix")
	}
	parts := strings.SplitN(rest, ":", 2)
	if len(parts) != 2 {
		return bad("invalid ciphertext: wrong number of fields")
	}
	v, err := strconv.Atoi(parts[0]) // transit's leniency: "+1", "01"
	if err != nil {
		return bad("invalid ciphertext: version number could not be decoded")
	}
	if v == 0 {
		v = 1 // transit's compatibility with keys that started at zero
	}
	if v > len(k.versions) {
		return bad("invalid ciphertext: version is too new")
	}
	if v < k.minDecrypt {
		return bad("ciphertext or signature version is disallowed by policy (too old)")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[1])
	if err != nil {
		return bad("invalid ciphertext: could not decode base64")
	}
	aead := k.aead(v, p.context)
	if len(raw) < aead.NonceSize() {
		return bad("invalid ciphertext length")
	}
	pt, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], adOf(p))
	if err != nil {
		return bad("cipher: message authentication failed")
	}
	return ok(map[string]any{"plaintext": base64.StdEncoding.EncodeToString(pt)}, warnings)
}

// adOf is the associated data to authenticate: none if absent.
func adOf(p params) []byte {
	if !p.hasAD {
		return nil
	}
	return p.ad
}

// info is the key's metadata as GET {mount}/keys/{name} returns it.
func (k *key) info(name string) map[string]any {
	versions := map[string]int64{}
	for i, t := range k.created {
		versions[strconv.Itoa(i+1)] = t.Unix()
	}
	return map[string]any{
		"name": name, "type": k.opts.Type, "derived": k.opts.Derived, "keys": versions,
		"latest_version": len(k.versions), "min_decryption_version": k.minDecrypt,
		"min_encryption_version": 0, "min_available_version": 0,
		"supports_encryption": true, "supports_decryption": true, "supports_derivation": true,
		"supports_signing": false, "exportable": false, "deletion_allowed": false,
	}
}
