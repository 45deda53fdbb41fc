package postgres

import (
	"context"
	"embed"
	"fmt"
	schema "github.com/keyward/keyward/store/internal/migration"
	"hash/fnv"
	"io/fs"

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
type migration = schema.Step

// loadMigrations reads and checks the numbered .sql files of dir in fsys.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) { return schema.Load(fsys, dir) }

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
		latest := migs[len(migs)-1].Version
		if current > latest {
			return fmt.Errorf("%w: schema %s is at version %d, this binary knows up to %d (upgrade keyward)",
				ErrSchemaTooNew, q, current, latest)
		}
		if count != current {
			return fmt.Errorf("%s.schema_migrations records %d steps up to version %d: the migration history is damaged",
				q, count, current)
		}
		for _, m := range migs[current:] {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("apply migration %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx,
				`INSERT INTO `+q+`.schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name,
			); err != nil {
				return fmt.Errorf("record migration %s: %w", m.Name, err)
			}
		}
		return nil
	})
}
