package transit_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/kms/transit"
)

func TestParseURI(t *testing.T) {
	for _, tt := range []struct {
		uri              string
		addr, mount, key string // addr "" means refused
	}{
		{"transit:https://vault.internal:8200/transit/keyward", "https://vault.internal:8200", "transit", "keyward"},
		{"TRANSIT:HTTPS://Vault.Internal:8200/transit/keyward", "https://vault.internal:8200", "transit", "keyward"},
		{"transit:https://vault.internal/team-a/transit/key.v2@x", "https://vault.internal", "team-a/transit", "key.v2@x"},
		{"transit:http://127.0.0.1:8200/transit/k", "http://127.0.0.1:8200", "transit", "k"},
		{"transit:http://[::1]:8200/transit/k", "http://[::1]:8200", "transit", "k"},
		{"transit:http://localhost:8200/transit/k", "http://localhost:8200", "transit", "k"},
		{"transit:http://vault.internal:8200/transit/k", "", "", ""},
		{"transit:https://vault.internal:8200/keyward", "", "", ""},
		{"transit:https://vault.internal:8200/", "", "", ""},
		{"transit:https://vault.internal:8200", "", "", ""},
		{"transit:https://vault.internal:8200/v1/transit/keyward", "", "", ""},
		{"transit:https://vault.internal:8200/transit/keyward/", "", "", ""},
		{"transit:https://vault.internal:8200/transit//keyward", "", "", ""},
		{"transit:https://vault.internal:8200/transit/../sys/k", "", "", ""},
		{"transit:https://vault.internal:8200/transit/k%2Fx", "", "", ""},
		{"transit:https://vault.internal:8200/transit/-k", "", "", ""},
		{"transit:https://" + token + "@vault.internal:8200/transit/k", "", "", ""},
		{"transit:https://user:" + token + "@vault.internal:8200/transit/k", "", "", ""},
		{"transit:https://vault.internal:8200/transit/k?token=" + token, "", "", ""},
		{"transit:https://vault.internal:8200/transit/k?namespace=a", "", "", ""},
		{"transit:https://vault.internal:8200/transit/k?", "", "", ""},
		{"transit:https://vault.internal:8200/transit/k#" + token, "", "", ""},
		{"transit:vault.internal:8200/transit/k", "", "", ""},
		{"transit://vault.internal:8200/transit/k", "", "", ""},
		{"transit:", "", "", ""},
		{"gcpkms:https://vault.internal:8200/transit/k", "", "", ""},
	} {
		cfg, err := transit.ParseURI(tt.uri)
		if tt.addr == "" {
			if err == nil {
				t.Errorf("ParseURI(%q) = %+v, want an error", tt.uri, cfg)
			} else if !errors.Is(err, kms.ErrInvalidURI) {
				t.Errorf("ParseURI(%q) error %v does not wrap ErrInvalidURI", tt.uri, err)
			} else if strings.Contains(err.Error(), token) {
				t.Errorf("ParseURI error shows the token: %v", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseURI(%q): %v", tt.uri, err)
			continue
		}
		if cfg.Addr != tt.addr || cfg.Mount != tt.mount || cfg.Key != tt.key || !cfg.Token.IsZero() {
			t.Errorf("ParseURI(%q) = %q %q %q, want %q %q %q", tt.uri, cfg.Addr, cfg.Mount, cfg.Key, tt.addr, tt.mount, tt.key)
		}
	}
	_, err := transit.ParseURI("transit:https://vault:8200/transit/k?token=x")
	if err == nil || !strings.Contains(err.Error(), "package credential") {
		t.Errorf("a token in the query is refused with %v; want advice to use package credential", err)
	}
}

func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"transit:https://vault.internal:8200/transit/keyward", "transit:http://127.0.0.1:8200/a/b/c",
		"transit:https://u:p@h/a/b", "transit:https://h/a/b?token=x", "transit:https://h:99999/a/b",
		"transit:https://h/a/b#f", "transit:https://h/./b", "transit:https://[::1]/a/b", "transit:https://h/a%2fb/c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := transit.ParseURI(s)
		if err != nil {
			if !errors.Is(err, kms.ErrInvalidURI) {
				t.Fatalf("ParseURI(%q) error %v does not wrap ErrInvalidURI", s, err)
			}
			return
		}
		if strings.ContainsAny(cfg.Addr, "@?# ") || strings.Count(cfg.Addr, "/") != 2 {
			t.Fatalf("ParseURI(%q) accepted addr %q", s, cfg.Addr)
		}
		if strings.ContainsAny(cfg.Mount, "?#%@ \\") || strings.ContainsAny(cfg.Key, "?#%/ \\") || strings.Contains("/"+cfg.Mount+"/", "/../") {
			t.Fatalf("ParseURI(%q) accepted mount %q key %q", s, cfg.Mount, cfg.Key)
		}
		again, err := transit.ParseURI(cfg.URI())
		if err != nil || again.Addr != cfg.Addr || again.Mount != cfg.Mount || again.Key != cfg.Key {
			t.Fatalf("round trip of %q via %q: %+v, %v", s, cfg.URI(), again, err)
		}
	})
}
