//go:build cgo

package config

import (
	"context"
	"fmt"

	"github.com/keyward/keyward/credential"
	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/kms/pkcs11"
)

// maxSessions must equal pkcs11.MaxSessions: one of these constants
// overflows otherwise.
const (
	_ = uint(maxSessions - pkcs11.MaxSessions)
	_ = uint(pkcs11.MaxSessions - maxSessions)
)

// checkPKCS11URI checks a pkcs11: KEK URI with the provider's parser.
func checkPKCS11URI(uri string) error {
	if _, err := pkcs11.ParseURI(uri); err != nil {
		return fmt.Errorf("%w: kek.uri: %w", ErrInvalid, err)
	}
	return nil
}

// openPKCS11 opens the pkcs11: KEK k names, or, with provision, creates its
// version 1 in the token first (pkcs11.Provision refuses if one exists).
// The PIN is loaded here and wiped once the KEK has its own copy.
func openPKCS11(ctx context.Context, k KEK, getenv func(string) string, provision bool) (kms.KEK, error) {
	cfg, err := pkcs11.ParseURI(k.URI)
	if err != nil {
		return nil, fmt.Errorf("config: kek: %w", err)
	}
	cfg.Module, cfg.Sessions = k.Module, k.Sessions
	cfg.PIN, err = credential.Load(k.PIN, getenv)
	if err != nil {
		return nil, fmt.Errorf("config: kek pin: %w", err)
	}
	defer cfg.PIN.Wipe()
	open := pkcs11.Open
	if provision {
		open = pkcs11.Provision
	}
	kek, err := open(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("config: kek: %w", err)
	}
	return kek, nil
}
