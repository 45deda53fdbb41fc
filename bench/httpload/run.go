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
func run(ctx context.Context, out io.Writer, phase time.Duration, size int, only string) error {
	const rounds = 5
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
	fmt.Fprintf(out, "httpload: %d-byte values, %s per phase in %d interleaved rounds (medians), GOMAXPROCS=%d, %s/%s, %s\n\n",
		size, phase, rounds, cores(), runtime.GOOS, runtime.GOARCH, runtime.Version())

	encURL, decURL, rewURL := kwURL+"/v1/orgs/"+org+"/encrypt", kwURL+"/v1/orgs/"+org+"/decrypt", kwURL+"/v1/orgs/"+org+"/rewrap"
	auditEncURL := auditURL + "/v1/orgs/" + org + "/encrypt"
	singles := []phaseDef{
		{name: "bare encrypt (baseline)", url: bareURL, ctype: "application/octet-stream", body: pt, items: 1},
		{name: "encrypt", url: encURL, ctype: "application/json", token: token, body: single, items: 1},
		{name: "encrypt, allowed audited", url: auditEncURL, ctype: "application/json", token: token, body: single, items: 1},
		{name: "decrypt (audited)", url: decURL, ctype: "application/json", token: token, body: decBody, items: 1},
	}
	fmt.Fprintln(out, "| single | conc | req/s | p50 | p99 |")
	fmt.Fprintln(out, "|---|---:|---:|---:|---:|")
	res := map[string]result{}
	for _, c := range []int{1, 16, 64} {
		got, err := measure(ctx, hc, singles, c, rounds, phase, only)
		if err != nil {
			return err
		}
		for _, ph := range singles {
			if r, ok := got[ph.name]; ok {
				res[fmt.Sprintf("%s/%d", ph.name, c)] = r
				fmt.Fprintf(out, "| %s | %d | %.0f | %s | %s |\n", ph.name, c, r.reqPerSec(), r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond))
			}
		}
	}

	// Rotate so that rewrap really re-encrypts every item.
	if _, err := eng.RotateDEK(ctx, org); err != nil {
		return err
	}
	batches := []phaseDef{
		{name: "library Encrypt, 1 goroutine", lib: 1},
		{name: fmt.Sprintf("library Encrypt, %d goroutines", cores()), lib: cores()},
		{name: "encrypt", url: encURL, ctype: "application/json", token: token, body: encB.Bytes(), items: batch},
		{name: "encrypt, allowed audited", url: auditEncURL, ctype: "application/json", token: token, body: encB.Bytes(), items: batch},
		{name: "decrypt (audited)", url: decURL, ctype: "application/json", token: token, body: decB.Bytes(), items: batch},
		{name: "rewrap (audited)", url: rewURL, ctype: "application/json", token: token, body: decB.Bytes(), items: batch},
	}
	lib := func(ph phaseDef, d time.Duration) (result, error) {
		ops, err := libraryOps(ctx, eng, org, pt, ph.lib, d)
		return result{Requests: int(ops * d.Seconds()), Items: 1, Elapsed: d}, err
	}
	fmt.Fprintln(out, "\n| batch of 1000 (library: single calls) | conc | items/s | p50 (request) | p99 (request) |")
	fmt.Fprintln(out, "|---|---:|---:|---:|---:|")
	for _, c := range []int{1, 4} {
		got, err := measureWith(ctx, hc, batches, c, rounds, phase, only, lib)
		if err != nil {
			return err
		}
		for _, ph := range batches {
			r, ok := got[ph.name]
			if !ok || ph.lib > 0 && c != 1 {
				continue
			}
			res[fmt.Sprintf("batch %s/%d", ph.name, c)] = r
			if ph.lib > 0 {
				fmt.Fprintf(out, "| %s | %d | %.0f | — | — |\n", ph.name, ph.lib, r.itemsPerSec())
				continue
			}
			fmt.Fprintf(out, "| %s | %d | %.0f | %s | %s |\n", ph.name, c, r.itemsPerSec(), r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond))
		}
	}
	if only != "" {
		return nil
	}
	rate := func(k string) float64 { return res[k].itemsPerSec() }
	lib1, libN := rate("batch library Encrypt, 1 goroutine/1"), rate(fmt.Sprintf("batch library Encrypt, %d goroutines/1", cores()))
	fmt.Fprintf(out, "\nsingle encrypt / bare baseline: c1 %.0f%%, c16 %.0f%% (goal ≥ 60%%), c64 %.0f%%\n",
		100*rate("encrypt/1")/rate("bare encrypt (baseline)/1"), 100*rate("encrypt/16")/rate("bare encrypt (baseline)/16"), 100*rate("encrypt/64")/rate("bare encrypt (baseline)/64"))
	fmt.Fprintf(out, "  with allowed encryptions audited: c16 %.0f%%\n", 100*rate("encrypt, allowed audited/16")/rate("bare encrypt (baseline)/16"))
	best := max(rate("batch encrypt/1"), rate("batch encrypt/4"))
	fmt.Fprintf(out, "batch-1000 encrypt / library Encrypt: %.0f%% of 1 goroutine, %.0f%% of %d (goal ≥ 25%%)\n", 100*best/lib1, 100*best/libN, cores())
	fmt.Fprintf(out, "  with allowed encryptions audited: %.0f%% of 1 goroutine\n", 100*max(rate("batch encrypt, allowed audited/1"), rate("batch encrypt, allowed audited/4"))/lib1)
	return nil
}
