package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	schema "github.com/keyward/keyward/store/internal/migration"
	"io/fs"
	"time"
)

// migrationFiles holds the schema, one numbered file per step:
// migrations/NNNN_description.sql, numbered 1, 2, 3… without gaps. A file,
// once released, is never edited: changes go into a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// applicationID marks a SQLite file as a keyward store ("KWRD"), so Open
// refuses to add its tables to some other application's database.
const applicationID = 0x4b575244

// migration is one schema step.
type migration = schema.Step

// loadMigrations reads and checks the numbered .sql files of dir in fsys.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) { return schema.Load(fsys, dir) }

// migrate brings the database up to the newest of migs in one write
// transaction (BEGIN IMMEDIATE on the writer connection), so two processes
// opening the same new database cannot both apply a step. Running it again on
// an up-to-date database changes nothing.
func migrate(ctx context.Context, db *sql.DB, migs []migration, now time.Time) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin migration: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()

	if err := checkApplicationID(ctx, tx); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}

	var current, count int64
	if err := tx.QueryRowContext(ctx,
		`SELECT coalesce(max(version), 0), count(*) FROM schema_migrations`,
	).Scan(&current, &count); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	latest := migs[len(migs)-1].Version
	if current > latest {
		return fmt.Errorf("%w: database is at schema version %d, this binary knows up to %d (upgrade keyward)",
			ErrSchemaTooNew, current, latest)
	}
	if count != current {
		return fmt.Errorf("schema_migrations records %d steps up to version %d: the migration history is damaged", count, current)
	}

	for _, m := range migs[current:] {
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("apply migration %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.Version, m.Name, now.UnixMilli(),
		); err != nil {
			return fmt.Errorf("record migration %s: %w", m.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit migration: %w", err)
	}
	return nil
}

// checkApplicationID claims an empty database for keyward and refuses a
// database that belongs to something else.
func checkApplicationID(ctx context.Context, tx *sql.Tx) error {
	var id int64
	if err := tx.QueryRowContext(ctx, `PRAGMA application_id`).Scan(&id); err != nil {
		return fmt.Errorf("read application id: %w", err)
	}
	if id == applicationID {
		return nil
	}
	var objects int64
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema`).Scan(&objects); err != nil {
		return fmt.Errorf("read schema: %w", err)
	}
	if id != 0 || objects > 0 {
		return fmt.Errorf("%w: application id %#x, %d schema objects", ErrNotKeyward, id, objects)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA application_id = %d`, applicationID)); err != nil {
		return fmt.Errorf("set application id: %w", err)
	}
	return nil
}
