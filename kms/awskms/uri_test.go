package awskms_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/kms/awskms"
)

const (
	uuidKey = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	mrkKey  = "arn:aws:kms:us-east-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab"
)

func TestParseURI(t *testing.T) {
	valid := []struct {
		uri, keyID, region string
	}{
		{"awskms:" + uuidKey, uuidKey, "eu-west-1"},
		{"AWSKMS:" + uuidKey, uuidKey, "eu-west-1"},
		{"awskms:" + mrkKey, mrkKey, "us-east-1"},
		{"awskms:arn:aws:kms:eu-west-1:111122223333:alias/keyward", "arn:aws:kms:eu-west-1:111122223333:alias/keyward", "eu-west-1"},
		{"awskms:arn:aws:kms:eu-west-1:111122223333:alias/team/Prod_kek-2", "arn:aws:kms:eu-west-1:111122223333:alias/team/Prod_kek-2", "eu-west-1"},
		{"awskms:arn:aws-cn:kms:cn-north-1:111122223333:alias/k", "arn:aws-cn:kms:cn-north-1:111122223333:alias/k", "cn-north-1"},
		{"awskms:arn:aws-us-gov:kms:us-gov-west-1:111122223333:alias/k", "arn:aws-us-gov:kms:us-gov-west-1:111122223333:alias/k", "us-gov-west-1"},
		{"awskms:arn:aws-iso-b:kms:us-isob-east-1:111122223333:alias/k", "arn:aws-iso-b:kms:us-isob-east-1:111122223333:alias/k", "us-isob-east-1"},
		{"awskms:arn:aws:kms:ap-southeast-12:111122223333:alias/k", "arn:aws:kms:ap-southeast-12:111122223333:alias/k", "ap-southeast-12"},
	}
	for _, tt := range valid {
		t.Run(tt.uri, func(t *testing.T) {
			cfg, err := awskms.ParseURI(tt.uri)
			if err != nil {
				t.Fatalf("ParseURI: %v", err)
			}
			if cfg.KeyID != tt.keyID || cfg.Region != tt.region {
				t.Errorf("ParseURI = %q in %q, want %q in %q", cfg.KeyID, cfg.Region, tt.keyID, tt.region)
			}
			if cfg.Credentials != nil || cfg.Endpoint != "" || cfg.HTTPClient != nil || cfg.CheckKey {
				t.Errorf("ParseURI set more than KeyID and Region: %+v", cfg)
			}
		})
	}

	arn := "arn:aws:kms:eu-west-1:111122223333:"
	invalid := []string{
		"",
		"awskms",
		"awskms:",
		"local:kek.key",
		"gcpkms:" + uuidKey,
		"awskms:1234abcd-12ab-34cd-56ef-1234567890ab", // bare key id
		"awskms:alias/keyward",                        // bare alias name
		"awskms:arn:aws:kms:eu-west-1:111122223333",   // no resource
		"awskms:" + strings.Replace(uuidKey, "arn:", "urn:", 1),
		"awskms:arn::kms:eu-west-1:111122223333:alias/k",
		"awskms:arn:gcp:kms:eu-west-1:111122223333:alias/k",
		"awskms:arn:aws-:kms:eu-west-1:111122223333:alias/k",
		"awskms:arn:aws:s3:eu-west-1:111122223333:alias/k",
		"awskms:arn:aws:kms::111122223333:alias/k",
		"awskms:arn:aws:kms:eu-west:111122223333:alias/k",
		"awskms:arn:aws:kms:EU-WEST-1:111122223333:alias/k",
		"awskms:arn:aws:kms:eu-west-123:111122223333:alias/k",
		"awskms:arn:aws:kms:eu--west-1:111122223333:alias/k",
		"awskms:arn:aws:kms:eu-west-1::alias/k",
		"awskms:arn:aws:kms:eu-west-1:11112222333:alias/k",
		"awskms:arn:aws:kms:eu-west-1:11112222333x:alias/k",
		"awskms:" + arn + "key/",
		"awskms:" + arn + "key/1234ABCD-12AB-34CD-56EF-1234567890AB", // KMS ids are lowercase
		"awskms:" + arn + "key/1234abcd-12ab-34cd-56ef-1234567890a",
		"awskms:" + arn + "key/1234abcd-12ab-34cd-56ef-1234567890abc",
		"awskms:" + arn + "key/1234abcd_12ab-34cd-56ef-1234567890ab",
		"awskms:" + arn + "key/1234abcg-12ab-34cd-56ef-1234567890ab",
		"awskms:" + arn + "key/mrk-1234",
		"awskms:" + arn + "alias/",
		"awskms:" + arn + "alias/key word",
		"awskms:" + arn + "alias/k:v",
		"awskms:" + arn + "alias/" + strings.Repeat("a", 251),
		"awskms:" + arn + "grant/1234",
		"awskms:" + arn + "alias/k\n",
		"awskms:" + arn + "alias/k\x00",
		"awskms:" + arn + "alias/ké",
		"awskms:" + arn + "alias/" + strings.Repeat("a", 3000),
	}
	for _, uri := range invalid {
		t.Run(uri, func(t *testing.T) {
			cfg, err := awskms.ParseURI(uri)
			if !errors.Is(err, kms.ErrInvalidURI) {
				t.Errorf("ParseURI(%q) = %+v, %v; want ErrInvalidURI", uri, cfg, err)
			}
		})
	}
}

func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"awskms:" + uuidKey,
		"awskms:" + mrkKey,
		"awskms:arn:aws:kms:eu-west-1:111122223333:alias/keyward",
		"awskms:arn:aws-us-gov:kms:us-gov-west-1:111122223333:alias/a/b",
		"awskms:arn:aws:kms:eu-west-1:111122223333:key/",
		"awskms:",
		"local:x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		cfg, err := awskms.ParseURI(uri)
		if err != nil {
			if !errors.Is(err, kms.ErrInvalidURI) {
				t.Fatalf("ParseURI(%q) error %v does not wrap ErrInvalidURI", uri, err)
			}
			return
		}
		// A valid URI is "awskms:" (any case) and the key ARN, whose region
		// field is cfg.Region, and it round-trips through the KEK id.
		if !strings.EqualFold(uri[:len("awskms:")], "awskms:") || uri[len("awskms:"):] != cfg.KeyID {
			t.Fatalf("ParseURI(%q).KeyID = %q", uri, cfg.KeyID)
		}
		if parts := strings.Split(cfg.KeyID, ":"); len(parts) < 6 || parts[3] != cfg.Region || cfg.Region == "" {
			t.Fatalf("ParseURI(%q).Region = %q", uri, cfg.Region)
		}
		again, err := awskms.ParseURI("awskms:" + cfg.KeyID)
		if err != nil || again != cfg {
			t.Fatalf("ParseURI does not round-trip %q: %+v, %v", uri, again, err)
		}
		if strings.ContainsAny(cfg.KeyID, " \t\r\n\x00\"'\\") {
			t.Fatalf("ParseURI(%q) accepted a key id with space, control or quote characters", uri)
		}
	})
}
