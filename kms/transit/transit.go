// Package transit is a key-encryption key (KEK) held in the transit secrets
// engine of HashiCorp Vault or OpenBao.
//
// keyward sends each data key to Vault's encrypt endpoint and the resulting
// "vault:vN:…" ciphertext to its decrypt endpoint; the transit key never
// leaves Vault. The package speaks the documented HTTP API with net/http and
// encoding/json only (no Vault client library):
//
//	POST {addr}/v1/{mount}/encrypt/{key}   {"plaintext": b64, "associated_data": b64}
//	POST {addr}/v1/{mount}/decrypt/{key}   {"ciphertext": "vault:vN:…", "associated_data": b64}
//	GET  {addr}/v1/{mount}/keys/{key}      key metadata (latest_version, …)
//	POST {addr}/v1/{mount}/keys/{key}/rotate
//
// # How it was built and tested
//
// No Vault or OpenBao server can be reached from the machine this package was
// written on. The provider is written against the documented API, and its
// tests run against package transittest: a local HTTP fake of those endpoints
// on 127.0.0.1 that really encrypts (AES-256-GCM per key version), enforces
// associated_data, answers Vault's error messages and status codes, and can
// inject faults. Run it against a real server before relying on it.
//
// # Associated data
//
// The caller's AAD (see [kms.DEKAAD]) is sent as associated_data, which
// transit authenticates for AEAD key types (aes128-gcm96, aes256-gcm96,
// chacha20-poly1305) since Vault 1.13 and in every OpenBao release. The key
// must be one of those types and not derived (derived keys need a per-request
// context and are refused). Older Vault versions ignore the parameter. Those
// that report unknown parameters say so in the response's warnings
// ("Endpoint ignored these unrecognized parameters"), and Wrap refuses such a
// response with [ErrAADIgnored], since a wrap not bound to its organization
// would silently break keyward's tenant isolation. Older ones are silent;
// [KEK.Check] verifies all of this up front, including, by a probe, that the
// server really refuses a wrong associated_data.
//
// # Versions and rotation
//
// A transit ciphertext names its key version ("vault:v3:…"); Wrapped.KEKVersion
// is that number and Wrapped.Ciphertext the whole string. Unwrap checks that
// the two agree and parses the prefix strictly (Vault itself reads "v0" and
// "v01" as version 1). [KEK.Rotate] rotates the transit key; older versions
// keep decrypting until an operator raises min_decryption_version, after which
// Unwrap of an older wrap fails with [kms.ErrUnknownKEK].
//
// The KEK id is "transit:" + addr + "/" + [namespace "/"] + mount + "/" + key,
// for example "transit:https://vault.internal:8200/transit/keyward". It names
// where the key lives and never carries the token.
//
// # Token
//
// The token is a [secret.Bytes] that the caller loads with package credential
// (a file, an inherited file descriptor or a systemd credential). This
// package never reads the environment: VAULT_TOKEN, VAULT_ADDR and the other
// variables the Vault CLI honours are ignored, so a token that exists only in
// the environment is not used. The token is sent only in the X-Vault-Token
// header, never appears in errors or in the printed form of any value, and is
// scrubbed from messages the server sends back. The default HTTP client
// follows a redirect only to the same scheme, host and port, so the token
// does not follow a redirect elsewhere. Tokens are not renewed: use a
// periodic token renewed out of band, or restart keyward with a fresh one.
//
// A minimal policy for the key "keyward" on mount "transit":
//
//	path "transit/encrypt/keyward"     { capabilities = ["update"] }
//	path "transit/decrypt/keyward"     { capabilities = ["update"] }
//	path "transit/keys/keyward"        { capabilities = ["read"] }
//	path "transit/keys/keyward/rotate" { capabilities = ["update"] }  # keyward rotate kek only
//
// Without "create" on encrypt, a misspelt key name is refused (403) instead of
// being created.
//
// # Errors and retries
//
// One function, mapError, turns Vault's answers into sentinels: a decrypt
// failure (400 "cipher: message authentication failed", "invalid ciphertext…")
// is [kms.ErrUnwrap]; a version below min_decryption_version or above the
// latest, a missing key (400 "encryption key not found") and a missing mount
// (404) are [kms.ErrUnknownKEK]; 403 is [ErrPermissionDenied]; 429, 412, 5xx
// (sealed, standby, internal), network errors and timeouts are
// [kms.ErrUnavailable]. Those last ones are retried, at most
// [Config.MaxAttempts] attempts (default 4), with jittered exponential backoff
// from 100 ms to 2 s (longer if the server sends Retry-After, up to 5 s),
// never beyond the caller's context. Rotate's POST is not retried: it is not
// idempotent.
//
// TLS: the default client requires TLS 1.2 or later and trusts the system
// roots, or only the CA certificates in [Config.CAFile]. Plain http is
// accepted only to a loopback address (a local Vault Agent or dev server).
package transit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/secret"
)

// Sentinel errors. Functions wrap them with %w.
var (
	// ErrPermissionDenied reports a 403: a wrong, expired or revoked token,
	// or a policy without the capability. Retrying does not help.
	ErrPermissionDenied = errors.New("transit: permission denied")
	// ErrAADIgnored reports a server that does not authenticate
	// associated_data: an older Vault that ignores the parameter.
	ErrAADIgnored = errors.New("transit: server ignores associated_data")
	// ErrUnsupportedKey reports a transit key keyward cannot use: not an
	// AEAD type, derived, or unable to encrypt and decrypt.
	ErrUnsupportedKey = errors.New("transit: unsupported transit key")
)

const (
	// Scheme is the KEK URI scheme and the prefix of the KEK id.
	Scheme = "transit"
	// MaxKeyLen bounds the data key Wrap accepts (keyward wraps 32 bytes).
	MaxKeyLen = 4096
	// MaxAADLen bounds the AAD (keyward's is ~300 bytes).
	MaxAADLen = 4096
	// maxCiphertextLen bounds what Unwrap sends: a wrap of MaxKeyLen bytes
	// is far smaller.
	maxCiphertextLen = 16 << 10
	// minSealedLen is a 12-byte nonce plus a 16-byte tag.
	minSealedLen = 28
)

// KEK is a [kms.KEK] backed by a transit key. It is safe for concurrent use,
// except Close.
type KEK struct {
	addr, ns, mount, key string
	id                   string
	token                secret.Bytes // the KEK's own copy
	client               *http.Client
	ownClient            bool
	maxAttempts          int
	latest               atomic.Uint32 // highest key version seen
}

var _ kms.KEK = (*KEK)(nil)

// ID returns the KEK id (see the package documentation).
func (k *KEK) ID() string { return k.id }

// Close wipes the KEK's copy of the token and closes idle connections of the
// default client. The KEK must not be used, concurrently or afterwards.
func (k *KEK) Close() error {
	k.token.Wipe()
	if k.ownClient {
		k.client.CloseIdleConnections()
	}
	return nil
}

// String describes the KEK without the token.
func (k *KEK) String() string { return "transit.KEK(" + k.id + ")" }

// GoString is String.
func (k *KEK) GoString() string { return k.String() }

// Format prints String for every verb, so no verb can reach the token.
func (k *KEK) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// Wrap encrypts key with the transit key's latest version, binding aad.
func (k *KEK) Wrap(ctx context.Context, key, aad []byte) (kms.Wrapped, error) {
	if err := ctx.Err(); err != nil {
		return kms.Wrapped{}, fmt.Errorf("transit: wrap with %s: %w", k.id, err)
	}
	if len(key) == 0 || len(key) > MaxKeyLen {
		return kms.Wrapped{}, fmt.Errorf("transit: wrap with %s: key of %d bytes, want 1 to %d", k.id, len(key), MaxKeyLen)
	}
	if len(aad) > MaxAADLen {
		return kms.Wrapped{}, fmt.Errorf("transit: wrap with %s: aad of %d bytes, want at most %d", k.id, len(aad), MaxAADLen)
	}
	body := encodeBody("plaintext", key, aad)
	defer clear(body) // it holds the key in base64
	resp, err := k.request(ctx, "wrap", http.MethodPost, k.mount+"/encrypt/"+k.key, body, k.maxAttempts)
	if err != nil {
		return kms.Wrapped{}, err
	}
	var out struct {
		Data struct {
			Ciphertext string  `json:"ciphertext"`
			KeyVersion *uint32 `json:"key_version"`
		} `json:"data"`
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal(resp, &out); err != nil {
		return kms.Wrapped{}, fmt.Errorf("transit: wrap with %s: %w: malformed response: %w", k.id, kms.ErrUnavailable, err)
	}
	for _, w := range out.Warnings {
		if strings.Contains(w, "associated_data") {
			return kms.Wrapped{}, fmt.Errorf("%w: wrap with %s: the server answered %q; it needs Vault 1.13 or later (or OpenBao) to bind the wrap to its organization",
				ErrAADIgnored, k.id, k.clean(w))
		}
	}
	v, ok := parseCiphertext(out.Data.Ciphertext)
	if !ok || (out.Data.KeyVersion != nil && *out.Data.KeyVersion != v) {
		return kms.Wrapped{}, fmt.Errorf("transit: wrap with %s: the server returned a malformed ciphertext", k.id)
	}
	k.sawVersion(v)
	return kms.Wrapped{KEKID: k.id, KEKVersion: v, Ciphertext: []byte(out.Data.Ciphertext)}, nil
}

// Unwrap decrypts a key wrapped by any version of the transit key that is
// still at or above min_decryption_version, checking aad.
func (k *KEK) Unwrap(ctx context.Context, w kms.Wrapped, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("transit: unwrap with %s: %w", k.id, err)
	}
	if w.KEKID != k.id {
		return nil, fmt.Errorf("%w: key wrapped by %q, not by %s", kms.ErrUnknownKEK, k.clean(w.KEKID), k.id)
	}
	if w.KEKVersion == 0 {
		return nil, fmt.Errorf("%w: %s has no version 0", kms.ErrUnknownKEK, k.id)
	}
	if len(w.Ciphertext) > maxCiphertextLen {
		return nil, fmt.Errorf("%w: %s: wrapped key of %d bytes", kms.ErrUnwrap, k.id, len(w.Ciphertext))
	}
	if len(aad) > MaxAADLen {
		return nil, fmt.Errorf("%w: %s: aad of %d bytes", kms.ErrUnwrap, k.id, len(aad))
	}
	v, ok := parseCiphertext(string(w.Ciphertext))
	if !ok || v != w.KEKVersion {
		// Either the bytes were tampered with, or KEKVersion names a
		// version the key does not have. Only the latter needs a lookup.
		if err := k.checkVersion(ctx, w.KEKVersion); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s version %d", kms.ErrUnwrap, k.id, w.KEKVersion)
	}
	body := encodeBody("ciphertext", w.Ciphertext, aad)
	resp, err := k.request(ctx, "unwrap", http.MethodPost, k.mount+"/decrypt/"+k.key, body, k.maxAttempts)
	if err != nil {
		return nil, err
	}
	defer clear(resp) // it holds the key in base64
	var out struct {
		Data struct {
			Plaintext []byte `json:"plaintext"` // base64 in JSON, decoded by encoding/json
		} `json:"data"`
	}
	if err := json.Unmarshal(resp, &out); err != nil {
		return nil, fmt.Errorf("transit: unwrap with %s: %w: malformed response", k.id, kms.ErrUnavailable)
	}
	if len(out.Data.Plaintext) == 0 {
		return nil, fmt.Errorf("%w: %s: empty plaintext", kms.ErrUnwrap, k.id)
	}
	return out.Data.Plaintext, nil
}

// checkVersion returns an error wrapping kms.ErrUnknownKEK if v is not a
// version of the key (above the latest or below min_decryption_version), nil
// if it is, and the lookup's error if the key cannot be read.
func (k *KEK) checkVersion(ctx context.Context, v uint32) error {
	if v <= k.latest.Load() {
		return nil // versions are never deleted below the latest we saw
	}
	info, err := k.readKey(ctx)
	if err != nil {
		return err
	}
	if v > info.LatestVersion {
		return fmt.Errorf("%w: %s has no version %d (latest is %d)", kms.ErrUnknownKEK, k.id, v, info.LatestVersion)
	}
	return nil
}

// Rotate makes the transit key create a new version, which wraps from then
// on, and returns it. Older versions still unwrap. The POST is sent once (a
// retried rotation could rotate twice); the version is then read back.
func (k *KEK) Rotate(ctx context.Context) (uint32, error) {
	if _, err := k.request(ctx, "rotate", http.MethodPost, k.mount+"/keys/"+k.key+"/rotate", []byte("{}"), 1); err != nil {
		return 0, err
	}
	info, err := k.readKey(ctx)
	if err != nil {
		return 0, err
	}
	return info.LatestVersion, nil
}

// keyInfo is the part of GET {mount}/keys/{key} keyward reads.
type keyInfo struct {
	Type                 string `json:"type"`
	Derived              bool   `json:"derived"`
	LatestVersion        uint32 `json:"latest_version"`
	MinDecryptionVersion uint32 `json:"min_decryption_version"`
	SupportsEncryption   bool   `json:"supports_encryption"`
	SupportsDecryption   bool   `json:"supports_decryption"`
}

// readKey reads the key's metadata and records its latest version.
func (k *KEK) readKey(ctx context.Context) (keyInfo, error) {
	resp, err := k.request(ctx, "read key", http.MethodGet, k.mount+"/keys/"+k.key, nil, k.maxAttempts)
	if err != nil {
		return keyInfo{}, err
	}
	var out struct {
		Data *keyInfo `json:"data"`
	}
	if err := json.Unmarshal(resp, &out); err != nil || out.Data == nil || out.Data.LatestVersion == 0 {
		return keyInfo{}, fmt.Errorf("transit: read key %s: %w: malformed response", k.id, kms.ErrUnavailable)
	}
	k.sawVersion(out.Data.LatestVersion)
	return *out.Data, nil
}

// Check verifies, against the server, that the KEK is usable: the token may
// read the key; the key is a non-derived AEAD key that encrypts and decrypts;
// and the server authenticates associated_data (a probe wraps a random value
// and must fail to unwrap it with other associated_data). Call it at start-up.
func (k *KEK) Check(ctx context.Context) error {
	info, err := k.readKey(ctx)
	if err != nil {
		return err
	}
	switch {
	case info.Type != "aes256-gcm96" && info.Type != "aes128-gcm96" && info.Type != "chacha20-poly1305":
		return fmt.Errorf("%w: %s is of type %q; create an aes256-gcm96 key", ErrUnsupportedKey, k.id, k.clean(info.Type))
	case info.Derived:
		return fmt.Errorf("%w: %s is a derived key; create one without derived=true", ErrUnsupportedKey, k.id)
	case !info.SupportsEncryption || !info.SupportsDecryption:
		return fmt.Errorf("%w: %s does not support encryption and decryption", ErrUnsupportedKey, k.id)
	}
	probe := make([]byte, 32)
	_, _ = rand.Read(probe) // crypto/rand.Read never fails
	aad := []byte("keyward/transit/check/" + strconv.FormatUint(uint64(info.LatestVersion), 10))
	w, err := k.Wrap(ctx, probe, aad)
	if err != nil {
		return err
	}
	got, err := k.Unwrap(ctx, w, append(aad, '!'))
	switch {
	case err == nil:
		clear(got)
		return fmt.Errorf("%w: %s unwrapped a probe with the wrong associated_data; upgrade to Vault 1.13 or later (or OpenBao)", ErrAADIgnored, k.id)
	case !errors.Is(err, kms.ErrUnwrap):
		return err
	}
	got, err = k.Unwrap(ctx, w, aad)
	if err != nil {
		return err
	}
	defer clear(got)
	if !bytes.Equal(got, probe) {
		return fmt.Errorf("transit: check %s: the probe came back different", k.id)
	}
	return nil
}

// sawVersion records v as seen, keeping the highest.
func (k *KEK) sawVersion(v uint32) {
	for {
		cur := k.latest.Load()
		if v <= cur || k.latest.CompareAndSwap(cur, v) {
			return
		}
	}
}

// encodeBody returns {"<field>": <value>, "associated_data": b64(aad)}. The
// value is base64-encoded for "plaintext" and sent as is for "ciphertext"
// (already text). associated_data is left out when aad is empty: transit
// treats an empty value as none.
func encodeBody(field string, value, aad []byte) []byte {
	var b bytes.Buffer
	b.WriteString(`{"` + field + `":"`)
	if field == "plaintext" {
		enc := base64.NewEncoder(base64.StdEncoding, &b)
		_, _ = enc.Write(value)
		_ = enc.Close()
	} else {
		b.Write(value) // a parsed "vault:vN:base64" string: nothing to escape
	}
	b.WriteByte('"')
	if len(aad) > 0 {
		b.WriteString(`,"associated_data":"` + base64.StdEncoding.EncodeToString(aad) + `"`)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// parseCiphertext parses "vault:v<N>:<base64>" strictly: N is a canonical
// decimal from 1 to 2^32-1 (no sign, no leading zero), and the base64 is
// canonical standard encoding of at least a nonce and a tag. It returns N.
func parseCiphertext(s string) (uint32, bool) {
	rest, ok := strings.CutPrefix(s, "vault:v")
	if !ok {
		return 0, false
	}
	num, b64, ok := strings.Cut(rest, ":")
	if !ok || num == "" || len(num) > 10 || num[0] == '0' {
		return 0, false
	}
	for i := range len(num) {
		if num[i] < '0' || num[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(num, 10, 32)
	if err != nil {
		return 0, false
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil || len(raw) < minSealedLen || base64.StdEncoding.EncodeToString(raw) != b64 {
		return 0, false
	}
	return uint32(v), true
}
