package transit

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	backoffpkg "github.com/keyward/keyward/kms/internal/backoff"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/secret"
)

const (
	// baseBackoff and maxBackoff bound the jittered, doubling pause between
	// attempts; maxRetryAfter bounds how long a Retry-After may stretch it.
	baseBackoff   = 100 * time.Millisecond
	maxBackoff    = 2 * time.Second
	maxRetryAfter = 5 * time.Second
	// attemptTimeout bounds one attempt, whatever the caller's deadline.
	attemptTimeout = 30 * time.Second
	// maxResponse bounds a response body.
	maxResponse = 1 << 20
)

// request sends one API request (path is relative to /v1/) with up to
// attempts attempts, and returns the body of a 2xx answer. Errors are mapped
// by mapError; only those wrapping kms.ErrUnavailable are retried.
func (k *KEK) request(ctx context.Context, op, method, path string, body []byte, attempts int) ([]byte, error) {
	for n := 1; ; n++ {
		resp, retryAfter, err := k.attempt(ctx, op, method, path, body)
		if err == nil {
			return resp, nil
		}
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("transit: %s with %s: %w", op, k.id, cerr)
		}
		if !errors.Is(err, kms.ErrUnavailable) {
			return nil, err
		}
		if n >= attempts {
			if n > 1 {
				return nil, fmt.Errorf("%w (gave up after %d attempts)", err, n)
			}
			return nil, err
		}
		pause := backoff(n)
		if retryAfter > pause {
			pause = min(retryAfter, maxRetryAfter)
		}
		if err := sleep(ctx, pause); err != nil {
			return nil, fmt.Errorf("transit: %s with %s: %w", op, k.id, err)
		}
	}
}

// attempt sends the request once. It returns the body of a 2xx answer, or
// the mapped error and the server's Retry-After, if any.
func (k *KEK) attempt(ctx context.Context, op, method, path string, body []byte) ([]byte, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, k.addr+"/v1/"+path, rd)
	if err != nil {
		return nil, 0, fmt.Errorf("transit: %s with %s: %w", op, k.id, err)
	}
	req.Header.Set("X-Vault-Token", string(k.token.Reveal()))
	req.Header.Set("X-Vault-Request", "true")
	if k.ns != "" {
		req.Header.Set("X-Vault-Namespace", k.ns)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, 0, k.mapError(op, 0, nil, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err == nil && len(data) > maxResponse {
		err = fmt.Errorf("response larger than %d bytes", maxResponse)
	}
	if err != nil {
		clear(data)
		return nil, 0, k.mapError(op, 0, nil, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return data, 0, nil
	}
	return nil, retryAfter(resp.Header.Get("Retry-After")), k.mapError(op, resp.StatusCode, data, nil)
}

// mapError is the one place that turns a failed request into keyward's
// sentinels: status and body of an HTTP answer, or err for a transport
// failure. See the package documentation for the mapping.
func (k *KEK) mapError(op string, status int, body []byte, err error) error {
	prefix := "transit: " + op + " with " + k.id
	if err != nil {
		var rerr *redirectError
		switch {
		case errors.As(err, &rerr), isCertificateError(err):
			return fmt.Errorf("%s: %w", prefix, err) // does not pass by retrying
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
			return fmt.Errorf("%s: %w: timed out: %w", prefix, kms.ErrUnavailable, err)
		default:
			return fmt.Errorf("%s: %w: %w", prefix, kms.ErrUnavailable, err)
		}
	}
	msg := k.vaultMessage(body)
	detail := strconv.Itoa(status) + " " + msg
	switch {
	case status == http.StatusBadRequest:
		switch {
		case strings.Contains(msg, "too old") || strings.Contains(msg, "version is too new"):
			return fmt.Errorf("%w: %s: the key version cannot decrypt (below min_decryption_version or above the latest): %s", kms.ErrUnknownKEK, prefix, detail)
		case strings.Contains(msg, "encryption key not found") || strings.Contains(msg, "no existing key"):
			return fmt.Errorf("%w: %s: no such transit key: %s", kms.ErrUnknownKEK, prefix, detail)
		case strings.Contains(msg, "non-AEAD") || strings.Contains(msg, "derivation"):
			return fmt.Errorf("%w: %s: use a non-derived aes256-gcm96 key: %s", ErrUnsupportedKey, prefix, detail)
		case op == "unwrap":
			// "cipher: message authentication failed", "invalid
			// ciphertext…": wrong AAD or tampered bytes. Say nothing more.
			return fmt.Errorf("%w: %s", kms.ErrUnwrap, k.id)
		}
		return fmt.Errorf("%s: vault: %s", prefix, detail)
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return fmt.Errorf("%w: %s: the token is wrong, expired or revoked, or its policy lacks this path (see the package documentation for a policy): %s",
			ErrPermissionDenied, prefix, detail)
	case status == http.StatusNotFound:
		return fmt.Errorf("%w: %s: no transit mount or key at this path: %s", kms.ErrUnknownKEK, prefix, detail)
	case status == http.StatusTooManyRequests, status == http.StatusPreconditionFailed, status >= 500:
		// 429: rate limit quota (or a standby); 412: a performance
		// standby not yet caught up; 503: sealed or standby.
		return fmt.Errorf("%s: %w: %s", prefix, kms.ErrUnavailable, detail)
	default:
		return fmt.Errorf("%s: vault: %s", prefix, detail)
	}
}

// vaultMessage returns the messages of Vault's error body {"errors":[…]},
// cleaned, or the status text when there are none.
func (k *KEK) vaultMessage(body []byte) string {
	var e struct {
		Errors []string `json:"errors"`
	}
	if json.Unmarshal(body, &e) != nil || len(e.Errors) == 0 {
		return "(no message)"
	}
	return k.clean(strings.Join(e.Errors, "; "))
}

// clean makes text from the server or the caller safe for an error string:
// the token is removed (should a server ever echo it), control characters
// become spaces, and the length is bounded.
func (k *KEK) clean(s string) string {
	if tok := k.token.Reveal(); len(tok) > 0 && strings.Contains(s, string(tok)) {
		s = strings.ReplaceAll(s, string(tok), secret.Redacted)
	}
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }), " ")
	const limit = 300
	if len(s) > limit {
		s = s[:limit] + "…"
	}
	return s
}

// retryAfter parses a Retry-After header given in seconds; 0 if absent.
func retryAfter(h string) time.Duration {
	s, err := strconv.Atoi(strings.TrimSpace(h))
	if err != nil || s <= 0 {
		return 0
	}
	return min(time.Duration(s)*time.Second, maxRetryAfter)
}

// backoff returns the pause after failed attempt n (from 1).
func backoff(n int) time.Duration { return backoffpkg.Delay(n, baseBackoff, maxBackoff) }

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error { return backoffpkg.Sleep(ctx, d) }

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

// redirectError reports a redirect the default client refuses to follow.
type redirectError struct{ to string }

func (e *redirectError) Error() string {
	return "refusing a redirect to " + e.to + ": the token would follow it to another origin; point Addr at the active node or its load balancer"
}
