// Package migration reads a store's schema steps: numbered SQL files embedded
// in the binary (NNNN_description.sql, numbered 1, 2, 3… without gaps). Each
// store applies them its own way (SQLite in one BEGIN IMMEDIATE transaction,
// PostgreSQL under an advisory lock) and records them in schema_migrations;
// reading and checking the files is the same for both, so it lives here.
package migration

import (
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// Step is one schema migration.
type Step struct {
	Version int64
	Name    string
	SQL     string
}

// Load reads the numbered .sql files of dir in fsys and checks that they are
// numbered 1..n without gap or duplicate.
func Load(fsys fs.FS, dir string) ([]Step, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var steps []Step
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		if !ok {
			return nil, fmt.Errorf("migration %s: name is not NNNN_description.sql", name)
		}
		v, err := strconv.ParseInt(num, 10, 64)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("migration %s: name is not NNNN_description.sql", name)
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		steps = append(steps, Step{Version: v, Name: name, SQL: string(body)})
	}
	// fs.ReadDir sorts by name, and the numbers are zero-padded, but check the
	// sequence rather than trust the padding.
	for i, s := range steps {
		if s.Version != int64(i+1) {
			return nil, fmt.Errorf("migration %s: want version %d (migrations are numbered 1, 2, 3… without gaps)", s.Name, i+1)
		}
	}
	if len(steps) == 0 {
		return nil, fmt.Errorf("no migrations in %s", dir)
	}
	return steps, nil
}
