//go:build !cgo

package config

import (
	"context"
	"errors"
	"fmt"

	"github.com/keyward/keyward/kms"
)

// Package pkcs11 loads the PKCS#11 library through cgo. Without cgo a
// pkcs11: config still parses, so that it can be checked, but cannot be
// opened.

// checkPKCS11URI accepts the URI: the provider's parser is not built.
func checkPKCS11URI(string) error { return nil }

// openPKCS11 refuses: this build cannot load a PKCS#11 library.
func openPKCS11(context.Context, KEK, func(string) string, bool) (kms.KEK, error) {
	return nil, fmt.Errorf("config: kek: %w: this keyward was built without cgo and cannot load a PKCS#11 library; build it with CGO_ENABLED=1", errors.ErrUnsupported)
}
