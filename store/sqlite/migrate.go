package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
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
	// fs.ReadDir sorts by name, and the numbers are zero-padded, but check the
	// sequence rather than trust the padding.
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
	latest := migs[len(migs)-1].version
	if current > latest {
		return fmt.Errorf("%w: database is at schema version %d, this binary knows up to %d (upgrade keyward)",
			ErrSchemaTooNew, current, latest)
	}
	if count != current {
		return fmt.Errorf("schema_migrations records %d steps up to version %d: the migration history is damaged", count, current)
	}

	for _, m := range migs[current:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("apply migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.version, m.name, now.UnixMilli(),
		); err != nil {
			return fmt.Errorf("record migration %s: %w", m.name, err)
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
