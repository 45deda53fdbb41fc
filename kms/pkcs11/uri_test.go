package pkcs11

import (
	"errors"
	"strings"
	"testing"

	"github.com/keyward/keyward/kms"
)

func TestParseURI(t *testing.T) {
	tests := []struct {
		uri  string
		want Config // zero Token: want an error
		// refused: the error must not contain this text (a value that might
		// be a secret)
		hide string
	}{
		{uri: "pkcs11:token=keyward;object=kek", want: Config{Token: "keyward", Object: "kek"}},
		{uri: "pkcs11:token=keyward", want: Config{Token: "keyward", Object: "kek"}},
		{uri: "PKCS11:token=keyward;object=kek", want: Config{Token: "keyward", Object: "kek"}},
		{uri: "pkcs11:object=kek;token=keyward", want: Config{Token: "keyward", Object: "kek"}},
		{uri: "pkcs11:token=keyward;object=kek;type=secret-key", want: Config{Token: "keyward", Object: "kek"}},
		{uri: "pkcs11:token=keyward;object=kek;version=3", want: Config{Token: "keyward", Object: "kek", Version: 3}},
		{uri: "pkcs11:token=keyward;version=4294967295", want: Config{Token: "keyward", Object: "kek", Version: 4294967295}},
		{uri: "pkcs11:token=My%20Token;object=a%3Bb%25c", want: Config{Token: "My Token", Object: "a;b%c"}},
		{uri: "pkcs11:token=a=b;object=x:y@z", want: Config{Token: "a=b", Object: "x:y@z"}},
		{uri: "pkcs11:token=%e2%82%ac", want: Config{Token: "€", Object: "kek"}},
		{uri: "pkcs11:token=" + strings.Repeat("t", 32), want: Config{Token: strings.Repeat("t", 32), Object: "kek"}},

		{uri: "pkcs11:token=keyward;pin-value=s3cr3t-pin", hide: "s3cr3t-pin"},
		{uri: "pkcs11:token=keyward?pin-value=s3cr3t-pin", hide: "s3cr3t-pin"},
		{uri: "pkcs11:token=keyward?pin-source=file:/etc/pin", hide: "/etc/pin"},
		{uri: "pkcs11:token=keyward?module-path=/usr/lib/x.so", hide: "/usr/lib/x.so"},
		{uri: "pkcs11:token=keyward?module-name=softhsm2"},
		{uri: "pkcs11:token=keyward?"},
		{uri: "pkcs11:token=keyward;id=%01"},
		{uri: "pkcs11:token=keyward;serial=123"},
		{uri: "pkcs11:token=keyward;slot-id=0"},
		{uri: "pkcs11:token=keyward;colour=blue", hide: "blue"},
		{uri: "pkcs11:token=keyward;s3cr3t-pin", hide: "s3cr3t-pin"},
		{uri: "pkcs11:s3cr3t-pin", hide: "s3cr3t-pin"},
		{uri: "pkcs11:token=keyward;=x"},
		{uri: "pkcs11:token=keyward;token=other"},
		{uri: "pkcs11:token=keyward;"},
		{uri: "pkcs11:token=keyward;;object=kek"},
		{uri: "pkcs11:object=kek"},
		{uri: "pkcs11:token="},
		{uri: "pkcs11:token=keyward;object="},
		{uri: "pkcs11:token=keyward;type=private-key"},
		{uri: "pkcs11:token=keyward;version=0"},
		{uri: "pkcs11:token=keyward;version=01"},
		{uri: "pkcs11:token=keyward;version=-1"},
		{uri: "pkcs11:token=keyward;version=+1"},
		{uri: "pkcs11:token=keyward;version=4294967296"},
		{uri: "pkcs11:token=keyward;version=x"},
		{uri: "pkcs11:token=key%zzward"},
		{uri: "pkcs11:token=keyward%2"},
		{uri: "pkcs11:token=a%00b"},
		{uri: "pkcs11:token=a%0Ab"},
		{uri: "pkcs11:token=%ff"},
		{uri: "pkcs11:token=trailing%20"},
		{uri: "pkcs11:token=" + strings.Repeat("t", 33)},
		{uri: "pkcs11:token=keyward;object=" + strings.Repeat("o", 256)},
		{uri: "pkcs11:"},
		{uri: "local:kek.key"},
		{uri: "pkcs11"},
		{uri: ""},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			got, err := ParseURI(tt.uri)
			if tt.want.Token == "" {
				if err == nil {
					t.Fatalf("ParseURI = %+v, want an error", got)
				}
				if !errors.Is(err, kms.ErrInvalidURI) {
					t.Errorf("error %v does not wrap kms.ErrInvalidURI", err)
				}
				if tt.hide != "" && strings.Contains(err.Error(), tt.hide) {
					t.Errorf("error %q echoes %q", err, tt.hide)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseURI: %v", err)
			}
			if got.Token != tt.want.Token || got.Object != tt.want.Object || got.Version != tt.want.Version {
				t.Errorf("ParseURI = token %q object %q version %d, want %q %q %d",
					got.Token, got.Object, got.Version, tt.want.Token, tt.want.Object, tt.want.Version)
			}
			if got.Module != "" || !got.PIN.IsZero() || got.Sessions != 0 {
				t.Errorf("ParseURI set Module, PIN or Sessions")
			}
		})
	}
}

func TestKEKIDParses(t *testing.T) {
	for _, c := range []Config{
		{Token: "keyward", Object: "kek"},
		{Token: "a;b?c%d/e#f g", Object: "x&y=z"},
		{Token: "€uro", Object: "ключ"},
	} {
		id := kekID(c.Token, c.Object)
		got, err := ParseURI(id)
		if err != nil || got.Token != c.Token || got.Object != c.Object {
			t.Errorf("ParseURI(%q) = %q %q, %v; want %q %q", id, got.Token, got.Object, err, c.Token, c.Object)
		}
	}
}

// FuzzParseURI: no input panics; every accepted URI has valid labels and its
// KEK id parses back to the same token and object.
func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"pkcs11:token=keyward;object=kek",
		"pkcs11:token=a%3Bb;object=c;version=7;type=secret-key",
		"pkcs11:token=keyward?pin-value=1234",
		"pkcs11:token=%e2%82%ac;object=%",
		"pkcs11:;;==;",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		c, err := ParseURI(uri)
		if err != nil {
			if !errors.Is(err, kms.ErrInvalidURI) {
				t.Fatalf("error %v does not wrap kms.ErrInvalidURI", err)
			}
			return
		}
		if err := checkLabels(c.Token, c.Object); err != nil {
			t.Fatalf("accepted %q with bad labels: %v", uri, err)
		}
		id := kekID(c.Token, c.Object)
		back, err := ParseURI(id)
		if err != nil || back.Token != c.Token || back.Object != c.Object || back.Version != 0 {
			t.Fatalf("ParseURI(kekID) of %q: %+v, %v", uri, back, err)
		}
	})
}
