package audit_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/kms/kmstest"
	"github.com/keyward/keyward/store/sqlite"
)

func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "audit-example")
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(ctx, filepath.Join(dir, "keyward.db"))
	if err != nil {
		panic(err)
	}
	defer st.Close()
	kek, _ := kmstest.NewFake() // in production: the deployment's KEK

	log, err := audit.Open(ctx, st, kek, nil)
	if err != nil {
		panic(err)
	}
	// Record returns once the event is durable; concurrent Records share
	// one transaction.
	err = log.Record(ctx, audit.Event{
		RequestID: "req-7", TokenID: "tok_4f1c", Org: "acme", Action: "secrets.reveal",
		Name: "webhooks/stripe", KeyVersion: 2, Outcome: audit.Allowed,
		ValueMAC: log.MAC([]byte("whsec_…")), // identifies the value, reveals nothing
	})
	if err != nil {
		panic(err)
	}
	_ = log.Record(ctx, audit.Event{
		RequestID: "req-8", TokenID: "tok_9a0b", Org: "acme", Action: "decrypt",
		Context: "channels.access_token", Outcome: audit.Denied, Code: "forbidden",
	})
	log.Close()

	events, _ := audit.Tail(ctx, st, 0, 10)
	for _, e := range events {
		fmt.Printf("%d %s %s %s code=%q\n", e.Seq, e.TokenID, e.Action, e.Outcome, e.Code)
	}
	rep, err := audit.Verify(ctx, st, kek, nil)
	fmt.Println(rep.Events, err, errors.Is(err, audit.ErrTampered))
	// Output:
	// 1 tok_4f1c secrets.reveal allowed code=""
	// 2 tok_9a0b decrypt denied code="forbidden"
	// 2 <nil> false
}
