package reencrypt_test

import (
	"github.com/keyward/keyward"
	"github.com/keyward/keyward/reencrypt"
	"github.com/keyward/keyward/store/postgres"
	"github.com/keyward/keyward/store/sqlite"
)

// Both stores serve the secret-store target, and the engine is a Sealer.
var (
	_ reencrypt.SecretStore = (*sqlite.Store)(nil)
	_ reencrypt.SecretStore = (*postgres.Store)(nil)
	_ reencrypt.Sealer      = (*keyward.Engine)(nil)
	_ reencrypt.KeyRefer    = (*keyward.Engine)(nil)
)
