package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/keyward/keyward/errcode"
	"github.com/keyward/keyward/policy"
)

// Capability is what a grant allows (the policy package's capabilities).
type Capability string

// The capabilities the API checks.
const (
	CapEncrypt       Capability = "encrypt"
	CapDecrypt       Capability = "decrypt"
	CapRewrap        Capability = "rewrap"
	CapSecretsWrite  Capability = "secrets:write"
	CapSecretsRead   Capability = "secrets:read"
	CapSecretsReveal Capability = "secrets:reveal"
	CapKeysManage    Capability = "keys:manage"
	CapAdmin         Capability = "admin"
)

// AnyOrg is the org of operator grants: every organization, and the right
// to create organizations.
const AnyOrg = "*"

// Principal is an authenticated token and its grants.
type Principal interface {
	// TokenID is the token's public id (never the token).
	TokenID() string
	// Allows reports whether a grant allows capability c on name in org
	// (admin implies every capability in its org scope; org "*" is any org).
	Allows(org string, c Capability, name string) bool
	// AllowsSome reports whether some grant allows c in org for at least
	// one name: listing needs it, then filters names one by one.
	AllowsSome(org string, c Capability) bool
}

// Authenticator turns a bearer token into its Principal. Every kind of
// authentication failure is policy.ErrUnauthenticated (the server answers
// 401 to all of them); other errors (the token store is down) are answered
// through the error table, 503 for keyward.ErrUnavailable.
type Authenticator interface {
	Authenticate(ctx context.Context, bearer string) (Principal, error)
}

// The actions named in audit events and the request log.
const (
	actionOpenAPI     = "openapi.get"
	actionOrgCreate   = "org.create"
	actionEncrypt     = "encrypt"
	actionDecrypt     = "decrypt"
	actionRewrap      = "rewrap"
	actionSecretPut   = "secrets.put"
	actionSecretGet   = "secrets.get"
	actionSecretList  = "secrets.list"
	actionSecretShow  = "secrets.reveal"
	actionSecretDel   = "secrets.delete"
	actionKeysList    = "keys.list"
	actionKeysRotate  = "keys.rotate"
	actionJobGet      = "job.get"
	maxAuthHeaderSize = 512
)

// handlerFunc is a /v1 handler: it gets the authenticated principal and
// returns an error instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request, p Principal) error

// v1 authenticates the bearer token, applies the rate limit and runs h,
// writing any error it returns. A missing or invalid token is audited as a
// denied attempt at action.
func (s *Server) v1(action string, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r, action)
		if err == nil {
			err = h(w, r, p)
		}
		if err != nil {
			s.writeError(w, r, err)
		}
	})
}

var errUnauthenticated = apiErr(http.StatusUnauthorized, errcode.Unauthenticated, "a valid bearer token is required (Authorization: Bearer TOKEN)")

func (s *Server) authenticate(r *http.Request, action string) (Principal, error) {
	ctx := r.Context()
	bearer, ok := bearerToken(r)
	if !ok {
		// Limit anonymous attempts per client address, so a flood of
		// bad tokens cannot hammer the token store.
		if err := s.rateLimit("addr:"+clientAddr(r), true); err != nil {
			return nil, err
		}
		s.metrics.denied.WithLabelValues("unauthenticated").Inc()
		s.recordDenial(ctx, s.event(r, "", action, orgOf(r), "", outcomeDenied, errcode.Unauthenticated))
		return nil, errUnauthenticated
	}
	// An address whose bucket of failed attempts is empty is refused
	// before the token store is asked: the limit must stop a flood of
	// well-formed unknown tokens from reaching the store, not just answer
	// it with 429 after each lookup.
	if blocked, wait := s.limiter.blocked("addr:" + clientAddr(r)); blocked {
		s.metrics.denied.WithLabelValues("rate_limited").Inc()
		msg := "too many unauthenticated requests from this address; retry after " + strconv.Itoa(retryAfter(wait)) + "s"
		return nil, &rateLimited{apiErr(http.StatusTooManyRequests, errcode.RateLimited, msg), retryAfter(wait)}
	}
	p, err := s.auth.Authenticate(ctx, bearer)
	if err != nil {
		if !errors.Is(err, policy.ErrUnauthenticated) {
			return nil, err // the token store failed: 503 or 500, never 401
		}
		if err := s.rateLimit("addr:"+clientAddr(r), true); err != nil {
			return nil, err
		}
		s.metrics.denied.WithLabelValues("unauthenticated").Inc()
		s.recordDenial(ctx, s.event(r, "", action, orgOf(r), "", outcomeDenied, errcode.Unauthenticated))
		return nil, errUnauthenticated
	}
	info(ctx).tokenID = p.TokenID()
	if err := s.rateLimit("token:"+p.TokenID(), false); err != nil {
		return nil, err
	}
	return p, nil
}

// rateLimit takes one request from key's bucket or returns a 429 error.
func (s *Server) rateLimit(key string, anonymous bool) error {
	ok, wait := s.limiter.allow(key)
	if ok {
		return nil
	}
	s.metrics.denied.WithLabelValues("rate_limited").Inc()
	msg := "too many requests for this token; retry after " + strconv.Itoa(retryAfter(wait)) + "s"
	if anonymous {
		msg = "too many unauthenticated requests from this address; retry after " + strconv.Itoa(retryAfter(wait)) + "s"
	}
	return &rateLimited{apiErr(http.StatusTooManyRequests, errcode.RateLimited, msg), retryAfter(wait)}
}

type rateLimited struct {
	err   *Error
	after int
}

func (e *rateLimited) Error() string { return e.err.Error() }
func (e *rateLimited) Unwrap() error { return e.err }

// bearerToken extracts the token of "Authorization: Bearer TOKEN".
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if h == "" || len(h) > maxAuthHeaderSize {
		return "", false
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// clientAddr is the client's IP address, without the port.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// orgOf is the {org} of the route, if any.
func orgOf(r *http.Request) string { return r.PathValue("org") }

// forbidden records a denial and returns the 403 error.
func (s *Server) forbidden(r *http.Request, p Principal, action, org, name, aadContext string) error {
	s.metrics.denied.WithLabelValues("forbidden").Inc()
	s.recordDenial(r.Context(), withContext(s.event(r, p.TokenID(), action, org, name, outcomeDenied, errcode.Forbidden), aadContext))
	return apiErr(http.StatusForbidden, errcode.Forbidden, "this token's grants do not allow "+action+" here")
}
