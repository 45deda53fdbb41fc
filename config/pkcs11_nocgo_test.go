//go:build !cgo

package config_test

import (
	"errors"
	"testing"

	"github.com/keyward/keyward/config"
	"github.com/keyward/keyward/credential"
)

// cgoEnabled reports whether package pkcs11 is built.
const cgoEnabled = false

// Without cgo a pkcs11: config parses but does not open.
func TestOpenPKCS11WithoutCgo(t *testing.T) {
	c := &config.Config{Store: config.Store{SQLite: "/k.db"}, KEK: config.KEK{URI: pkcs11URI, Module: "/usr/lib/p11.so", PIN: credential.Source{FD: 3}}}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if _, err := config.Open(t.Context(), c, env(nil)); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Open = %v, want errors.ErrUnsupported", err)
	}
	if err := config.ProvisionKEK(t.Context(), c, env(nil)); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("ProvisionKEK = %v, want errors.ErrUnsupported", err)
	}
}
