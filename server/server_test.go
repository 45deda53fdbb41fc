package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/store"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestEncryptDecryptRewrap(t *testing.T) {
	f := newFixture(t, nil)
	adm := f.admin
	if r := f.do(t, "POST", "/v1/orgs", adm, map[string]string{"org": "acme"}); r.status != 201 {
		t.Fatalf("create org: %d %s", r.status, r.body)
	}
	if r := f.do(t, "POST", "/v1/orgs", adm, map[string]string{"org": "acme"}); r.status != 409 || r.code() != "org_exists" {
		t.Fatalf("create org twice: %d %s, want 409 org_exists", r.status, r.body)
	}

	r := f.do(t, "POST", "/v1/orgs/acme/encrypt", adm, map[string]string{"plaintext": b64("sk_live_1"), "context": "users.api_key:1"})
	if r.status != 200 {
		t.Fatalf("encrypt: %d %s", r.status, r.body)
	}
	var ct struct {
		Ciphertext string `json:"ciphertext"`
		KeyVersion uint32 `json:"key_version"`
	}
	json.Unmarshal(r.body, &ct)
	if !strings.HasPrefix(ct.Ciphertext, "kw1:1:") || ct.KeyVersion != 1 {
		t.Fatalf("encrypt: got %+v, want kw1:1:… version 1", ct)
	}

	r = f.do(t, "POST", "/v1/orgs/acme/decrypt", adm, map[string]string{"ciphertext": ct.Ciphertext, "context": "users.api_key:1"})
	var pt struct {
		Plaintext  []byte `json:"plaintext"`
		KeyVersion uint32 `json:"key_version"`
	}
	json.Unmarshal(r.body, &pt)
	if r.status != 200 || string(pt.Plaintext) != "sk_live_1" || pt.KeyVersion != 1 {
		t.Fatalf("decrypt: %d %s", r.status, r.body)
	}

	// Wrong context, wrong org: one opaque answer.
	f.do(t, "POST", "/v1/orgs", adm, map[string]string{"org": "globex"})
	for _, tc := range []struct{ org, ctx string }{{"acme", "users.api_key:2"}, {"globex", "users.api_key:1"}} {
		r = f.do(t, "POST", "/v1/orgs/"+tc.org+"/decrypt", adm, map[string]string{"ciphertext": ct.Ciphertext, "context": tc.ctx})
		if r.status != 422 || r.code() != "decrypt_failed" {
			t.Errorf("decrypt in %s with %s: %d %s, want 422 decrypt_failed", tc.org, tc.ctx, r.status, r.body)
		}
	}

	// Rotate, then rewrap moves the old ciphertext to v2 without a plaintext.
	r = f.do(t, "POST", "/v1/orgs/acme/keys/rotate", adm, nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"active_version":2`) {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	r = f.do(t, "POST", "/v1/orgs/acme/rewrap", adm, map[string]string{"ciphertext": ct.Ciphertext, "context": "users.api_key:1"})
	var rw struct {
		Ciphertext string `json:"ciphertext"`
		KeyVersion uint32 `json:"key_version"`
		Rewrapped  bool   `json:"rewrapped"`
	}
	json.Unmarshal(r.body, &rw)
	if r.status != 200 || !strings.HasPrefix(rw.Ciphertext, "kw1:2:") || !rw.Rewrapped || strings.Contains(string(r.body), b64("sk_live_1")) {
		t.Fatalf("rewrap: %d %s", r.status, r.body)
	}

	// Batches keep order and answer item by item.
	r = f.do(t, "POST", "/v1/orgs/acme/decrypt", adm, map[string]any{"items": []map[string]string{
		{"ciphertext": rw.Ciphertext, "context": "users.api_key:1"},
		{"ciphertext": "kw1:1:AAAA", "context": "x"},
		{"ciphertext": ct.Ciphertext, "context": "users.api_key:9"},
		{"ciphertext": ct.Ciphertext, "context": "users.api_key:1"},
	}})
	var batch struct {
		Items []struct {
			Plaintext []byte `json:"plaintext"`
			Error     *struct{ Code string }
		} `json:"items"`
	}
	json.Unmarshal(r.body, &batch)
	if r.status != 200 || len(batch.Items) != 4 {
		t.Fatalf("batch decrypt: %d %s", r.status, r.body)
	}
	want := []string{"sk_live_1", "malformed_ciphertext", "decrypt_failed", "sk_live_1"}
	for i, it := range batch.Items {
		got := string(it.Plaintext)
		if it.Error != nil {
			got = it.Error.Code
		}
		if got != want[i] {
			t.Errorf("batch item %d: got %q, want %q", i, got, want[i])
		}
	}

	r = f.do(t, "POST", "/v1/orgs/acme/encrypt", adm, map[string]any{"items": []map[string]string{
		{"plaintext": b64("a"), "context": "c"}, {"plaintext": b64(strings.Repeat("x", 10)), "context": strings.Repeat("c", 2000)},
	}})
	if r.status != 200 || !strings.Contains(string(r.body), `"code":"too_large"`) || !strings.Contains(string(r.body), `"ciphertext":"kw1:2:`) {
		t.Fatalf("batch encrypt with a bad item: %d %s", r.status, r.body)
	}

	r = f.do(t, "GET", "/v1/orgs/acme/keys", adm, nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"active_version":2`) || !strings.Contains(string(r.body), `"decrypt-only"`) {
		t.Fatalf("keys: %d %s", r.status, r.body)
	}

	// Every decrypt item was audited, with its context and key version;
	// no event holds the plaintext.
	var decrypts, failed int
	for _, ev := range f.events(t) {
		if strings.Contains(fmt.Sprintf("%+v", ev), "sk_live_1") {
			t.Fatalf("audit event holds the plaintext: %+v", ev)
		}
		if ev.Action == "decrypt" {
			decrypts++
			if ev.Outcome == "failed" {
				failed++
			}
		}
	}
	if decrypts != 1+2+4 || failed != 2+2 {
		t.Errorf("decrypt events: %d (%d failed), want 7 (4 failed)", decrypts, failed)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	f := newFixture(t, &fixtureOptions{limits: serverLimits(1024, 3)})
	adm := f.admin
	f.do(t, "POST", "/v1/orgs", adm, map[string]string{"org": "acme"})
	big := `{"plaintext":"` + strings.Repeat("A", 2000) + `"}`
	for _, tc := range []struct {
		name, method, path, body, ctype string
		status                          int
		code                            string
	}{
		{"malformed json", "POST", "/v1/orgs/acme/encrypt", `{"plaintext":`, "application/json", 400, "invalid_json"},
		{"wrong content type", "POST", "/v1/orgs/acme/encrypt", `{"plaintext":"aGk="}`, "text/plain", 415, "unsupported_media_type"},
		{"no content type", "POST", "/v1/orgs", `{"org":"x1"}`, "", 415, "unsupported_media_type"},
		{"unknown field", "POST", "/v1/orgs", `{"org":"x2","admin":true}`, "application/json", 400, "invalid_request"},
		{"trailing data", "POST", "/v1/orgs", `{"org":"x3"} {"org":"x4"}`, "application/json", 400, "invalid_json"},
		{"huge body", "POST", "/v1/orgs/acme/encrypt", big, "application/json", 413, "body_too_large"},
		{"huge body, json route", "POST", "/v1/orgs", `{"org":"` + strings.Repeat("a", 2000) + `"}`, "application/json", 413, "body_too_large"},
		{"batch over limit", "POST", "/v1/orgs/acme/encrypt", `{"items":[{"plaintext":""},{"plaintext":""},{"plaintext":""},{"plaintext":""}]}`, "application/json", 413, "batch_too_large"},
		{"invalid base64", "POST", "/v1/orgs/acme/encrypt", `{"plaintext":"not base64!"}`, "application/json", 400, "invalid_base64"},
		{"unknown org", "POST", "/v1/orgs/nobody/encrypt", `{"plaintext":"aGk="}`, "application/json", 404, "unknown_org"},
		{"invalid org", "POST", "/v1/orgs", `{"org":"../etc"}`, "application/json", 400, "invalid_org"},
		{"malformed ciphertext", "POST", "/v1/orgs/acme/decrypt", `{"ciphertext":"kw1:zz"}`, "application/json", 400, "malformed_ciphertext"},
		{"traversal in secret name", "PUT", "/v1/orgs/acme/secrets/..%2F..%2Fetc", `{"kind":"generic","value":"aGk="}`, "application/json", 400, "invalid_name"},
		{"bad kind", "PUT", "/v1/orgs/acme/secrets/s1", `{"kind":"password","value":"aGk="}`, "application/json", 400, "invalid_kind"},
		{"bad hint", "PUT", "/v1/orgs/acme/secrets/s1", `{"kind":"generic","value":"aGk=","hint":"all"}`, "application/json", 400, "invalid_hint"},
		{"unknown route", "GET", "/v1/nothing", "", "", 404, "not_found"},
		{"wrong method", "DELETE", "/v1/orgs/acme/encrypt", "", "", 405, "method_not_allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.body != "" {
				body = tc.body
			}
			hdr := []string{}
			if tc.ctype != "application/json" && tc.body != "" {
				hdr = []string{"Content-Type", tc.ctype}
			}
			r := f.do(t, tc.method, tc.path, adm, body, hdr...)
			if r.status != tc.status || r.code() != tc.code {
				t.Errorf("got %d %s, want %d %s", r.status, r.body, tc.status, tc.code)
			}
		})
	}
	// Nothing was created: only acme exists, with one key and no secret.
	orgs, err := f.st.ListOrgs(context.Background(), "", 100)
	if err != nil || len(orgs) != 1 || orgs[0].ID != "acme" {
		t.Errorf("orgs after bad input: %v %v, want only acme", orgs, err)
	}
	secrets, err := f.st.(store.SecretStore).ListSecrets(context.Background(), "acme", "", 100)
	if err != nil || len(secrets) != 0 {
		t.Errorf("secrets after bad input: %v %v, want none", secrets, err)
	}
	keys, _ := f.st.Keys(context.Background(), "acme")
	if len(keys) != 1 || keys[0].Usage > 65536 {
		t.Errorf("keys after bad input: %+v", keys)
	}
}

// failingJobs is the real store with a job table that fails with an error
// the server has no mapping for: the way to a 500.
type failingJobs struct{ store.Store }

func (failingJobs) Job(context.Context, string) (store.Job, error) {
	return store.Job{}, errors.New("disk on fire at /var/lib/keyward")
}

func TestInternalErrorAndHeaders(t *testing.T) {
	f := newFixture(t, &fixtureOptions{wrap: func(s store.Store) store.Store { return failingJobs{s} }})
	r := f.do(t, "GET", "/v1/jobs/j1", f.admin, nil)
	if r.status != 500 || r.code() != "internal" || strings.Contains(string(r.body), "disk on fire") {
		t.Fatalf("failing store: %d %s, want 500 internal without the cause", r.status, r.body)
	}
	if !strings.Contains(f.logs.String(), "disk on fire") {
		t.Errorf("the cause is not in the server log")
	}
}

func TestRateLimit(t *testing.T) {
	f := newFixture(t, &fixtureOptions{limits: serverRate(1, 2)})
	var last response
	for range 3 {
		last = f.do(t, "GET", "/v1/orgs/acme/keys", f.admin, nil)
	}
	if last.status != 429 || last.code() != "rate_limited" || last.header.Get("Retry-After") == "" {
		t.Fatalf("third request: %d %s Retry-After=%q, want 429 rate_limited with Retry-After", last.status, last.body, last.header.Get("Retry-After"))
	}
	// Another token has its own bucket.
	other := f.token(t, 0, "*/admin")
	if r := f.do(t, "GET", "/v1/orgs/acme/keys", other, nil); r.status == 429 {
		t.Fatalf("another token was limited too")
	}
	time.Sleep(1100 * time.Millisecond)
	if r := f.do(t, "GET", "/v1/orgs/acme/keys", f.admin, nil); r.status == 429 {
		t.Fatalf("still limited after the bucket refilled")
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	f := newFixture(t, nil)
	if r := f.do(t, "GET", "/healthz", "", nil); r.status != 200 {
		t.Fatalf("healthz: %d", r.status)
	}
	if r := f.do(t, "GET", "/readyz", "", nil); r.status != 200 || !strings.Contains(string(r.body), `"kek":"ok"`) {
		t.Fatalf("readyz: %d %s", r.status, r.body)
	}
	f.do(t, "POST", "/v1/orgs", f.admin, map[string]string{"org": "acme"})
	f.do(t, "POST", "/v1/orgs/acme/encrypt", f.admin, map[string]string{"plaintext": b64("v")})
	r := f.do(t, "GET", "/metrics", "", nil)
	for _, want := range []string{
		`keyward_http_requests_total{code="200",route="POST /v1/orgs/{org}/encrypt"} 1`,
		`keyward_crypto_items_total{op="encrypt",outcome="ok"} 1`,
		`keyward_dek_unwraps_total`,
	} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(string(r.body), "acme") {
		t.Errorf("metrics name an org")
	}
}

func serverLimits(body int64, batch int) server.Limits {
	return server.Limits{MaxBody: body, MaxBatch: batch}
}

func serverRate(perSec float64, burst int) server.Limits {
	return server.Limits{RateLimit: perSec, RateBurst: burst}
}

func TestSecretsEndpoints(t *testing.T) {
	f := newFixture(t, nil)
	adm := f.admin
	f.do(t, "POST", "/v1/orgs", adm, map[string]string{"org": "acme"})
	put := func(name, value, hint string, ifRev int64) response {
		body := map[string]any{"kind": "api_key", "value": b64(value)}
		if hint != "" {
			body["hint"] = hint
		}
		if ifRev != 0 {
			body["if_revision"] = ifRev
		}
		return f.do(t, "PUT", "/v1/orgs/acme/secrets/"+name, adm, body)
	}
	if r := put("stripe%2Fkey", "sk_live_abcd1234", "last4", 0); r.status != 201 || !strings.Contains(string(r.body), `"hint":"1234"`) ||
		!strings.Contains(string(r.body), `"name":"stripe/key"`) || strings.Contains(string(r.body), b64("sk_live_abcd1234")) {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	if r := put("stripe%2Fkey", "sk_live_new", "", 1); r.status != 200 || !strings.Contains(string(r.body), `"revision":2`) || strings.Contains(string(r.body), `"hint"`) {
		t.Fatalf("replace: %d %s", r.status, r.body)
	}
	if r := put("stripe%2Fkey", "sk_live_newer", "", 1); r.status != 409 || r.code() != "revision_conflict" {
		t.Fatalf("stale if_revision: %d %s", r.status, r.body)
	}
	if r := f.do(t, "GET", "/v1/orgs/acme/secrets/stripe%2Fkey", adm, nil); r.status != 200 || strings.Contains(string(r.body), "value") {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	r := f.do(t, "POST", "/v1/orgs/acme/secrets/stripe%2Fkey/reveal", adm, nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"value":"`+b64("sk_live_new")+`"`) {
		t.Fatalf("reveal: %d %s", r.status, r.body)
	}
	for i := range 3 {
		put(fmt.Sprintf("n%d", i), "v", "", 0)
	}
	r = f.do(t, "GET", "/v1/orgs/acme/secrets?limit=2", adm, nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"next":"n1"`) {
		t.Fatalf("list page 1: %d %s", r.status, r.body)
	}
	r = f.do(t, "GET", "/v1/orgs/acme/secrets?limit=2&after=n1", adm, nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"name":"n2"`) || !strings.Contains(string(r.body), `"name":"stripe/key"`) {
		t.Fatalf("list page 2: %d %s", r.status, r.body)
	}
	if r := f.do(t, "GET", "/v1/orgs/acme/secrets?limit=0", adm, nil); r.status != 400 || r.code() != "invalid_request" {
		t.Fatalf("limit 0: %d %s", r.status, r.body)
	}
	if r := f.do(t, "DELETE", "/v1/orgs/acme/secrets/stripe%2Fkey", adm, nil); r.status != 204 || len(r.body) != 0 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	for _, tc := range []struct{ method, path string }{
		{"GET", "/v1/orgs/acme/secrets/stripe%2Fkey"}, {"POST", "/v1/orgs/acme/secrets/stripe%2Fkey/reveal"}, {"DELETE", "/v1/orgs/acme/secrets/stripe%2Fkey"},
	} {
		if r := f.do(t, tc.method, tc.path, adm, nil); r.status != 404 || r.code() != "secret_not_found" {
			t.Errorf("%s %s after delete: %d %s, want 404 secret_not_found", tc.method, tc.path, r.status, r.body)
		}
	}
	if r := f.do(t, "GET", "/v1/jobs/nope", adm, nil); r.status != 404 || r.code() != "job_not_found" {
		t.Errorf("unknown job: %d %s", r.status, r.body)
	}
	if r := f.do(t, "GET", "/v1/openapi.json", adm, nil); r.status != 200 || !strings.Contains(string(r.body), `"openapi": "3.0.3"`) {
		t.Errorf("openapi: %d", r.status)
	}
	if r := f.do(t, "GET", "/v1/openapi.json", "", nil); r.status != 401 || r.header.Get("WWW-Authenticate") == "" {
		t.Errorf("openapi without a token: %d, want 401 with WWW-Authenticate", r.status)
	}

	// Reveals and reads were audited with the name and key version.
	var reveals int
	for _, ev := range f.events(t) {
		if ev.Action == "secrets.reveal" && ev.Name == "stripe/key" && ev.KeyVersion == 1 && ev.Outcome == "allowed" {
			reveals++
		}
	}
	if reveals != 1 {
		t.Errorf("allowed reveal events: %d, want 1", reveals)
	}
}

// TestAuditDownNoPlaintext closes the audit log under a running server:
// decrypt and reveal then fail with 503 audit_unavailable and send no
// plaintext; encryption, which is not audited when allowed, goes on.
func TestAuditDownNoPlaintext(t *testing.T) {
	f := newFixture(t, nil)
	adm := f.admin
	f.do(t, "POST", "/v1/orgs", adm, map[string]string{"org": "acme"})
	r := f.do(t, "POST", "/v1/orgs/acme/encrypt", adm, map[string]string{"plaintext": b64("top-secret-value")})
	var ct struct{ Ciphertext string }
	json.Unmarshal(r.body, &ct)
	f.do(t, "PUT", "/v1/orgs/acme/secrets/k", adm, map[string]string{"kind": "generic", "value": b64("top-secret-value")})
	f.alog.Close()

	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/orgs/acme/decrypt", map[string]string{"ciphertext": ct.Ciphertext}},
		{"POST", "/v1/orgs/acme/secrets/k/reveal", nil},
		{"PUT", "/v1/orgs/acme/secrets/k", map[string]string{"kind": "generic", "value": b64("changed")}},
	} {
		r := f.do(t, tc.method, tc.path, adm, tc.body)
		if r.status != 503 || r.code() != "audit_unavailable" || r.header.Get("Retry-After") == "" ||
			strings.Contains(string(r.body), b64("top-secret-value")) {
			t.Errorf("%s %s with the audit log down: %d %s, want 503 audit_unavailable without the value", tc.method, tc.path, r.status, r.body)
		}
	}
	if r := f.do(t, "POST", "/v1/orgs/acme/encrypt", adm, map[string]string{"plaintext": b64("x")}); r.status != 200 {
		t.Errorf("encrypt with the audit log down: %d %s, want 200", r.status, r.body)
	}
	// The write was refused before it happened.
	sec, err := f.st.(store.SecretStore).GetSecret(context.Background(), "acme", "k")
	if err != nil || sec.Revision != 1 {
		t.Errorf("secret after a refused write: revision %d (%v), want 1", sec.Revision, err)
	}
}

// TestServerOnPostgres runs the API on the PostgreSQL store: tokens, audit
// events and secrets live there too.
func TestServerOnPostgres(t *testing.T) {
	f := newFixture(t, &fixtureOptions{postgres: true})
	adm := f.admin
	if r := f.do(t, "POST", "/v1/orgs", adm, map[string]string{"org": "acme"}); r.status != 201 {
		t.Fatalf("create org: %d %s", r.status, r.body)
	}
	app := f.token(t, 0, "acme/encrypt:users.*", "acme/decrypt:users.*", "acme/secrets:write", "acme/secrets:reveal")
	r := f.do(t, "POST", "/v1/orgs/acme/encrypt", app, map[string]any{"items": []map[string]string{
		{"plaintext": b64("a"), "context": "users.1"}, {"plaintext": b64("b"), "context": "users.2"}}})
	var enc struct{ Items []struct{ Ciphertext string } }
	json.Unmarshal(r.body, &enc)
	if r.status != 200 || len(enc.Items) != 2 {
		t.Fatalf("encrypt batch: %d %s", r.status, r.body)
	}
	r = f.do(t, "POST", "/v1/orgs/acme/decrypt", app, map[string]any{"items": []map[string]string{
		{"ciphertext": enc.Items[0].Ciphertext, "context": "users.1"}, {"ciphertext": enc.Items[1].Ciphertext, "context": "users.2"}}})
	if r.status != 200 || !strings.Contains(string(r.body), b64("a")) || !strings.Contains(string(r.body), b64("b")) {
		t.Fatalf("decrypt batch: %d %s", r.status, r.body)
	}
	if r := f.do(t, "POST", "/v1/orgs/acme/decrypt", app, map[string]string{"ciphertext": enc.Items[0].Ciphertext, "context": "admin.1"}); r.status != 403 {
		t.Fatalf("decrypt outside the grants: %d %s", r.status, r.body)
	}
	if r := f.do(t, "PUT", "/v1/orgs/acme/secrets/k", app, map[string]string{"kind": "generic", "value": b64("v")}); r.status != 201 {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	if r := f.do(t, "POST", "/v1/orgs/acme/secrets/k/reveal", app, nil); r.status != 200 || !strings.Contains(string(r.body), b64("v")) {
		t.Fatalf("reveal: %d %s", r.status, r.body)
	}
	if r := f.do(t, "GET", "/readyz", "", nil); r.status != 200 {
		t.Fatalf("readyz: %d %s", r.status, r.body)
	}
	outcomes := map[string]int{}
	for _, ev := range f.events(t) {
		outcomes[ev.Action+"/"+string(ev.Outcome)]++
	}
	if outcomes["decrypt/allowed"] != 2 || outcomes["decrypt/denied"] != 1 || outcomes["secrets.reveal/allowed"] != 1 {
		t.Errorf("audit outcomes on PostgreSQL: %v", outcomes)
	}
}

func TestJobProgress(t *testing.T) {
	f := newFixture(t, nil)
	js, ok := f.st.(store.JobStore)
	if !ok {
		t.Fatal("the SQLite store keeps no jobs")
	}
	ctx := context.Background()
	f.do(t, "POST", "/v1/orgs", f.admin, map[string]string{"org": "acme"})
	for _, j := range []store.Job{
		{ID: "job-all", Kind: "reencrypt", Target: "secrets", Total: 10},
		{ID: "job-acme", Kind: "reencrypt", Target: "secrets", Org: "acme", Total: 5},
	} {
		if _, err := js.CreateJob(ctx, j, []store.JobChunk{{Index: 0}}); err != nil {
			t.Fatal(err)
		}
	}
	acme := f.token(t, 0, "acme/keys:manage")
	for _, tc := range []struct {
		token, id string
		status    int
	}{
		{f.admin, "job-all", 200}, {f.admin, "job-acme", 200},
		// Not the token's to see: the unknown job's answer (no oracle on
		// which orgs have jobs), the denial still audited.
		{acme, "job-acme", 200}, {acme, "job-all", 404},
		{f.token(t, 0, "acme/decrypt"), "job-acme", 404},
	} {
		r := f.do(t, "GET", "/v1/jobs/"+tc.id, tc.token, nil)
		if r.status != tc.status {
			t.Errorf("GET job %s: %d %s, want %d", tc.id, r.status, r.body, tc.status)
		}
		if r.status == 200 && (!strings.Contains(string(r.body), `"state":"running"`) || !strings.Contains(string(r.body), `"id":"`+tc.id+`"`)) {
			t.Errorf("GET job %s: %s", tc.id, r.body)
		}
		if r.status == 404 {
			unknown := f.do(t, "GET", "/v1/jobs/no-such-job", tc.token, nil)
			if string(unknown.body) != string(r.body) {
				t.Errorf("GET job %s refused as %s, an unknown job as %s: want the same answer", tc.id, r.body, unknown.body)
			}
			evs := f.events(t)
			if last := evs[len(evs)-1]; last.Action != "job.get" || last.Outcome != "denied" {
				t.Errorf("denial of job %s not audited: last event %+v", tc.id, last)
			}
		}
	}
}
