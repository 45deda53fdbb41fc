package config

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/credential"
	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/postgres"
	"github.com/keyward/keyward/store/sqlite"
)

// SecretEnv returns the environment variables Open refuses to start with:
// each would carry a secret in an environment value. PGPASSWORD and
// PGSSLPASSWORD are read by the PostgreSQL driver on its own, behind
// keyward's back; the KEYWARD_ names are the ones an operator might guess.
//
// PGPASSFILE is not among them: it names a file, not a secret, and it has
// no effect: the postgres store replaces whatever password the driver found
// (in PGPASSWORD, $PGPASSFILE or ~/.pgpass) with the one loaded here, or
// none, so the config alone says where the password comes from.
func SecretEnv() []string {
	return []string{
		"PGPASSWORD", "PGSSLPASSWORD",
		"KEYWARD_DB_PASSWORD", "KEYWARD_PASSWORD", "KEYWARD_HSM_PIN", "KEYWARD_PIN",
	}
}

// Deployment is an opened configuration: the store, the KEK and the engine
// options, ready for keyward.Open(d.Store, d.KEK, &d.Options). Close it
// after the engine.
type Deployment struct {
	Store   store.Store
	KEK     kms.KEK
	Options keyward.Options

	closers []func() error // in opening order; Close runs them in reverse
}

// Open opens what c names. getenv reads the environment (os.Getenv in
// production; nil means os.Getenv): Open refuses to start while a variable
// of SecretEnv is set, and reads $CREDENTIALS_DIRECTORY for a *_credential
// key. It opens the KEK, loading its secret (PIN, token or credentials) with
// package credential, then loads the database password and opens the store.
//
// The KEK is opened as its scheme says: local: reads the key file; pkcs11:
// loads the module and logs in to the token (the key must exist: see
// ProvisionKEK); transit: builds the client and runs transit.KEK.Check
// against the server, so a wrong key type or a server that ignores
// associated_data stops the start; awskms: and gcpkms: build the client
// without calling the service, so an outage or a missing permission shows
// on first use.
//
// A SQLite database must exist already (keyward init creates one), so a
// mistyped path is an error, not a new empty store. On failure everything
// opened so far is closed again.
func Open(ctx context.Context, c *Config, getenv func(string) string) (_ *Deployment, err error) {
	if c == nil {
		return nil, fmt.Errorf("config: %w: nil config", ErrInvalid)
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := credential.RefuseEnv(getenv, SecretEnv()...); err != nil {
		return nil, fmt.Errorf("config: %w (name the secret in the config instead: password_file in [store]; "+
			"pin_file, token_file or credentials_file in [kek]; or their _fd and _credential forms)", err)
	}
	d := &Deployment{Options: c.EngineOptions()}
	defer func() {
		if err != nil {
			err = errors.Join(err, d.Close())
		}
	}()

	if err := d.openKEK(ctx, c.KEK, getenv); err != nil {
		return nil, err
	}

	st, err := openStore(ctx, c.Store, getenv)
	if err != nil {
		return nil, err
	}
	d.Store = st
	d.closers = append(d.closers, st.Close)
	return d, nil
}

// Close closes the store and the KEK. It is safe to call more than once.
func (d *Deployment) Close() error {
	var errs []error
	for i := len(d.closers) - 1; i >= 0; i-- {
		errs = append(errs, d.closers[i]())
	}
	d.closers = nil
	return errors.Join(errs...)
}

// openStore opens the store s names, loading the database password first.
func openStore(ctx context.Context, s Store, getenv func(string) string) (store.Store, error) {
	if s.SQLite != "" {
		if _, err := os.Stat(s.SQLite); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("config: store: sqlite database %s does not exist (create a data directory with keyward init, or fix store.sqlite): %w", s.SQLite, err)
		}
		st, err := sqlite.Open(ctx, s.SQLite)
		if err != nil {
			return nil, fmt.Errorf("config: store: %w", err)
		}
		return st, nil
	}
	cfg := postgres.Config{URL: s.Postgres, Schema: s.Schema, MaxConns: s.MaxConns}
	if !s.Password.IsZero() {
		pw, err := credential.Load(s.Password, getenv)
		if err != nil {
			return nil, fmt.Errorf("config: store password: %w", err)
		}
		// postgres.Config takes a string, which cannot be wiped; the
		// secret's own bytes are wiped once the store has it.
		cfg.Password = string(pw.Reveal())
		pw.Wipe()
	}
	st, err := postgres.Open(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("config: store: %w", err)
	}
	return st, nil
}
