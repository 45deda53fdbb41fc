package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/keyward/keyward/errcode"
)

// securityHeaders are sent on every response, whatever produced it: a
// handler, the router's 404 and 405, the body limit, the rate limiter or a
// recovered panic. Cache-Control: no-store keeps responses that carry a
// plaintext (and every other one: simpler, and nothing here should be
// cached) out of shared and browser caches.
//
// Keys are in canonical form and values are shared, read-only slices, so
// setting them costs no allocation (Header.Set would canonicalise each key
// and allocate each value); a later Set or Add replaces or copies them.
var securityHeaders = [...]struct {
	key   string
	value []string
}{
	{"Strict-Transport-Security", []string{"max-age=63072000; includeSubDomains; preload"}},
	{"X-Content-Type-Options", []string{"nosniff"}},
	{"X-Frame-Options", []string{"DENY"}},
	{"X-Xss-Protection", []string{"1; mode=block"}},
	{"Referrer-Policy", []string{"strict-origin-when-cross-origin"}},
	{"Content-Security-Policy", []string{"default-src 'none'"}},
	{"Cache-Control", []string{"no-store"}},
}

// reqInfo travels in a request's context so that the outer middleware can
// log what inner handlers learned (the token id). It never holds a token.
type reqInfo struct {
	id      string
	tokenID string
}

type reqInfoKey struct{}

func info(ctx context.Context) *reqInfo {
	if ri, ok := ctx.Value(reqInfoKey{}).(*reqInfo); ok {
		return ri
	}
	return &reqInfo{}
}

// newRequestID returns 128 random bits in hex.
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand panics rather)
	return hex.EncodeToString(b[:])
}

// recorder captures the status a handler wrote. When the router itself
// answers (no route matched: 404, or 405), it replaces the router's plain
// text with the API's JSON error body.
type recorder struct {
	http.ResponseWriter
	r       *http.Request
	status  int
	wrote   bool
	swallow bool // the router's text body is being replaced
	s       *Server
}

func (w *recorder) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	w.status = code
	if w.r.Pattern == "" && (code == http.StatusNotFound || code == http.StatusMethodNotAllowed) {
		w.swallow = true
		e := apiErr(http.StatusNotFound, errcode.NotFound, "no such endpoint (see /v1/openapi.json)")
		if code == http.StatusMethodNotAllowed {
			e = apiErr(http.StatusMethodNotAllowed, errcode.MethodNotAllowed, "method not allowed on this endpoint (see the Allow header)")
		}
		h := w.ResponseWriter.Header()
		h.Del("Content-Length")
		h.Set("Content-Type", "application/json")
		w.ResponseWriter.WriteHeader(code)
		w.ResponseWriter.Write(errorBody(e))
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.swallow {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// wrap is the outermost middleware: security headers, request id, panic
// recovery, the request log line and the request metrics.
func (s *Server) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h := w.Header()
		for _, kv := range securityHeaders {
			h[kv.key] = kv.value[:1:1]
		}
		ri := &reqInfo{id: newRequestID()}
		h["X-Request-Id"] = []string{ri.id}
		r = r.WithContext(context.WithValue(r.Context(), reqInfoKey{}, ri))
		rec := &recorder{ResponseWriter: w, r: r, status: http.StatusOK, s: s}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				// The panic value and stack may hold anything; they go to
				// the log at error level only as the type and stack, and
				// the client sees a fixed message.
				s.log.Error("panic", "request_id", ri.id, "route", r.Pattern, "stack", string(debug.Stack()))
				if !rec.wrote {
					s.writeError(rec, r, apiErr(http.StatusInternalServerError, errcode.Internal, "internal error; the request id identifies it in the server log"))
				}
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			d := time.Since(start)
			s.metrics.observe(route, rec.status, d)
			s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("method", r.Method), slog.String("route", route), slog.Int("status", rec.status),
				slog.Duration("duration", d), slog.String("request_id", ri.id), slog.String("token_id", ri.tokenID))
		}()
		next.ServeHTTP(rec, r)
	})
}
