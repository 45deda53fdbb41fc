package awskms

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	kmsapi "github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/keyward/keyward/kms"
)

const (
	// ContextKey is the encryption-context key under which Wrap and Unwrap
	// send the AAD (unpadded base64url) to KMS.
	ContextKey = "keyward:aad"

	// kekVersion is the only KEKVersion: KMS rotates material inside a key.
	kekVersion = 1

	maxPlaintext  = 4096 // KMS Encrypt: Plaintext is 1 to 4096 bytes
	maxCiphertext = 6144 // KMS Decrypt: CiphertextBlob is 1 to 6144 bytes
	// maxAAD bounds the AAD; kms.DEKAAD is at most 275 bytes.
	maxAAD = 1024

	// DefaultMaxAttempts is the number of attempts per call (the first and
	// two retries) when Config.MaxAttempts is zero.
	DefaultMaxAttempts = 3
	// DefaultAttemptTimeout bounds one HTTP attempt when Config.AttemptTimeout
	// is zero and Config.HTTPClient is nil.
	DefaultAttemptTimeout = 10 * time.Second
)

// Config configures a KEK. KeyID and Credentials are required.
type Config struct {
	// KeyID is the ARN of a symmetric KMS key (…:key/ID) or of an alias
	// (…:alias/NAME). See the package documentation on aliases.
	KeyID string
	// Region is the key's region. Empty means the region of the ARN; if set,
	// it must equal it.
	Region string
	// Credentials signs every request. It is wrapped in an
	// aws.CredentialsCache unless it already is one.
	Credentials aws.CredentialsProvider
	// Endpoint overrides the KMS endpoint, for example a VPC interface
	// endpoint or, in tests, a local fake. It must be https, or http to a
	// loopback address (requests carry data keys in their bodies).
	Endpoint string
	// HTTPClient sends the requests. Nil selects the SDK's default client
	// with AttemptTimeout.
	HTTPClient *http.Client
	// MaxAttempts bounds the attempts per call, retries included: 0 selects
	// DefaultMaxAttempts, 1 disables retries.
	MaxAttempts int
	// MaxBackoff bounds the jittered exponential backoff between attempts;
	// 0 selects the SDK default (20s). The caller's context bounds the
	// whole call in any case.
	MaxBackoff time.Duration
	// AttemptTimeout bounds one HTTP attempt when HTTPClient is nil; 0
	// selects DefaultAttemptTimeout. A timed-out attempt is retried.
	AttemptTimeout time.Duration
	// CheckKey makes New call DescribeKey and refuse a key that is not an
	// enabled symmetric encryption key (see KEK.Check).
	CheckKey bool
}

// KEK is a [kms.KEK] backed by an AWS KMS key. It is safe for concurrent use.
type KEK struct {
	id     string // "awskms:" + keyID
	keyID  string // the configured ARN
	alias  bool   // keyID is an alias ARN
	client *kmsapi.Client
}

var _ kms.KEK = (*KEK)(nil)

// New returns a KEK for cfg. It makes no call to AWS unless cfg.CheckKey is
// set. Configuration errors wrap [ErrInvalidConfig].
func New(ctx context.Context, cfg Config) (*KEK, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("awskms: new: %w", err)
	}
	arn, err := parseARN(cfg.KeyID)
	if err != nil {
		return nil, fmt.Errorf("%w: key id: %w", ErrInvalidConfig, err)
	}
	if cfg.Region != "" && cfg.Region != arn.region {
		return nil, fmt.Errorf("%w: region %q differs from the key's region %q", ErrInvalidConfig, cfg.Region, arn.region)
	}
	if cfg.Credentials == nil {
		return nil, fmt.Errorf("%w: no credentials provider", ErrInvalidConfig)
	}
	if cfg.MaxAttempts < 0 || cfg.MaxBackoff < 0 || cfg.AttemptTimeout < 0 {
		return nil, fmt.Errorf("%w: negative MaxAttempts, MaxBackoff or AttemptTimeout", ErrInvalidConfig)
	}
	opts := kmsapi.Options{
		Region:      arn.region,
		Credentials: cachedCredentials(cfg.Credentials),
		Retryer:     newRetryer(cfg),
	}
	if cfg.Endpoint != "" {
		if err := checkEndpoint(cfg.Endpoint); err != nil {
			return nil, fmt.Errorf("%w: endpoint: %w", ErrInvalidConfig, err)
		}
		opts.BaseEndpoint = aws.String(cfg.Endpoint)
	}
	if cfg.HTTPClient != nil {
		opts.HTTPClient = cfg.HTTPClient
	} else {
		timeout := cfg.AttemptTimeout
		if timeout == 0 {
			timeout = DefaultAttemptTimeout
		}
		opts.HTTPClient = awshttp.NewBuildableClient().WithTimeout(timeout)
	}
	k := &KEK{
		id:     Scheme + ":" + cfg.KeyID,
		keyID:  cfg.KeyID,
		alias:  strings.HasPrefix(arn.resource, "alias/"),
		client: kmsapi.New(opts),
	}
	if cfg.CheckKey {
		if err := k.Check(ctx); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// newRetryer returns the SDK's standard retryer (jittered exponential
// backoff, retry quota) bounded by cfg.MaxAttempts and cfg.MaxBackoff.
func newRetryer(cfg Config) aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = DefaultMaxAttempts
		if cfg.MaxAttempts > 0 {
			o.MaxAttempts = cfg.MaxAttempts
		}
		if cfg.MaxBackoff > 0 {
			o.MaxBackoff = cfg.MaxBackoff
		}
	})
}

// cachedCredentials caches p (as aws.config would) and marks its failures
// so that mapError can report them as such.
func cachedCredentials(p aws.CredentialsProvider) aws.CredentialsProvider {
	if _, ok := p.(*aws.CredentialsCache); !ok {
		p = aws.NewCredentialsCache(p)
	}
	return markedCredentials{p}
}

type markedCredentials struct{ p aws.CredentialsProvider }

func (m markedCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := m.p.Retrieve(ctx)
	if err != nil {
		return aws.Credentials{}, &credentialsError{err: err}
	}
	return c, nil
}

// checkEndpoint accepts an https URL, or an http URL to a loopback host,
// with no user info, query or fragment.
func checkEndpoint(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a url", s)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return fmt.Errorf("%q is not of the form https://HOST[:PORT]", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
			return nil
		}
		return fmt.Errorf("%q: plain http is allowed only to a loopback address", s)
	}
	return fmt.Errorf("%q: scheme must be https", s)
}

// ID returns "awskms:" followed by the configured key ARN.
func (k *KEK) ID() string { return k.id }

// encryptionContext returns the encryption context that binds aad.
func encryptionContext(aad []byte) map[string]string {
	return map[string]string{ContextKey: base64.RawURLEncoding.EncodeToString(aad)}
}

// Wrap encrypts key with KMS Encrypt under the configured key, binding aad
// through the encryption context. key must be 1 to 4096 bytes and aad 1 to
// 1024 bytes.
func (k *KEK) Wrap(ctx context.Context, key, aad []byte) (kms.Wrapped, error) {
	if err := ctx.Err(); err != nil {
		return kms.Wrapped{}, fmt.Errorf("awskms: wrap: %w", err)
	}
	if len(key) == 0 || len(key) > maxPlaintext {
		return kms.Wrapped{}, fmt.Errorf("awskms: wrap: data key of %d bytes, want 1 to %d", len(key), maxPlaintext)
	}
	if len(aad) == 0 || len(aad) > maxAAD {
		return kms.Wrapped{}, fmt.Errorf("awskms: wrap: aad of %d bytes, want 1 to %d (build it with kms.DEKAAD)", len(aad), maxAAD)
	}
	out, err := k.client.Encrypt(ctx, &kmsapi.EncryptInput{
		KeyId:               aws.String(k.keyID),
		Plaintext:           key,
		EncryptionContext:   encryptionContext(aad),
		EncryptionAlgorithm: kmstypes.EncryptionAlgorithmSpecSymmetricDefault,
	})
	if err != nil {
		return kms.Wrapped{}, mapError(ctx, opWrap, err)
	}
	if n := len(out.CiphertextBlob); n == 0 || n > maxCiphertext {
		return kms.Wrapped{}, fmt.Errorf("awskms: wrap: kms returned a ciphertext blob of %d bytes", n)
	}
	return kms.Wrapped{KEKID: k.id, KEKVersion: kekVersion, Ciphertext: out.CiphertextBlob}, nil
}

// Unwrap decrypts w with KMS Decrypt, pinned to the configured key and
// presenting aad through the encryption context.
func (k *KEK) Unwrap(ctx context.Context, w kms.Wrapped, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("awskms: unwrap: %w", err)
	}
	if w.KEKID != k.id {
		return nil, fmt.Errorf("awskms: unwrap: %w: wrapped by %q, this is %q", kms.ErrUnknownKEK, w.KEKID, k.id)
	}
	if w.KEKVersion != kekVersion {
		return nil, fmt.Errorf("awskms: unwrap: %w: kek version %d (aws kms keys have only version %d)", kms.ErrUnknownKEK, w.KEKVersion, kekVersion)
	}
	// KMS would refuse these too; nothing can have been wrapped like this.
	if n := len(w.Ciphertext); n == 0 || n > maxCiphertext || len(aad) == 0 || len(aad) > maxAAD {
		return nil, fmt.Errorf("awskms: unwrap: %w", kms.ErrUnwrap)
	}
	out, err := k.client.Decrypt(ctx, &kmsapi.DecryptInput{
		CiphertextBlob:      w.Ciphertext,
		KeyId:               aws.String(k.keyID),
		EncryptionContext:   encryptionContext(aad),
		EncryptionAlgorithm: kmstypes.EncryptionAlgorithmSpecSymmetricDefault,
	})
	if err != nil {
		return nil, mapError(ctx, opUnwrap, err)
	}
	if len(out.Plaintext) == 0 {
		return nil, fmt.Errorf("awskms: unwrap: kms returned no plaintext")
	}
	return out.Plaintext, nil
}

// Check calls DescribeKey and reports whether the key can serve as a KEK:
// enabled (else an error wrapping kms.ErrUnavailable and ErrKeyUnusable), a
// symmetric encryption key (else ErrInvalidConfig), and, for a key ARN, the
// very key KMS describes. It suits a readiness probe; it does not prove that
// the credentials may call Encrypt and Decrypt.
func (k *KEK) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("awskms: %s: %w", opDescribe, err)
	}
	out, err := k.client.DescribeKey(ctx, &kmsapi.DescribeKeyInput{KeyId: aws.String(k.keyID)})
	if err != nil {
		return mapError(ctx, opDescribe, err)
	}
	m := out.KeyMetadata
	switch {
	case m == nil:
		return fmt.Errorf("awskms: %s: kms returned no key metadata", opDescribe)
	case !k.alias && aws.ToString(m.Arn) != k.keyID:
		return fmt.Errorf("%w: kms describes %q, not %q", ErrInvalidConfig, aws.ToString(m.Arn), k.keyID)
	case m.KeyUsage != kmstypes.KeyUsageTypeEncryptDecrypt:
		return fmt.Errorf("%w: key usage is %s, want %s", ErrInvalidConfig, m.KeyUsage, kmstypes.KeyUsageTypeEncryptDecrypt)
	case m.KeySpec != kmstypes.KeySpecSymmetricDefault:
		return fmt.Errorf("%w: key spec is %s, want %s", ErrInvalidConfig, m.KeySpec, kmstypes.KeySpecSymmetricDefault)
	case m.KeyState != kmstypes.KeyStateEnabled:
		return fmt.Errorf("awskms: %s: %w: %w: key state is %s", opDescribe, kms.ErrUnavailable, ErrKeyUnusable, m.KeyState)
	}
	return nil
}

// String names the KEK by its key ARN.
func (k *KEK) String() string { return "awskms.KEK(" + k.keyID + ")" }

// GoString is String.
func (k *KEK) GoString() string { return k.String() }

// Format prints String for every verb, so no verb prints the SDK client.
func (k *KEK) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }
