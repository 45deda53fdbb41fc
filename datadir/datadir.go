// Package datadir lays out keyward's embedded default: one directory that
// holds the SQLite store and the development KEK file.
//
//	keyward-data/        mode 0700
//	  keyward.db         SQLite store (wrapped keys only), mode 0600
//	  kek.key            local KEK, mode 0600 — development only
//
// The KEK file sits beside the database, so whoever copies the directory
// holds both halves: this layout is for development and evaluation. In
// production the KEK lives in an HSM or cloud KMS and the store in PostgreSQL.
package datadir

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/keyward/keyward/kms/localkms"
	"github.com/keyward/keyward/store/sqlite"
)

// File names inside a data directory.
const (
	DBFile  = "keyward.db"
	KEKFile = "kek.key"
	// Default is the data directory used when neither --data nor
	// $KEYWARD_DATA names one.
	Default = "keyward-data"
	// EnvVar names the environment variable that selects the data directory.
	EnvVar = "KEYWARD_DATA"
)

var (
	// ErrExists reports an Init over a directory that already holds data.
	ErrExists = errors.New("data directory already holds data")
	// ErrNotInitialized reports an Open of a directory Init never prepared.
	ErrNotInitialized = errors.New("data directory is not initialized")
)

// Resolve picks the data directory: flag if set, else $KEYWARD_DATA, else
// ./keyward-data. getenv is os.Getenv in production.
func Resolve(flag string, getenv func(string) string) string {
	if flag != "" {
		return flag
	}
	if v := getenv(EnvVar); v != "" {
		return v
	}
	return Default
}

// Init creates a data directory with a new KEK and an empty store. It
// refuses a directory that is not empty, so existing keys are never
// overwritten.
func Init(ctx context.Context, path string) error {
	entries, err := os.ReadDir(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(path, 0o700); err != nil {
			return fmt.Errorf("datadir: create %s: %w", path, err)
		}
	case err != nil:
		return fmt.Errorf("datadir: read %s: %w", path, err)
	case len(entries) > 0:
		return fmt.Errorf("%w: %s is not empty; refusing to overwrite it (choose another --data directory)", ErrExists, path)
	}
	if err := os.Chmod(path, 0o700); err != nil {
		return fmt.Errorf("datadir: %w", err)
	}
	if _, err := localkms.Create(filepath.Join(path, KEKFile)); err != nil {
		return fmt.Errorf("datadir: %w", err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(path, DBFile))
	if err != nil {
		return fmt.Errorf("datadir: %w", err)
	}
	return st.Close()
}

// Check reports ErrNotInitialized, with what to run, unless Init prepared path.
func Check(path string) error {
	for _, f := range []string{DBFile, KEKFile} {
		if _, err := os.Stat(filepath.Join(path, f)); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %s has no %s (run keyward init --data %s first)", ErrNotInitialized, path, f, path)
		}
	}
	return nil
}
