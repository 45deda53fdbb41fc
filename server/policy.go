package server

import (
	"context"

	"github.com/keyward/keyward/policy"
)

// PolicyAuthenticator adapts a policy.Authority to the server.
func PolicyAuthenticator(a *policy.Authority) Authenticator { return policyAuth{a} }

type policyAuth struct{ a *policy.Authority }

func (pa policyAuth) Authenticate(ctx context.Context, bearer string) (Principal, error) {
	p, err := pa.a.Authenticate(ctx, bearer)
	if err != nil {
		return nil, err
	}
	return principal{p}, nil
}

type principal struct{ p policy.Principal }

func (p principal) TokenID() string { return p.p.TokenID }

func (p principal) Allows(org string, c Capability, name string) bool {
	return p.p.Allows(org, policy.Capability(c), name)
}

func (p principal) AllowsSome(org string, c Capability) bool {
	if org == "" {
		return false
	}
	for _, g := range p.p.Grants {
		if (g.Org == policy.AnyOrg || g.Org == org) && (g.Capability == policy.Capability(c) || g.Capability == policy.Admin) {
			return true
		}
	}
	return false
}
