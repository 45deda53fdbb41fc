// Package server is keyward's HTTP API (v1): encryption as a service
// (encrypt, decrypt, rewrap, single or batched) and a secret store, for
// applications in any language. It is a thin layer over the engine
// (package keyward), the policy authority (bearer tokens and grants), the
// audit log and the secret store, all injected through [Options].
//
// The shape of every request is the same:
//
//  1. the outer middleware sets the security headers, a request id and
//     Cache-Control: no-store, recovers panics, logs one line (method,
//     route pattern, status, duration, request id, token id: never a body,
//     a token or an org's data) and counts the request in the metrics;
//  2. every /v1 route authenticates the bearer token (401 otherwise, audited),
//     applies the per-token rate limit (429 with Retry-After);
//  3. the handler decodes the body strictly (application/json only, unknown
//     fields and trailing data refused, size bounded by http.MaxBytesReader),
//     checks the capability and the name pattern for every name the request
//     touches (deny by default: 403, audited), does the work, and records the
//     audit event before it answers: a request that must be audited
//     completes only once its event is durable;
//  4. errors of every origin go through one table (errors.go) that maps Go
//     sentinels to an HTTP status and a stable code, sent as
//     {"error":{"code","message"}}.
//
// The contract is server/openapi.json, served at /v1/openapi.json and
// checked against real responses by the contract test.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/store"
)

// Limits bound what one request may ask. Zero values select the defaults.
type Limits struct {
	// MaxBody bounds a request body in bytes (default 8 MiB).
	MaxBody int64
	// MaxBatch bounds the items of one encrypt, decrypt or rewrap batch
	// (default 1000).
	MaxBatch int
	// RateLimit is the sustained requests per second allowed per token
	// (default 1000; negative disables), RateBurst the burst (default 2000).
	RateLimit float64
	RateBurst int
	// MaxLimiters bounds the rate limiter's table of tokens and addresses
	// (default 100,000).
	MaxLimiters int
}

// Defaults for Limits.
const (
	DefaultMaxBody     = 8 << 20
	DefaultMaxBatch    = 1000
	DefaultRateLimit   = 1000
	DefaultRateBurst   = 2000
	DefaultMaxLimiters = 100_000
)

// Options are what a Server is built from. Engine, Store, KEK, Auth and
// Audit are required; Secrets and Logger are optional (without Secrets the
// secret routes are not served; without Logger nothing is logged).
type Options struct {
	Engine *keyward.Engine
	// Store is the deployment's store: pinged by /readyz, and read for jobs
	// (GET /v1/jobs/{id}) when it implements store.JobReader.
	Store store.Store
	// KEK is probed by /readyz.
	KEK kms.KEK
	// Auth authenticates bearer tokens.
	Auth Authenticator
	// Audit records decisions durably.
	Audit Auditor
	// Secrets is the secret store.
	Secrets SecretStore
	// Logger receives the request log and errors; nil discards.
	Logger *slog.Logger
	Limits Limits
	// AuditEncrypt records an event for every allowed encryption too
	// (denials are always recorded). See docs/DECISIONS.md.
	AuditEncrypt bool
}

// Server serves the HTTP API. Create it with New; it is safe for
// concurrent use.
type Server struct {
	eng     *keyward.Engine
	st      store.Store
	jobs    store.JobReader
	auth    Authenticator
	auditor Auditor
	secrets SecretStore
	log     *slog.Logger
	limits  Limits
	limiter *limiter
	metrics *metrics
	ready   *readiness
	errs    errorTable
	handler http.Handler

	auditEncrypt bool
}

// New builds a Server. It validates the options and builds the routes; it
// does no I/O.
func New(opts Options) (*Server, error) {
	switch {
	case opts.Engine == nil:
		return nil, errors.New("server: an engine is required")
	case opts.Store == nil:
		return nil, errors.New("server: a store is required")
	case opts.KEK == nil:
		return nil, errors.New("server: a kek is required")
	case opts.Auth == nil:
		return nil, errors.New("server: an authenticator is required")
	case opts.Audit == nil:
		return nil, errors.New("server: an audit log is required")
	}
	l := opts.Limits
	if l.MaxBody == 0 {
		l.MaxBody = DefaultMaxBody
	}
	if l.MaxBatch == 0 {
		l.MaxBatch = DefaultMaxBatch
	}
	if l.RateLimit == 0 {
		l.RateLimit = DefaultRateLimit
	}
	if l.RateBurst == 0 {
		l.RateBurst = DefaultRateBurst
	}
	if l.MaxLimiters == 0 {
		l.MaxLimiters = DefaultMaxLimiters
	}
	if l.MaxBody < 1 || l.MaxBatch < 1 || l.RateBurst < 1 || l.MaxLimiters < 1 {
		return nil, fmt.Errorf("server: invalid limits %+v", l)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		eng: opts.Engine, st: opts.Store, auth: opts.Auth, auditor: opts.Audit, secrets: opts.Secrets,
		log: log, limits: l,
		limiter: newLimiter(l.RateLimit, l.RateBurst, l.MaxLimiters),
		metrics: newMetrics(opts.Engine),
		ready:   &readiness{st: opts.Store, kek: opts.KEK},
		errs:    table(),

		auditEncrypt: opts.AuditEncrypt,
	}
	s.jobs, _ = opts.Store.(store.JobReader)
	s.handler = s.wrap(s.routes())
	return s, nil
}

// Handler returns the server's root handler.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.metrics.handler())

	mux.Handle("GET /v1/openapi.json", s.v1(actionOpenAPI, s.openapi))
	mux.Handle("POST /v1/orgs", s.v1(actionOrgCreate, s.createOrg))
	mux.Handle("POST /v1/orgs/{org}/encrypt", s.v1(actionEncrypt, s.encrypt))
	mux.Handle("POST /v1/orgs/{org}/decrypt", s.v1(actionDecrypt, s.decrypt))
	mux.Handle("POST /v1/orgs/{org}/rewrap", s.v1(actionRewrap, s.rewrap))
	mux.Handle("GET /v1/orgs/{org}/keys", s.v1(actionKeysList, s.listKeys))
	mux.Handle("POST /v1/orgs/{org}/keys/rotate", s.v1(actionKeysRotate, s.rotateKey))
	mux.Handle("GET /v1/jobs/{id}", s.v1(actionJobGet, s.getJob))
	s.secretRoutes(mux)
	return mux
}

// HTTP tunes the listener Serve runs.
type HTTP struct {
	// TLS, when set, makes Serve speak HTTPS only (see TLSConfig).
	TLS *tls.Config
	// Timeouts; zero values select 30s, 60s, 120s and 30s.
	ReadTimeout, WriteTimeout, IdleTimeout, ShutdownTimeout time.Duration
}

// Serve answers requests on ln until ctx ends, then shuts down gracefully:
// it stops accepting, lets in-flight requests finish (for at most
// ShutdownTimeout) and returns nil. It returns early with the listener's
// error.
func (s *Server) Serve(ctx context.Context, ln net.Listener, h HTTP) error {
	def := func(d, v time.Duration) time.Duration {
		if d == 0 {
			return v
		}
		return d
	}
	srv := &http.Server{
		Handler:           s.handler,
		TLSConfig:         h.TLS,
		ReadHeaderTimeout: min(def(h.ReadTimeout, 30*time.Second), 10*time.Second),
		ReadTimeout:       def(h.ReadTimeout, 30*time.Second),
		WriteTimeout:      def(h.WriteTimeout, 60*time.Second),
		IdleTimeout:       def(h.IdleTimeout, 120*time.Second),
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() {
		if h.TLS != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), def(h.ShutdownTimeout, 30*time.Second))
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc // http.ErrServerClosed
	if err != nil {
		srv.Close()
		return fmt.Errorf("server: shutdown: %w", err)
	}
	return nil
}
