// Package transittest is a fake of the HashiCorp Vault / OpenBao transit
// secrets engine for tests: an HTTP server on 127.0.0.1 answering the
// documented endpoints keyward's transit KEK uses, with Vault's JSON shapes,
// status codes and error messages.
//
// It is not Vault. It exists because no Vault or OpenBao server can be
// reached where keyward is tested. It implements:
//
//   - POST /v1/{mount}/encrypt/{key}: {"plaintext", "associated_data",
//     "context"} → {"data":{"ciphertext":"vault:vN:…","key_version":N}};
//   - POST /v1/{mount}/decrypt/{key}: {"ciphertext", "associated_data",
//     "context"} → {"data":{"plaintext"}};
//   - GET /v1/{mount}/keys/{key}: type, derived, latest_version,
//     min_decryption_version, keys, supports_*;
//   - POST /v1/{mount}/keys/{key}/rotate.
//
// Encryption is real: each key version is a random AES-256-GCM key that never
// leaves the process, and the ciphertext is "vault:v<N>:" and base64 of
// nonce ‖ sealed ‖ tag with associated_data authenticated, as transit's
// aes256-gcm96 keys produce. Decrypt follows transit's parsing, leniency
// included ("vault:v0:" and "vault:v01:" read as version 1), checks
// min_decryption_version, and answers transit's messages ("cipher: message
// authentication failed", "invalid ciphertext: version is too new", "ciphertext
// or signature version is disallowed by policy (too old)", "encryption key
// not found"). Unknown body parameters are ignored with Vault's warning.
//
// Every request must carry the server's token in X-Vault-Token (403
// otherwise). A namespace in X-Vault-Namespace is prefixed to the path, as
// Vault Enterprise and OpenBao do, so mount "team/transit" is reached either
// way. The token acts as if its policy grants update on encrypt and decrypt,
// not create: encrypting with a missing key is 403, as with a least-privilege
// policy. [Server.FailNext] injects 429 (rate limit, with Retry-After), 503
// (sealed), 500 and 403; [Server.IgnoreAssociatedData] imitates a Vault older
// than 1.13.
package transittest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"
)

// Fault is a failure the server can be told to inject.
type Fault int

// Faults, for [Server.FailNext].
const (
	// RateLimited answers 429 with Retry-After: 1, as a rate limit quota does.
	RateLimited Fault = iota + 1
	// Sealed answers 503 "Vault is sealed".
	Sealed
	// Internal answers 500 "internal error".
	Internal
	// PermissionDenied answers 403 "permission denied".
	PermissionDenied
)

// KeyOptions shapes a key made by [Server.CreateKey]. The zero value is an
// aes256-gcm96 key that is not derived.
type KeyOptions struct {
	// Type is the key type; "" means aes256-gcm96. AEAD types
	// (aes128-gcm96, aes256-gcm96, chacha20-poly1305) accept
	// associated_data; any other type refuses it (the fake still encrypts
	// with AES-GCM).
	Type string
	// Derived makes the key require a context on every request.
	Derived bool
}

// Call is one request the server received. It never holds a plaintext.
type Call struct {
	// Method is the HTTP method; Path the path after /v1/, with the
	// namespace header's value prefixed.
	Method, Path string
	// Token is the X-Vault-Token header; Namespace the X-Vault-Namespace
	// header.
	Token, Namespace string
	// AssociatedData is the decoded associated_data; HasAssociatedData
	// reports whether the request carried it.
	AssociatedData    []byte
	HasAssociatedData bool
	// Status is the HTTP status the server answered.
	Status int
}

type key struct {
	opts       KeyOptions
	versions   [][]byte // versions[i] is version i+1's secret
	created    []time.Time
	minDecrypt int
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the server's address, http://127.0.0.1:PORT: Config.Addr.
	URL string
	srv *httptest.Server

	mu       sync.Mutex
	token    string
	mounts   map[string]map[string]*key // mount path → key name → key
	faults   []Fault
	calls    []Call
	ignoreAD bool
	warnAD   bool
}

// NewServer starts a fake that accepts token, with a transit mount at
// "transit" and no keys. Call Close when done.
func NewServer(token string) *Server {
	s := &Server{token: token, mounts: map[string]map[string]*key{"transit": {}}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = s.srv.URL
	return s
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// Mount enables a transit engine at path (e.g. "team/transit"); a no-op if
// there is one.
func (s *Server) Mount(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	path = strings.Trim(path, "/")
	if s.mounts[path] == nil {
		s.mounts[path] = map[string]*key{}
	}
}

// CreateKey creates a key with one version on the mount at mount.
func (s *Server) CreateKey(mount, name string, o KeyOptions) error {
	if o.Type == "" {
		o.Type = "aes256-gcm96"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	keys, ok := s.mounts[mount]
	if !ok {
		return fmt.Errorf("transittest: no mount %q", mount)
	}
	if _, ok := keys[name]; ok {
		return fmt.Errorf("transittest: key %s/%s exists", mount, name)
	}
	k := &key{opts: o, minDecrypt: 1}
	k.rotate()
	keys[name] = k
	return nil
}

// Rotate adds a version to a key, as an operator's `vault write -f
// transit/keys/NAME/rotate` does, and returns it.
func (s *Server) Rotate(mount, name string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.key(mount, name)
	if err != nil {
		return 0, err
	}
	k.rotate()
	return len(k.versions), nil
}

// SetMinDecryptionVersion sets a key's min_decryption_version.
func (s *Server) SetMinDecryptionVersion(mount, name string, v int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.key(mount, name)
	if err != nil {
		return err
	}
	if v < 1 || v > len(k.versions) {
		return fmt.Errorf("transittest: min_decryption_version %d out of range", v)
	}
	k.minDecrypt = v
	return nil
}

// SetToken replaces the token the server accepts (revoking the old one).
func (s *Server) SetToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

// IgnoreAssociatedData makes the server behave like a Vault older than 1.13,
// which does not know associated_data: it encrypts and decrypts without it.
// With warn, it says so in the response's warnings ("Endpoint ignored these
// unrecognized parameters"), as versions that report unknown parameters do;
// without, it is silent, as versions older still are.
func (s *Server) IgnoreAssociatedData(warn bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ignoreAD, s.warnAD = true, warn
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
		c.AssociatedData = slices.Clone(c.AssociatedData)
		out[i] = c
	}
	return out
}

func (s *Server) key(mount, name string) (*key, error) {
	k, ok := s.mounts[mount][name]
	if !ok {
		return nil, fmt.Errorf("transittest: no key %s/%s", mount, name)
	}
	return k, nil
}

// rotate appends a version with a fresh random secret.
func (k *key) rotate() {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret) // crypto/rand.Read never fails
	k.versions = append(k.versions, secret)
	k.created = append(k.created, time.Now())
}

// aead returns the AEAD of version v (1-based, in range), derived from
// context for a derived key.
func (k *key) aead(v int, context []byte) cipher.AEAD {
	secret := k.versions[v-1]
	if k.opts.Derived {
		mac := hmac.New(sha256.New, secret)
		mac.Write(context)
		secret = mac.Sum(nil)
	}
	block, err := aes.NewCipher(secret)
	if err != nil {
		panic(err) // unreachable: 32-byte keys
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err) // unreachable for AES
	}
	return aead
}

// aeadType reports whether the key type authenticates associated_data.
func (k *key) aeadType() bool {
	switch k.opts.Type {
	case "aes128-gcm96", "aes256-gcm96", "chacha20-poly1305":
		return true
	}
	return false
}
