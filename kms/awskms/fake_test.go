package awskms_test

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// This file is a local HTTP fake of the documented AWS KMS JSON API
// (awsJson1_1): POST / with X-Amz-Target TrentService.Encrypt, .Decrypt or
// .DescribeKey, SigV4-signed (the fake recomputes the signature), JSON bodies
// and __type error responses as documented. It is a fake, not AWS.
//
// It really encrypts: AES-256-GCM under a per-key, per-version secret held in
// the fake. Its blob is
//
//	0x01 ‖ key id (36 bytes) ‖ u32be backing version ‖ nonce (12) ‖ sealed key ‖ tag (16)
//
// so it can find the key and version again; the GCM AAD is the header and a
// canonical encoding of the encryption context, which Decrypt must match
// exactly as KMS requires. Real KMS blobs are opaque. Keys can be rotated
// (older versions still decrypt), disabled, scheduled for deletion and
// deleted; faults can be injected for the next N calls.

const (
	fakeRegion    = "eu-west-1"
	fakeAccount   = "111122223333"
	fakeAccessKey = "AKIAKEYWARDFAKE00001"
	fakeSecretKey = "keyward-fake-secret-access-key-0000000000"

	blobVersion  = 0x01
	blobHeader   = 1 + 36 + 4
	maxBodyBytes = 1 << 20
)

// Key states, as KMS names them.
const (
	stateEnabled         = "Enabled"
	stateDisabled        = "Disabled"
	statePendingDeletion = "PendingDeletion"
)

type fakeKey struct {
	id       string
	state    string
	usage    string
	spec     string
	versions []cipher.AEAD // version n is versions[n-1]
}

// fakeCall records one request as the fake received it.
type fakeCall struct {
	Op            string // Encrypt, Decrypt, DescribeKey
	KeyID         string
	Context       map[string]string
	Authorization string
	AuthError     string // the error code the SigV4 check produced, if any
}

type fakeKMS struct {
	t   testing.TB
	URL string

	mu        sync.Mutex
	keys      map[string]*fakeKey // by key id
	aliases   map[string]string   // "alias/name" → key id
	calls     []fakeCall
	deny      bool // AccessDeniedException for every call
	drop      int  // close the connection without an answer
	stall     int  // wait stallFor (or until the client gives up) first
	stallFor  time.Duration
	throttle  int // ThrottlingException (400)
	fail      int // failCode with failStatus
	failCode  string
	failState int
}

// newFakeKMS starts a fake on 127.0.0.1, closed when the test ends.
func newFakeKMS(t testing.TB) *fakeKMS {
	t.Helper()
	f := &fakeKMS{t: t, keys: map[string]*fakeKey{}, aliases: map[string]string{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

func arnPrefix() string { return "arn:aws:kms:" + fakeRegion + ":" + fakeAccount + ":" }

func keyARN(id string) string { return arnPrefix() + "key/" + id }

// CreateKey creates an enabled symmetric encryption key and returns its ARN.
func (f *fakeKMS) CreateKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	id := h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys[id] = &fakeKey{id: id, state: stateEnabled, usage: "ENCRYPT_DECRYPT", spec: "SYMMETRIC_DEFAULT", versions: []cipher.AEAD{newAEAD()}}
	return keyARN(id)
}

func newAEAD() cipher.AEAD {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	block, err := aes.NewCipher(secret)
	if err != nil {
		panic(err) // 32 bytes is always a valid AES key
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}

// key returns the key an ARN names; the test fails if there is none.
func (f *fakeKMS) key(arn string) *fakeKey {
	f.t.Helper()
	k := f.keys[strings.TrimPrefix(arn, arnPrefix()+"key/")]
	if k == nil {
		f.t.Fatalf("fake kms: no key %s", arn)
	}
	return k
}

// CreateAlias points alias/name at the key and returns the alias ARN.
func (f *fakeKMS) CreateAlias(name, keyARN string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.aliases["alias/"+name] = f.key(keyARN).id
	return arnPrefix() + "alias/" + name
}

// RotateKey adds a backing key version, used by later Encrypt calls.
func (f *fakeKMS) RotateKey(arn string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := f.key(arn)
	k.versions = append(k.versions, newAEAD())
}

// SetKeyState sets the key's state (stateEnabled, stateDisabled, …).
func (f *fakeKMS) SetKeyState(arn, state string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.key(arn).state = state
}

// SetKeySpec changes the key's spec and usage, as if it were another kind of key.
func (f *fakeKMS) SetKeySpec(arn, spec, usage string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := f.key(arn)
	k.spec, k.usage = spec, usage
}

// DeleteKey removes the key, as at the end of its deletion waiting period.
func (f *fakeKMS) DeleteKey(arn string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.keys, f.key(arn).id)
}

// Deny makes every call fail with AccessDeniedException while on is true.
func (f *fakeKMS) Deny(on bool) { f.mu.Lock(); f.deny = on; f.mu.Unlock() }

// Throttle answers the next n calls with ThrottlingException (400).
func (f *fakeKMS) Throttle(n int) { f.mu.Lock(); f.throttle = n; f.mu.Unlock() }

// Fail answers the next n calls with status and error code (500
// KMSInternalException, 503 ServiceUnavailable, …).
func (f *fakeKMS) Fail(n, status int, code string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail, f.failState, f.failCode = n, status, code
}

// Drop closes the connection of the next n calls without answering.
func (f *fakeKMS) Drop(n int) { f.mu.Lock(); f.drop = n; f.mu.Unlock() }

// Stall delays the next n calls by d, or until the client gives up.
func (f *fakeKMS) Stall(n int, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stall, f.stallFor = n, d
}

// Calls returns the requests received so far, in order.
func (f *fakeKMS) Calls() []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Count returns how many requests of operation op were received.
func (f *fakeKMS) Count(op string) int {
	n := 0
	for _, c := range f.Calls() {
		if c.Op == op {
			n++
		}
	}
	return n
}

// BlobVersion returns the backing key version a fake blob names.
func BlobVersion(blob []byte) uint32 {
	if len(blob) < blobHeader {
		return 0
	}
	return binary.BigEndian.Uint32(blob[37:blobHeader])
}

// fakeRequest holds every request field the three operations use. Blobs are
// base64 in JSON, which encoding/json does for []byte.
type fakeRequest struct {
	KeyId               string
	Plaintext           []byte
	CiphertextBlob      []byte
	EncryptionContext   map[string]string
	EncryptionAlgorithm string
}

type apiError struct {
	status int
	code   string
	msg    string
}

func errf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

func (f *fakeKMS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
	if err != nil {
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		writeError(w, errf(http.StatusNotFound, "UnknownOperationException", "%s %s", r.Method, r.URL.Path))
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		f.t.Errorf("fake kms: Content-Type %q, want application/x-amz-json-1.1", ct)
		writeError(w, errf(http.StatusBadRequest, "SerializationException", "content type %q", ct))
		return
	}
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "TrentService.")
	if !ok {
		writeError(w, errf(http.StatusBadRequest, "UnknownOperationException", "target %q", r.Header.Get("X-Amz-Target")))
		return
	}
	var req fakeRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, errf(http.StatusBadRequest, "SerializationException", "%v", err))
		return
	}
	authErr := verifySigV4(r, body)
	call := fakeCall{Op: op, KeyID: req.KeyId, Context: maps.Clone(req.EncryptionContext), Authorization: r.Header.Get("Authorization")}
	if authErr != nil {
		call.AuthError = authErr.code
	}

	f.mu.Lock()
	f.calls = append(f.calls, call)
	var fault func() bool // returns whether it answered
	switch {
	case f.drop > 0:
		f.drop--
		fault = func() bool { hangUp(w); return true }
	case f.stall > 0:
		f.stall--
		d := f.stallFor
		fault = func() bool {
			select {
			case <-time.After(d):
				return false
			case <-r.Context().Done():
				return true
			}
		}
	case f.throttle > 0:
		f.throttle--
		fault = func() bool {
			writeError(w, errf(http.StatusBadRequest, "ThrottlingException", "Rate exceeded"))
			return true
		}
	case f.fail > 0:
		f.fail--
		e := errf(f.failState, f.failCode, "injected failure")
		fault = func() bool { writeError(w, e); return true }
	}
	f.mu.Unlock()
	if fault != nil && fault() {
		return
	}
	if authErr != nil {
		writeError(w, authErr)
		return
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.deny {
		writeError(w, errf(http.StatusBadRequest, "AccessDeniedException", "User is not authorized to perform: kms:%s", op))
		return
	}
	var resp any
	var aerr *apiError
	switch op {
	case "Encrypt":
		resp, aerr = f.encrypt(req)
	case "Decrypt":
		resp, aerr = f.decrypt(req)
	case "DescribeKey":
		resp, aerr = f.describeKey(req)
	default:
		aerr = errf(http.StatusBadRequest, "UnknownOperationException", "operation %s is not faked", op)
	}
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", "00000000-0000-0000-0000-000000000000")
	_ = json.NewEncoder(w).Encode(resp)
}

func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": e.code, "message": e.msg})
}

// hangUp closes the connection without an HTTP answer.
func hangUp(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

// resolve finds the key a KeyId parameter names: key id, key ARN, alias
// name or alias ARN of this fake's account and region.
func (f *fakeKMS) resolve(keyID string) (*fakeKey, *apiError) {
	id := strings.TrimPrefix(keyID, arnPrefix())
	if strings.HasPrefix(id, "alias/") {
		id = f.aliases[id]
	} else {
		id = strings.TrimPrefix(id, "key/")
	}
	k := f.keys[id]
	if k == nil {
		return nil, errf(http.StatusBadRequest, "NotFoundException", "Key '%s' does not exist", keyID)
	}
	return k, nil
}

// usable reports why key k refuses a cryptographic operation, if it does.
func usable(k *fakeKey) *apiError {
	switch k.state {
	case stateEnabled:
	case stateDisabled:
		return errf(http.StatusBadRequest, "DisabledException", "%s is disabled.", keyARN(k.id))
	default:
		return errf(http.StatusBadRequest, "KMSInvalidStateException", "%s is pending deletion.", keyARN(k.id))
	}
	if k.usage != "ENCRYPT_DECRYPT" || k.spec != "SYMMETRIC_DEFAULT" {
		return errf(http.StatusBadRequest, "InvalidKeyUsageException", "%s key usage is %s", keyARN(k.id), k.usage)
	}
	return nil
}

// canonicalContext encodes an encryption context so that equal maps, and
// only they, encode equally.
func canonicalContext(ec map[string]string) []byte {
	var b []byte
	for _, k := range slices.Sorted(maps.Keys(ec)) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(k)))
		b = append(b, k...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(ec[k])))
		b = append(b, ec[k]...)
	}
	return b
}

func checkAlgorithm(alg string) *apiError {
	if alg != "" && alg != "SYMMETRIC_DEFAULT" {
		return errf(http.StatusBadRequest, "ValidationException", "EncryptionAlgorithm %q", alg)
	}
	return nil
}

func (f *fakeKMS) encrypt(req fakeRequest) (any, *apiError) {
	if n := len(req.Plaintext); n < 1 || n > 4096 {
		return nil, errf(http.StatusBadRequest, "ValidationException", "Plaintext of %d bytes", n)
	}
	if e := checkAlgorithm(req.EncryptionAlgorithm); e != nil {
		return nil, e
	}
	k, e := f.resolve(req.KeyId)
	if e != nil {
		return nil, e
	}
	if e := usable(k); e != nil {
		return nil, e
	}
	v := len(k.versions)
	aead := k.versions[v-1]
	blob := make([]byte, 0, blobHeader+aead.NonceSize()+len(req.Plaintext)+aead.Overhead())
	blob = append(blob, blobVersion)
	blob = append(blob, k.id...)
	blob = binary.BigEndian.AppendUint32(blob, uint32(v))
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	blob = append(blob, nonce...)
	blob = aead.Seal(blob, nonce, req.Plaintext, append(blob[:blobHeader:blobHeader], canonicalContext(req.EncryptionContext)...))
	return map[string]any{"CiphertextBlob": blob, "KeyId": keyARN(k.id), "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}, nil
}

func (f *fakeKMS) decrypt(req fakeRequest) (any, *apiError) {
	blob := req.CiphertextBlob
	if n := len(blob); n < 1 || n > 6144 {
		return nil, errf(http.StatusBadRequest, "ValidationException", "CiphertextBlob of %d bytes", n)
	}
	if e := checkAlgorithm(req.EncryptionAlgorithm); e != nil {
		return nil, e
	}
	var pinned *fakeKey
	if req.KeyId != "" {
		k, e := f.resolve(req.KeyId)
		if e != nil {
			return nil, e
		}
		pinned = k
	}
	invalid := errf(http.StatusBadRequest, "InvalidCiphertextException", "")
	if len(blob) < blobHeader+12+16 || blob[0] != blobVersion {
		return nil, invalid
	}
	k := f.keys[string(blob[1:37])]
	if k == nil {
		return nil, invalid
	}
	if pinned != nil && pinned != k {
		return nil, errf(http.StatusBadRequest, "IncorrectKeyException", "The key ID in the request does not identify a KMS key that can perform this operation.")
	}
	if e := usable(k); e != nil {
		return nil, e
	}
	v := BlobVersion(blob)
	if v < 1 || int(v) > len(k.versions) {
		return nil, invalid
	}
	aead := k.versions[v-1]
	nonce, sealed := blob[blobHeader:blobHeader+12], blob[blobHeader+12:]
	plain, err := aead.Open(nil, nonce, sealed, append(blob[:blobHeader:blobHeader], canonicalContext(req.EncryptionContext)...))
	if err != nil {
		return nil, invalid
	}
	return map[string]any{"Plaintext": plain, "KeyId": keyARN(k.id), "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}, nil
}

func (f *fakeKMS) describeKey(req fakeRequest) (any, *apiError) {
	k, e := f.resolve(req.KeyId)
	if e != nil {
		return nil, e
	}
	return map[string]any{"KeyMetadata": map[string]any{
		"AWSAccountId":          fakeAccount,
		"KeyId":                 k.id,
		"Arn":                   keyARN(k.id),
		"CreationDate":          1.7e9,
		"Enabled":               k.state == stateEnabled,
		"Description":           "keyward fake",
		"KeyUsage":              k.usage,
		"KeyState":              k.state,
		"Origin":                "AWS_KMS",
		"KeyManager":            "CUSTOMER",
		"CustomerMasterKeySpec": k.spec,
		"KeySpec":               k.spec,
		"EncryptionAlgorithms":  []string{"SYMMETRIC_DEFAULT"},
		"MultiRegion":           false,
	}}, nil
}
