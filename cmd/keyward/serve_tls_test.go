package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pki is a throwaway CA with a server certificate for 127.0.0.1 and a
// client certificate, written as PEM files.
type pki struct {
	dir               string
	caPool            *x509.CertPool
	client            tls.Certificate
	caFile, cert, key string
	otherClient       tls.Certificate // signed by another CA
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	p := &pki{dir: dir, caPool: x509.NewCertPool()}
	ca, caKey := makeCA(t, "keyward test ca")
	p.caPool.AddCert(ca)
	p.caFile = writePEM(t, dir, "ca.pem", "CERTIFICATE", ca.Raw)
	srvDER, srvKey := makeLeaf(t, ca, caKey, "127.0.0.1", x509.ExtKeyUsageServerAuth)
	p.cert = writePEM(t, dir, "cert.pem", "CERTIFICATE", srvDER)
	kb, _ := x509.MarshalECPrivateKey(srvKey)
	p.key = writePEM(t, dir, "key.pem", "EC PRIVATE KEY", kb)
	cliDER, cliKey := makeLeaf(t, ca, caKey, "app", x509.ExtKeyUsageClientAuth)
	p.client = tls.Certificate{Certificate: [][]byte{cliDER}, PrivateKey: cliKey}
	other, otherKey := makeCA(t, "someone else's ca")
	oDER, oKey := makeLeaf(t, other, otherKey, "intruder", x509.ExtKeyUsageClientAuth)
	p.otherClient = tls.Certificate{Certificate: [][]byte{oDER}, PrivateKey: oKey}
	return p
}

var serial int64

func makeCA(t *testing.T, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

func makeLeaf(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, name string, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func tlsClient(roots *x509.CertPool, cert *tls.Certificate, maxVersion uint16) *http.Client {
	cfg := &tls.Config{RootCAs: roots, MaxVersion: maxVersion}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

// TestServeTLS serves HTTPS from a config file with a client CA: a client
// with a certificate of that CA gets through; without one, with another
// CA's, over TLS 1.1 or over plain HTTP, it does not.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "kw")
	admin := ""
	for _, line := range strings.Split(kw(t, data, "", "init").ok(t).stdout, "\n") {
		if tok, ok := strings.CutPrefix(line, "admin token: "); ok {
			admin = tok
		}
	}
	p := newPKI(t)
	cfg := filepath.Join(dir, "keyward.toml")
	writeFile(t, cfg, `
[store]
sqlite = "kw/keyward.db"
[kek]
uri = "local:kw/kek.key"
[server]
tls_cert_file  = "`+p.cert+`"
tls_key_file   = "`+p.key+`"
client_ca_file = "`+p.caFile+`"
`)
	good := tlsClient(p.caPool, &p.client, 0)
	s := serveWith(t, "", good, "--config", cfg)
	if !strings.HasPrefix(s.url, "https://127.0.0.1:") {
		t.Fatalf("listening on %s, want https", s.url)
	}
	ctx := context.Background()
	if _, err := s.client(t, admin).CreateOrg(ctx, "acme"); err != nil {
		t.Fatalf("with a client certificate: %v", err)
	}
	resp, err := good.Get(s.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("TLS state %+v, want TLS 1.2+", resp.TLS)
	}
	checkServeHeaders(t, resp)

	for name, hc := range map[string]*http.Client{
		"no client certificate":    tlsClient(p.caPool, nil, 0),
		"another CA's certificate": tlsClient(p.caPool, &p.otherClient, 0),
		"TLS 1.1":                  tlsClient(p.caPool, &p.client, tls.VersionTLS11),
	} {
		if resp, err := hc.Get(s.url + "/healthz"); err == nil {
			resp.Body.Close()
			t.Errorf("%s: got %d, want a failed handshake", name, resp.StatusCode)
		}
	}
	plain := "http://" + strings.TrimPrefix(s.url, "https://")
	if resp, err := http.Get(plain + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Errorf("plain HTTP to the TLS port: 200, want a refusal")
		}
	}
}

func checkServeHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=63072000; includeSubDomains; preload" {
		t.Errorf("Strict-Transport-Security = %q", got)
	}
}
