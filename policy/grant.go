package policy

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/keyward/keyward/keyring"
)

// Capability is one thing a token may be allowed to do.
type Capability string

// The capabilities.
const (
	Encrypt       Capability = "encrypt"
	Decrypt       Capability = "decrypt"
	Rewrap        Capability = "rewrap"
	SecretsWrite  Capability = "secrets:write"
	SecretsRead   Capability = "secrets:read"
	SecretsReveal Capability = "secrets:reveal"
	KeysManage    Capability = "keys:manage"
	Admin         Capability = "admin"
)

// Capabilities lists every capability, in the order they are documented.
func Capabilities() []Capability {
	return []Capability{Encrypt, Decrypt, Rewrap, SecretsWrite, SecretsRead, SecretsReveal, KeysManage, Admin}
}

// Valid reports whether c is one of the capabilities.
func (c Capability) Valid() bool {
	switch c {
	case Encrypt, Decrypt, Rewrap, SecretsWrite, SecretsRead, SecretsReveal, KeysManage, Admin:
		return true
	}
	return false
}

// named reports whether c applies to a name (a secret name or an encryption
// context) and so takes a pattern.
func (c Capability) named() bool { return c != KeysManage && c != Admin }

// Sentinel errors.
var (
	// ErrUnauthenticated is every authentication failure: a missing,
	// malformed, unknown, revoked or expired token. It never says which.
	ErrUnauthenticated = errors.New("policy: unauthenticated")
	// ErrForbidden reports an authenticated caller whom no grant allows
	// the request.
	ErrForbidden = errors.New("policy: forbidden")
	// ErrInvalidGrant reports a grant or pattern that cannot be parsed.
	ErrInvalidGrant = errors.New("policy: invalid grant")
	// ErrInvalidArgument reports another malformed request (a negative
	// lifetime, a description that is too long or not printable).
	ErrInvalidArgument = errors.New("policy: invalid argument")
	// ErrNoSuchToken reports a token id that names no token.
	ErrNoSuchToken = errors.New("policy: no such token")
)

// MaxPatternLen is the longest pattern, in bytes (an encryption context is
// at most 1 KiB).
const MaxPatternLen = 1024

// AnyOrg is the org of a grant that covers every organization, and the org
// to ask Allows about for what belongs to no one organization.
const AnyOrg = "*"

// Grant allows one capability on names matching Pattern in Org.
type Grant struct {
	// Org is one organization id, or "*" for all.
	Org        string
	Capability Capability
	// Pattern matches names; "" or "*" matches all.
	Pattern string
}

// ParseGrant parses spec, "CAP[:PATTERN]", into a grant on org and checks
// it: org must be "*" or a valid organization id, CAP one of the
// capabilities (lowercase), PATTERN at most MaxPatternLen bytes of UTF-8
// without control characters, and only given for capabilities that apply to
// names. Errors wrap ErrInvalidGrant.
func ParseGrant(org, spec string) (Grant, error) {
	g, err := splitSpec(org, spec)
	if err != nil {
		return Grant{}, err
	}
	if err := g.Validate(); err != nil {
		return Grant{}, err
	}
	return g, nil
}

// splitSpec splits spec at the end of its capability. Capabilities contain
// ':' themselves, so the longest capability that spec equals or starts with
// followed by ':' wins.
func splitSpec(org, spec string) (Grant, error) {
	for _, c := range Capabilities() {
		switch {
		case spec == string(c):
			return Grant{Org: org, Capability: c}, nil
		case strings.HasPrefix(spec, string(c)+":"):
			p := spec[len(c)+1:]
			if p == "" {
				return Grant{}, fmt.Errorf("%w: %q: empty pattern after ':' (leave out the ':' to allow every name)", ErrInvalidGrant, spec)
			}
			return Grant{Org: org, Capability: c, Pattern: p}, nil
		}
	}
	if spec == "" {
		return Grant{}, fmt.Errorf("%w: empty (want CAP[:PATTERN], e.g. decrypt:channels.*)", ErrInvalidGrant)
	}
	return Grant{}, fmt.Errorf("%w: %q: unknown capability (want one of %s)", ErrInvalidGrant, clip(spec), capList())
}

// Validate checks g as ParseGrant does.
func (g Grant) Validate() error {
	if g.Org != AnyOrg {
		if err := keyring.ValidateOrgID(g.Org); err != nil {
			return fmt.Errorf("%w: org: %w", ErrInvalidGrant, err)
		}
	}
	if !g.Capability.Valid() {
		return fmt.Errorf("%w: %q: unknown capability (want one of %s)", ErrInvalidGrant, clip(string(g.Capability)), capList())
	}
	if !g.Capability.named() && g.Pattern != "" && g.Pattern != "*" {
		return fmt.Errorf("%w: %s takes no pattern", ErrInvalidGrant, g.Capability)
	}
	return validPattern(g.Pattern)
}

func validPattern(p string) error {
	switch {
	case len(p) > MaxPatternLen:
		return fmt.Errorf("%w: pattern of %d bytes, want at most %d", ErrInvalidGrant, len(p), MaxPatternLen)
	case !utf8.ValidString(p):
		return fmt.Errorf("%w: pattern is not UTF-8", ErrInvalidGrant)
	case strings.ContainsFunc(p, unicode.IsControl):
		return fmt.Errorf("%w: pattern contains a control character", ErrInvalidGrant)
	}
	return nil
}

// Spec returns g's capability and pattern in the form ParseGrant reads.
func (g Grant) Spec() string {
	if g.Pattern == "" {
		return string(g.Capability)
	}
	return string(g.Capability) + ":" + g.Pattern
}

// String returns "ORG/CAP[:PATTERN]", for display.
func (g Grant) String() string { return g.Org + "/" + g.Spec() }

// allows reports whether g allows c on name in org.
func (g Grant) allows(org string, c Capability, name string) bool {
	if g.Org != AnyOrg && g.Org != org {
		return false
	}
	if g.Capability != c && g.Capability != Admin {
		return false
	}
	return Match(g.Pattern, name)
}

// Principal is an authenticated caller: its token's public id and grants.
type Principal struct {
	TokenID string
	Grants  []Grant
}

// Allows reports whether some grant of p allows capability c on name in
// org. It denies by default: no grants, an empty org or an unknown
// capability are denied. Ask with org "*" (AnyOrg) about what belongs to no
// one organization (creating organizations, managing tokens): only grants
// on "*" allow it.
func (p Principal) Allows(org string, c Capability, name string) bool {
	if org == "" || !c.Valid() {
		return false
	}
	for _, g := range p.Grants {
		if g.allows(org, c, name) {
			return true
		}
	}
	return false
}

// Match reports whether name matches pattern: '*' matches any run of
// characters (none included), every other byte matches itself. "" and "*"
// match everything. It runs in O(len(pattern)·len(name)) at worst, without
// recursion.
func Match(pattern, name string) bool {
	if pattern == "" {
		return true
	}
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
		case p < len(pattern) && pattern[p] == name[n]:
			p++
			n++
		case star >= 0:
			p = star + 1
			mark++
			n = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// capList names the capabilities for error messages.
func capList() string {
	cs := Capabilities()
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = string(c)
	}
	return strings.Join(s, ", ")
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
