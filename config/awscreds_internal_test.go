package config

import (
	"errors"
	"strings"
	"testing"
)

// Secrets for the AWS credentials tests: they must never appear in an
// error. Like real secret keys and session tokens, they hold '/' and '+',
// which no name an error may quote can contain.
const (
	testAccessKeyID = "AKIAKEYWARDTEST00001"
	testSecretKey   = "wJalr/XUtnFEMI+K7MDENG/bPxRfiCYSECRET1"
	testToken       = "IQoJb3JpZ2luX2Vj/+SESSIONTOKEN+/Zz0="
)

func TestParseAWSCredentials(t *testing.T) {
	const good = "[default]\naws_access_key_id = " + testAccessKeyID + "\naws_secret_access_key = " + testSecretKey + "\n"
	tests := []struct {
		name    string
		in      string
		profile string
		wantID  string
		wantTok bool
	}{
		{"default", good, "default", testAccessKeyID, false},
		{"session token", good + "aws_session_token = " + testToken + "\n", "default", testAccessKeyID, true},
		{"second profile", good + "\n[keyward]\naws_access_key_id=AKIAKEYWARDTEST00002\naws_secret_access_key=" + testSecretKey + "\n", "keyward", "AKIAKEYWARDTEST00002", false},
		{"comments, blanks and indentation", "# AWS credentials\n; managed by hand\n\n  [default]  \n\t# the id\n  aws_access_key_id\t=\t" + testAccessKeyID + "  \n\naws_secret_access_key=" + testSecretKey + "\n", "default", testAccessKeyID, false},
		{"CRLF", strings.ReplaceAll(good, "\n", "\r\n"), "default", testAccessKeyID, false},
		{"no final newline", strings.TrimSuffix(good, "\n"), "default", testAccessKeyID, false},
		{"byte order mark", "\xef\xbb\xbf" + good, "default", testAccessKeyID, false},
		{"upper-case keys", "[default]\nAWS_ACCESS_KEY_ID = " + testAccessKeyID + "\nAws_Secret_Access_Key = " + testSecretKey + "\n", "default", testAccessKeyID, false},
		{"other profiles are not read", "[other]\nregion = eu-west-1\nrole_arn = arn:aws:iam::1:role/x\n" + good, "default", testAccessKeyID, false},
		{"value with =", "[default]\naws_access_key_id = " + testAccessKeyID + "\naws_secret_access_key = " + testSecretKey + "==\n", "default", testAccessKeyID, false},
		{"profile name with punctuation", "[ci.keyward@prod-1]\naws_access_key_id = " + testAccessKeyID + "\naws_secret_access_key = " + testSecretKey + "\n", "ci.keyward@prod-1", testAccessKeyID, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseAWSCredentials([]byte(tt.in), tt.profile)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if c.accessKeyID != tt.wantID {
				t.Errorf("access key id = %q, want %q", c.accessKeyID, tt.wantID)
			}
			if got := string(c.secretKey.Reveal()); !strings.HasPrefix(got, testSecretKey) {
				t.Errorf("secret key = %q, want %q", got, testSecretKey)
			}
			if got := string(c.sessionToken.Reveal()); tt.wantTok != (got == testToken) || !tt.wantTok && got != "" {
				t.Errorf("session token = %q, want it: %v", got, tt.wantTok)
			}
			creds, err := c.provider("test").Retrieve(t.Context())
			if err != nil || creds.AccessKeyID != tt.wantID || creds.SecretAccessKey != string(c.secretKey.Reveal()) || creds.CanExpire {
				t.Errorf("Retrieve = %+v, %v", creds, err)
			}
			c.wipe()
			if !c.secretKey.IsZero() || !c.sessionToken.IsZero() {
				t.Error("wipe left the secrets")
			}
			if _, err := c.provider("test").Retrieve(t.Context()); err == nil {
				t.Error("Retrieve after wipe succeeded")
			}
		})
	}
}

func TestParseAWSCredentialsInvalid(t *testing.T) {
	const (
		id  = "aws_access_key_id = " + testAccessKeyID + "\n"
		sk  = "aws_secret_access_key = " + testSecretKey + "\n"
		tok = "aws_session_token = " + testToken + "\n"
	)
	tests := []struct {
		name    string
		in      string
		wantMsg string
	}{
		{"empty", "", "no [default] profile"},
		{"only comments", "# nothing\n", "no [default] profile"},
		{"missing profile", "[other]\n" + id + sk, "no [default] profile"},
		{"config-file form", "[profile default]\n" + id + sk, "[profile default] is the syntax of the AWS config file; the credentials file uses [default]"},
		{"no access key id", "[default]\n" + sk, "profile [default] has no aws_access_key_id"},
		{"no secret key", "[default]\n" + id + tok, "profile [default] has no aws_secret_access_key"},
		{"empty secret", "[default]\n" + id + "aws_secret_access_key =\n", "line 3: aws_secret_access_key is empty"},
		{"secret with a space", "[default]\n" + id + "aws_secret_access_key = " + testSecretKey + " x\n", "line 3: the value of aws_secret_access_key has spaces"},
		{"inline comment", "[default]\n" + id + "aws_secret_access_key = " + testSecretKey + " # prod\n", "comments go on lines of their own"},
		{"control character", "[default]\n" + id + "aws_secret_access_key = " + testSecretKey + "\x01\n", "control or non-ASCII"},
		{"swapped id and secret", "[default]\naws_access_key_id = " + testSecretKey + "\naws_secret_access_key = " + testAccessKeyID + "\n", "are the id and the secret swapped?"},
		{"short id", "[default]\naws_access_key_id = AKIA1\n" + sk, "is not an access key id"},
		{"duplicate key", "[default]\n" + id + sk + sk, "line 4: aws_secret_access_key appears twice in profile [default]"},
		{"duplicate profile", "[default]\n" + id + "[default]\n" + sk, "line 3: profile [default] appears twice"},
		{"key before any profile", sk + "[default]\n" + id, "line 1: key = value before the first [profile] header"},
		{"secret as a bare line", "[default]\n" + id + testSecretKey + "\n", "line 3: not a [profile] header, a key = value pair or a comment"},
		{"secret as a key name", "[default]\n" + id + testSecretKey + " = x\n", "line 3: malformed key name"},
		{"unterminated header", "[default\n" + id + sk, "line 1: a profile header is [NAME] on a line of its own"},
		{"header with comment", "[default] # main\n" + id + sk, "line 1: a profile header is [NAME]"},
		{"empty header", "[]\n" + id + sk, "line 1: empty profile name"},
		{"role_arn", "[default]\n" + id + sk + "role_arn = arn:aws:iam::111122223333:role/keyward\n", "line 4: profile [default] sets a key keyward does not read"},
		{"credential_process", "[default]\ncredential_process = /usr/bin/get-creds " + testSecretKey + "\n", "not role_arn, credential_process, sso_*"},
		{"region", "[default]\n" + id + sk + "region = eu-west-1\n", "sets a key keyward does not read"},
		{"bad line in another profile", "[default]\n" + id + sk + "[other]\n" + testSecretKey + "\n", "line 5: not a [profile] header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseAWSCredentials([]byte(tt.in), "default")
			if err == nil {
				t.Fatalf("parse = %+v, want an error", c)
			}
			if !errors.Is(err, ErrCredentials) {
				t.Errorf("err = %v, want ErrCredentials", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
			for _, s := range []string{testSecretKey, testToken, testAccessKeyID, "SECRET", "/"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error contains %q: %v", s, err)
				}
			}
		})
	}
}

// FuzzParseAWSCredentials checks that no input makes the parser panic, that
// what it accepts is usable, and that an error never quotes the file: it
// names line numbers, known key names and the selected profile only, none
// of which can contain '/', while secret keys and session tokens usually
// do. Seeds carry such secrets in every position.
func FuzzParseAWSCredentials(f *testing.F) {
	for _, s := range []string{
		"",
		"[default]\naws_access_key_id = " + testAccessKeyID + "\naws_secret_access_key = " + testSecretKey + "\n",
		"[default]\r\naws_access_key_id=" + testAccessKeyID + "\r\naws_secret_access_key=" + testSecretKey + "\r\naws_session_token=" + testToken + "\r\n",
		"# c\n; c\n[a]\nx=y\n[default]\naws_access_key_id = " + testAccessKeyID + "\naws_secret_access_key = " + testSecretKey + " #c\n",
		"[default]\n" + testSecretKey + "\n",
		"[default]\n" + testSecretKey + " = " + testToken + "\n",
		"[" + testSecretKey + "]\naws_access_key_id = x\n",
		"aws_secret_access_key = " + testSecretKey + "\n",
		"\xef\xbb\xbf[profile default]\n=\n[\n]\n[ ]\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := parseAWSCredentials([]byte(in), "default")
		if err != nil {
			if !errors.Is(err, ErrCredentials) {
				t.Fatalf("error does not wrap ErrCredentials: %v", err)
			}
			if strings.Contains(err.Error(), "/") {
				t.Fatalf("error may quote the file: %v", err)
			}
			return
		}
		if !accessKeyID([]byte(c.accessKeyID)) || c.secretKey.IsZero() || !printable(c.secretKey.Reveal()) ||
			!c.sessionToken.IsZero() && !printable(c.sessionToken.Reveal()) {
			t.Fatalf("accepted unusable credentials from %q", in)
		}
	})
}
