package config_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward/config"
	"github.com/keyward/keyward/credential"
	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/kms/gcpkms/gcpkmstest"
	"github.com/keyward/keyward/kms/transit"
	"github.com/keyward/keyward/kms/transit/transittest"
	"github.com/keyward/keyward/store/sqlite"
)

// newDataDir returns a directory holding an empty SQLite store, as keyward
// init makes it, for a config written into it.
func newDataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(t.Context(), filepath.Join(dir, "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// writeSecret writes a private secret file.
func writeSecret(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// secretFD returns a pipe's read end with data in it, closed at the end of
// the test.
func secretFD(t *testing.T, data []byte) int {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return int(r.Fd())
}

// secretKeys returns the [kek] lines naming a secret for each kind of
// source, with the getenv it needs: the secret is written to dir/name (and
// to a pipe for the descriptor).
func secretKeys(t *testing.T, dir, prefix, name string, data []byte) map[string]struct {
	lines  string
	getenv func(string) string
} {
	t.Helper()
	writeSecret(t, filepath.Join(dir, name), data)
	return map[string]struct {
		lines  string
		getenv func(string) string
	}{
		prefix + "_file":       {prefix + "_file = " + strconv.Quote(name) + "\n", env(nil)},
		prefix + "_credential": {prefix + "_credential = " + strconv.Quote(name) + "\n", env(map[string]string{credential.CredentialsDirEnv: dir})},
		prefix + "_fd":         {prefix + "_fd = " + strconv.Itoa(secretFD(t, data)) + "\n", env(nil)},
	}
}

// openConfig parses text (relative to dir) and opens it.
func openConfig(t *testing.T, dir, text string, getenv func(string) string) (*config.Deployment, error) {
	t.Helper()
	c, err := config.Parse([]byte(text), dir)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return config.Open(t.Context(), c, getenv)
}

// wrapUnwrap wraps and unwraps a key with the deployment's KEK.
func wrapUnwrap(t *testing.T, kek kms.KEK) {
	t.Helper()
	ctx := t.Context()
	key, aad := bytes.Repeat([]byte{7}, 32), kms.DEKAAD("acme", 1)
	w, err := kek.Wrap(ctx, key, aad)
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	if w.KEKID != kek.ID() {
		t.Errorf("wrapped KEKID = %q, want %q", w.KEKID, kek.ID())
	}
	got, err := kek.Unwrap(ctx, w, aad)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("Unwrap = %x, %v", got, err)
	}
	if _, err := kek.Unwrap(ctx, w, kms.DEKAAD("globex", 1)); !errors.Is(err, kms.ErrUnwrap) {
		t.Errorf("Unwrap with another AAD: %v, want kms.ErrUnwrap", err)
	}
}

func TestOpenTransit(t *testing.T) {
	srv := transittest.NewServer(canary)
	defer srv.Close()
	if err := srv.CreateKey("transit", "keyward", transittest.KeyOptions{}); err != nil {
		t.Fatal(err)
	}
	uri := "transit:" + srv.URL + "/transit/keyward"
	for name, src := range secretKeys(t, t.TempDir(), "token", "vault-token", []byte(canary+"\n")) {
		t.Run(name, func(t *testing.T) {
			dir := newDataDir(t)
			if strings.HasSuffix(name, "_file") {
				writeSecret(t, filepath.Join(dir, "vault-token"), []byte(canary+"\n"))
			}
			before := len(srv.Calls())
			d, err := openConfig(t, dir, "[store]\nsqlite = \"keyward.db\"\n[kek]\nuri = "+strconv.Quote(uri)+"\n"+src.lines, src.getenv)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer d.Close()
			if d.KEK.ID() != uri {
				t.Errorf("KEK id = %q, want %q", d.KEK.ID(), uri)
			}
			// Open ran Check: it read the key before anything else.
			if calls := srv.Calls()[before:]; len(calls) == 0 || calls[0].Method != http.MethodGet || calls[0].Path != "transit/keys/keyward" || calls[0].Token != canary {
				t.Errorf("first calls = %+v, want GET transit/keys/keyward with the token", calls)
			}
			wrapUnwrap(t, d.KEK)
			roundTrip(t, d, "acme")
		})
	}
}

func TestOpenTransitErrors(t *testing.T) {
	srv := transittest.NewServer(canary)
	defer srv.Close()
	if err := srv.CreateKey("transit", "derived", transittest.KeyOptions{Derived: true}); err != nil {
		t.Fatal(err)
	}
	if err := srv.CreateKey("transit", "rsa", transittest.KeyOptions{Type: "rsa-2048"}); err != nil {
		t.Fatal(err)
	}
	if err := srv.CreateKey("transit", "keyward", transittest.KeyOptions{}); err != nil {
		t.Fatal(err)
	}
	old := transittest.NewServer(canary) // a Vault before 1.13
	defer old.Close()
	old.IgnoreAssociatedData(false)
	if err := old.CreateKey("transit", "keyward", transittest.KeyOptions{}); err != nil {
		t.Fatal(err)
	}

	dir := newDataDir(t)
	writeSecret(t, filepath.Join(dir, "vault-token"), []byte(canary+"\n"))
	writeSecret(t, filepath.Join(dir, "other-token"), []byte("hvs.other-"+canary+"\n"))
	writeSecret(t, filepath.Join(dir, "open-token"), []byte(canary+"\n"))
	if err := os.Chmod(filepath.Join(dir, "open-token"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, uri, token string
		want             error
		wantMsg          string
	}{
		{"derived key", srv.URL + "/transit/derived", "vault-token", transit.ErrUnsupportedKey, "checking transit:" + srv.URL + "/transit/derived at start failed"},
		{"rsa key", srv.URL + "/transit/rsa", "vault-token", transit.ErrUnsupportedKey, "aes256-gcm96"},
		{"server ignores associated_data", old.URL + "/transit/keyward", "vault-token", transit.ErrAADIgnored, "Vault 1.13"},
		{"missing key", srv.URL + "/transit/none", "vault-token", nil, "checking"},
		{"wrong token", srv.URL + "/transit/keyward", "other-token", transit.ErrPermissionDenied, "checking"},
		{"insecure token file", srv.URL + "/transit/keyward", "open-token", credential.ErrInsecureFile, "chmod 600"},
		{"missing token file", srv.URL + "/transit/keyward", "none", os.ErrNotExist, "kek token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := openConfig(t, dir, "[store]\nsqlite = \"keyward.db\"\n[kek]\nuri = \"transit:"+tt.uri+"\"\ntoken_file = \""+tt.token+"\"\n", env(nil))
			if err == nil {
				d.Close()
				t.Fatal("Open succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
			if strings.Contains(err.Error(), canary) {
				t.Errorf("error contains the token: %v", err)
			}
		})
	}
}

// gcpKeyName is the crypto key of the gcpkms tests.
const gcpKeyName = "projects/keyward-test/locations/europe-west1/keyRings/keyward/cryptoKeys/kek"

// serviceAccount returns a service-account JSON key with a fresh RSA key,
// whose token_uri is tokenURI.
func serviceAccount(t *testing.T, tokenURI string) ([]byte, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "keyward-test",
		"private_key_id": "kid-1",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   "keyward@keyward-test.iam.gserviceaccount.com",
		"client_id":      "1",
		"token_uri":      tokenURI,
	})
	if err != nil {
		t.Fatal(err)
	}
	return js, key
}

// tokenServer is a fake OAuth 2.0 token endpoint: it exchanges a JWT
// assertion (grant type jwt-bearer) for an access token, recording the
// assertions.
type tokenServer struct {
	URL   string
	mu    sync.Mutex
	jwts  []string
	token string
}

func newTokenServer(t *testing.T) *tokenServer {
	t.Helper()
	ts := &tokenServer{token: "ya29.keyward-test-" + rand.Text()}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		ts.mu.Lock()
		ts.jwts = append(ts.jwts, r.PostForm.Get("assertion"))
		ts.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": ts.token, "token_type": "Bearer", "expires_in": 3600})
	}))
	t.Cleanup(srv.Close)
	ts.URL = srv.URL + "/token"
	return ts
}

// authRecorder forwards to target and records the Authorization headers.
type authRecorder struct {
	URL  string
	mu   sync.Mutex
	auth []string
}

func newAuthRecorder(t *testing.T, target string) *authRecorder {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	a := &authRecorder{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.auth = append(a.auth, r.Header.Get("Authorization"))
		a.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	a.URL = srv.URL
	return a
}

// checkJWT checks that tok is a JWT signed by key, for the service
// account's email and key id.
func checkJWT(t *testing.T, tok string, key *rsa.PrivateKey) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("assertion %q is not a JWT", tok)
	}
	var header, claims map[string]any
	for i, v := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || json.Unmarshal(b, v) != nil {
			t.Fatalf("JWT part %d is not base64url JSON", i)
		}
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
		t.Errorf("JWT signature: %v", err)
	}
	if header["kid"] != "kid-1" || claims["iss"] != "keyward@keyward-test.iam.gserviceaccount.com" {
		t.Errorf("JWT header %v, claims %v; want kid-1 and the service account", header, claims)
	}
}

func TestOpenGCP(t *testing.T) {
	fake := gcpkmstest.NewServer()
	defer fake.Close()
	if err := fake.CreateKey(gcpKeyName); err != nil {
		t.Fatal(err)
	}
	rec := newAuthRecorder(t, fake.URL)
	ts := newTokenServer(t)
	sa, key := serviceAccount(t, ts.URL)
	for name, src := range secretKeys(t, t.TempDir(), "credentials", "gcp-sa.json", sa) {
		t.Run(name, func(t *testing.T) {
			dir := newDataDir(t)
			if strings.HasSuffix(name, "_file") {
				writeSecret(t, filepath.Join(dir, "gcp-sa.json"), sa)
			}
			d, err := openConfig(t, dir, "[store]\nsqlite = \"keyward.db\"\n[kek]\nuri = \"gcpkms:"+gcpKeyName+"\"\nendpoint = \""+rec.URL+"\"\n"+src.lines, src.getenv)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer d.Close()
			if d.KEK.ID() != "gcpkms:"+gcpKeyName {
				t.Errorf("KEK id = %q", d.KEK.ID())
			}
			wrapUnwrap(t, d.KEK)
			roundTrip(t, d, "acme")
			// The client signed an assertion with the service account's key
			// and sent the access token it got for it.
			ts.mu.Lock()
			jwt := ts.jwts[len(ts.jwts)-1]
			ts.mu.Unlock()
			checkJWT(t, jwt, key)
			rec.mu.Lock()
			auth := rec.auth[len(rec.auth)-1]
			rec.mu.Unlock()
			if auth != "Bearer "+ts.token {
				t.Errorf("Authorization = %q, want the access token", auth)
			}
		})
	}
}

func TestOpenGCPErrors(t *testing.T) {
	dir := newDataDir(t)
	sa, _ := serviceAccount(t, "https://oauth2.googleapis.com/token")
	var m map[string]any
	if err := json.Unmarshal(sa, &m); err != nil {
		t.Fatal(err)
	}
	variant := func(change func(map[string]any)) []byte {
		v := map[string]any{}
		for k, x := range m {
			v[k] = x
		}
		change(v)
		b, _ := json.Marshal(v)
		return b
	}
	tests := []struct {
		name    string
		data    []byte
		mode    os.FileMode
		want    error
		wantMsg string
	}{
		{"authorized user", []byte(`{"type":"authorized_user","client_id":"x","client_secret":"` + canary + `","refresh_token":"` + canary + `"}`), 0o600, config.ErrCredentials, `a "authorized_user" credential; keyward takes a service-account key`},
		{"external account", []byte(`{"type":"external_account","credential_source":{"file":"/x"}}`), 0o600, config.ErrCredentials, "service-account key"},
		{"no type", variant(func(v map[string]any) { delete(v, "type") }), 0o600, config.ErrCredentials, `no "type"`},
		{"odd type", variant(func(v map[string]any) { v["type"] = canary }), 0o600, config.ErrCredentials, "not a service-account key"},
		{"no private key", variant(func(v map[string]any) { delete(v, "private_key") }), 0o600, config.ErrCredentials, "has no private_key"},
		{"null private key", variant(func(v map[string]any) { v["private_key"] = nil }), 0o600, config.ErrCredentials, "has no private_key"},
		{"no client email", variant(func(v map[string]any) { delete(v, "client_email") }), 0o600, config.ErrCredentials, "has no client_email"},
		{"not JSON", []byte("private_key = " + canary), 0o600, config.ErrCredentials, "not valid JSON (at byte 1)"},
		{"truncated", sa[:len(sa)/2], 0o600, config.ErrCredentials, "not valid JSON"},
		{"array", []byte(`["` + canary + `"]`), 0o600, config.ErrCredentials, "not a service-account key"},
		{"insecure file", sa, 0o640, credential.ErrInsecureFile, "chmod 600"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "sa.json")
			writeSecret(t, path, tt.data)
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			d, err := openConfig(t, dir, "[store]\nsqlite = \"keyward.db\"\n[kek]\nuri = \"gcpkms:"+gcpKeyName+"\"\ncredentials_file = \"sa.json\"\n", env(nil))
			if err == nil {
				d.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err = %v, want %v containing %q", err, tt.want, tt.wantMsg)
			}
			for _, leak := range []string{canary, "PRIVATE KEY"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error contains %q: %v", leak, err)
				}
			}
		})
	}
}

// The key is created with the provider's tools, not by ProvisionKEK.
func TestProvisionKEKExternal(t *testing.T) {
	tests := []struct {
		kek     config.KEK
		wantMsg string
	}{
		{config.KEK{URI: "transit:https://vault:8200/team/transit/keyward", Token: credential.Source{FD: 3}}, "vault write -f team/transit/keys/keyward type=aes256-gcm96"},
		{config.KEK{URI: awsURI, Credentials: credential.Source{FD: 3}}, "aws kms create-key --key-spec SYMMETRIC_DEFAULT --key-usage ENCRYPT_DECRYPT"},
		{config.KEK{URI: gcpURI, Credentials: credential.Source{FD: 3}}, "gcloud kms keys create k --keyring r --location europe-west1 --project p --purpose encryption"},
	}
	for _, tt := range tests {
		c := &config.Config{Store: config.Store{SQLite: "/k.db"}, KEK: tt.kek}
		err := config.ProvisionKEK(context.Background(), c, env(nil))
		if !errors.Is(err, config.ErrExternalKEK) || !strings.Contains(err.Error(), tt.wantMsg) {
			t.Errorf("%s: err = %v, want ErrExternalKEK with %q", tt.kek.URI, err, tt.wantMsg)
		}
	}
}

func TestProvisionKEKLocal(t *testing.T) {
	dir := newDataDir(t)
	c, err := config.Parse([]byte("[store]\nsqlite = \"keyward.db\"\n[kek]\nuri = \"local:kek.key\"\n"), dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := config.ProvisionKEK(t.Context(), c, env(nil)); err != nil {
		t.Fatalf("ProvisionKEK: %v", err)
	}
	if err := config.ProvisionKEK(t.Context(), c, env(nil)); !errors.Is(err, os.ErrExist) {
		t.Errorf("second ProvisionKEK: %v, want fs.ErrExist", err)
	}
	d, err := config.Open(t.Context(), c, env(nil))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer d.Close()
	roundTrip(t, d, "acme")
	if err := config.ProvisionKEK(t.Context(), c, env(map[string]string{"PGPASSWORD": canary})); !errors.Is(err, credential.ErrSecretInEnv) {
		t.Errorf("ProvisionKEK with PGPASSWORD set: %v, want ErrSecretInEnv", err)
	}
	if err := config.ProvisionKEK(t.Context(), nil, nil); !errors.Is(err, config.ErrInvalid) {
		t.Errorf("ProvisionKEK(nil): %v, want ErrInvalid", err)
	}
}
