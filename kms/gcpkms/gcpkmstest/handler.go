package gcpkmstest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// apiError is an error answer in Google's JSON error format.
type apiError struct {
	code    int
	status  string // e.g. INVALID_ARGUMENT
	message string
}

func (e *apiError) body() any {
	return map[string]any{"error": map[string]any{"code": e.code, "message": e.message, "status": e.status}}
}

// protectionSoftware is ProtectionLevel SOFTWARE; the client asks for enums
// as numbers ($alt=json;enum-encoding=int).
const protectionSoftware = 1

// int64Value is a google.protobuf.Int64Value in JSON: protojson writes it
// as a string ("123") and reads a string or a number.
type int64Value struct{ v int64 }

func (j *int64Value) UnmarshalJSON(b []byte) error {
	s := string(b)
	if unq, err := strconv.Unquote(s); err == nil {
		s = unq
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("invalid int64 value %s", b)
	}
	j.v = v
	return nil
}

func crc32c(b []byte) int64 {
	return int64(crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

// crcString is a checksum as protojson writes an Int64Value.
func crcString(b []byte) string { return strconv.FormatInt(crc32c(b), 10) }

// checksumOK reports whether an optional checksum, when present, matches.
func checksumOK(sum *int64Value, b []byte) bool { return sum == nil || sum.v == crc32c(b) }

func checksumMismatch(field, data string) *apiError {
	return &apiError{http.StatusBadRequest, "INVALID_ARGUMENT",
		fmt.Sprintf("The checksum in field %s did not match the data in field %s.", field, data)}
}

func flipBit(b []byte) []byte {
	b = bytes.Clone(b)
	if len(b) > 0 {
		b[len(b)/2] ^= 0x10
	}
	return b
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	status, body := s.handle(r)
	out, err := json.Marshal(body)
	if err != nil {
		status, out = http.StatusInternalServerError, []byte(`{"error":{"code":500,"message":"fake: encoding","status":"INTERNAL"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

// handle routes a request and returns the status and JSON body to answer.
func (s *Server) handle(r *http.Request) (int, any) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/")
	i := strings.LastIndexByte(rest, ':')
	if !ok || i < 0 || r.Method != http.MethodPost {
		e := &apiError{http.StatusNotFound, "NOT_FOUND", "The requested URL was not found on this server."}
		return e.code, e.body()
	}
	name, method := rest[:i], rest[i+1:]
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		e := &apiError{http.StatusBadRequest, "INVALID_ARGUMENT", "could not read the request body"}
		return e.code, e.body()
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	call := Call{Method: method, Name: name}
	status, resp := s.dispatch(&call, r, name, method, body)
	call.Status = status
	s.calls = append(s.calls, call)
	return status, resp
}

// dispatch answers one request (the caller holds s.mu).
func (s *Server) dispatch(call *Call, r *http.Request, name, method string, body []byte) (int, any) {
	if method != "encrypt" && method != "decrypt" {
		e := &apiError{http.StatusNotFound, "NOT_FOUND", "method " + method + " is not part of the fake"}
		return e.code, e.body()
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		e := &apiError{http.StatusBadRequest, "INVALID_ARGUMENT", "Content-Type must be application/json"}
		return e.code, e.body()
	}
	var fault Fault
	if len(s.faults) > 0 {
		fault, s.faults = s.faults[0], s.faults[1:]
	}
	switch fault {
	case RateLimited:
		e := &apiError{http.StatusTooManyRequests, "RESOURCE_EXHAUSTED",
			"Quota exceeded for quota metric 'Cryptographic requests' and limit 'Cryptographic requests per minute' of service 'cloudkms.googleapis.com'."}
		return e.code, e.body()
	case Unavailable:
		e := &apiError{http.StatusServiceUnavailable, "UNAVAILABLE", "The service is currently unavailable."}
		return e.code, e.body()
	case PermissionDenied:
		e := &apiError{http.StatusForbidden, "PERMISSION_DENIED",
			fmt.Sprintf("Permission 'cloudkms.cryptoKeyVersions.useTo%s' denied on resource '%s' (or it may not exist).", strings.ToUpper(method[:1])+method[1:], name)}
		return e.code, e.body()
	}
	if !isKeyName(name) {
		e := &apiError{http.StatusBadRequest, "INVALID_ARGUMENT", "the fake accepts crypto key names only, not " + name}
		return e.code, e.body()
	}
	k, ok := s.keys[name]
	if !ok {
		e := &apiError{http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("CryptoKey %s not found.", name)}
		return e.code, e.body()
	}
	var e *apiError
	var resp any
	if method == "encrypt" {
		resp, e = encrypt(call, name, k, body, fault)
	} else {
		resp, e = decrypt(call, name, k, body, fault)
	}
	if e != nil {
		return e.code, e.body()
	}
	return http.StatusOK, resp
}

// decodeStrict decodes body into v, refusing unknown fields as Cloud KMS
// does ("Invalid JSON payload received. Unknown name …").
func decodeStrict(body []byte, v any) *apiError {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &apiError{http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload received. " + err.Error()}
	}
	return nil
}

func encrypt(call *Call, name string, k *cryptoKey, body []byte, fault Fault) (any, *apiError) {
	var req struct {
		Name                              string      `json:"name"`
		Plaintext                         []byte      `json:"plaintext"`
		AdditionalAuthenticatedData       []byte      `json:"additionalAuthenticatedData"`
		PlaintextCrc32c                   *int64Value `json:"plaintextCrc32c"`
		AdditionalAuthenticatedDataCrc32c *int64Value `json:"additionalAuthenticatedDataCrc32c"`
	}
	if e := decodeStrict(body, &req); e != nil {
		return nil, e
	}
	defer clear(req.Plaintext)
	call.AAD = bytes.Clone(req.AdditionalAuthenticatedData)
	call.PlaintextCRC32C = req.PlaintextCrc32c != nil
	call.AADCRC32C = req.AdditionalAuthenticatedDataCrc32c != nil
	switch {
	case req.Name != "" && req.Name != name:
		return nil, &apiError{http.StatusBadRequest, "INVALID_ARGUMENT", "name in the body does not match the path"}
	case len(req.Plaintext) == 0:
		return nil, &apiError{http.StatusBadRequest, "INVALID_ARGUMENT", "Plaintext is required."}
	case len(req.Plaintext) > maxData || len(req.AdditionalAuthenticatedData) > maxData:
		return nil, &apiError{http.StatusBadRequest, "INVALID_ARGUMENT", "Plaintext or AAD is too large."}
	}
	if fault == CorruptRequest {
		if req.PlaintextCrc32c != nil {
			return nil, checksumMismatch("plaintext_crc32c", "plaintext")
		}
		req.Plaintext = flipBit(req.Plaintext) // nobody will notice
	}
	if !checksumOK(req.PlaintextCrc32c, req.Plaintext) {
		return nil, checksumMismatch("plaintext_crc32c", "plaintext")
	}
	if !checksumOK(req.AdditionalAuthenticatedDataCrc32c, req.AdditionalAuthenticatedData) {
		return nil, checksumMismatch("additional_authenticated_data_crc32c", "additional_authenticated_data")
	}
	if st := k.versions[k.primary-1].state; st != Enabled {
		return nil, notEnabled(name, k.primary, st)
	}
	ct := seal(name, k, k.primary, req.Plaintext, req.AdditionalAuthenticatedData)
	call.Version = k.primary
	sum := crcString(ct)
	verified := fault != UnverifiedChecksums
	if fault == CorruptResponse {
		ct = flipBit(ct)
	}
	return map[string]any{
		"name":                    fmt.Sprintf("%s/cryptoKeyVersions/%d", name, k.primary),
		"ciphertext":              ct,
		"ciphertextCrc32c":        sum,
		"verifiedPlaintextCrc32c": verified && req.PlaintextCrc32c != nil,
		"verifiedAdditionalAuthenticatedDataCrc32c": verified && req.AdditionalAuthenticatedDataCrc32c != nil,
		"protectionLevel": protectionSoftware,
	}, nil
}

func decrypt(call *Call, name string, k *cryptoKey, body []byte, fault Fault) (any, *apiError) {
	var req struct {
		Name                              string      `json:"name"`
		Ciphertext                        []byte      `json:"ciphertext"`
		AdditionalAuthenticatedData       []byte      `json:"additionalAuthenticatedData"`
		CiphertextCrc32c                  *int64Value `json:"ciphertextCrc32c"`
		AdditionalAuthenticatedDataCrc32c *int64Value `json:"additionalAuthenticatedDataCrc32c"`
	}
	if e := decodeStrict(body, &req); e != nil {
		return nil, e
	}
	call.AAD = bytes.Clone(req.AdditionalAuthenticatedData)
	call.CiphertextCRC32C = req.CiphertextCrc32c != nil
	call.AADCRC32C = req.AdditionalAuthenticatedDataCrc32c != nil
	switch {
	case req.Name != "" && req.Name != name:
		return nil, &apiError{http.StatusBadRequest, "INVALID_ARGUMENT", "name in the body does not match the path"}
	case len(req.Ciphertext) == 0:
		return nil, &apiError{http.StatusBadRequest, "INVALID_ARGUMENT", "Ciphertext is required."}
	}
	if fault == CorruptRequest {
		if req.CiphertextCrc32c != nil {
			return nil, checksumMismatch("ciphertext_crc32c", "ciphertext")
		}
		req.Ciphertext = flipBit(req.Ciphertext)
	}
	if !checksumOK(req.CiphertextCrc32c, req.Ciphertext) {
		return nil, checksumMismatch("ciphertext_crc32c", "ciphertext")
	}
	if !checksumOK(req.AdditionalAuthenticatedDataCrc32c, req.AdditionalAuthenticatedData) {
		return nil, checksumMismatch("additional_authenticated_data_crc32c", "additional_authenticated_data")
	}
	pt, v, e := open(name, k, req.Ciphertext, req.AdditionalAuthenticatedData)
	if e != nil {
		return nil, e
	}
	call.Version = v
	resp := map[string]any{"usedPrimary": v == k.primary, "protectionLevel": protectionSoftware}
	if fault != UnverifiedChecksums {
		resp["plaintextCrc32c"] = crcString(pt)
	}
	if fault == CorruptResponse {
		pt = flipBit(pt)
	}
	resp["plaintext"] = pt
	return resp, nil
}
