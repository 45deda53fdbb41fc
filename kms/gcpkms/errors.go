package gcpkms

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	backoffpkg "github.com/keyward/keyward/kms/internal/backoff"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"google.golang.org/api/googleapi"

	"github.com/keyward/keyward/kms"
)

// Backoff between attempts: jittered, doubling from baseBackoff to maxBackoff.
const (
	baseBackoff = 100 * time.Millisecond
	maxBackoff  = 2 * time.Second
)

// retry runs attempt until it succeeds, fails with an error that does not
// wrap kms.ErrUnavailable (or wraps ErrKeyUnusable), the context ends, or
// k.maxAttempts attempts are spent. attempt returns errors already mapped by mapError.
func (k *KEK) retry(ctx context.Context, op string, attempt func(context.Context) error) error {
	for n := 1; ; n++ {
		err := attempt(ctx)
		if err == nil {
			return nil
		}
		if cerr := ctx.Err(); cerr != nil {
			// The caller's context ended; that, not the transport's view of
			// it, is the error.
			return fmt.Errorf("gcpkms: %s with %s: %w", op, k.name, cerr)
		}
		if !errors.Is(err, kms.ErrUnavailable) || errors.Is(err, ErrKeyUnusable) {
			return err
		}
		if n >= k.maxAttempts {
			if n > 1 {
				return fmt.Errorf("%w (gave up after %d attempts)", err, n)
			}
			return err
		}
		if err := sleep(ctx, backoff(n)); err != nil {
			return fmt.Errorf("gcpkms: %s with %s: %w", op, k.name, err)
		}
	}
}

// backoff returns the pause after failed attempt n (from 1).
func backoff(n int) time.Duration { return backoffpkg.Delay(n, baseBackoff, maxBackoff) }

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error { return backoffpkg.Sleep(ctx, d) }

// integrityError reports a response that failed a checksum check: retried,
// and on the last attempt reported as ErrIntegrity and kms.ErrUnavailable.
func (k *KEK) integrityError(op, what string) error {
	return fmt.Errorf("gcpkms: %s with %s: %w: %w: %s", op, k.name, kms.ErrUnavailable, ErrIntegrity, what)
}

// mapError is the one place that turns an error of the Cloud KMS client into
// keyward's sentinels. op is "wrap" or "unwrap". See the package
// documentation for the mapping and why.
func (k *KEK) mapError(op string, err error) error {
	prefix := "gcpkms: " + op + " with " + k.name
	code, status, msg, ok := apiError(err)
	if !ok {
		switch {
		case isCertificateError(err):
			// A TLS trust problem does not pass by retrying.
			return fmt.Errorf("%s: %w", prefix, err)
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
			// The attempt's own timeout (the caller's context is checked
			// by retry): the service is too slow to answer.
			return fmt.Errorf("%s: %w: timed out: %w", prefix, kms.ErrUnavailable, err)
		default:
			// Network errors, and responses that are not Cloud KMS's JSON
			// (a proxy's error page), are transient as far as we can tell.
			return fmt.Errorf("%s: %w: %w", prefix, kms.ErrUnavailable, err)
		}
	}
	detail := fmt.Sprintf("%d %s: %s", code, status, clean(msg))
	switch {
	case status == "INVALID_ARGUMENT" && strings.Contains(strings.ToLower(msg), "checksum"):
		// Cloud KMS saw a request whose data did not match its CRC32C: it
		// was corrupted on the way. Google: verify and retry a few times.
		return fmt.Errorf("%s: %w: %w: cloud kms: %s", prefix, kms.ErrUnavailable, ErrIntegrity, detail)
	case op == "unwrap" && (status == "INVALID_ARGUMENT" || (status == "" && code == http.StatusBadRequest)):
		// "Decryption failed: the ciphertext is invalid." — wrong AAD,
		// tampered bytes or another key's ciphertext. Say nothing more.
		return fmt.Errorf("%w: %s", kms.ErrUnwrap, k.id)
	case status == "FAILED_PRECONDITION" && strings.Contains(msg, "state is: DESTROYED"):
		// The version's key material is gone for good.
		return fmt.Errorf("%w: %s: the key version is destroyed: %s", kms.ErrUnknownKEK, prefix, detail)
	case status == "FAILED_PRECONDITION":
		// Disabled, scheduled for destruction, pending: an operator can
		// restore it, so it is an outage, but waiting alone will not end it.
		return fmt.Errorf("%s: %w: %w: enable the key version (or cancel its destruction) in cloud kms: %s",
			prefix, kms.ErrUnavailable, ErrKeyUnusable, detail)
	case status == "NOT_FOUND" || (status == "" && code == http.StatusNotFound):
		return fmt.Errorf("%w: %s: no such crypto key: %s", kms.ErrUnknownKEK, prefix, detail)
	case status == "PERMISSION_DENIED" || status == "UNAUTHENTICATED" ||
		(status == "" && (code == http.StatusForbidden || code == http.StatusUnauthorized)):
		return fmt.Errorf("%w: %s: grant roles/cloudkms.cryptoKeyEncrypterDecrypter on the key to keyward's identity, or check its credentials: %s",
			ErrPermissionDenied, prefix, detail)
	case status == "RESOURCE_EXHAUSTED" || code == http.StatusTooManyRequests:
		return fmt.Errorf("%s: %w: quota exceeded: %s", prefix, kms.ErrUnavailable, detail)
	case status == "UNAVAILABLE" || status == "INTERNAL" || status == "DEADLINE_EXCEEDED" ||
		status == "ABORTED" || status == "UNKNOWN" || code >= 500:
		return fmt.Errorf("%s: %w: %s", prefix, kms.ErrUnavailable, detail)
	default:
		return fmt.Errorf("%s: cloud kms: %s", prefix, detail)
	}
}

// apiError extracts the HTTP status code, Google's status string (from the
// JSON error body: {"error":{"code","message","status"}}) and message of an
// API error. ok is false for errors that are not an HTTP answer.
func apiError(err error) (code int, status, msg string, ok bool) {
	var herr *googleapi.Error
	if !errors.As(err, &herr) {
		return 0, "", "", false
	}
	var body struct {
		Error struct {
			Status string `json:"status"`
		} `json:"error"`
	}
	_ = json.Unmarshal([]byte(herr.Body), &body) // a non-JSON body leaves status ""
	msg = herr.Message
	if msg == "" {
		msg = http.StatusText(herr.Code)
	}
	return herr.Code, body.Error.Status, msg, true
}

// isCertificateError reports whether err is a TLS certificate verification
// failure.
func isCertificateError(err error) bool {
	var (
		verr *tls.CertificateVerificationError
		uerr x509.UnknownAuthorityError
		herr x509.HostnameError
		ierr x509.CertificateInvalidError
	)
	return errors.As(err, &verr) || errors.As(err, &uerr) || errors.As(err, &herr) || errors.As(err, &ierr)
}

// clean shortens a message from the service or the caller for an error
// string and drops control characters, so an error stays one line.
func clean(s string) string {
	const limit = 200
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > limit {
		s = s[:limit] + "…"
	}
	return s
}

// checkEndpoint validates an endpoint URL and returns it without a trailing
// slash (the client appends /v1/…).
func checkEndpoint(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("gcpkms: endpoint %q is not an absolute url (want e.g. https://cloudkms.googleapis.com)", clean(s))
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return "", fmt.Errorf("gcpkms: endpoint %s must be scheme://host[:port] only, without user, path, query or fragment", u.Redacted())
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return "", fmt.Errorf("gcpkms: endpoint %s is plain http to a non-loopback host; data keys would cross the network unencrypted (use https)", u.Redacted())
		}
	default:
		return "", fmt.Errorf("gcpkms: endpoint %s: scheme must be https", u.Redacted())
	}
	return strings.TrimSuffix(s, "/"), nil
}

// isLoopback reports whether host is "localhost" or a loopback IP.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
