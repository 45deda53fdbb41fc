package secretstore_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keyward/secretstore"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"webhooks/stripe", true},
		{"smtp/primary.password", true},
		{"A-Z_09/x.y-z/..a/b..", true},
		{"v1.2", true},
		{".hidden", true},
		{"_", true},
		{"-", true},
		{strings.Repeat("a", 256), true},
		{strings.Repeat("a/", 127) + "ab", true}, // 256 bytes
		{"", false},
		{strings.Repeat("a", 257), false},
		{strings.Repeat("a/", 128) + "a", false},
		{"/a", false},
		{"a/", false},
		{"/", false},
		{"a//b", false},
		{".", false},
		{"..", false},
		{"...", false},
		{"a/./b", false},
		{"a/../b", false},
		{"../etc/passwd", false},
		{"a/..", false},
		{`a\b`, false},
		{`..\x`, false},
		{"a%2Fb", false},
		{"%2e%2e", false},
		{"a b", false},
		{"a\tb", false},
		{"a\nb", false},
		{"a\x00b", false},
		{"a\x7f", false},
		{"é", false},
		{"a\u200bb", false}, // zero-width space
		{"ａ", false},        // fullwidth a
		{"a:b", false},
		{"a?b", false},
		{"a#b", false},
		{"a*b", false},
		{"~a", false},
		{"a+b", false},
		{"\xff", false},
	}
	for _, tt := range tests {
		err := secretstore.ValidateName(tt.name)
		if got := err == nil; got != tt.ok {
			t.Errorf("ValidateName(%q): got error %v, want ok %t", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, secretstore.ErrInvalidName) {
			t.Errorf("ValidateName(%q): got %v, want ErrInvalidName", tt.name, err)
		}
	}
}

func TestAADContext(t *testing.T) {
	if got, want := secretstore.AADContext("webhooks/stripe"), "secret:webhooks/stripe"; got != want {
		t.Errorf("AADContext: got %q, want %q", got, want)
	}
	if secretstore.AADContext("a") == secretstore.AADContext("b") {
		t.Error("two names share an encryption context")
	}
}

// nameGrammar is the grammar of names written as a regular expression, an
// independent statement of ValidateName's rules (plus the length bound and
// the all-dots rule, which a regular expression says poorly).
var nameGrammar = regexp.MustCompile(`^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$`)

// FuzzValidateName checks ValidateName against the grammar: it accepts
// exactly the names the regular expression accepts within 256 bytes and
// without all-dot segments, and its errors always wrap ErrInvalidName.
func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"a", "webhooks/stripe", "a//b", "../x", "a/./b", "%2e", "a\x00", "é", "/", ".", "...", "a/b/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := secretstore.ValidateName(name)
		want := len(name) <= secretstore.MaxNameLen && nameGrammar.MatchString(name)
		if want {
			for seg := range strings.SplitSeq(name, "/") {
				if strings.Trim(seg, ".") == "" {
					want = false
				}
			}
		}
		if (err == nil) != want {
			t.Fatalf("ValidateName(%q): got error %v, want valid %t", name, err, want)
		}
		if err != nil && !errors.Is(err, secretstore.ErrInvalidName) {
			t.Fatalf("ValidateName(%q): error %v does not wrap ErrInvalidName", name, err)
		}
		if err != nil && len(name) > secretstore.MaxNameLen && strings.Contains(err.Error(), name) {
			t.Fatalf("ValidateName: an overlong name is quoted back in the error")
		}
	})
}

func TestParseKind(t *testing.T) {
	tests := []struct {
		in   string
		want secretstore.Kind
		ok   bool
	}{
		{"api_key", secretstore.APIKey, true},
		{"webhook_secret", secretstore.WebhookSecret, true},
		{"email_credential", secretstore.EmailCredential, true},
		{"oauth_token", secretstore.OAuthToken, true},
		{"generic", secretstore.Generic, true},
		{"", "", false},
		{"API_KEY", "", false},
		{"api-key", "", false},
		{"api_key ", "", false},
		{"password", "", false},
	}
	for _, tt := range tests {
		got, err := secretstore.ParseKind(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseKind(%q): got %q, %v; want %q, ok %t", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, secretstore.ErrInvalidKind) {
			t.Errorf("ParseKind(%q): got %v, want ErrInvalidKind", tt.in, err)
		}
		if got := secretstore.Kind(tt.in).Valid(); got != tt.ok {
			t.Errorf("Kind(%q).Valid(): got %t, want %t", tt.in, got, tt.ok)
		}
	}
	if got := len(secretstore.Kinds()); got != 5 {
		t.Errorf("Kinds: got %d kinds, want 5", got)
	}
	for _, k := range secretstore.Kinds() {
		if !k.Valid() {
			t.Errorf("Kinds lists %q, which is not valid", k)
		}
	}
}
