package secretstore

import "fmt"

// Kind says what a secret is for. The zero value is not a kind.
type Kind string

// The kinds of secrets.
const (
	// APIKey is a key for a third-party API (e.g. a payment provider's).
	APIKey Kind = "api_key"
	// WebhookSecret signs or verifies webhook payloads.
	WebhookSecret Kind = "webhook_secret"
	// EmailCredential is an email provider's credential: an SMTP password
	// or an API token.
	EmailCredential Kind = "email_credential"
	// OAuthToken is an OAuth access or refresh token of a connected platform.
	OAuthToken Kind = "oauth_token"
	// Generic is any other secret.
	Generic Kind = "generic"
)

// Kinds returns the five kinds, in a fixed order.
func Kinds() []Kind {
	return []Kind{APIKey, WebhookSecret, EmailCredential, OAuthToken, Generic}
}

// Valid reports whether k is one of the five kinds.
func (k Kind) Valid() bool {
	switch k {
	case APIKey, WebhookSecret, EmailCredential, OAuthToken, Generic:
		return true
	}
	return false
}

// ParseKind returns the kind spelled s exactly, or ErrInvalidKind.
func ParseKind(s string) (Kind, error) {
	if k := Kind(s); k.Valid() {
		return k, nil
	}
	return "", fmt.Errorf("%w: %q (want api_key, webhook_secret, email_credential, oauth_token or generic)", ErrInvalidKind, s)
}
