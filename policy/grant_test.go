package policy_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keyward/keyward/policy"
)

func TestParseGrant(t *testing.T) {
	for _, tc := range []struct {
		org, spec string
		want      policy.Grant
		err       string // substring of the error; "" wants none
	}{
		{"acme", "decrypt", policy.Grant{Org: "acme", Capability: policy.Decrypt}, ""},
		{"acme", "decrypt:channels.*", policy.Grant{Org: "acme", Capability: policy.Decrypt, Pattern: "channels.*"}, ""},
		{"*", "admin", policy.Grant{Org: "*", Capability: policy.Admin}, ""},
		{"*", "admin:*", policy.Grant{Org: "*", Capability: policy.Admin, Pattern: "*"}, ""},
		{"acme", "secrets:reveal:webhooks/*", policy.Grant{Org: "acme", Capability: policy.SecretsReveal, Pattern: "webhooks/*"}, ""},
		{"acme", "secrets:read", policy.Grant{Org: "acme", Capability: policy.SecretsRead}, ""},
		{"acme", "secrets:read:a:b", policy.Grant{Org: "acme", Capability: policy.SecretsRead, Pattern: "a:b"}, ""},
		{"acme", "secrets:write:*", policy.Grant{Org: "acme", Capability: policy.SecretsWrite, Pattern: "*"}, ""},
		{"acme", "keys:manage", policy.Grant{Org: "acme", Capability: policy.KeysManage}, ""},
		{"acme", "encrypt:ünïcode/*", policy.Grant{Org: "acme", Capability: policy.Encrypt, Pattern: "ünïcode/*"}, ""},
		{"org-1.a_b", "rewrap", policy.Grant{Org: "org-1.a_b", Capability: policy.Rewrap}, ""},

		{"acme", "", policy.Grant{}, "empty"},
		{"acme", "Decrypt", policy.Grant{}, "unknown capability"},
		{"acme", "DECRYPT:x", policy.Grant{}, "unknown capability"},
		{"acme", "decrypts", policy.Grant{}, "unknown capability"},
		{"acme", "secrets", policy.Grant{}, "unknown capability"},
		{"acme", "secrets:readx", policy.Grant{}, "unknown capability"},
		{"acme", "secrets:*", policy.Grant{}, "unknown capability"},
		{"acme", "decrypt:", policy.Grant{}, "empty pattern"},
		{"acme", "keys:manage:v1", policy.Grant{}, "takes no pattern"},
		{"acme", "admin:webhooks/*", policy.Grant{}, "takes no pattern"},
		{"acme", "decrypt:a\nb", policy.Grant{}, "control character"},
		{"acme", "decrypt:\xff", policy.Grant{}, "not UTF-8"},
		{"acme", "decrypt:" + strings.Repeat("a", policy.MaxPatternLen+1), policy.Grant{}, "at most"},
		{"", "decrypt", policy.Grant{}, "org"},
		{"ac me", "decrypt", policy.Grant{}, "org"},
		{"acme/*", "decrypt", policy.Grant{}, "org"},
		{"**", "decrypt", policy.Grant{}, "org"},
	} {
		got, err := policy.ParseGrant(tc.org, tc.spec)
		if tc.err == "" {
			if err != nil {
				t.Errorf("ParseGrant(%q, %q): got error %v, want %+v", tc.org, tc.spec, err, tc.want)
			} else if got != tc.want {
				t.Errorf("ParseGrant(%q, %q): got %+v, want %+v", tc.org, tc.spec, got, tc.want)
			} else if got.Spec() != tc.spec {
				t.Errorf("ParseGrant(%q, %q).Spec(): got %q, want the input", tc.org, tc.spec, got.Spec())
			}
			continue
		}
		if !errors.Is(err, policy.ErrInvalidGrant) || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("ParseGrant(%q, %q): got %+v, %v; want ErrInvalidGrant mentioning %q", tc.org, tc.spec, got, err, tc.err)
		}
	}
}

func mustGrant(t *testing.T, org, spec string) policy.Grant {
	t.Helper()
	g, err := policy.ParseGrant(org, spec)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestAllows(t *testing.T) {
	type req struct {
		org  string
		c    policy.Capability
		name string
	}
	for _, tc := range []struct {
		name   string
		grants [][2]string // org, spec
		allow  []req
		deny   []req
	}{
		{
			name: "no grants deny everything",
			deny: []req{{"acme", policy.Decrypt, "x"}, {"*", policy.Admin, ""}, {"acme", policy.Admin, ""}},
		},
		{
			name:   "one capability, any name, one org",
			grants: [][2]string{{"acme", "decrypt"}},
			allow:  []req{{"acme", policy.Decrypt, "channels.token"}, {"acme", policy.Decrypt, ""}},
			deny: []req{
				{"globex", policy.Decrypt, "channels.token"}, {"acme", policy.Encrypt, "channels.token"},
				{"ACME", policy.Decrypt, "x"}, {"", policy.Decrypt, "x"}, {"*", policy.Decrypt, "x"},
				{"acme", policy.Capability("Decrypt"), "x"}, {"acme", policy.Capability("nope"), "x"},
			},
		},
		{
			name:   "pattern on the context",
			grants: [][2]string{{"acme", "decrypt:channels.*"}},
			allow:  []req{{"acme", policy.Decrypt, "channels.access_token"}, {"acme", policy.Decrypt, "channels."}, {"acme", policy.Decrypt, "channels.a.b:row-7"}},
			deny:   []req{{"acme", policy.Decrypt, "channels"}, {"acme", policy.Decrypt, "Channels.x"}, {"acme", policy.Decrypt, "users.channels.x"}, {"acme", policy.Decrypt, ""}},
		},
		{
			name:   "pattern on the secret name, star in the middle",
			grants: [][2]string{{"acme", "secrets:reveal:webhooks/*/signing"}},
			allow:  []req{{"acme", policy.SecretsReveal, "webhooks/stripe/signing"}, {"acme", policy.SecretsReveal, "webhooks//signing"}, {"acme", policy.SecretsReveal, "webhooks/a/b/signing"}},
			deny:   []req{{"acme", policy.SecretsReveal, "webhooks/stripe/signing2"}, {"acme", policy.SecretsRead, "webhooks/stripe/signing"}, {"acme", policy.SecretsReveal, "webhooks/stripe"}},
		},
		{
			name:   "literal pattern, other characters are not wildcards",
			grants: [][2]string{{"acme", "secrets:read:a?b[c].d"}},
			allow:  []req{{"acme", policy.SecretsRead, "a?b[c].d"}},
			deny:   []req{{"acme", policy.SecretsRead, "axb[c].d"}, {"acme", policy.SecretsRead, "a?bc.d"}, {"acme", policy.SecretsRead, "a?b[c]xd"}},
		},
		{
			name:   "star org covers every org but its own capability only",
			grants: [][2]string{{"*", "encrypt"}},
			allow:  []req{{"acme", policy.Encrypt, "x"}, {"globex", policy.Encrypt, "y"}, {"*", policy.Encrypt, "z"}},
			deny:   []req{{"acme", policy.Decrypt, "x"}, {"*", policy.Admin, ""}},
		},
		{
			name:   "org admin implies every capability in its org only",
			grants: [][2]string{{"acme", "admin"}},
			allow: []req{
				{"acme", policy.Decrypt, "anything"}, {"acme", policy.SecretsReveal, "webhooks/x"},
				{"acme", policy.KeysManage, ""}, {"acme", policy.Admin, ""}, {"acme", policy.Rewrap, ""},
			},
			deny: []req{{"globex", policy.Decrypt, "x"}, {"*", policy.Admin, ""}, {"*", policy.Decrypt, "x"}},
		},
		{
			name:   "operator admin allows org creation and token management",
			grants: [][2]string{{"*", "admin"}},
			allow:  []req{{"*", policy.Admin, ""}, {"acme", policy.SecretsReveal, "x"}, {"globex", policy.KeysManage, ""}},
			deny:   []req{{"", policy.Admin, ""}, {"acme", policy.Capability("root"), ""}},
		},
		{
			name:   "several grants: any one allows",
			grants: [][2]string{{"acme", "decrypt:channels.*"}, {"globex", "secrets:read"}, {"acme", "encrypt"}},
			allow:  []req{{"acme", policy.Decrypt, "channels.x"}, {"globex", policy.SecretsRead, "x"}, {"acme", policy.Encrypt, "users.x"}},
			deny:   []req{{"acme", policy.Decrypt, "users.x"}, {"globex", policy.Decrypt, "channels.x"}, {"acme", policy.SecretsRead, "x"}},
		},
		{
			name:   "keys:manage is no admin",
			grants: [][2]string{{"acme", "keys:manage"}},
			allow:  []req{{"acme", policy.KeysManage, ""}, {"acme", policy.KeysManage, "v3"}},
			deny:   []req{{"acme", policy.Decrypt, ""}, {"acme", policy.Admin, ""}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p policy.Principal
			for _, g := range tc.grants {
				p.Grants = append(p.Grants, mustGrant(t, g[0], g[1]))
			}
			for _, r := range tc.allow {
				if !p.Allows(r.org, r.c, r.name) {
					t.Errorf("Allows(%q, %q, %q): got false, want true", r.org, r.c, r.name)
				}
			}
			for _, r := range tc.deny {
				if p.Allows(r.org, r.c, r.name) {
					t.Errorf("Allows(%q, %q, %q): got true, want false", r.org, r.c, r.name)
				}
			}
		})
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"", "", true}, {"", "x", true}, {"*", "", true}, {"*", "anything/at.all", true},
		{"**", "x", true}, {"a*", "a", true}, {"a*", "", false}, {"*a", "bba", true}, {"*a", "bab", false},
		{"a*b*c", "abc", true}, {"a*b*c", "aXbYc", true}, {"a*b*c", "aXbYcZ", false}, {"a*b*c", "acb", false},
		{"*.*", "a.b", true}, {"*.*", "ab", false}, {"abc", "abc", true}, {"abc", "abcd", false}, {"abc", "ab", false},
		{"aaa*aaa", "aaaaa", false}, {"aaa*aaa", "aaaaaa", true}, {"a*a*a*a*b", strings.Repeat("a", 200), false},
		{"é*", "été", true}, {"É*", "été", false},
	} {
		if got := policy.Match(tc.pattern, tc.name); got != tc.want {
			t.Errorf("Match(%q, %q): got %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}

// FuzzParseGrant checks that ParseGrant never panics, accepts only what
// Validate accepts, and that an accepted spec round-trips through Spec.
func FuzzParseGrant(f *testing.F) {
	for _, s := range []string{"decrypt", "decrypt:channels.*", "secrets:reveal:webhooks/*", "admin", "admin:*",
		"keys:manage:x", "secrets:", "secrets:read:", ":", "", "decrypt:\x00", "encrypt:**"} {
		f.Add("acme", s)
		f.Add("*", s)
	}
	f.Fuzz(func(t *testing.T, org, spec string) {
		g, err := policy.ParseGrant(org, spec)
		if err != nil {
			if !errors.Is(err, policy.ErrInvalidGrant) {
				t.Fatalf("ParseGrant(%q, %q): error %v does not wrap ErrInvalidGrant", org, spec, err)
			}
			return
		}
		if err := g.Validate(); err != nil {
			t.Fatalf("ParseGrant(%q, %q) = %+v, which Validate refuses: %v", org, spec, g, err)
		}
		if g.Spec() != spec || g.Org != org {
			t.Fatalf("ParseGrant(%q, %q) = %+v: Spec %q, want the input", org, spec, g, g.Spec())
		}
		again, err := policy.ParseGrant(g.Org, g.Spec())
		if err != nil || again != g {
			t.Fatalf("round trip of %+v: got %+v, %v", g, again, err)
		}
		// A pattern always allows its own literal text when it has no '*'.
		if !strings.Contains(g.Pattern, "*") && g.Capability != policy.Admin && g.Capability != policy.KeysManage {
			p := policy.Principal{Grants: []policy.Grant{g}}
			if org != "*" && !p.Allows(org, g.Capability, g.Pattern) {
				t.Fatalf("%+v does not allow its own pattern", g)
			}
		}
	})
}
