package transit_test

import (
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/kms/transit"
	"github.com/keyward/keyward/secret"
)

func TestNewRefuses(t *testing.T) {
	s := newFake(t)
	noPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(noPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*transit.Config){
		"no token":             func(c *transit.Config) { c.Token = secret.Bytes{} },
		"token with newline":   func(c *transit.Config) { c.Token = secret.FromString(token + "\n") },
		"token with space":     func(c *transit.Config) { c.Token = secret.FromString("hvs. x") },
		"no addr":              func(c *transit.Config) { c.Addr = "" },
		"http to a remote":     func(c *transit.Config) { c.Addr = "http://vault.example.com:8200" },
		"ftp":                  func(c *transit.Config) { c.Addr = "ftp://127.0.0.1" },
		"addr with token user": func(c *transit.Config) { c.Addr = "https://" + token + "@vault.example.com" },
		"addr with query":      func(c *transit.Config) { c.Addr = "https://vault.example.com?token=" + token },
		"addr with path":       func(c *transit.Config) { c.Addr = "https://vault.example.com/v1" },
		"addr without scheme":  func(c *transit.Config) { c.Addr = "vault.example.com:8200" },
		"no mount":             func(c *transit.Config) { c.Mount = "" },
		"mount with dotdot":    func(c *transit.Config) { c.Mount = "transit/../sys" },
		"mount empty segment":  func(c *transit.Config) { c.Mount = "a//b" },
		"mount with query":     func(c *transit.Config) { c.Mount = "transit?x" },
		"no key":               func(c *transit.Config) { c.Key = "" },
		"key with slash":       func(c *transit.Config) { c.Key = "a/b" },
		"key starting with -":  func(c *transit.Config) { c.Key = "-k" },
		"key ending with .":    func(c *transit.Config) { c.Key = "k." },
		"bad namespace":        func(c *transit.Config) { c.Namespace = "a/../b" },
		"ca and client":        func(c *transit.Config) { c.CAFile, c.HTTPClient = noPEM, http.DefaultClient },
		"ca file missing":      func(c *transit.Config) { c.CAFile = filepath.Join(t.TempDir(), "none.pem") },
		"ca file without pem":  func(c *transit.Config) { c.CAFile = noPEM },
		"negative attempts":    func(c *transit.Config) { c.MaxAttempts = -1 },
	} {
		cfg := config(s)
		mutate(&cfg)
		k, err := transit.New(t.Context(), cfg)
		if err == nil {
			_ = k.Close()
			t.Errorf("%s: New succeeded", name)
			continue
		}
		if strings.Contains(err.Error(), token) {
			t.Errorf("%s: error shows the token: %v", name, err)
		}
	}
}

// TestNoEnvironment shows that the environment is not a token source.
func TestNoEnvironment(t *testing.T) {
	s := newFake(t)
	t.Setenv("VAULT_TOKEN", token)
	t.Setenv("VAULT_ADDR", s.URL)
	cfg := config(s)
	cfg.Token = secret.Bytes{}
	if _, err := transit.New(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "credential") {
		t.Errorf("New without a token, VAULT_TOKEN set: %v; want a refusal naming package credential", err)
	}
}

func TestTLS(t *testing.T) {
	s := newFake(t)
	backend, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(backend))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config(s)
	cfg.Addr = srv.URL
	untrusted := newKEK(t, cfg)
	_, err = untrusted.Wrap(t.Context(), newDEK(), nil)
	if err == nil || errors.Is(err, kms.ErrUnavailable) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Wrap against an untrusted certificate = %v; want a certificate error, not retryable", err)
	}
	cfg.CAFile = ca
	trusted := newKEK(t, cfg)
	w, err := trusted.Wrap(t.Context(), newDEK(), nil)
	if err != nil {
		t.Fatalf("Wrap with CAFile: %v", err)
	}
	if _, err := trusted.Unwrap(t.Context(), w, nil); err != nil {
		t.Errorf("Unwrap with CAFile: %v", err)
	}
}

func TestRedirects(t *testing.T) {
	s := newFake(t)
	var leaked atomic.Bool
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Vault-Token") != "" {
			leaked.Store(true)
		}
		w.WriteHeader(http.StatusTeapot)
	}))
	defer elsewhere.Close()
	// Same origin as the fake? No: a second listener is another origin.
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/moved/") {
			r.URL.Path = strings.TrimPrefix(r.URL.Path, "/moved")
			backend, _ := url.Parse(s.URL)
			httputil.NewSingleHostReverseProxy(backend).ServeHTTP(w, r)
			return
		}
		if strings.Contains(r.URL.Path, "/encrypt/") {
			http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusTemporaryRedirect)
			return
		}
		http.Redirect(w, r, "/moved"+r.URL.Path, http.StatusTemporaryRedirect) // same origin
	}))
	defer redirector.Close()
	cfg := config(s)
	cfg.Addr = redirector.URL
	k := newKEK(t, cfg)
	_, err := k.Wrap(t.Context(), newDEK(), nil)
	if err == nil || errors.Is(err, kms.ErrUnavailable) || !strings.Contains(err.Error(), "redirect") {
		t.Errorf("Wrap redirected to another origin = %v; want a redirect refusal", err)
	}
	if leaked.Load() {
		t.Errorf("the token followed a redirect to another origin")
	}
	// A redirect within the origin is followed, body and all.
	if v, err := k.Rotate(t.Context()); err != nil || v != 2 {
		t.Errorf("Rotate through a same-origin redirect = %d, %v; want 2", v, err)
	}
}

func TestServerDown(t *testing.T) {
	s := newFake(t)
	cfg := config(s)
	cfg.MaxAttempts = 2
	k := newKEK(t, cfg)
	s.Close()
	if _, err := k.Wrap(t.Context(), newDEK(), nil); !errors.Is(err, kms.ErrUnavailable) {
		t.Errorf("Wrap with the server down = %v; want ErrUnavailable", err)
	}
}

func TestServerEchoingTheToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"errors":["bad token ` + r.Header.Get("X-Vault-Token") + `"]}`))
	}))
	defer srv.Close()
	k := newKEK(t, transit.Config{Addr: srv.URL, Mount: "transit", Key: "k", Token: secret.FromString(token)})
	_, err := k.Wrap(t.Context(), newDEK(), nil)
	if err == nil || strings.Contains(err.Error(), token) || !strings.Contains(err.Error(), secret.Redacted) {
		t.Errorf("Wrap = %v; want the echoed token redacted", err)
	}
}
