package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/keyward/keyward/secret"
)

// awsCredentials are the static keys of one profile of an AWS shared
// credentials file. The access key id is not secret; the secret access key
// and the session token are.
type awsCredentials struct {
	accessKeyID  string
	secretKey    secret.Bytes
	sessionToken secret.Bytes // zero without one
}

// AWS shared credentials file keys keyward reads.
const (
	awsAccessKeyID     = "aws_access_key_id"
	awsSecretAccessKey = "aws_secret_access_key"
	awsSessionToken    = "aws_session_token"
)

// parseAWSCredentials reads profile from data, the text of an AWS shared
// credentials file (~/.aws/credentials):
//
//	# comment
//	[default]
//	aws_access_key_id     = AKIA…
//	aws_secret_access_key = …
//	aws_session_token     = …   ; optional
//
// It is deliberately small and strict. Lines are "[NAME]" headers,
// "key = value" pairs, comments starting with # or ;, or blank; CRLF line
// ends and a UTF-8 byte order mark are accepted. Key names are
// case-insensitive. Other profiles are checked for syntax only. In the
// selected profile only the three keys above are accepted, each once, with
// a value of printable ASCII and no spaces (so no inline comments), and the
// access key id must look like one. Anything else is refused rather than
// ignored: role_arn, credential_process, sso_* and friends name features
// keyward does not implement.
//
// Errors wrap ErrCredentials and name line numbers, key names keyward knows
// and the profile, never a value or any other text of the file, which may
// be secret.
func parseAWSCredentials(data []byte, profile string) (awsCredentials, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var (
		inProfile   bool // some header was seen
		current     bool // the current profile is the selected one
		found       bool
		configStyle bool // "[profile NAME]" was seen for the selected one
		values      = map[string][]byte{}
	)
	fail := func(line int, format string, args ...any) (awsCredentials, error) {
		return awsCredentials{}, fmt.Errorf("%w: line %d: "+format, append([]any{ErrCredentials, line}, args...)...)
	}
	for i, line := range bytes.Split(data, []byte("\n")) {
		n := i + 1
		line = bytes.Trim(bytes.TrimSuffix(line, []byte("\r")), " \t")
		if len(line) == 0 || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			if line[len(line)-1] != ']' {
				return fail(n, "a profile header is [NAME] on a line of its own")
			}
			name := string(bytes.Trim(line[1:len(line)-1], " \t"))
			if name == "" {
				return fail(n, "empty profile name")
			}
			inProfile, current = true, name == profile
			if name == "profile "+profile {
				configStyle = true
			}
			if current {
				if found {
					return fail(n, "profile [%s] appears twice", profile)
				}
				found = true
			}
			continue
		}
		eq := bytes.IndexByte(line, '=')
		if eq < 0 {
			return fail(n, "not a [profile] header, a key = value pair or a comment")
		}
		key := string(bytes.ToLower(bytes.Trim(line[:eq], " \t")))
		value := bytes.Trim(line[eq+1:], " \t")
		switch {
		case !validINIKey(key):
			return fail(n, "malformed key name")
		case !inProfile:
			return fail(n, "key = value before the first [profile] header")
		case !current:
			continue
		case key != awsAccessKeyID && key != awsSecretAccessKey && key != awsSessionToken:
			return fail(n, "profile [%s] sets a key keyward does not read; it reads static keys only (%s, %s and %s), "+
				"not role_arn, credential_process, sso_* or other settings", profile, awsAccessKeyID, awsSecretAccessKey, awsSessionToken)
		case values[key] != nil:
			return fail(n, "%s appears twice in profile [%s]", key, profile)
		case len(value) == 0:
			return fail(n, "%s is empty", key)
		case !printable(value):
			return fail(n, "the value of %s has spaces, control or non-ASCII characters (comments go on lines of their own)", key)
		}
		values[key] = value
	}
	switch {
	case !found && configStyle:
		return awsCredentials{}, fmt.Errorf("%w: no [%s] profile ([profile %s] is the syntax of the AWS config file; the credentials file uses [%s])",
			ErrCredentials, profile, profile, profile)
	case !found:
		return awsCredentials{}, fmt.Errorf("%w: no [%s] profile", ErrCredentials, profile)
	case values[awsAccessKeyID] == nil:
		return awsCredentials{}, fmt.Errorf("%w: profile [%s] has no %s", ErrCredentials, profile, awsAccessKeyID)
	case values[awsSecretAccessKey] == nil:
		return awsCredentials{}, fmt.Errorf("%w: profile [%s] has no %s", ErrCredentials, profile, awsSecretAccessKey)
	case !accessKeyID(values[awsAccessKeyID]):
		return awsCredentials{}, fmt.Errorf("%w: profile [%s]: %s is not an access key id (16 to 128 letters and digits); are the id and the secret swapped?",
			ErrCredentials, profile, awsAccessKeyID)
	}
	return awsCredentials{
		accessKeyID:  string(values[awsAccessKeyID]),
		secretKey:    secret.New(values[awsSecretAccessKey]),
		sessionToken: secret.New(values[awsSessionToken]),
	}, nil
}

// validINIKey reports whether k is a plausible key name: letters, digits
// and underscores. Key names are never quoted in errors all the same.
func validINIKey(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for i := range len(k) {
		if c := k[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// printable reports whether b is printable ASCII without spaces.
func printable(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// accessKeyID reports whether b looks like an AWS access key id (AKIA…,
// ASIA…): 16 to 128 letters and digits.
func accessKeyID(b []byte) bool {
	if len(b) < 16 || len(b) > 128 {
		return false
	}
	for _, c := range b {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// provider returns a credentials provider that hands out c. The SDK takes
// the keys as strings, which cannot be wiped; c's own copies are wiped by
// wipe, after which the provider fails.
func (c awsCredentials) provider(source string) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		if c.secretKey.IsZero() {
			return aws.Credentials{}, errors.New("config: aws credentials were wiped: the deployment is closed")
		}
		return aws.Credentials{
			AccessKeyID:     c.accessKeyID,
			SecretAccessKey: string(c.secretKey.Reveal()),
			SessionToken:    string(c.sessionToken.Reveal()),
			Source:          "keyward " + source,
		}, nil
	})
}

// wipe wipes the secret parts of c (and of every copy of it).
func (c awsCredentials) wipe() {
	c.secretKey.Wipe()
	c.sessionToken.Wipe()
}
