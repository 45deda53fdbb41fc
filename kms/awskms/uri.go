package awskms

import (
	"fmt"
	"strings"

	"github.com/keyward/keyward/kms"
)

// Scheme is the KEK URI scheme of this provider.
const Scheme = "awskms"

// keyARN is a parsed KMS key or alias ARN:
//
//	arn:<partition>:kms:<region>:<account>:key/<key id>
//	arn:<partition>:kms:<region>:<account>:alias/<alias name>
type keyARN struct {
	partition, region, account string
	resource                   string // "key/…" or "alias/…"
}

// maxARNLen bounds an ARN; KMS limits KeyId parameters to 2048 characters.
const maxARNLen = 2048

// ParseURI parses a KEK URI of the form "awskms:" followed by a KMS key ARN
// or alias ARN, for example
//
//	awskms:arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab
//	awskms:arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab
//	awskms:arn:aws:kms:eu-west-1:111122223333:alias/keyward
//
// It returns a Config with KeyID (the ARN) and Region (from the ARN) set; the
// caller adds Credentials and any other option. Errors wrap
// [kms.ErrInvalidURI].
func ParseURI(u string) (Config, error) {
	p, err := kms.ParseURI(u)
	if err != nil {
		return Config{}, fmt.Errorf("awskms: %w", err)
	}
	if p.Scheme != Scheme {
		return Config{}, fmt.Errorf("awskms: %w: scheme %q is not %s", kms.ErrInvalidURI, p.Scheme, Scheme)
	}
	arn, err := parseARN(p.Opaque)
	if err != nil {
		return Config{}, fmt.Errorf("awskms: %w: %w", kms.ErrInvalidURI, err)
	}
	return Config{KeyID: p.Opaque, Region: arn.region}, nil
}

// parseARN checks that s is a KMS key ARN or alias ARN. Its errors quote at
// most the offending part, never more than the ARN itself (which is not
// secret).
func parseARN(s string) (keyARN, error) {
	if len(s) > maxARNLen {
		return keyARN{}, fmt.Errorf("key arn of %d bytes exceeds %d", len(s), maxARNLen)
	}
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return keyARN{}, fmt.Errorf("%q is not a kms key arn (want arn:aws:kms:REGION:ACCOUNT:key/ID or …:alias/NAME)", s)
	}
	a := keyARN{partition: parts[1], region: parts[3], account: parts[4], resource: parts[5]}
	if !validPartition(a.partition) {
		return keyARN{}, fmt.Errorf("arn partition %q is not aws or aws-…", a.partition)
	}
	if parts[2] != "kms" {
		return keyARN{}, fmt.Errorf("arn service %q is not kms", parts[2])
	}
	if !validRegion(a.region) {
		return keyARN{}, fmt.Errorf("arn region %q is not a region name such as eu-west-1", a.region)
	}
	if !validAccount(a.account) {
		return keyARN{}, fmt.Errorf("arn account %q is not a 12-digit account id", a.account)
	}
	kind, name, _ := strings.Cut(a.resource, "/")
	switch kind {
	case "key":
		if !validKeyID(name) {
			return keyARN{}, fmt.Errorf("arn key id %q is neither a lowercase uuid nor mrk-<32 hex digits>", name)
		}
	case "alias":
		if !validAlias(name) {
			return keyARN{}, fmt.Errorf("arn alias %q is not 1-250 characters of a-z A-Z 0-9 / _ -", name)
		}
	default:
		return keyARN{}, fmt.Errorf("arn resource %q is neither key/ID nor alias/NAME", a.resource)
	}
	return a, nil
}

// validPartition accepts "aws" and "aws-" followed by lowercase words
// separated by '-' (aws-cn, aws-us-gov, aws-iso-b, …).
func validPartition(p string) bool {
	if p == "aws" {
		return true
	}
	rest, ok := strings.CutPrefix(p, "aws-")
	return ok && len(p) <= 32 && dashedWords(rest)
}

// validRegion accepts lowercase words separated by '-', ending in a number:
// us-east-1, us-gov-west-1, eusc-de-east-1.
func validRegion(r string) bool {
	i := strings.LastIndexByte(r, '-')
	if i <= 0 || len(r) > 32 || !dashedWords(r[:i]) {
		return false
	}
	num := r[i+1:]
	if num == "" || len(num) > 2 {
		return false
	}
	for _, c := range []byte(num) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// dashedWords reports whether s is one or more non-empty runs of a-z
// separated by single '-'.
func dashedWords(s string) bool {
	if s == "" {
		return false
	}
	for w := range strings.SplitSeq(s, "-") {
		if w == "" {
			return false
		}
		for _, c := range []byte(w) {
			if c < 'a' || c > 'z' {
				return false
			}
		}
	}
	return true
}

func validAccount(a string) bool {
	if len(a) != 12 {
		return false
	}
	for _, c := range []byte(a) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// validKeyID accepts a lowercase UUID (single-region key) or "mrk-" and 32
// lowercase hex digits (multi-Region key).
func validKeyID(id string) bool {
	if hex, ok := strings.CutPrefix(id, "mrk-"); ok {
		return len(hex) == 32 && lowerHex(hex)
	}
	if len(id) != 36 {
		return false
	}
	for i, c := range []byte(id) {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !lowerHex(string(c)) {
				return false
			}
		}
	}
	return true
}

func lowerHex(s string) bool {
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// validAlias accepts the characters KMS allows in an alias name (after the
// "alias/" prefix; the whole name is at most 256 characters).
func validAlias(name string) bool {
	if name == "" || len(name) > 256-len("alias/") {
		return false
	}
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '/' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
