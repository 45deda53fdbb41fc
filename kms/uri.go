package kms

import (
	"fmt"
	"strings"
)

// URI names a KEK: a provider scheme and a provider-specific remainder, for
// example "local:kek.key", "pkcs11:token=keyward;object=kek" or
// "awskms:arn:aws:kms:eu-west-1:111122223333:key/…". A URI never carries a secret.
type URI struct {
	// Scheme selects the provider: local, pkcs11, awskms, gcpkms or transit.
	Scheme string
	// Opaque is everything after the first colon, interpreted by the provider.
	Opaque string
}

// knownScheme reports whether scheme names a KEK provider keyward knows.
func knownScheme(scheme string) bool {
	switch scheme {
	case "local", "pkcs11", "awskms", "gcpkms", "transit":
		return true
	}
	return false
}

// ParseURI splits a KEK URI into scheme and remainder and checks that the
// scheme names a known provider. It does not check the remainder; the
// provider's constructor does.
func ParseURI(s string) (URI, error) {
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok || scheme == "" {
		return URI{}, fmt.Errorf("%w: %q has no scheme (want e.g. local:PATH or pkcs11:token=…)", ErrInvalidURI, s)
	}
	scheme = lowerASCII(scheme)
	if !knownScheme(scheme) {
		return URI{}, fmt.Errorf("%w: unknown scheme %q (known: local, pkcs11, awskms, gcpkms, transit)", ErrInvalidURI, scheme)
	}
	if rest == "" {
		return URI{}, fmt.Errorf("%w: %q names no key", ErrInvalidURI, s)
	}
	if strings.ContainsAny(rest, "\x00\r\n") {
		return URI{}, fmt.Errorf("%w: control characters in uri", ErrInvalidURI)
	}
	return URI{Scheme: scheme, Opaque: rest}, nil
}

// lowerASCII folds only A–Z. strings.ToLower would also fold non-ASCII runes
// such as U+212A KELVIN SIGN to "k", accepting look-alike schemes.
func lowerASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
}

// String returns the URI in its textual form.
func (u URI) String() string { return u.Scheme + ":" + u.Opaque }
