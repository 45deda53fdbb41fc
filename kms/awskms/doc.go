// Package awskms is a key-encryption key (KEK) held in AWS Key Management
// Service: a symmetric KMS key (key spec SYMMETRIC_DEFAULT, key usage
// ENCRYPT_DECRYPT) whose material never leaves KMS. keyward sends each data
// key (DEK) to KMS Encrypt to wrap it and to KMS Decrypt to unwrap it; the
// wrapped DEKs live in keyward's store.
//
// The provider is built on the official AWS SDK for Go v2 (service/kms). Its
// tests run against a local HTTP fake of the documented AWS KMS JSON API
// (awsJson1_1 over POST /, SigV4-signed), not against AWS: the fake
// reproduces the documented request and response shapes, error types and
// encryption-context semantics, but it is not AWS.
//
// # Naming the key
//
// A KEK is named by a URI holding the key's ARN (see [ParseURI]):
//
//	awskms:arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab
//	awskms:arn:aws:kms:eu-west-1:111122223333:alias/keyward
//
// Only full ARNs are accepted, not bare key ids or alias names: an ARN pins
// the partition, account and region, so the KEK id stored next to every
// wrapped DEK names exactly one key. The region comes from the ARN. Prefer a
// key ARN; an alias ARN works, but repointing the alias to another key makes
// every DEK wrapped before the change fail to unwrap (KMS refuses a blob of
// another key), so an alias must stay on its key for as long as wraps exist.
//
// # Wrapping
//
// Wrap calls Encrypt with the encryption context
//
//	{"keyward:aad": base64url(aad)}
//
// (unpadded URL-safe base64 of the AAD that [kms.DEKAAD] builds). KMS binds
// the encryption context to the ciphertext as additional authenticated data,
// so Decrypt must present the same context: a wrapped DEK copied to another
// organization or DEK version fails with [kms.ErrUnwrap]. The context is a
// map of one entry rather than separate organization and version entries
// because the bytes of kms.DEKAAD are the canonical, length-prefixed form
// every provider authenticates; splitting them would create a second
// encoding that must stay equivalent to the first. The context is not secret
// and appears in CloudTrail; it holds only the organization id and version.
// Wrap refuses an empty AAD, and an Unwrap with an empty AAD fails with
// kms.ErrUnwrap without a call, since nothing can have been wrapped with one.
//
// Unwrap calls Decrypt with the same context and with KeyId set to the
// configured key, so KMS refuses a blob that another KMS key produced
// (IncorrectKeyException) instead of decrypting it with whatever key the
// blob names.
//
// The wrapped bytes are the CiphertextBlob that KMS returns, unchanged. Real
// KMS blobs are opaque; they identify the key and its backing key version
// internally. Wrapped.KEKID is "awskms:" followed by the configured ARN, so it
// round-trips through [ParseURI].
//
// # Versions and rotation
//
// Wrapped.KEKVersion is always 1. AWS rotates key material inside the same
// KMS key (automatic or on-demand rotation) and keeps every earlier backing
// key, so blobs wrapped before a rotation still decrypt and nothing needs
// rewrapping: that is what KEK rotation means for AWS automatic rotation. To
// move to a different KMS key, configure a new KEK URI and let keyward rewrap
// every DEK under it; the old key must stay enabled until that finishes.
//
// # Errors
//
// One function maps every SDK error:
//
//   - InvalidCiphertextException and IncorrectKeyException (tampered blob,
//     wrong encryption context, blob of another key): [kms.ErrUnwrap], with no
//     detail.
//   - NotFoundException (the key or alias does not exist in that account and
//     region, or was deleted): [kms.ErrUnknownKEK]. It does not pass.
//   - DisabledException, KMSInvalidStateException (pending deletion, pending
//     import, …), KeyUnavailableException: [kms.ErrUnavailable] and
//     [ErrKeyUnusable]. The key and every wrap are intact and an operator can
//     fix the state (EnableKey, CancelKeyDeletion), so keyward reports a
//     retryable outage rather than a missing key; the SDK does not retry these.
//   - ThrottlingException, KMSInternalException, DependencyTimeoutException,
//     any 5xx, network errors and per-attempt timeouts: kms.ErrUnavailable,
//     after the SDK's standard retryer has used up its attempts (3 by default,
//     with jittered exponential backoff).
//   - AccessDeniedException and other authentication failures (unknown access
//     key, bad signature, expired token): [ErrAccessDenied], not retryable.
//   - The caller's context ending: its error (context.Canceled or
//     context.DeadlineExceeded), never retried.
//
// Errors never hold key bytes: the SDK does not echo request bodies, and an
// unwrap failure carries no KMS message.
//
// Credentials are passed in by the caller as an aws.CredentialsProvider
// (wrapped in an aws.CredentialsCache unless it is one); this package does not
// read the environment, shared config files or instance metadata itself. A
// credentials provider's failure is reported as kms.ErrUnavailable.
package awskms
