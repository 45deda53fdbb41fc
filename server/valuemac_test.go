package server_test

import (
	"strings"
	"testing"
)

// TestSecretEventsIdentifyTheValue: a secret's write and reveal events carry
// the audit log's keyed HMAC of the value (never the value), so a leaked
// credential can be matched to the events that wrote and revealed it.
func TestSecretEventsIdentifyTheValue(t *testing.T) {
	f := newFixture(t, nil)
	f.do(t, "POST", "/v1/orgs", f.admin, map[string]string{"org": "acme"})
	const value = "sk_live_canary_5f0e2d"
	if r := f.do(t, "PUT", "/v1/orgs/acme/secrets/stripe", f.admin, map[string]any{"kind": "api_key", "value": b64(value)}); r.status != 201 {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	if r := f.do(t, "POST", "/v1/orgs/acme/secrets/stripe/reveal", f.admin, nil); r.status != 200 {
		t.Fatalf("reveal: %d %s", r.status, r.body)
	}
	want := f.alog.MAC([]byte(value))
	if len(want) != 64 || strings.Contains(want, value) {
		t.Fatalf("MAC = %q: want 64 hex digits", want)
	}
	got := map[string]string{}
	for _, ev := range f.events(t) {
		if ev.Name == "stripe" {
			got[ev.Action] = ev.ValueMAC
		}
	}
	for _, action := range []string{"secrets.put", "secrets.reveal"} {
		if got[action] != want {
			t.Errorf("%s event ValueMAC = %q, want the value's MAC %q", action, got[action], want)
		}
	}
	if other := f.alog.MAC([]byte(value + "x")); other == want {
		t.Errorf("two values share a MAC")
	}
}
