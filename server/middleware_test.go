package server

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/errcode"
)

// TestPanicAnswers500WithHeaders recovers a handler's panic into a 500 with
// the API's error body and every security header, and keeps the panic
// value out of the answer.
func TestPanicAnswers500WithHeaders(t *testing.T) {
	var logs strings.Builder
	s := &Server{log: slog.New(slog.NewTextHandler(&logs, nil)), metrics: newMetrics(nil), errs: table()}
	ts := httptest.NewServer(s.wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("secret-value-in-panic")
	})))
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/anything")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || !strings.Contains(string(body), `"code":"internal"`) || strings.Contains(string(body), "secret-value") {
		t.Fatalf("panic: %d %s, want 500 internal without the panic value", resp.StatusCode, body)
	}
	for _, h := range securityHeaders {
		if got := resp.Header.Get(h.key); got != h.value[0] {
			t.Errorf("header %s = %q, want %q", h.key, got, h.value[0])
		}
	}
	if strings.Contains(logs.String(), "secret-value") {
		t.Errorf("the panic value reached the log")
	}
	if !strings.Contains(logs.String(), "panic") {
		t.Errorf("the panic was not logged")
	}
}

func TestLimiterBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter(10, 2, 3)
	l.now = func() time.Time { return now }
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		if ok, _ := l.allow(k); !ok {
			t.Fatalf("first request of %s refused", k)
		}
		now = now.Add(time.Millisecond)
	}
	if n := l.len(); n > 3 {
		t.Fatalf("limiter holds %d buckets, want at most 3", n)
	}
	l.allow("e")
	if ok, wait := l.allow("e"); ok || wait <= 0 {
		t.Fatalf("third request in a burst of 2: allowed=%v wait=%v, want refused with a wait", ok, wait)
	}
	now = now.Add(time.Second) // every bucket refills: idle ones are dropped first
	l.allow("f")
	if n := l.len(); n > 3 {
		t.Fatalf("after refill: %d buckets", n)
	}
	if got := retryAfter(1500 * time.Millisecond); got != 2 {
		t.Errorf("retryAfter(1.5s) = %d, want 2", got)
	}
}

func TestErrorTableCoversCodes(t *testing.T) {
	// Every code the table produces is documented in the OpenAPI enum.
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Enum []string `json:"enum"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	enum := map[string]bool{}
	for _, c := range doc.Components.Schemas["ErrorDetail"].Properties["code"].Enum {
		enum[c] = true
	}
	for _, m := range table() {
		if !enum[m.code] {
			t.Errorf("code %s is not in openapi.json", m.code)
		}
	}
	for _, c := range []string{errcode.Unauthenticated, errcode.Forbidden, errcode.NotFound, errcode.MethodNotAllowed, errcode.InvalidJSON, errcode.InvalidRequest,
		errcode.InvalidBase64, errcode.UnsupportedMediaType, errcode.BodyTooLarge, errcode.BatchTooLarge, errcode.RateLimited, errcode.Internal, errcode.JobNotFound} {
		if !enum[c] {
			t.Errorf("code %s is not in openapi.json", c)
		}
	}
}
