package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/secret"
)

// TestServeCanary sends one unique plaintext through every endpoint and
// CLI command that handles values, provokes errors around it, then checks
// that the debug-level server log, the audit log, /metrics and every error
// body hold neither the plaintext (raw or base64) nor any token.
func TestServeCanary(t *testing.T) {
	data := filepath.Join(t.TempDir(), "kw")
	s := serve(t, data, "--log-level", "debug")
	ctx := context.Background()
	raw := make([]byte, 12)
	rand.Read(raw)
	canary := "canary-" + hex.EncodeToString(raw)
	forbidden := []string{canary, base64.StdEncoding.EncodeToString([]byte(canary)), s.admin}

	adm := s.client(t, s.admin)
	if _, err := adm.CreateOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	app, appID := newToken(t, data, "acme", nil, "encrypt:users.*", "decrypt:users.*", "rewrap:users.*",
		"secrets:write", "secrets:read", "secrets:reveal")
	narrow, _ := newToken(t, data, "acme", nil, "encrypt:other.*")
	forbidden = append(forbidden, app, narrow)
	c := s.client(t, app)

	var errorBodies []string
	collect := func(err error) {
		var ce *client.Error
		if errors.As(err, &ce) {
			errorBodies = append(errorBodies, ce.Code+" "+ce.Message)
		} else if err != nil {
			t.Fatalf("unexpected transport error: %v", err)
		}
	}
	mustOK := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// Every value-carrying endpoint, successfully.
	ct, err := c.Encrypt(ctx, "acme", []byte(canary), "users.api_key")
	mustOK(err)
	_, err = c.EncryptBatch(ctx, "acme", []client.EncryptItem{{Plaintext: []byte(canary), Context: "users.a"}})
	mustOK(err)
	v, _, err := c.Decrypt(ctx, "acme", ct.Ciphertext, "users.api_key")
	mustOK(err)
	if string(v.Reveal()) != canary {
		t.Fatal("decrypt did not return the canary")
	}
	_, err = adm.RotateKey(ctx, "acme")
	mustOK(err)
	_, err = c.Rewrap(ctx, "acme", ct.Ciphertext, "users.api_key")
	mustOK(err)
	_, err = c.PutSecret(ctx, "acme", "stripe/key", client.KindAPIKey, secret.FromString(canary), nil)
	mustOK(err)
	_, err = c.GetSecret(ctx, "acme", "stripe/key")
	mustOK(err)
	v, _, err = c.RevealSecret(ctx, "acme", "stripe/key")
	mustOK(err)
	if string(v.Reveal()) != canary {
		t.Fatal("reveal did not return the canary")
	}
	_, _, err = c.ListSecrets(ctx, "acme", "", 10)
	mustOK(err)

	// Errors around the canary.
	_, _, err = c.Decrypt(ctx, "acme", ct.Ciphertext, "users.other") // wrong context
	collect(err)
	_, _, err = c.Decrypt(ctx, "acme", canary, "users.api_key") // the plaintext sent as a ciphertext
	collect(err)
	_, err = c.Rewrap(ctx, "acme", "kw1:1:"+base64.RawURLEncoding.EncodeToString([]byte(canary+canary)), "users.api_key")
	collect(err)
	_, err = s.client(t, narrow).Encrypt(ctx, "acme", []byte(canary), "users.api_key") // forbidden
	collect(err)
	_, err = c.Encrypt(ctx, "nobody", []byte(canary), "users.api_key") // unknown org
	collect(err)
	_, err = c.PutSecret(ctx, "acme", "stripe/key", client.KindAPIKey, secret.FromString(canary), &client.PutOptions{IfRevision: 99})
	collect(err)
	_, err = c.PutSecret(ctx, "acme", "bad name!", client.KindAPIKey, secret.FromString(canary), nil)
	collect(err)
	_, err = c.PutSecret(ctx, "acme", "hinted", client.KindAPIKey, secret.FromString(canary+"\x01\x02\x03\x04"), &client.PutOptions{Hint: "last4"})
	collect(err)
	_, err = s.client(t, canary).Encrypt(ctx, "acme", []byte(canary), "users.api_key") // the canary as a token
	collect(err)
	for _, body := range []string{
		`{"plaintext":"` + canary + `"}`, // not base64
		`{"plaintext":"` + base64.StdEncoding.EncodeToString([]byte(canary)) + `","` + canary + `":1}`, // unknown field
		`{"plaintext":"` + base64.StdEncoding.EncodeToString([]byte(canary)) + `"` + canary,            // malformed
	} {
		req, _ := http.NewRequest("POST", s.url+"/v1/orgs/acme/encrypt", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+app)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		mustOK(err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("bad body: %d %s, want 400", resp.StatusCode, b)
		}
		errorBodies = append(errorBodies, string(b))
	}
	if len(errorBodies) < 12 {
		t.Fatalf("only %d error bodies collected", len(errorBodies))
	}
	mustOK(c.DeleteSecret(ctx, "acme", "stripe/key"))

	// The CLI on the same data directory.
	kwct := strings.TrimSpace(kw(t, data, canary, "encrypt", "--org", "acme", "--context", "users.cli").ok(t).stdout)
	if got := kw(t, data, kwct, "decrypt", "--org", "acme", "--context", "users.cli").ok(t).stdout; got != canary {
		t.Fatalf("cli decrypt: got %q", got)
	}
	cliErr := kw(t, data, kwct, "decrypt", "--org", "acme", "--context", "users.wrong")
	kw(t, data, canary, "secret", "put", "--org", "acme", "cli/key", "--kind", "generic").ok(t)
	if got := kw(t, data, "", "secret", "reveal", "--org", "acme", "cli/key").ok(t).stdout; !strings.Contains(got, canary) {
		t.Fatalf("cli reveal: got %q", got)
	}
	cliStderr := cliErr.stderr + kw(t, data, "", "secret", "get", "--org", "acme", "cli/key").ok(t).stderr

	resp, err := http.Get(s.url + "/metrics")
	mustOK(err)
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(metrics, []byte("keyward_crypto_items_total")) {
		t.Fatal("metrics look empty")
	}
	_, auditOut := auditLog(t, data)
	if !strings.Contains(auditOut, appID) {
		t.Fatal("the audit log does not name the app token's id")
	}
	mustOK(s.stop(t))
	logs := s.stderr.String()
	if !strings.Contains(logs, "level=DEBUG") && !strings.Contains(logs, "level=INFO") {
		t.Fatal("no server log captured")
	}

	for where, text := range map[string]string{
		"server log": logs,
		"audit log":  auditOut,
		"metrics":    string(metrics),
		"error body": strings.Join(errorBodies, "\n"),
		"cli stderr": cliStderr,
	} {
		for _, f := range forbidden {
			if strings.Contains(text, f) {
				t.Errorf("%s contains a plaintext or a token (%.12s…)", where, f)
			}
		}
	}
}

// TestServeGracefulShutdown starts a request, sends SIGTERM while its body
// is still arriving, and checks that the request completes and the process
// exits cleanly.
func TestServeGracefulShutdown(t *testing.T) {
	data := filepath.Join(t.TempDir(), "kw")
	s := serve(t, data)
	ctx := context.Background()
	if _, err := s.client(t, s.admin).CreateOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", s.url+"/v1/orgs/acme/encrypt", pr)
	req.Header.Set("Authorization", "Bearer "+s.admin)
	req.Header.Set("Content-Type", "application/json")
	type answer struct {
		status int
		body   string
		err    error
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- answer{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- answer{resp.StatusCode, string(b), nil}
	}()
	io.WriteString(pw, `{"plaintext":"aW4tZmxp`)
	time.Sleep(300 * time.Millisecond) // the request is in the handler, reading its body
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-s.exited:
		t.Fatalf("the server exited before the in-flight request finished: %v", err)
	default:
	}
	io.WriteString(pw, `Z2h0","context":"c"}`)
	pw.Close()
	a := <-done
	if a.err != nil || a.status != 200 || !strings.Contains(a.body, `"ciphertext":"kw1:1:`) {
		t.Fatalf("in-flight request: %d %q %v, want 200 with a ciphertext", a.status, a.body, a.err)
	}
	select {
	case err := <-s.exited:
		s.exited <- err
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("exit after SIGTERM: %v, want 0; stderr: %s", err, s.stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not exit after the in-flight request")
	}
	if _, err := http.Get(s.url + "/healthz"); err == nil {
		t.Fatal("the server still accepts connections after shutdown")
	}
}
