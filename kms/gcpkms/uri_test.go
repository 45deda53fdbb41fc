package gcpkms_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/kms/gcpkms"
)

func TestParseURI(t *testing.T) {
	for _, tt := range []struct {
		uri, want string // want "" means refused
	}{
		{"gcpkms:" + keyName, keyName},
		{"GCPKMS:" + keyName, keyName},
		{"gcpkms:projects/example.com:proj/locations/global/keyRings/r_1/cryptoKeys/K-2", "projects/example.com:proj/locations/global/keyRings/r_1/cryptoKeys/K-2"},
		{"gcpkms:projects/123456789/locations/us/keyRings/r/cryptoKeys/k", "projects/123456789/locations/us/keyRings/r/cryptoKeys/k"},
		{"gcpkms:", ""},
		{"gcpkms", ""},
		{"awskms:" + keyName, ""},
		{"gcp-kms://" + keyName, ""},
		{"gcpkms://" + keyName, ""},
		{"gcpkms:/" + keyName, ""},
		{"gcpkms:" + keyName + "/", ""},
		{"gcpkms:" + keyName + "/cryptoKeyVersions/3", ""},
		{"gcpkms:" + keyName + "?alt=json", ""},
		{"gcpkms:" + keyName + "#x", ""},
		{"gcpkms:projects/p/locations/l/keyRings/r", ""},
		{"gcpkms:projects//locations/l/keyRings/r/cryptoKeys/k", ""},
		{"gcpkms:projects/../locations/l/keyRings/r/cryptoKeys/k", ""},
		{"gcpkms:projects/p/locations/l/keyRings/r/cryptoKeys/k%2F", ""},
		{"gcpkms:projects/p/locations/L_1/keyRings/r/cryptoKeys/k", ""},
		{"gcpkms:projects/p/locations/l/keyRings/r.s/cryptoKeys/k", ""},
		{"gcpkms:projects/p/locations/l/keyRings/r/cryptoKeys/" + strings.Repeat("k", 64), ""},
		{"gcpkms:projects/p/locations/l/keyRings/r/cryptoKeys/k\n", ""},
		{"gcpkms:Projects/p/locations/l/keyRings/r/cryptoKeys/k", ""},
	} {
		cfg, err := gcpkms.ParseURI(tt.uri)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("ParseURI(%q) = %+v, want an error", tt.uri, cfg)
		case tt.want == "" && !errors.Is(err, kms.ErrInvalidURI):
			t.Errorf("ParseURI(%q) error %v does not wrap ErrInvalidURI", tt.uri, err)
		case tt.want != "" && err != nil:
			t.Errorf("ParseURI(%q): %v", tt.uri, err)
		case tt.want != "" && cfg.KeyName != tt.want:
			t.Errorf("ParseURI(%q).KeyName = %q, want %q", tt.uri, cfg.KeyName, tt.want)
		}
	}
	_, err := gcpkms.ParseURI("gcpkms:" + keyName + "/cryptoKeyVersions/3")
	if err == nil || !strings.Contains(err.Error(), "name the crypto key") {
		t.Errorf("a version name is refused with %v; want advice to name the crypto key", err)
	}
}

func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"gcpkms:" + keyName, "gcpkms:" + keyName + "/cryptoKeyVersions/1", "gcpkms:projects/a/locations/b/keyRings/c/cryptoKeys/d",
		"gcpkms:projects/example.com:p/locations/global/keyRings/_/cryptoKeys/-", "gcpkms:", "gcpkms:projects/../locations/./keyRings/%/cryptoKeys/?",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := gcpkms.ParseURI(s)
		if err != nil {
			if !errors.Is(err, kms.ErrInvalidURI) {
				t.Fatalf("ParseURI(%q) error %v does not wrap ErrInvalidURI", s, err)
			}
			return
		}
		if strings.ContainsAny(cfg.KeyName, "?#%\\ \x00\r\n") || strings.Contains(cfg.KeyName, "..") && strings.Contains("/"+cfg.KeyName+"/", "/../") {
			t.Fatalf("ParseURI(%q) accepted key name %q", s, cfg.KeyName)
		}
		if strings.Count(cfg.KeyName, "/") != 7 || !strings.HasPrefix(cfg.KeyName, "projects/") {
			t.Fatalf("ParseURI(%q) accepted key name %q", s, cfg.KeyName)
		}
		again, err := gcpkms.ParseURI(cfg.URI())
		if err != nil || again.KeyName != cfg.KeyName {
			t.Fatalf("round trip of %q: %+v, %v", s, again, err)
		}
	})
}
