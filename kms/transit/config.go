package transit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/keyward/keyward/secret"
)

// Config configures a transit KEK.
type Config struct {
	// Addr is the server's base URL, scheme://host[:port], e.g.
	// https://vault.internal:8200. Plain http is accepted only to a
	// loopback address.
	Addr string
	// Mount is the transit engine's mount path, e.g. "transit" or
	// "team/transit".
	Mount string
	// Key is the transit key's name.
	Key string
	// Token is the Vault token, loaded by the caller with package
	// credential. New copies it; the caller may wipe its own copy.
	Token secret.Bytes
	// Namespace is the Vault Enterprise / OpenBao namespace, sent as
	// X-Vault-Namespace; "" for none. It is part of the KEK id.
	Namespace string
	// CAFile is a PEM file of CA certificates to trust instead of the
	// system roots; "" for the system roots. Not with HTTPClient.
	CAFile string
	// HTTPClient replaces the default client (TLS 1.2+, CAFile, same-origin
	// redirects only). Its TLS and redirect policy are then the caller's.
	HTTPClient *http.Client
	// MaxAttempts bounds the attempts of one call, retries included; 1
	// disables retries, 0 means 4.
	MaxAttempts int
}

// maxCAFile bounds the CA file New reads.
const maxCAFile = 1 << 20

// New returns a KEK for cfg. It validates the configuration, copies the
// token and builds the HTTP client; it does not contact the server (call
// [KEK.Check] for that), so an outage at start-up shows on first use.
func New(ctx context.Context, cfg Config) (*KEK, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("transit: %w", err)
	}
	addr, err := checkAddr(cfg.Addr)
	if err != nil {
		return nil, err
	}
	ns := strings.Trim(cfg.Namespace, "/")
	if ns != "" {
		if err := checkPath("namespace", ns); err != nil {
			return nil, err
		}
	}
	if err := checkPath("mount", cfg.Mount); err != nil {
		return nil, err
	}
	if err := checkKeyName(cfg.Key); err != nil {
		return nil, err
	}
	if err := checkToken(cfg.Token); err != nil {
		return nil, err
	}
	if cfg.MaxAttempts < 0 {
		return nil, fmt.Errorf("transit: max attempts %d is negative", cfg.MaxAttempts)
	}
	attempts := cfg.MaxAttempts
	if attempts == 0 {
		attempts = 4
	}
	k := &KEK{
		addr:        addr,
		ns:          ns,
		mount:       cfg.Mount,
		key:         cfg.Key,
		id:          kekID(addr, ns, cfg.Mount, cfg.Key),
		maxAttempts: attempts,
	}
	switch {
	case cfg.HTTPClient != nil && cfg.CAFile != "":
		return nil, errors.New("transit: set CAFile or HTTPClient, not both")
	case cfg.HTTPClient != nil:
		k.client = cfg.HTTPClient
	default:
		if k.client, err = defaultClient(addr, cfg.CAFile); err != nil {
			return nil, err
		}
		k.ownClient = true
	}
	k.token = secret.New(cfg.Token.Reveal())
	return k, nil
}

// kekID returns "transit:" addr "/" [ns "/"] mount "/" key: the path a
// request would take with the namespace in the path instead of the header.
func kekID(addr, ns, mount, key string) string {
	p := mount + "/" + key
	if ns != "" {
		p = ns + "/" + p
	}
	return Scheme + ":" + addr + "/" + p
}

// defaultClient returns a client with TLS 1.2+, the CAs in caFile (if set),
// and redirects followed only within addr's origin.
func defaultClient(addr, caFile string) (*http.Client, error) {
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := loadCAs(caFile)
		if err != nil {
			return nil, err
		}
		tlsConf.RootCAs = pool
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConf
	base, err := url.Parse(addr)
	if err != nil {
		return nil, fmt.Errorf("transit: addr: %w", err)
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Scheme != base.Scheme || !strings.EqualFold(req.URL.Host, base.Host) {
				return &redirectError{to: req.URL.Scheme + "://" + req.URL.Host}
			}
			if len(via) >= 5 {
				return errors.New("transit: more than 5 redirects")
			}
			return nil
		},
	}, nil
}

// loadCAs reads PEM CA certificates from path.
func loadCAs(path string) (*x509.CertPool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("transit: ca file: %w", err)
	}
	defer f.Close()
	pem, err := io.ReadAll(io.LimitReader(f, maxCAFile+1))
	if err != nil {
		return nil, fmt.Errorf("transit: ca file %s: %w", path, err)
	}
	if len(pem) > maxCAFile {
		return nil, fmt.Errorf("transit: ca file %s is larger than %d bytes", path, maxCAFile)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("transit: ca file %s holds no PEM certificate", path)
	}
	return pool, nil
}

// checkAddr validates the server address and returns it normalised:
// lower-case scheme and host, no trailing slash. Errors show at most the
// scheme and host: the rest of a malformed address might hold a token.
func checkAddr(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "", errors.New("transit: addr is not an absolute url (want e.g. https://vault.internal:8200)")
	}
	origin := u.Scheme + "://" + u.Host
	if u.User != nil {
		return "", fmt.Errorf("transit: addr %s carries user information; the token comes from Config.Token only, loaded with package credential", origin)
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return "", fmt.Errorf("transit: addr %s must be scheme://host[:port] only, without path, query or fragment", origin)
	}
	scheme := strings.ToLower(u.Scheme)
	switch scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return "", fmt.Errorf("transit: addr %s is plain http to a non-loopback host; the token and data keys would cross the network unencrypted (use https)", origin)
		}
	default:
		return "", fmt.Errorf("transit: addr %s: scheme must be https", origin)
	}
	if port := u.Port(); port != "" && (strings.Trim(port, "0123456789") != "" || len(port) > 5) {
		return "", fmt.Errorf("transit: addr %s: bad port", origin)
	}
	if strings.ContainsAny(u.Host, "\\ %") {
		return "", fmt.Errorf("transit: addr %q: bad host", cleanText(origin))
	}
	return scheme + "://" + strings.ToLower(u.Host), nil
}

// isLoopback reports whether host is "localhost" or a loopback IP.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkPath validates a mount path or namespace: segments of letters,
// digits, '_', '-' and '.', separated by single slashes, none "." or "..".
func checkPath(what, p string) error {
	if p == "" || len(p) > 255 {
		return fmt.Errorf("transit: %s %q: want 1 to 255 bytes", what, cleanText(p))
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("transit: %s %q: empty or dot segment", what, cleanText(p))
		}
		for i := range len(seg) {
			if c := seg[i]; !isWord(c) && c != '-' && c != '.' {
				return fmt.Errorf("transit: %s %q contains %q", what, cleanText(p), c)
			}
		}
	}
	return nil
}

// checkKeyName validates a transit key name as Vault does (\w([\w-.@]*\w)?),
// at most 128 bytes.
func checkKeyName(name string) error {
	if name == "" || len(name) > 128 || !isWord(name[0]) || !isWord(name[len(name)-1]) {
		return fmt.Errorf("transit: key name %q: want letters, digits, '_' (and '-', '.', '@' inside), at most 128 bytes", cleanText(name))
	}
	for i := range len(name) {
		if c := name[i]; !isWord(c) && c != '-' && c != '.' && c != '@' {
			return fmt.Errorf("transit: key name %q contains %q", cleanText(name), c)
		}
	}
	return nil
}

// checkToken refuses an empty token or one that could not travel in a
// header, without showing it.
func checkToken(tok secret.Bytes) error {
	b := tok.Reveal()
	if len(b) == 0 {
		return errors.New("transit: no token; load it with package credential (a file, a file descriptor or a systemd credential)")
	}
	if len(b) > 4096 {
		return errors.New("transit: token longer than 4096 bytes")
	}
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			return errors.New("transit: token contains whitespace, control or non-ASCII bytes (a trailing newline is removed by package credential)")
		}
	}
	return nil
}

func isWord(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

// cleanText bounds and single-lines a configuration value for an error.
func cleanText(s string) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
