package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/config"
	"github.com/keyward/keyward/datadir"
	"github.com/keyward/keyward/policy"
	"github.com/keyward/keyward/secretstore"
	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/store"
)

const org = "acme"

// run sets up a fresh data directory, starts keyward's server and the bare
// baseline on loopback, and runs every phase, printing a Markdown report.
func run(ctx context.Context, out io.Writer, phase time.Duration, size int) error {
	dir, err := os.MkdirTemp("", "httpload")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	data := dir + "/data"
	if err := datadir.Init(ctx, data); err != nil {
		return err
	}
	d, err := config.Open(ctx, config.ForDataDir(data), func(string) string { return "" })
	if err != nil {
		return err
	}
	defer d.Close()
	eng, err := keyward.Open(d.Store, d.KEK, &d.Options)
	if err != nil {
		return err
	}
	defer eng.Close()
	if _, err := eng.CreateOrg(ctx, org); err != nil {
		return err
	}
	auth, err := policy.New(d.Store.(store.TokenStore), nil)
	if err != nil {
		return err
	}
	tok, _, err := auth.Create(ctx, []policy.Grant{{Org: org, Capability: policy.Encrypt}, {Org: org, Capability: policy.Decrypt},
		{Org: org, Capability: policy.Rewrap}}, 0, "httpload")
	if err != nil {
		return err
	}
	token := string(tok.Reveal())
	alog, err := audit.Open(ctx, d.Store.(store.AuditStore), d.KEK, nil)
	if err != nil {
		return err
	}
	defer alog.Close()
	secrets, err := secretstore.New(eng, d.Store.(store.SecretStore))
	if err != nil {
		return err
	}

	start := func(auditEncrypt bool) (string, func(), error) {
		srv, err := server.New(server.Options{
			Engine: eng, Store: d.Store, KEK: d.KEK, Auth: server.PolicyAuthenticator(auth), Audit: alog, Secrets: secrets,
			Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)), // formatted, then dropped: the cost stays in
			Limits:       server.Limits{RateLimit: -1},
			AuditEncrypt: auditEncrypt,
		})
		if err != nil {
			return "", nil, err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", nil, err
		}
		sctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { srv.Serve(sctx, ln, server.HTTP{}); close(done) }()
		return "http://" + ln.Addr().String(), func() { cancel(); <-done }, nil
	}
	kwURL, stopKW, err := start(false)
	if err != nil {
		return err
	}
	defer stopKW()
	auditURL, stopAudit, err := start(true)
	if err != nil {
		return err
	}
	defer stopAudit()
	bareURL, stopBare, err := listen(bareHandler(eng, org))
	if err != nil {
		return err
	}
	defer stopBare()

	pt := make([]byte, size)
	rand.Read(pt)
	ptB64 := base64.StdEncoding.EncodeToString(pt)
	single := []byte(`{"plaintext":"` + ptB64 + `","context":"users.api_key"}`)
	ct, err := eng.EncryptText(ctx, org, pt, "users.api_key")
	if err != nil {
		return err
	}
	decBody := []byte(`{"ciphertext":"` + ct + `","context":"users.api_key"}`)

	// Batches of 1000, one context each (a row id), as a migration sends.
	const batch = 1000
	var encB, decB bytes.Buffer
	encB.WriteString(`{"items":[`)
	decB.WriteString(`{"items":[`)
	for i := range batch {
		if i > 0 {
			encB.WriteByte(',')
			decB.WriteByte(',')
		}
		c := fmt.Sprintf("users.api_key:%d", i)
		fmt.Fprintf(&encB, `{"plaintext":%q,"context":%q}`, ptB64, c)
		ct, err := eng.EncryptText(ctx, org, pt, c)
		if err != nil {
			return err
		}
		fmt.Fprintf(&decB, `{"ciphertext":%q,"context":%q}`, ct, c)
	}
	encB.WriteString(`]}`)
	decB.WriteString(`]}`)

	hc := httpClient(128)
	fmt.Fprintf(out, "httpload: %d-byte values, %s per phase, GOMAXPROCS=%d, %s/%s, %s\n\n", size, phase, cores(), runtime.GOOS, runtime.GOARCH, runtime.Version())

	lib1, err := libraryOps(ctx, eng, org, pt, 1, phase)
	if err != nil {
		return err
	}
	libN, err := libraryOps(ctx, eng, org, pt, cores(), phase)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "library Encrypt: %.0f ops/s on 1 goroutine, %.0f ops/s on %d\n\n", lib1, libN, cores())

	fmt.Fprintln(out, "| phase | conc | req/s | p50 | p99 |")
	fmt.Fprintln(out, "|---|---:|---:|---:|---:|")
	singles := map[string]float64{}
	for _, ph := range []struct {
		name, url, ctype, token string
		body                    []byte
	}{
		{"bare encrypt (baseline)", bareURL, "application/octet-stream", "", pt},
		{"encrypt", kwURL + "/v1/orgs/" + org + "/encrypt", "application/json", token, single},
		{"encrypt, allowed audited", auditURL + "/v1/orgs/" + org + "/encrypt", "application/json", token, single},
		{"decrypt (audited)", kwURL + "/v1/orgs/" + org + "/decrypt", "application/json", token, decBody},
	} {
		for _, c := range []int{1, 16, 64} {
			r, err := load(ctx, hc, ph.url, ph.token, ph.body, ph.ctype, c, 1, phase)
			if err != nil {
				return fmt.Errorf("%s: %w", ph.name, err)
			}
			singles[fmt.Sprintf("%s/%d", ph.name, c)] = r.reqPerSec()
			fmt.Fprintf(out, "| %s | %d | %.0f | %s | %s |\n", ph.name, c, r.reqPerSec(), r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond))
		}
	}

	// Rotate so that rewrap really re-encrypts every item.
	if _, err := eng.RotateDEK(ctx, org); err != nil {
		return err
	}
	fmt.Fprintln(out, "\n| batch of 1000 | conc | items/s | p50 (request) | p99 (request) |")
	fmt.Fprintln(out, "|---|---:|---:|---:|---:|")
	batches := map[string]float64{}
	for _, ph := range []struct {
		name, url string
		body      []byte
	}{
		{"encrypt", kwURL + "/v1/orgs/" + org + "/encrypt", encB.Bytes()},
		{"encrypt, allowed audited", auditURL + "/v1/orgs/" + org + "/encrypt", encB.Bytes()},
		{"decrypt (audited)", kwURL + "/v1/orgs/" + org + "/decrypt", decB.Bytes()},
		{"rewrap (audited)", kwURL + "/v1/orgs/" + org + "/rewrap", decB.Bytes()},
	} {
		for _, c := range []int{1, 4} {
			r, err := load(ctx, hc, ph.url, token, ph.body, "application/json", c, batch, phase)
			if err != nil {
				return fmt.Errorf("%s batch: %w", ph.name, err)
			}
			batches[fmt.Sprintf("%s/%d", ph.name, c)] = r.itemsPerSec()
			fmt.Fprintf(out, "| %s | %d | %.0f | %s | %s |\n", ph.name, c, r.itemsPerSec(), r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond))
		}
	}

	bestBatch := max(batches["encrypt/1"], batches["encrypt/4"])
	fmt.Fprintf(out, "\nsingle encrypt at c16 / bare baseline at c16: %.0f%% (goal ≥ 60%%)\n", 100*singles["encrypt/16"]/singles["bare encrypt (baseline)/16"])
	fmt.Fprintf(out, "  with allowed encryptions audited: %.0f%%\n", 100*singles["encrypt, allowed audited/16"]/singles["bare encrypt (baseline)/16"])
	fmt.Fprintf(out, "batch-1000 encrypt items/s / library Encrypt ops/s: %.0f%% of 1 goroutine, %.0f%% of %d (goal ≥ 25%%)\n",
		100*bestBatch/lib1, 100*bestBatch/libN, cores())
	fmt.Fprintf(out, "  with allowed encryptions audited: %.0f%% of %d goroutines\n",
		100*max(batches["encrypt, allowed audited/1"], batches["encrypt, allowed audited/4"])/libN, cores())
	return nil
}
