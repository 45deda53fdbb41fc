package kms_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keyward/keyward/kms"
)

func TestParseURI(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want kms.URI
	}{
		{"local path", "local:kek.key", kms.URI{Scheme: "local", Opaque: "kek.key"}},
		{"local absolute path", "local:/var/lib/keyward/kek.key", kms.URI{Scheme: "local", Opaque: "/var/lib/keyward/kek.key"}},
		{"pkcs11", "pkcs11:token=keyward;object=kek", kms.URI{Scheme: "pkcs11", Opaque: "token=keyward;object=kek"}},
		{"awskms arn keeps its colons", "awskms:arn:aws:kms:eu-west-1:111122223333:key/1234abcd", kms.URI{Scheme: "awskms", Opaque: "arn:aws:kms:eu-west-1:111122223333:key/1234abcd"}},
		{"gcpkms", "gcpkms:projects/p/locations/global/keyRings/r/cryptoKeys/k", kms.URI{Scheme: "gcpkms", Opaque: "projects/p/locations/global/keyRings/r/cryptoKeys/k"}},
		{"transit", "transit:https://vault:8200/transit/keys/kek", kms.URI{Scheme: "transit", Opaque: "https://vault:8200/transit/keys/kek"}},
		{"upper-case scheme is folded", "LOCAL:kek.key", kms.URI{Scheme: "local", Opaque: "kek.key"}},
		{"mixed-case scheme is folded", "PkCs11:token=a", kms.URI{Scheme: "pkcs11", Opaque: "token=a"}},
		{"opaque case is kept", "local:KEK.key", kms.URI{Scheme: "local", Opaque: "KEK.key"}},
		{"opaque may hold spaces and unicode", "local:my keys/kék", kms.URI{Scheme: "local", Opaque: "my keys/kék"}},
		{"single-character opaque", "local:x", kms.URI{Scheme: "local", Opaque: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := kms.ParseURI(tt.in)
			if err != nil {
				t.Fatalf("ParseURI(%q) error: %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseURI(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
			if s := got.String(); s != tt.want.Scheme+":"+tt.want.Opaque {
				t.Errorf("String() = %q, want %q", s, tt.want.Scheme+":"+tt.want.Opaque)
			}
		})
	}
}

func TestParseURIInvalid(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantMsg string // a fragment the error must contain
	}{
		{"empty", "", "no scheme"},
		{"no colon", "kek.key", "no scheme"},
		{"empty scheme", ":kek.key", "no scheme"},
		{"unknown scheme", "file:kek.key", "unknown scheme"},
		{"scheme with trailing space", "local :kek.key", "unknown scheme"},
		{"scheme with leading space", " local:kek.key", "unknown scheme"},
		{"url-like scheme", "https://kms.example.com/key", "unknown scheme"},
		{"kelvin sign look-alike", "p\u212acs11:token=a", "unknown scheme"},
		{"turkish dotless i look-alike", "\u0130ocal:x", "unknown scheme"},
		{"empty remainder", "local:", "names no key"},
		{"empty remainder upper case", "PKCS11:", "names no key"},
		{"nul in remainder", "local:kek\x00.key", "control characters"},
		{"newline in remainder", "local:kek\n.key", "control characters"},
		{"carriage return in remainder", "local:kek.key\r", "control characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := kms.ParseURI(tt.in)
			if !errors.Is(err, kms.ErrInvalidURI) {
				t.Fatalf("ParseURI(%q) = %#v, %v; want error wrapping ErrInvalidURI", tt.in, got, err)
			}
			if got != (kms.URI{}) {
				t.Errorf("ParseURI(%q) returned %#v with its error, want the zero URI", tt.in, got)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("ParseURI(%q) error = %q, want it to mention %q", tt.in, err, tt.wantMsg)
			}
		})
	}
}

func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"local:kek.key", "LOCAL:x", "pkcs11:token=keyward;object=kek",
		"awskms:arn:aws:kms:eu-west-1:1:key/k", "transit:https://v:8200/k",
		"", ":", "local:", "file:x", "local:\x00", "p\u212acs11:x", "::::",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := kms.ParseURI(s)
		if err != nil {
			if !errors.Is(err, kms.ErrInvalidURI) {
				t.Fatalf("ParseURI(%q) error %v does not wrap ErrInvalidURI", s, err)
			}
			return
		}
		if u.Scheme == "" || u.Opaque == "" {
			t.Fatalf("ParseURI(%q) = %#v: empty part accepted", s, u)
		}
		again, err := kms.ParseURI(u.String())
		if err != nil {
			t.Fatalf("ParseURI(%q) ok, but its String() %q does not parse: %v", s, u.String(), err)
		}
		if again != u {
			t.Fatalf("round trip of %q: got %#v, want %#v", s, again, u)
		}
		// Only the ASCII scheme is folded; the remainder is kept byte for byte.
		if !strings.EqualFold(s[:len(u.Scheme)], u.Scheme) || s[len(u.Scheme)+1:] != u.Opaque {
			t.Fatalf("ParseURI(%q) = %#v: changed more than the scheme's case", s, u)
		}
	})
}
