// Package gcpkmstest is a fake of the Google Cloud KMS REST API for tests: an
// HTTP server on 127.0.0.1 that answers the encrypt and decrypt methods the
// way the documented API does, in the JSON that the official Go client's REST
// transport (cloud.google.com/go/kms/apiv1, NewKeyManagementRESTClient) sends
// and expects.
//
// It is not Cloud KMS. It exists because Cloud KMS cannot be reached from
// where keyward is tested; what it checks is the provider's side of the
// protocol:
//
//   - POST /v1/{crypto key name}:encrypt with {name, plaintext,
//     additionalAuthenticatedData, plaintextCrc32c,
//     additionalAuthenticatedDataCrc32c} (bytes in base64, the checksums as
//     int64 JSON strings), answering {name (the version), ciphertext,
//     ciphertextCrc32c, verifiedPlaintextCrc32c,
//     verifiedAdditionalAuthenticatedDataCrc32c, protectionLevel};
//   - POST /v1/{crypto key name}:decrypt with {name, ciphertext,
//     additionalAuthenticatedData, ciphertextCrc32c,
//     additionalAuthenticatedDataCrc32c}, answering {plaintext,
//     plaintextCrc32c, usedPrimary, protectionLevel};
//   - unknown JSON fields are refused (400), so a misspelt field cannot go
//     unnoticed; checksums that do not match are refused (400);
//   - errors in Google's format {"error":{"code","message","status"}}.
//
// It really encrypts: every crypto key version holds a random AES-256-GCM key
// that never leaves the process. The fake's ciphertext is version (4 bytes,
// big endian) ‖ nonce ‖ sealed key, with the key name, the version and the
// caller's AAD authenticated. Real Cloud KMS ciphertexts are opaque and their
// format is Google's; nothing may depend on this one.
//
// Keys rotate (a new primary version; older versions still decrypt), versions
// can be disabled, re-enabled and destroyed (FAILED_PRECONDITION, as Cloud KMS
// answers for a version that is not enabled), and [Server.FailNext] injects
// faults: 429 RESOURCE_EXHAUSTED, 503 UNAVAILABLE, 403 PERMISSION_DENIED,
// corrupted responses, responses without checksum confirmation, and requests
// corrupted on the way in.
package gcpkmstest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// Fault is a failure the server can be told to inject.
type Fault int

// Faults, for [Server.FailNext].
const (
	// RateLimited answers 429 RESOURCE_EXHAUSTED (quota exceeded).
	RateLimited Fault = iota + 1
	// Unavailable answers 503 UNAVAILABLE.
	Unavailable
	// PermissionDenied answers 403 PERMISSION_DENIED.
	PermissionDenied
	// CorruptResponse flips a bit of the returned ciphertext (encrypt) or
	// plaintext (decrypt) after computing its checksum, as if the response
	// had been damaged on the way back.
	CorruptResponse
	// UnverifiedChecksums answers encrypt without the verified_*_crc32c
	// flags, and decrypt without plaintext_crc32c, as if the request's
	// checksums had been lost.
	UnverifiedChecksums
	// CorruptRequest acts as if the request's data had been damaged on the
	// way in: with a checksum in the request, Cloud KMS notices and answers
	// 400 INVALID_ARGUMENT; without one, it would silently encrypt or decrypt
	// the damaged data, and so does the fake.
	CorruptRequest
)

// maxData is Cloud KMS's limit on plaintext and AAD (software keys).
const maxData = 64 << 10

// isKeyName reports whether name has the shape of a crypto key resource
// name: projects/*/locations/*/keyRings/*/cryptoKeys/*.
func isKeyName(name string) bool {
	p := strings.Split(name, "/")
	if len(p) != 8 || p[0] != "projects" || p[2] != "locations" || p[4] != "keyRings" || p[6] != "cryptoKeys" {
		return false
	}
	return p[1] != "" && p[3] != "" && p[5] != "" && p[7] != ""
}

// Call is one request the server received. It never holds a plaintext.
type Call struct {
	// Method is "encrypt" or "decrypt".
	Method string
	// Name is the resource name in the request path.
	Name string
	// AAD is the additional authenticated data the request carried.
	AAD []byte
	// PlaintextCRC32C, CiphertextCRC32C and AADCRC32C report which
	// checksums the request carried.
	PlaintextCRC32C, CiphertextCRC32C, AADCRC32C bool
	// Version is the crypto key version that encrypted or decrypted; 0 if
	// none did.
	Version int
	// Status is the HTTP status the server answered.
	Status int
}

// State is a crypto key version's state.
type State int

// Version states.
const (
	Enabled State = iota
	Disabled
	Destroyed
)

func (s State) String() string {
	switch s {
	case Enabled:
		return "ENABLED"
	case Disabled:
		return "DISABLED"
	default:
		return "DESTROYED"
	}
}

type version struct {
	aead  cipher.AEAD // nil once destroyed
	state State
}

type cryptoKey struct {
	versions []*version // versions[i] is version i+1
	primary  int
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the server's base URL, http://127.0.0.1:PORT: the Endpoint.
	URL string
	srv *httptest.Server

	mu     sync.Mutex
	keys   map[string]*cryptoKey
	faults []Fault
	calls  []Call
}

// NewServer starts a fake with no keys on 127.0.0.1. Call Close when done.
func NewServer() *Server {
	s := &Server{keys: make(map[string]*cryptoKey)}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = s.srv.URL
	return s
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// CreateKey creates a crypto key with one enabled, primary version.
func (s *Server) CreateKey(name string) error {
	if !isKeyName(name) {
		return fmt.Errorf("gcpkmstest: %q is not a crypto key name", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[name]; ok {
		return fmt.Errorf("gcpkmstest: crypto key %s exists", name)
	}
	s.keys[name] = &cryptoKey{versions: []*version{newVersion()}, primary: 1}
	return nil
}

// Rotate adds a version to the crypto key and makes it primary, as
// `gcloud kms keys versions create --primary` does. It returns the version.
func (s *Server) Rotate(name string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[name]
	if !ok {
		return 0, fmt.Errorf("gcpkmstest: no crypto key %s", name)
	}
	k.versions = append(k.versions, newVersion())
	k.primary = len(k.versions)
	return k.primary, nil
}

// DisableVersion disables a version: it neither encrypts nor decrypts until
// enabled again.
func (s *Server) DisableVersion(name string, v int) error { return s.setState(name, v, Disabled) }

// EnableVersion re-enables a disabled version.
func (s *Server) EnableVersion(name string, v int) error { return s.setState(name, v, Enabled) }

// DestroyVersion destroys a version's key material, irreversibly.
func (s *Server) DestroyVersion(name string, v int) error { return s.setState(name, v, Destroyed) }

func (s *Server) setState(name string, v int, st State) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[name]
	if !ok || v < 1 || v > len(k.versions) {
		return fmt.Errorf("gcpkmstest: no version %d of %s", v, name)
	}
	ver := k.versions[v-1]
	if ver.state == Destroyed {
		return fmt.Errorf("gcpkmstest: version %d of %s is destroyed", v, name)
	}
	ver.state = st
	if st == Destroyed {
		ver.aead = nil
	}
	return nil
}

// FailNext makes the next n requests fail with f. Faults queue up in order.
func (s *Server) FailNext(n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, f)
	}
}

// Calls returns the requests received so far, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	for i, c := range s.calls {
		c.AAD = append([]byte(nil), c.AAD...)
		out[i] = c
	}
	return out
}

// newVersion returns an enabled version with a fresh random key.
func newVersion() *version {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never fails
	defer clear(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // unreachable: the key is 32 bytes
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		panic(err) // unreachable for AES
	}
	return &version{aead: aead}
}

// adata is what the fake authenticates: key name, version and caller's AAD.
func adata(name string, v uint32, aad []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(name)))
	b = append(b, name...)
	b = binary.BigEndian.AppendUint32(b, v)
	return append(b, aad...)
}

// seal encrypts under version v of k (the caller holds s.mu).
func seal(name string, k *cryptoKey, v int, plaintext, aad []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(v))
	return k.versions[v-1].aead.Seal(out, nil, plaintext, adata(name, uint32(v), aad))
}

// open decrypts ct, returning the version that made it, or the error Cloud
// KMS answers (the caller holds s.mu).
func open(name string, k *cryptoKey, ct, aad []byte) ([]byte, int, *apiError) {
	failed := &apiError{http.StatusBadRequest, "INVALID_ARGUMENT", "Decryption failed: the ciphertext is invalid."}
	if len(ct) < 4 {
		return nil, 0, failed
	}
	v := binary.BigEndian.Uint32(ct)
	if v == 0 || uint64(v) > uint64(len(k.versions)) {
		return nil, 0, failed
	}
	if ver := k.versions[v-1]; ver.state != Enabled {
		return nil, 0, notEnabled(name, int(v), ver.state)
	}
	pt, err := k.versions[v-1].aead.Open(nil, nil, ct[4:], adata(name, v, aad))
	if err != nil {
		return nil, 0, failed
	}
	return pt, int(v), nil
}

// notEnabled is Cloud KMS's answer for a version that is not enabled.
func notEnabled(name string, v int, st State) *apiError {
	return &apiError{http.StatusBadRequest, "FAILED_PRECONDITION",
		fmt.Sprintf("%s/cryptoKeyVersions/%d is not enabled, current state is: %s.", name, v, st)}
}
