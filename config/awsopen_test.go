package config_test

// The AWS KMS fake of package awskms lives in its _test.go files and cannot
// be imported here. These tests therefore stop short of a wrap: they open
// the KEK from a config against a local endpoint that checks each request's
// SigV4 signature with the expected access key, secret key and session
// token, and answers NotFoundException when the signature is right
// (InvalidSignatureException otherwise). That proves the credentials file
// is read, the profile chosen and the keys handed to the SDK; the wrap and
// unwrap themselves are tested in package awskms.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/keyward/keyward/config"
	"github.com/keyward/keyward/credential"
	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/kms/awskms"
)

// AWS test credentials; the secret and token must never appear in errors.
const (
	awsKeyID  = "AKIAKEYWARDCONFIG001"
	awsSecret = "keyward/config+secret/" + canary
	awsToken  = "IQoJ/session+token/" + canary
)

// sigV4Header is the shape of a SigV4 Authorization header for KMS.
var sigV4Header = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([A-Z0-9]+)/(\d{8})/([a-z0-9-]+)/kms/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=[0-9a-f]{64}$`)

// sigV4Endpoint is a KMS endpoint that only checks signatures.
type sigV4Endpoint struct {
	URL   string
	creds aws.Credentials
	mu    sync.Mutex
	valid []bool
}

func newSigV4Endpoint(t *testing.T, creds aws.Credentials) *sigV4Endpoint {
	t.Helper()
	e := &sigV4Endpoint{creds: creds}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ok := e.verify(r, body)
		e.mu.Lock()
		e.valid = append(e.valid, ok)
		e.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		if ok {
			_, _ = io.WriteString(w, `{"__type":"NotFoundException","message":"signature verified"}`)
		} else {
			_, _ = io.WriteString(w, `{"__type":"InvalidSignatureException","message":"signature does not match"}`)
		}
	}))
	t.Cleanup(srv.Close)
	e.URL = srv.URL
	return e
}

// verify signs the request again, from its signed headers only, with the
// expected credentials, and compares.
func (e *sigV4Endpoint) verify(r *http.Request, body []byte) bool {
	auth := r.Header.Get("Authorization")
	m := sigV4Header.FindStringSubmatch(auth)
	if m == nil || m[1] != e.creds.AccessKeyID || r.Header.Get("X-Amz-Security-Token") != e.creds.SessionToken {
		return false
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return false
	}
	again, err := http.NewRequestWithContext(context.Background(), r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return false
	}
	again.Host, again.ContentLength = r.Host, int64(len(body))
	for _, h := range strings.Split(m[4], ";") {
		if h != "host" && h != "content-length" {
			again.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), e.creds, again, hex.EncodeToString(sum[:]), "kms", m[3], when); err != nil {
		return false
	}
	return again.Header.Get("Authorization") == auth
}

func TestOpenAWS(t *testing.T) {
	// Two profiles; each test picks one.
	file := []byte("# keyward's AWS credentials\n[default]\naws_access_key_id = " + awsKeyID +
		"\naws_secret_access_key = " + awsSecret + "\n\n[keyward]\r\naws_access_key_id=AKIAKEYWARDCONFIG002\r\n" +
		"aws_secret_access_key=" + awsSecret + "-2\r\naws_session_token=" + awsToken + "\r\n")
	tests := []struct {
		name    string
		profile string
		creds   aws.Credentials
	}{
		{"default profile", "", aws.Credentials{AccessKeyID: awsKeyID, SecretAccessKey: awsSecret}},
		{"named profile with session token", "profile = \"keyward\"\n", aws.Credentials{AccessKeyID: "AKIAKEYWARDCONFIG002", SecretAccessKey: awsSecret + "-2", SessionToken: awsToken}},
	}
	for _, tt := range tests {
		for name, src := range secretKeys(t, t.TempDir(), "credentials", "aws-credentials", file) {
			t.Run(tt.name+"/"+name, func(t *testing.T) {
				dir := newDataDir(t)
				if strings.HasSuffix(name, "_file") {
					writeSecret(t, filepath.Join(dir, "aws-credentials"), file)
				}
				ep := newSigV4Endpoint(t, tt.creds)
				d, err := openConfig(t, dir, "[store]\nsqlite = \"keyward.db\"\n[kek]\nuri = \""+awsURI+"\"\nendpoint = \""+ep.URL+"\"\n"+tt.profile+src.lines, src.getenv)
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer d.Close()
				if d.KEK.ID() != awsURI {
					t.Errorf("KEK id = %q, want %q", d.KEK.ID(), awsURI)
				}
				_, err = d.KEK.Wrap(t.Context(), bytes.Repeat([]byte{1}, 32), kms.DEKAAD("acme", 1))
				if !errors.Is(err, kms.ErrUnknownKEK) {
					t.Fatalf("Wrap = %v; want the endpoint's NotFoundException (kms.ErrUnknownKEK): the signature did not verify", err)
				}
				if strings.Contains(err.Error(), canary) {
					t.Errorf("error contains the secret: %v", err)
				}
				ep.mu.Lock()
				defer ep.mu.Unlock()
				if len(ep.valid) != 1 || !ep.valid[0] {
					t.Errorf("signatures valid = %v, want one valid request", ep.valid)
				}
			})
		}
	}
}

func TestOpenAWSErrors(t *testing.T) {
	dir := newDataDir(t)
	good := "[default]\naws_access_key_id = " + awsKeyID + "\naws_secret_access_key = " + awsSecret + "\n"
	tests := []struct {
		name    string
		file    string
		mode    os.FileMode
		extra   string
		want    error
		wantMsg string
	}{
		{"missing profile", good, 0o600, "profile = \"prod\"\n", config.ErrCredentials, "no [prod] profile"},
		{"no secret key", "[default]\naws_access_key_id = " + awsKeyID + "\n", 0o600, "", config.ErrCredentials, "profile [default] has no aws_secret_access_key"},
		{"secret on a bad line", "[default]\naws_access_key_id = " + awsKeyID + "\n" + awsSecret + "\n", 0o600, "", config.ErrCredentials, "line 3"},
		{"role profile", "[default]\nrole_arn = arn:aws:iam::111122223333:role/kw\nsource_profile = base\n", 0o600, "", config.ErrCredentials, "keyward does not read"},
		{"insecure file", good, 0o644, "", credential.ErrInsecureFile, "chmod 600"},
		{"http endpoint off loopback", good, 0o600, "endpoint = \"http://kms.internal\"\n", awskms.ErrInvalidConfig, "plain http is allowed only to a loopback address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "aws-credentials")
			writeSecret(t, path, []byte(tt.file))
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			d, err := openConfig(t, dir, "[store]\nsqlite = \"keyward.db\"\n[kek]\nuri = \""+awsURI+"\"\ncredentials_file = \"aws-credentials\"\n"+tt.extra, env(nil))
			if err == nil {
				d.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err = %v, want %v containing %q", err, tt.want, tt.wantMsg)
			}
			if strings.Contains(err.Error(), canary) {
				t.Errorf("error contains the secret: %v", err)
			}
		})
	}
}
