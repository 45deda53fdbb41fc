package policy_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/keyward/keyward/policy"
	"github.com/keyward/keyward/store/sqlite"
)

func ExampleParseGrant() {
	g, err := policy.ParseGrant("acme", "secrets:reveal:webhooks/*")
	if err != nil {
		panic(err)
	}
	p := policy.Principal{Grants: []policy.Grant{g}}
	fmt.Println(g.Org, g.Capability, g.Pattern)
	fmt.Println(p.Allows("acme", policy.SecretsReveal, "webhooks/stripe"))
	fmt.Println(p.Allows("acme", policy.SecretsReveal, "smtp/password"))
	fmt.Println(p.Allows("globex", policy.SecretsReveal, "webhooks/stripe"))

	_, err = policy.ParseGrant("acme", "Decrypt")
	fmt.Println(err != nil)
	// Output:
	// acme secrets:reveal webhooks/*
	// true
	// false
	// false
	// true
}

func ExamplePrincipal_Allows() {
	operator := policy.Principal{Grants: []policy.Grant{{Org: "*", Capability: policy.Admin}}}
	orgAdmin := policy.Principal{Grants: []policy.Grant{{Org: "acme", Capability: policy.Admin}}}
	// admin implies every capability within its org scope...
	fmt.Println(orgAdmin.Allows("acme", policy.Decrypt, "channels.token"))
	// ...and only an admin on "*" may do what belongs to no one org.
	fmt.Println(orgAdmin.Allows(policy.AnyOrg, policy.Admin, ""))
	fmt.Println(operator.Allows(policy.AnyOrg, policy.Admin, ""))
	// Output:
	// true
	// false
	// true
}

func ExampleAuthority() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "policy-example")
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(ctx, filepath.Join(dir, "keyward.db"))
	if err != nil {
		panic(err)
	}
	defer st.Close()

	a, err := policy.New(st, nil)
	if err != nil {
		panic(err)
	}
	g, _ := policy.ParseGrant("acme", "decrypt:channels.*")
	token, info, err := a.Create(ctx, []policy.Grant{g}, 0, "billing worker")
	if err != nil {
		panic(err)
	}
	fmt.Println(token) // redacted: print token.Reveal() once, to hand it over

	p, err := a.Authenticate(ctx, "Bearer "+string(token.Reveal()))
	fmt.Println(err, p.TokenID == info.ID, p.Allows("acme", policy.Decrypt, "channels.access_token"))

	_ = a.Revoke(ctx, info.ID)
	_, err = a.Authenticate(ctx, string(token.Reveal()))
	fmt.Println(err)
	// Output:
	// [REDACTED]
	// <nil> true true
	// policy: unauthenticated
}
