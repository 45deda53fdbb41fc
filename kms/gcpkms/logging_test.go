package gcpkms_test

import (
	"bytes"
	"encoding/base64"
	"os"
	"testing"

	kmsapi "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/api/option"

	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/kms/gcpkms"
)

// captureStderr runs f with os.Stderr sent to a file and returns what was
// written. The client library's default logger writes to os.Stderr.
func captureStderr(t *testing.T, f func()) []byte {
	t.Helper()
	tmp, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer tmp.Close()
	orig := os.Stderr
	os.Stderr = tmp
	defer func() { os.Stderr = orig }()
	f()
	out, err := os.ReadFile(tmp.Name())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLibraryLoggingSilenced shows that GOOGLE_SDK_GO_LOGGING_LEVEL=debug,
// which makes the client log request and response bodies, cannot make the
// KEK print a data key.
func TestLibraryLoggingSilenced(t *testing.T) {
	t.Setenv("GOOGLE_SDK_GO_LOGGING_LEVEL", "debug")
	s := newFake(t)
	key := []byte("0123456789abcdef0123456789ABCDEF")
	needle := []byte(base64.StdEncoding.EncodeToString(key))

	// The library on its own does log the plaintext: the test can see it.
	raw := captureStderr(t, func() {
		c, err := kmsapi.NewKeyManagementRESTClient(t.Context(), option.WithEndpoint(s.URL), option.WithoutAuthentication())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = c.Encrypt(t.Context(), &kmspb.EncryptRequest{Name: keyName, Plaintext: key})
	})
	if !bytes.Contains(raw, needle) {
		t.Skip("this client version does not log request bodies; nothing to silence")
	}

	out := captureStderr(t, func() {
		k, err := gcpkms.New(t.Context(), gcpkms.Config{
			KeyName: keyName, Endpoint: s.URL,
			ClientOptions: []option.ClientOption{option.WithoutAuthentication()},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer k.Close()
		aad := kms.DEKAAD("org_log", 1)
		w, err := k.Wrap(t.Context(), key, aad)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.Unwrap(t.Context(), w, aad); err != nil {
			t.Fatal(err)
		}
	})
	if bytes.Contains(out, needle) || bytes.Contains(out, key) {
		t.Errorf("the data key was logged:\n%s", out)
	}
	if len(out) > 0 {
		t.Errorf("the KEK's client logged %d bytes; want none", len(out))
	}
}
