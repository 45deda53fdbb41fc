package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyward/keyward/server"
)

// BenchmarkHandlerEncrypt measures the server's own work for one single
// encrypt (middleware, authentication, parsing, encryption, response),
// without the network: the overhead the HTTP layer adds over
// Engine.Encrypt.
func BenchmarkHandlerEncrypt(b *testing.B) {
	f := newFixture(b, &fixtureOptions{limits: server.Limits{RateLimit: -1}, quiet: true})
	if _, err := f.eng.CreateOrg(context.Background(), "acme"); err != nil {
		b.Fatal(err)
	}
	h := f.handler
	body := `{"plaintext":"c2tfbGl2ZV81MUh4RVhBTVBMRTEyMzQ1Njc4OTAxMjM0NTY3","context":"users.api_key"}`
	b.Run("keyward", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			req := httptest.NewRequest("POST", "/v1/orgs/acme/encrypt", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+f.admin)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("%d %s", w.Code, w.Body)
			}
		}
	})
	b.Run("engine", func(b *testing.B) {
		b.ReportAllocs()
		pt := []byte("sk_live_51HxEXAMPLE12345678901234567")
		for b.Loop() {
			if _, err := f.eng.Encrypt(context.Background(), "acme", pt, "users.api_key"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
