package config

import (
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/keyward/keyward/credential"
	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/kms/awskms"
	"github.com/keyward/keyward/kms/gcpkms"
	"github.com/keyward/keyward/kms/transit"
)

// maxSessions bounds kek.sessions. It is pkcs11.MaxSessions (checked at
// compile time where package pkcs11 is built), repeated here so that this
// file builds without cgo.
const maxSessions = 64

// profileName is what kek.profile accepts.
var profileName = regexp.MustCompile(`^[A-Za-z0-9_.@+-]{1,64}$`)

// kekField is a key (or trio of keys) of [kek] and the schemes that use it.
type kekField struct {
	keys    string // as written in the file, for messages
	set     bool
	schemes []string // with the colon, as in "pkcs11:"
}

// validateKEK checks the [kek] table: the URI (no secret in it, a scheme
// keyward knows, the provider's own syntax), no key of another provider, and
// the keys the provider requires. It reads nothing and contacts nothing.
func validateKEK(k KEK) error {
	if err := checkKEKURI(k.URI); err != nil {
		return err
	}
	u, err := kms.ParseURI(k.URI) // checked by checkKEKURI
	if err != nil {
		return fmt.Errorf("%w: kek.uri: %w", ErrInvalid, err)
	}
	scheme := u.Scheme + ":"
	for _, f := range []kekField{
		{"module", k.Module != "", []string{"pkcs11:"}},
		{"pin_file, pin_fd and pin_credential", !k.PIN.IsZero(), []string{"pkcs11:"}},
		{"sessions", k.Sessions != 0, []string{"pkcs11:"}},
		{"token_file, token_fd and token_credential", !k.Token.IsZero(), []string{"transit:"}},
		{"namespace", k.Namespace != "", []string{"transit:"}},
		{"ca_file", k.CAFile != "", []string{"transit:"}},
		{"credentials_file, credentials_fd and credentials_credential", !k.Credentials.IsZero(), []string{"awskms:", "gcpkms:"}},
		{"profile", k.Profile != "", []string{"awskms:"}},
		{"endpoint", k.Endpoint != "", []string{"awskms:", "gcpkms:"}},
	} {
		if f.set && !slices.Contains(f.schemes, scheme) {
			return invalid("kek.%s: not used by the %s provider (only by %s); remove it", f.keys, scheme, strings.Join(f.schemes, " and "))
		}
	}
	switch u.Scheme {
	case "pkcs11":
		return checkPKCS11KEK(k)
	case "transit":
		if _, err := transit.ParseURI(k.URI); err != nil {
			return fmt.Errorf("%w: kek.uri: %w", ErrInvalid, err)
		}
		return requireSource(k.Token, "token", "a transit: kek needs the Vault token")
	case "awskms":
		if _, err := awskms.ParseURI(k.URI); err != nil {
			return fmt.Errorf("%w: kek.uri: %w", ErrInvalid, err)
		}
		if err := requireSource(k.Credentials, "credentials", "an awskms: kek needs AWS credentials in the shared "+
			"credentials file format ([default] with aws_access_key_id and aws_secret_access_key); keyward does not read "+
			"AWS_* environment variables or ~/.aws, and instance-profile, ECS and IRSA credentials are not wired yet"); err != nil {
			return err
		}
		if k.Profile != "" && !profileName.MatchString(k.Profile) {
			return invalid("kek.profile is not a profile name (letters, digits and _ . @ + -, at most 64 bytes)")
		}
		return checkEndpoint(k.Endpoint)
	case "gcpkms":
		if _, err := gcpkms.ParseURI(k.URI); err != nil {
			return fmt.Errorf("%w: kek.uri: %w", ErrInvalid, err)
		}
		if err := requireSource(k.Credentials, "credentials", "a gcpkms: kek needs a service-account JSON key; "+
			"keyward does not use Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, the metadata "+
			"server, Workload Identity) yet"); err != nil {
			return err
		}
		return checkEndpoint(k.Endpoint)
	}
	return nil
}

// checkPKCS11KEK checks the keys of a pkcs11: KEK.
func checkPKCS11KEK(k KEK) error {
	if err := pkcs11URIHint(k.URI); err != nil {
		return err
	}
	if err := checkPKCS11URI(k.URI); err != nil {
		return err
	}
	switch {
	case k.Module == "":
		return invalid("a pkcs11: kek needs kek.module, the absolute path of the PKCS#11 library (e.g. /usr/lib/softhsm/libsofthsm2.so)")
	case !filepath.IsAbs(k.Module):
		return invalid("kek.module %q is not an absolute path; give the library's absolute path (the dynamic loader would search for a relative one)", k.Module)
	case k.Sessions < 0 || k.Sessions > maxSessions:
		return invalid("kek.sessions is %d; it must be between 1 and %d", k.Sessions, maxSessions)
	}
	return requireSource(k.PIN, "pin", "a pkcs11: kek needs the token's user PIN")
}

// pkcs11URIHint refuses the RFC 7512 attributes that name what keyward
// takes from other [kek] keys, saying which; pkcs11.ParseURI refuses them
// too, in terms of its own Config.
func pkcs11URIHint(uri string) error {
	_, rest, _ := strings.Cut(uri, ":")
	for _, attr := range strings.FieldsFunc(rest, func(r rune) bool { return r == ';' || r == '?' || r == '&' }) {
		name, _, _ := strings.Cut(attr, "=")
		switch name = strings.ToLower(strings.TrimSpace(name)); name {
		case "pin-source":
			return invalid("kek.uri sets pin-source=; remove it: keyward reads the PIN only through pin_file, pin_fd or pin_credential in [kek]")
		case "module-path", "module-name":
			return invalid("kek.uri sets %s=; remove it: the library is configuration, set module = \"/ABSOLUTE/PATH\" in [kek]", name)
		}
	}
	return nil
}

// requireSource checks a required secret trio kek.NAME_*: exactly one
// source, well formed. why says what the secret is.
func requireSource(src credential.Source, name, why string) error {
	if src.IsZero() {
		return fmt.Errorf("%w: %w: %s: set kek.%s_file, %s_fd or %s_credential", ErrInvalid, credential.ErrNoSource, why, name, name, name)
	}
	if err := src.Check(); err != nil {
		return fmt.Errorf("%w: kek.%s_*: %w", ErrInvalid, name, err)
	}
	return nil
}

// checkEndpoint checks kek.endpoint ("" for none): https://HOST[:PORT],
// with no user information, above all no password. The value is never
// quoted. The provider checks the rest (plain http only to a loopback
// address) when the KEK is opened.
func checkEndpoint(s string) error {
	if s == "" {
		return nil
	}
	_, rest, ok := strings.Cut(s, "://")
	if !ok {
		return invalid("kek.endpoint must be a URL, https://HOST[:PORT]")
	}
	authority := rest
	if i := strings.IndexAny(authority, "/?#"); i >= 0 {
		authority = authority[:i]
	}
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		if strings.Contains(authority[:at], ":") {
			return fmt.Errorf("%w: %w: kek.endpoint carries a password (user:PASSWORD@host); remove it: keyward reads KEK "+
				"credentials only through credentials_file, credentials_fd or credentials_credential", ErrInvalid, ErrInlineSecret)
		}
		return invalid("kek.endpoint carries user information (USER@host); remove it")
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "":
		return invalid("kek.endpoint is not a valid URL; want https://HOST[:PORT]")
	case !strings.EqualFold(u.Scheme, "https") && !strings.EqualFold(u.Scheme, "http"):
		return invalid("kek.endpoint: the scheme must be https")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || (u.Path != "" && u.Path != "/"):
		return invalid("kek.endpoint must be https://HOST[:PORT] only, without path, query or fragment")
	}
	return nil
}

// checkKEKURI validates the KEK URI: no inline PIN or other secret first
// (before any message could quote it), then the provider scheme.
func checkKEKURI(uri string) error {
	if uri == "" {
		return invalid("no kek: set uri in [kek] (e.g. uri = \"local:PATH\" for development)")
	}
	if err := checkURISecrets(uri); err != nil {
		return err
	}
	if !strings.Contains(uri, ":") { // kms.ParseURI would quote it
		return fmt.Errorf("%w: kek.uri: %w: no scheme (want e.g. local:PATH or pkcs11:token=…;object=…)", ErrInvalid, kms.ErrInvalidURI)
	}
	if _, err := kms.ParseURI(uri); err != nil {
		return fmt.Errorf("%w: kek.uri: %w", ErrInvalid, err)
	}
	return nil
}
