// Package storetest is the conformance suite of package store: every
// store.Store implementation runs it from its own tests,
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s, err := mystore.Open(t.Context(), …)
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// and so pins down the semantics the package store documentation states:
// sentinel errors, the key lifecycle, usage reservation, the change feed,
// KEK rotation (rewrapping), atomicity under concurrent writers, context
// handling and ownership of returned slices.
//
// Each test calls open for a fresh, empty store; the opener registers the
// cleanup. Tests run one after the other (an opener may share one database
// server between them), except inside the concurrency tests.
//
// The suite is organised in groups, one file each (orgs.go, keys.go,
// lifecycle.go, usage.go, changes.go, concurrency.go, context.go, copies.go,
// rewrap.go, tokens.go, audit.go, secrets.go, legacy.go, references.go,
// jobs.go). When the store grows, add a file with a func(*testing.T, Opener)
// and list it in groups below.
package storetest

import (
	"testing"

	"github.com/keyward/keyward/store"
)

// Opener returns a fresh, empty store for one test and registers its cleanup
// (Close, removing files or schemas) with t.
type Opener = func(t *testing.T) store.Store

// group is one part of the suite.
type group struct {
	name string
	run  func(t *testing.T, open Opener)
}

// groups lists the suite's parts in the order they run.
func groups() []group {
	return []group{
		{"Orgs", testOrgs},
		{"Keys", testKeys},
		{"Lifecycle", testLifecycle},
		{"Usage", testUsage},
		{"Changes", testChanges},
		{"Concurrency", testConcurrency},
		{"Context", testContext},
		{"Copies", testCopies},
		{"Rewrap", testRewrap},
		{"Tokens", testTokens},
		{"Audit", testAudit},
		{"Secrets", testSecrets},
		{"Legacy", testLegacy},
		{"References", testReferences},
		{"Jobs", testJobs},
	}
}

// Run runs the whole conformance suite against the stores open returns.
func Run(t *testing.T, open Opener) {
	t.Helper()
	for _, g := range groups() {
		t.Run(g.name, func(t *testing.T) { g.run(t, open) })
	}
}
