package server_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestFernetTokens: while an app migrates off Fernet, the API's decrypt
// reads Fernet tokens of an org that imported the key (as the library and the
// CLI do), and rewrap turns one into a keyward ciphertext without a plaintext
// leaving the server. The vector is Python cryptography's.
func TestFernetTokens(t *testing.T) {
	raw, err := os.ReadFile("../format/fernet/testdata/fernet.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors struct {
		Valid []struct {
			Key       string `json:"key"`
			Token     string `json:"token"`
			Plaintext []byte `json:"plaintext_b64"`
		} `json:"valid"`
	}
	if err := json.Unmarshal(raw, &vectors); err != nil {
		t.Fatal(err)
	}
	v := vectors.Valid[0]

	f := newFixture(t, nil)
	for _, org := range []string{"acme", "globex"} {
		if r := f.do(t, "POST", "/v1/orgs", f.admin, map[string]string{"org": org}); r.status != 201 {
			t.Fatalf("create org %s: %d %s", org, r.status, r.body)
		}
	}
	if _, err := f.eng.ImportFernetKey(context.Background(), "acme", []byte(v.Key)); err != nil {
		t.Fatal(err)
	}
	// A Fernet token is bound to no context, so a grant narrowed to some
	// contexts must not open it by naming one of them; an org-wide grant does.
	narrow := f.token(t, 0, "acme/decrypt:channels.*", "acme/rewrap:channels.*")
	for _, action := range []string{"decrypt", "rewrap"} {
		r := f.do(t, "POST", "/v1/orgs/acme/"+action, narrow, map[string]string{"ciphertext": v.Token, "context": "channels.access_token"})
		if r.status != 403 || r.code() != "forbidden" || strings.Contains(string(r.body), string(v.Plaintext)) {
			t.Fatalf("%s of a Fernet token with a narrowed grant: %d %s, want 403 forbidden", action, r.status, r.body)
		}
		r = f.do(t, "POST", "/v1/orgs/acme/"+action, narrow, map[string]any{"items": []map[string]string{
			{"ciphertext": "kw1:1:AAAA", "context": "channels.x"}, {"ciphertext": v.Token, "context": "channels.access_token"}}})
		if r.status != 403 {
			t.Fatalf("%s batch holding a Fernet token with a narrowed grant: %d %s, want 403", action, r.status, r.body)
		}
	}
	tok := f.token(t, 0, "acme/decrypt", "acme/rewrap")

	r := f.do(t, "POST", "/v1/orgs/acme/decrypt", tok, map[string]string{"ciphertext": v.Token, "context": "channels.access_token"})
	var pt struct {
		Plaintext []byte `json:"plaintext"`
		FernetKey uint32 `json:"fernet_key"`
	}
	json.Unmarshal(r.body, &pt)
	if r.status != 200 || string(pt.Plaintext) != string(v.Plaintext) || pt.FernetKey != 1 {
		t.Fatalf("decrypt of a Fernet token: %d %s, want 200, the vector's plaintext and fernet_key 1", r.status, r.body)
	}
	evs := f.events(t)
	if got := evs[len(evs)-1]; got.Action != "decrypt" || got.Name != "fernet:1" || got.Outcome != "allowed" {
		t.Errorf("audit event of the Fernet decrypt: %+v, want decrypt of fernet:1 allowed", got)
	}

	r = f.do(t, "POST", "/v1/orgs/acme/rewrap", tok, map[string]string{"ciphertext": v.Token, "context": "channels.access_token"})
	var rw struct {
		Ciphertext string `json:"ciphertext"`
		Rewrapped  bool   `json:"rewrapped"`
	}
	json.Unmarshal(r.body, &rw)
	if r.status != 200 || !strings.HasPrefix(rw.Ciphertext, "kw1:1:") || !rw.Rewrapped {
		t.Fatalf("rewrap of a Fernet token: %d %s, want 200, kw1:1:…, rewrapped", r.status, r.body)
	}
	if strings.Contains(string(r.body), string(v.Plaintext)) {
		t.Fatalf("rewrap answered with the plaintext")
	}
	r = f.do(t, "POST", "/v1/orgs/acme/decrypt", tok, map[string]string{"ciphertext": rw.Ciphertext, "context": "channels.access_token"})
	json.Unmarshal(r.body, &pt)
	if r.status != 200 || string(pt.Plaintext) != string(v.Plaintext) {
		t.Fatalf("decrypt of the rewrapped value: %d %s", r.status, r.body)
	}

	// Another org never imported the key: the token is refused there.
	r = f.do(t, "POST", "/v1/orgs/globex/decrypt", f.admin, map[string]string{"ciphertext": v.Token, "context": "channels.access_token"})
	if r.status == 200 || strings.Contains(string(r.body), string(v.Plaintext)) {
		t.Fatalf("decrypt in an org without the key: %d %s, want a refusal", r.status, r.body)
	}
}
