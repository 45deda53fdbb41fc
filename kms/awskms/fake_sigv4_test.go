package awskms_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// sigV4Auth is the shape of a SigV4 Authorization header for KMS.
var sigV4Auth = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([A-Z0-9]{16,128})/(\d{8})/([a-z0-9-]+)/kms/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$`)

// verifySigV4 checks the request's SigV4 signature as KMS would: the shape
// of the Authorization header, the access key, the credential scope (date,
// region, service kms) and, by signing the same canonical request with the
// fake's secret, the signature itself.
func verifySigV4(r *http.Request, body []byte) *apiError {
	auth := r.Header.Get("Authorization")
	m := sigV4Auth.FindStringSubmatch(auth)
	if m == nil {
		return errf(http.StatusBadRequest, "IncompleteSignatureException", "malformed Authorization header")
	}
	akid, date, region, signed := m[1], m[2], m[3], strings.Split(m[4], ";")
	if akid != fakeAccessKey {
		return errf(http.StatusBadRequest, "UnrecognizedClientException", "The security token included in the request is invalid.")
	}
	if region != fakeRegion {
		return errf(http.StatusBadRequest, "InvalidSignatureException", "Credential should be scoped to a valid region.")
	}
	for _, h := range []string{"host", "x-amz-date", "x-amz-target", "content-type"} {
		if !slices.Contains(signed, h) {
			return errf(http.StatusBadRequest, "InvalidSignatureException", "header %s is not signed", h)
		}
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil || when.Format("20060102") != date {
		return errf(http.StatusBadRequest, "InvalidSignatureException", "X-Amz-Date does not match the credential scope")
	}

	// Rebuild the request from the signed headers only and sign it again.
	again, err := http.NewRequestWithContext(context.Background(), r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return errf(http.StatusBadRequest, "InvalidSignatureException", "bad request uri")
	}
	again.Host = r.Host
	again.ContentLength = int64(len(body))
	for _, h := range signed {
		if h != "host" && h != "content-length" {
			again.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: fakeAccessKey, SecretAccessKey: fakeSecretKey, SessionToken: r.Header.Get("X-Amz-Security-Token")}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, again, hex.EncodeToString(sum[:]), "kms", region, when); err != nil {
		return errf(http.StatusBadRequest, "InvalidSignatureException", "cannot verify")
	}
	if again.Header.Get("Authorization") != auth {
		return errf(http.StatusBadRequest, "InvalidSignatureException",
			"The request signature we calculated does not match the signature you provided.")
	}
	return nil
}
