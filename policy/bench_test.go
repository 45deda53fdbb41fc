package policy_test

import (
	"testing"
	"time"

	"github.com/keyward/keyward/policy"
)

// BenchmarkAuthenticate measures Authenticate on the hot path (cached) and
// when every call reads the SQLite store (uncached: CacheTTL < 0), and the
// refusal of an unknown token (always a store read).
//
//	go test ./policy -run '^$' -bench Authenticate
func BenchmarkAuthenticate(b *testing.B) {
	for _, tc := range []struct {
		name string
		ttl  time.Duration
	}{{"cached", time.Hour}, {"uncached", -1}} {
		b.Run(tc.name, func(b *testing.B) {
			a := newAuthority(b, openSQLite(b), &policy.Options{CacheTTL: tc.ttl})
			tok, _ := create(b, a, 0, "acme/decrypt:channels.*")
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := a.Authenticate(b.Context(), tok); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
	b.Run("unknown", func(b *testing.B) {
		a := newAuthority(b, openSQLite(b), nil)
		bad := "kw_" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.Authenticate(b.Context(), bad); err == nil {
				b.Fatal("unknown token authenticated")
			}
		}
	})
}

// BenchmarkAllows measures a policy decision on a token with a few grants.
func BenchmarkAllows(b *testing.B) {
	var p policy.Principal
	for _, s := range []string{"secrets:read", "secrets:reveal:webhooks/*", "decrypt:channels.*", "encrypt:users.*.token"} {
		g, _ := policy.ParseGrant("acme", s)
		p.Grants = append(p.Grants, g)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !p.Allows("acme", policy.Encrypt, "users.oauth.token") {
			b.Fatal("denied")
		}
	}
}
