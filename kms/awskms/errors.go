package awskms

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/keyward/keyward/kms"
)

// Sentinel errors of this provider, beside the shared ones of package kms.
// Functions wrap them with %w.
var (
	// ErrAccessDenied reports that AWS refused the caller: the key policy or
	// IAM policy does not allow the call, or the credentials are unknown,
	// expired or wrong. It is not retryable; fix the credentials or policy.
	ErrAccessDenied = errors.New("awskms: access denied")
	// ErrKeyUnusable reports a KMS key that exists but refuses use: disabled,
	// pending deletion, pending import, or in an unavailable custom key store.
	// Errors wrapping it also wrap kms.ErrUnavailable: an operator can make
	// the key usable again (EnableKey, CancelKeyDeletion) and no wrap is lost.
	ErrKeyUnusable = errors.New("awskms: key not usable in its current state")
	// ErrInvalidConfig reports a Config that New refuses.
	ErrInvalidConfig = errors.New("awskms: invalid config")
)

// Operation names used in errors.
const (
	opWrap     = "wrap"
	opUnwrap   = "unwrap"
	opDescribe = "describe key"
)

// credentialsError marks a failure of the caller's credentials provider, so
// mapError can tell it from an AWS answer.
type credentialsError struct{ err error }

func (e *credentialsError) Error() string { return "credentials: " + e.err.Error() }
func (e *credentialsError) Unwrap() error { return e.err }

// mapError turns an error of an SDK call into one of this package's errors.
// It is the only place that interprets SDK errors. ctx is the call's
// context: once it has ended, its error is what the caller gets.
func mapError(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("awskms: %s: %w", op, ctxErr)
	}
	var credErr *credentialsError
	if errors.As(err, &credErr) {
		if errors.Is(credErr.err, kms.ErrUnavailable) {
			return fmt.Errorf("awskms: %s: %w", op, credErr)
		}
		return fmt.Errorf("awskms: %s: %w: %w", op, kms.ErrUnavailable, credErr)
	}
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		// No answer from KMS: connection refused or reset, DNS, a per-attempt
		// timeout, a response that is not KMS JSON (a proxy's error page).
		return fmt.Errorf("awskms: %s: %w: %w", op, kms.ErrUnavailable, err)
	}
	switch code := apiErr.ErrorCode(); code {
	case "InvalidCiphertextException", "IncorrectKeyException":
		// Tampered or truncated blob, wrong encryption context (wrong AAD),
		// or a blob of another KMS key. Opaque by contract: no KMS message.
		return fmt.Errorf("awskms: %s: %w", op, kms.ErrUnwrap)
	case "NotFoundException":
		return fmt.Errorf("awskms: %s: %w: key or alias not found in kms: %w", op, kms.ErrUnknownKEK, err)
	case "DisabledException", "KMSInvalidStateException", "KeyUnavailableException":
		return fmt.Errorf("awskms: %s: %w: %w: %w", op, kms.ErrUnavailable, ErrKeyUnusable, err)
	case "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
		"IncompleteSignature", "IncompleteSignatureException", "MissingAuthenticationToken",
		"MissingAuthenticationTokenException", "InvalidClientTokenId", "ExpiredTokenException",
		"ExpiredToken", "SignatureDoesNotMatch":
		return fmt.Errorf("awskms: %s: %w (not retryable): %w", op, ErrAccessDenied, err)
	case "ThrottlingException", "Throttling", "KMSInternalException",
		"DependencyTimeoutException", "ServiceUnavailableException", "ServiceUnavailable",
		"InternalFailure", "RequestTimeout", "RequestTimeoutException":
		return fmt.Errorf("awskms: %s: %w (retryable): %w", op, kms.ErrUnavailable, err)
	}
	var respErr *awshttp.ResponseError
	if apiErr.ErrorFault() == smithy.FaultServer ||
		errors.As(err, &respErr) && respErr.HTTPStatusCode() >= http.StatusInternalServerError {
		return fmt.Errorf("awskms: %s: %w (retryable): %w", op, kms.ErrUnavailable, err)
	}
	// Anything else (InvalidKeyUsageException, ValidationException, …) is a
	// configuration or programming error that a retry will not fix.
	return fmt.Errorf("awskms: %s: %w", op, err)
}
