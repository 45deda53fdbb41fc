// Package gcpkms is a key-encryption key (KEK) held in Google Cloud KMS.
//
// The KEK is a symmetric Cloud KMS crypto key (purpose ENCRYPT_DECRYPT,
// protection level SOFTWARE or HSM). keyward sends each data key to Cloud KMS
// to be encrypted under the key's primary version and sends the ciphertext
// back to have it decrypted; the key material never leaves Google's boundary.
//
// # How it was built and tested
//
// Cloud KMS cannot be reached from the machine this package was written on.
// The provider is written against the real API, through Google's official Go
// client (cloud.google.com/go/kms/apiv1) on its REST transport, and its tests
// run against package gcpkmstest: a local HTTP fake of the documented REST
// API (POST /v1/{name}:encrypt and :decrypt, Google's JSON error format) on
// 127.0.0.1. The fake accepts exactly the JSON the client sends; its error
// messages and ciphertext layout only imitate Google's. The provider relies
// on Google's status codes, and on message text in two places only (a
// checksum complaint, a destroyed version), both named below.
//
// # Wrapping
//
// Wrap calls Encrypt on the crypto key, Unwrap calls Decrypt. The caller's
// AAD (see [kms.DEKAAD]) travels as additional_authenticated_data, which
// Cloud KMS binds to the ciphertext: unwrapping with another organization's
// or version's AAD fails with [kms.ErrUnwrap]. The ciphertext is Cloud KMS's
// own output, opaque to keyward; Cloud KMS records inside it which crypto
// key version encrypted it.
//
// Every request carries CRC32C checksums of its plaintext or ciphertext and
// of its AAD, as Google recommends, and every response is checked: Encrypt
// must report verified_plaintext_crc32c (and verified_additional_authenticated_data_crc32c
// when there is AAD), name a version of the configured key, and return a
// ciphertext matching ciphertext_crc32c; Decrypt must return a plaintext
// matching plaintext_crc32c. A response that fails a check is discarded (a
// decrypted key is wiped) and the call retried; when every attempt fails the
// error wraps [ErrIntegrity] and [kms.ErrUnavailable]. A corrupted key is
// never returned.
//
// # Versions and rotation
//
// Rotation is Cloud KMS's own: a new primary version (by hand or on a
// rotation schedule) encrypts from then on, and every enabled older version
// still decrypts, because Decrypt finds the version in the ciphertext. So
// Wrapped.KEKVersion is always 1, and the provider has no Rotate method:
// Decrypt does not report the version it used, and naming it would need
// extra permissions for no gain. DEKs wrapped before a rotation stay under
// the older version until rewrapped (keyward's KEK rotation unwraps and wraps
// every DEK again, which moves them to the primary version); disable or
// destroy an older version only after that.
//
// The KEK id is "gcpkms:" followed by the crypto key's resource name.
//
// # Errors and retries
//
// One function, mapError, turns Cloud KMS errors into the sentinels callers
// decide on:
//
//   - Decrypt's INVALID_ARGUMENT ("Decryption failed: the ciphertext is
//     invalid.": wrong AAD, tampered or foreign ciphertext) → [kms.ErrUnwrap],
//     without detail.
//   - RESOURCE_EXHAUSTED (429), UNAVAILABLE (503), other 5xx, network errors,
//     timeouts, failed checksums → [kms.ErrUnavailable], retried.
//   - FAILED_PRECONDITION for a version that is disabled, scheduled for
//     destruction or pending → [kms.ErrUnavailable] and [ErrKeyUnusable], not
//     retried: the key and every wrap are intact and an operator can restore
//     service (enable the version, cancel its destruction), so keyward should
//     report an outage, not a missing key; but waiting alone will not end it.
//   - FAILED_PRECONDITION for a destroyed version ("current state is:
//     DESTROYED", matched on Cloud KMS's message), and NOT_FOUND (no such key)
//     → [kms.ErrUnknownKEK]: that key material will not come back.
//   - PERMISSION_DENIED and UNAUTHENTICATED → [ErrPermissionDenied], not
//     retried: grant roles/cloudkms.cryptoKeyEncrypterDecrypter on the key.
//
// The same split as package awskms makes for a disabled and a deleted key.
//
// The client's own retry (unbounded within a 60 s budget, 503/504 only) is
// turned off; the provider retries itself, at most [Config.MaxAttempts]
// attempts (default 4) with jittered exponential backoff from 100 ms to 2 s,
// and never beyond the caller's context.
//
// # Credentials
//
// Without ClientOptions the client uses Application Default Credentials: the
// metadata server on GCE, GKE (Workload Identity) and Cloud Run, which needs
// no secret at all, or the key file named by GOOGLE_APPLICATION_CREDENTIALS (a
// path, not a secret value). To use a service-account key file explicitly,
// pass option.WithAuthCredentialsFile(option.ServiceAccount, PATH) in
// ClientOptions.
//
// The client library can log request and response bodies at debug level
// (GOOGLE_SDK_GO_LOGGING_LEVEL), which would print data keys in base64. New
// therefore always installs a logger that discards everything; it comes last,
// so ClientOptions cannot replace it.
package gcpkms

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"strings"
	"time"

	kmsapi "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/option"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/keyward/keyward/kms"
)

// Sentinel errors. Functions wrap them with %w, together with a kms sentinel
// where one applies.
var (
	// ErrPermissionDenied reports that Cloud KMS refused the caller's identity
	// (PERMISSION_DENIED or UNAUTHENTICATED). Retrying does not help.
	ErrPermissionDenied = errors.New("gcpkms: permission denied")
	// ErrIntegrity reports a response that failed its CRC32C integrity check
	// on every attempt. Errors wrapping it also wrap kms.ErrUnavailable.
	ErrIntegrity = errors.New("gcpkms: response failed its crc32c integrity check")
	// ErrKeyUnusable reports a crypto key version that exists but is not
	// enabled (disabled, scheduled for destruction, pending). Errors
	// wrapping it also wrap kms.ErrUnavailable: an operator can restore
	// service, so it is an outage, but it is not retried.
	ErrKeyUnusable = errors.New("gcpkms: key version not enabled")
)

const (
	// Scheme is the KEK URI scheme and the prefix of the KEK id.
	Scheme = "gcpkms"
	// MaxKeyLen bounds the data key Wrap accepts. keyward wraps 32-byte keys;
	// the bound only catches misuse (Cloud KMS itself allows 64 KiB, 8 KiB
	// with AAD for HSM keys).
	MaxKeyLen = 4096
	// MaxAADLen bounds the AAD (Cloud KMS: 64 KiB; keyward's is ~300 bytes).
	MaxAADLen = 4096
	// maxCiphertextLen bounds what Unwrap sends: a wrap of MaxKeyLen bytes
	// is far smaller; anything longer is not ours.
	maxCiphertextLen = 64 << 10
	// kekVersion is the only KEKVersion this provider writes or accepts.
	kekVersion = 1
	// defaultMaxAttempts is Config.MaxAttempts' default.
	defaultMaxAttempts = 4
	// attemptTimeout bounds one attempt when the caller's context has no
	// deadline.
	attemptTimeout = 30 * time.Second
)

// Config configures a Cloud KMS KEK.
type Config struct {
	// KeyName is the crypto key's resource name:
	// projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY.
	// It names the key, not a version: Encrypt uses the primary version,
	// Decrypt finds the version in the ciphertext.
	KeyName string
	// Endpoint overrides the API endpoint (default
	// https://cloudkms.googleapis.com), e.g. a regional or Private Service
	// Connect endpoint, or a fake in tests. It must be an https URL; plain
	// http is accepted only to a loopback address.
	Endpoint string
	// ClientOptions are passed to the Cloud KMS client after Endpoint:
	// credentials, a custom HTTP client, and so on.
	ClientOptions []option.ClientOption
	// MaxAttempts bounds the attempts of one Wrap or Unwrap, retries
	// included; 1 disables retries, 0 means 4.
	MaxAttempts int
}

// KEK is a [kms.KEK] backed by a Cloud KMS crypto key. It is safe for
// concurrent use. Call Close when done.
type KEK struct {
	client      *kmsapi.KeyManagementClient
	name        string
	id          string
	maxAttempts int
	callOpts    []gax.CallOption
}

var _ kms.KEK = (*KEK)(nil)

// New returns a KEK for cfg.KeyName. It validates the configuration and
// builds the client; it does not call Cloud KMS, so a KMS outage at start-up
// shows only on the first Wrap or Unwrap.
func New(ctx context.Context, cfg Config) (*KEK, error) {
	if err := checkKeyName(cfg.KeyName); err != nil {
		return nil, err
	}
	if cfg.MaxAttempts < 0 {
		return nil, fmt.Errorf("gcpkms: max attempts %d is negative", cfg.MaxAttempts)
	}
	attempts := cfg.MaxAttempts
	if attempts == 0 {
		attempts = defaultMaxAttempts
	}
	var opts []option.ClientOption
	if cfg.Endpoint != "" {
		ep, err := checkEndpoint(cfg.Endpoint)
		if err != nil {
			return nil, err
		}
		opts = append(opts, option.WithEndpoint(ep))
	}
	opts = append(opts, cfg.ClientOptions...)
	// Last, so nothing can turn the client's body logging back on.
	opts = append(opts, option.WithLogger(slog.New(slog.DiscardHandler)))
	client, err := kmsapi.NewKeyManagementRESTClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("gcpkms: client for %s: %w", cfg.KeyName, err)
	}
	return &KEK{
		client:      client,
		name:        cfg.KeyName,
		id:          Scheme + ":" + cfg.KeyName,
		maxAttempts: attempts,
		// gax.WithRetry(nil) turns off the client's retry: call retries.
		callOpts: []gax.CallOption{gax.WithRetry(nil), gax.WithTimeout(attemptTimeout)},
	}, nil
}

// Close releases the client.
func (k *KEK) Close() error {
	if err := k.client.Close(); err != nil {
		return fmt.Errorf("gcpkms: close: %w", err)
	}
	return nil
}

// ID returns "gcpkms:" and the crypto key's resource name.
func (k *KEK) ID() string { return k.id }

// Wrap encrypts key with the crypto key's primary version, binding aad.
func (k *KEK) Wrap(ctx context.Context, key, aad []byte) (kms.Wrapped, error) {
	if err := ctx.Err(); err != nil {
		return kms.Wrapped{}, fmt.Errorf("gcpkms: wrap with %s: %w", k.name, err)
	}
	if len(key) == 0 || len(key) > MaxKeyLen {
		return kms.Wrapped{}, fmt.Errorf("gcpkms: wrap with %s: key of %d bytes, want 1 to %d", k.name, len(key), MaxKeyLen)
	}
	if len(aad) > MaxAADLen {
		return kms.Wrapped{}, fmt.Errorf("gcpkms: wrap with %s: aad of %d bytes, want at most %d", k.name, len(aad), MaxAADLen)
	}
	req := &kmspb.EncryptRequest{
		Name:                        k.name,
		Plaintext:                   key,
		AdditionalAuthenticatedData: aad,
		PlaintextCrc32C:             checksum(key),
	}
	if len(aad) > 0 {
		req.AdditionalAuthenticatedDataCrc32C = checksum(aad)
	}
	var ct []byte
	err := k.retry(ctx, "wrap", func(ctx context.Context) error {
		resp, err := k.client.Encrypt(ctx, req, k.callOpts...)
		if err != nil {
			return k.mapError("wrap", err)
		}
		if !resp.GetVerifiedPlaintextCrc32C() || (len(aad) > 0 && !resp.GetVerifiedAdditionalAuthenticatedDataCrc32C()) {
			return k.integrityError("wrap", "cloud kms did not confirm the request's checksums")
		}
		if !matches(resp.GetCiphertext(), resp.GetCiphertextCrc32C()) {
			return k.integrityError("wrap", "ciphertext does not match ciphertext_crc32c")
		}
		if !strings.HasPrefix(resp.GetName(), k.name+"/cryptoKeyVersions/") {
			return fmt.Errorf("gcpkms: wrap with %s: cloud kms encrypted with %q, not a version of this key", k.name, clean(resp.GetName()))
		}
		if n := len(resp.GetCiphertext()); n == 0 || n > maxCiphertextLen {
			return fmt.Errorf("gcpkms: wrap with %s: cloud kms returned a ciphertext of %d bytes", k.name, n)
		}
		ct = resp.GetCiphertext()
		return nil
	})
	if err != nil {
		return kms.Wrapped{}, err
	}
	return kms.Wrapped{KEKID: k.id, KEKVersion: kekVersion, Ciphertext: ct}, nil
}

// Unwrap decrypts a key wrapped by this crypto key under any of its enabled
// versions, checking aad.
func (k *KEK) Unwrap(ctx context.Context, w kms.Wrapped, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("gcpkms: unwrap with %s: %w", k.name, err)
	}
	if w.KEKID != k.id {
		return nil, fmt.Errorf("%w: key wrapped by %q, not by %s", kms.ErrUnknownKEK, clean(w.KEKID), k.id)
	}
	if w.KEKVersion != kekVersion {
		return nil, fmt.Errorf("%w: %s has no version %d (gcpkms wraps always carry version %d; cloud kms finds its key version in the ciphertext)",
			kms.ErrUnknownKEK, k.id, w.KEKVersion, kekVersion)
	}
	if n := len(w.Ciphertext); n == 0 || n > maxCiphertextLen {
		return nil, fmt.Errorf("%w: %s: wrapped key of %d bytes", kms.ErrUnwrap, k.id, n)
	}
	if len(aad) > MaxAADLen {
		return nil, fmt.Errorf("%w: %s: aad of %d bytes", kms.ErrUnwrap, k.id, len(aad))
	}
	req := &kmspb.DecryptRequest{
		Name:                        k.name,
		Ciphertext:                  w.Ciphertext,
		AdditionalAuthenticatedData: aad,
		CiphertextCrc32C:            checksum(w.Ciphertext),
	}
	if len(aad) > 0 {
		req.AdditionalAuthenticatedDataCrc32C = checksum(aad)
	}
	var key []byte
	err := k.retry(ctx, "unwrap", func(ctx context.Context) error {
		resp, err := k.client.Decrypt(ctx, req, k.callOpts...)
		if err != nil {
			return k.mapError("unwrap", err)
		}
		pt := resp.GetPlaintext()
		if !matches(pt, resp.GetPlaintextCrc32C()) {
			clear(pt) // possibly a corrupted key; never hand it out
			return k.integrityError("unwrap", "plaintext does not match plaintext_crc32c")
		}
		if len(pt) == 0 {
			return fmt.Errorf("%w: %s: empty plaintext", kms.ErrUnwrap, k.id)
		}
		key = pt
		return nil
	})
	if err != nil {
		return nil, err
	}
	return key, nil
}

// String describes the KEK; it holds no secret.
func (k *KEK) String() string { return "gcpkms.KEK(" + k.id + ")" }

// GoString is String.
func (k *KEK) GoString() string { return k.String() }

// Format prints String for every verb.
func (k *KEK) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// crc32c returns the CRC32C (Castagnoli) checksum of b. MakeTable returns
// the standard library's shared table for Castagnoli; no table is built.
func crc32c(b []byte) int64 {
	return int64(crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

// checksum returns the CRC32C of b in the form Cloud KMS expects.
func checksum(b []byte) *wrapperspb.Int64Value { return wrapperspb.Int64(crc32c(b)) }

// matches reports whether sum is present and is the CRC32C of b.
func matches(b []byte, sum *wrapperspb.Int64Value) bool {
	return sum != nil && sum.GetValue() == crc32c(b)
}
