package postgres

import (
	"context"
	"embed"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrationFiles holds the schema, one numbered file per step:
// migrations/NNNN_description.sql, numbered 1, 2, 3… without gaps. A file,
// once released, is never edited: changes go into a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one schema step.
type migration struct {
	version int64
	name    string
	sql     string
}

// loadMigrations reads the numbered .sql files of dir in fsys and checks that
// they are numbered 1..n without gap or duplicate.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var migs []migration
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
		migs = append(migs, migration{version: v, name: name, sql: string(body)})
	}
	for i, m := range migs {
		if m.version != int64(i+1) {
			return nil, fmt.Errorf("migration %s: want version %d (migrations are numbered 1, 2, 3… without gaps)", m.name, i+1)
		}
	}
	if len(migs) == 0 {
		return nil, fmt.Errorf("no migrations in %s", dir)
	}
	return migs, nil
}

// migrationLockKey is the advisory lock that serialises migrations of one
// schema: processes migrating different schemas do not wait for each other.
func migrationLockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("keyward migrate\x00"))
	h.Write([]byte(schema))
	return int64(h.Sum64())
}

// migrate brings schema up to the newest of migs in one transaction that
// holds the schema's advisory lock, so processes starting at once apply each
// step exactly once: the first one migrates, the others wait for its commit
// and then find nothing to do. DDL is transactional in PostgreSQL, so a
// failed or interrupted migration leaves the schema as it was.
func migrate(ctx context.Context, pool *pgxpool.Pool, schema string, migs []migration) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey(schema)); err != nil {
			return fmt.Errorf("take migration lock: %w", err)
		}
		// Creating a schema needs the CREATE privilege on the database even
		// with IF NOT EXISTS, so only try when it is missing.
		var exists bool
		if err := tx.QueryRow(ctx,
			`SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)`, schema,
		).Scan(&exists); err != nil {
			return fmt.Errorf("look up schema: %w", err)
		}
		q := pgx.Identifier{schema}.Sanitize()
		if !exists {
			if _, err := tx.Exec(ctx, `CREATE SCHEMA `+q); err != nil {
				return fmt.Errorf("create schema %s: %w", q, err)
			}
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+q+`.schema_migrations (
			version    bigint      NOT NULL PRIMARY KEY,
			name       text        NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}

		var current, count int64
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0), count(*), count(name), count(applied_at)
			FROM `+q+`.schema_migrations`,
		).Scan(&current, &count, nil, nil); err != nil {
			return fmt.Errorf("read schema version (is %s.schema_migrations another tool's table? "+
				"give keyward a schema of its own): %w", q, err)
		}
		latest := migs[len(migs)-1].version
		if current > latest {
			return fmt.Errorf("%w: schema %s is at version %d, this binary knows up to %d (upgrade keyward)",
				ErrSchemaTooNew, q, current, latest)
		}
		if count != current {
			return fmt.Errorf("%s.schema_migrations records %d steps up to version %d: the migration history is damaged",
				q, count, current)
		}
		for _, m := range migs[current:] {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("apply migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx,
				`INSERT INTO `+q+`.schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name,
			); err != nil {
				return fmt.Errorf("record migration %s: %w", m.name, err)
			}
		}
		return nil
	})
}
