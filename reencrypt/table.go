package reencrypt

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keyward/keyward/store"
)

// ErrBadTable reports a table or column that cannot be migrated: missing,
// of the wrong type, or an id column without a unique index.
var ErrBadTable = errors.New("reencrypt: bad table")

// TableSpec names the column of an application's PostgreSQL table that
// holds ciphertexts.
type TableSpec struct {
	// Table is "table" or "schema.table" (the search_path applies to the
	// first form).
	Table string
	// Column holds the ciphertexts: text (or varchar) for the text form and
	// Fernet tokens, bytea for the binary form.
	Column string
	// OrgColumn holds each row's organization id (any type, read as text).
	OrgColumn string
	// IDColumn is the row's unique key (a primary key or unique index on it
	// alone), the order of the walk.
	IDColumn string
	// Context is the encryption context of every row; "{id}" in it is
	// replaced with the row's id. Empty means "table.column".
	Context string
}

// Table is an application table as a Target. Rows are read by keyset
// (WHERE id > $last ORDER BY id LIMIT n) and written in one statement per
// batch: an UPDATE joined to the arrays of (id, old, new) ciphertexts, which
// changes a row only if its column still holds the old ciphertext. Only
// ciphertexts travel to the database.
type Table struct {
	pool   *pgxpool.Pool
	name   string // the target name
	text   bool   // column is text, not bytea
	ctxTpl string

	qtable  string // quoted schema.table
	qcol    string
	qorg    string
	qid     string
	idType  string // the id column's type, for casts from text
	colType string // text or bytea, for the arrays
}

// JobKey names the table's column together with how its rows are read:
// the context template and the org and id columns (see JobIDOf).
func (t *Table) JobKey() string {
	return t.name + "\x00context=" + t.ctxTpl + "\x00org=" + t.qorg + "\x00id=" + t.qid
}

// OpenTable checks spec against the database pool reaches and returns the
// target. A missing table or column, a column of another type than text,
// varchar or bytea, and an id column without a unique index are ErrBadTable
// with a message saying which.
func OpenTable(ctx context.Context, pool *pgxpool.Pool, spec TableSpec) (*Table, error) {
	if spec.Table == "" || spec.Column == "" || spec.OrgColumn == "" || spec.IDColumn == "" {
		return nil, fmt.Errorf("%w: table, column, org column and id column are all required", ErrBadTable)
	}
	var (
		oid          uint32
		db, sch, rel string
	)
	err := pool.QueryRow(ctx, `SELECT c.oid, current_database(), n.nspname, c.relname
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p')`, spec.Table).Scan(&oid, &db, &sch, &rel)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: table %q does not exist (or is not a table)", ErrBadTable, spec.Table)
	}
	if err != nil {
		return nil, fmt.Errorf("reencrypt: look up table %q: %w", spec.Table, err)
	}
	t := &Table{pool: pool, qtable: pgx.Identifier{sch, rel}.Sanitize(), ctxTpl: spec.Context}
	if t.ctxTpl == "" {
		t.ctxTpl = rel + "." + spec.Column
	}
	t.name = fmt.Sprintf("postgres:%s/%s.%s.%s", db, sch, rel, spec.Column)
	colType, err := columnType(ctx, pool, oid, spec.Table, spec.Column)
	if err != nil {
		return nil, err
	}
	switch colType {
	case "text", "character varying":
		t.text, t.colType = true, "text"
	case "bytea":
		t.colType = "bytea"
	default:
		return nil, fmt.Errorf("%w: column %q of %q is %s; keyward values live in text, varchar or bytea columns",
			ErrBadTable, spec.Column, spec.Table, colType)
	}
	if _, err := columnType(ctx, pool, oid, spec.Table, spec.OrgColumn); err != nil {
		return nil, err
	}
	if t.idType, err = columnType(ctx, pool, oid, spec.Table, spec.IDColumn); err != nil {
		return nil, err
	}
	var unique bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a
			ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
		WHERE i.indrelid = $1 AND i.indisunique AND i.indnkeyatts = 1 AND i.indpred IS NULL
		  AND i.indexprs IS NULL AND a.attname = $2)`, oid, spec.IDColumn).Scan(&unique); err != nil {
		return nil, fmt.Errorf("reencrypt: look up the indexes of %q: %w", spec.Table, err)
	}
	if !unique {
		return nil, fmt.Errorf("%w: id column %q of %q has no primary key or unique index of its own; the walk needs one",
			ErrBadTable, spec.IDColumn, spec.Table)
	}
	t.qcol = pgx.Identifier{spec.Column}.Sanitize()
	t.qorg = pgx.Identifier{spec.OrgColumn}.Sanitize()
	t.qid = pgx.Identifier{spec.IDColumn}.Sanitize()
	return t, nil
}

// columnType returns the type of a column (its regtype name, e.g. "text",
// "integer", "character varying"), or ErrBadTable if there is no such
// column.
func columnType(ctx context.Context, pool *pgxpool.Pool, oid uint32, table, col string) (string, error) {
	var typ string
	err := pool.QueryRow(ctx, `SELECT atttypid::regtype::text FROM pg_attribute
		WHERE attrelid = $1 AND attname = $2 AND attnum > 0 AND NOT attisdropped`, oid, col).Scan(&typ)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("%w: table %q has no column %q", ErrBadTable, table, col)
	}
	if err != nil {
		return "", fmt.Errorf("reencrypt: look up column %q of %q: %w", col, table, err)
	}
	return typ, nil
}

// Name implements Target: postgres:DATABASE/SCHEMA.TABLE.COLUMN.
func (t *Table) Name() string { return t.name }

// Text reports whether the column is text (else bytea).
func (t *Table) Text() bool { return t.text }

// Context implements Target.
func (t *Table) Context(r Row) string {
	if !strings.Contains(t.ctxTpl, "{id}") {
		return t.ctxTpl
	}
	return strings.ReplaceAll(t.ctxTpl, "{id}", r.ID)
}

// Count implements Target.
func (t *Table) Count(ctx context.Context) (int64, error) {
	var n int64
	if err := t.pool.QueryRow(ctx, `SELECT count(*) FROM `+t.qtable).Scan(&n); err != nil {
		return 0, fmt.Errorf("reencrypt: count rows of %s: %w", t.qtable, err)
	}
	return n, nil
}

// Split implements Target: it walks the id index once, taking every
// size-th id as a chunk boundary.
func (t *Table) Split(ctx context.Context, size int) ([]store.JobChunk, error) {
	var (
		chunks []store.JobChunk
		after  store.JobKey
	)
	for {
		c := store.JobChunk{Index: len(chunks), After: after}
		var (
			q    = `SELECT t.` + t.qid + `::text AS kw_key FROM ` + t.qtable + ` AS t`
			args []any
		)
		if after.Set {
			q += ` WHERE t.` + t.qid + ` > $2::` + t.idType
			args = append(args, after.Key)
		}
		q += ` ORDER BY t.` + t.qid + ` OFFSET $1 LIMIT 1`
		var next string
		err := t.pool.QueryRow(ctx, q, append([]any{size - 1}, args...)...).Scan(&next)
		if errors.Is(err, pgx.ErrNoRows) {
			return append(chunks, c), nil
		}
		if err != nil {
			return nil, fmt.Errorf("reencrypt: split %s: %w", t.qtable, err)
		}
		c.Upto = store.Bound(next)
		chunks = append(chunks, c)
		after = c.Upto
	}
}

// Read implements Target.
func (t *Table) Read(ctx context.Context, after, upto store.JobKey, limit int) ([]Row, error) {
	q := t.selectRows() + ` WHERE true`
	args := []any{limit}
	if after.Set {
		args = append(args, after.Key)
		q += fmt.Sprintf(` AND t.%s > $%d::%s`, t.qid, len(args), t.idType)
	}
	if upto.Set {
		args = append(args, upto.Key)
		q += fmt.Sprintf(` AND t.%s <= $%d::%s`, t.qid, len(args), t.idType)
	}
	q += ` ORDER BY t.` + t.qid + ` LIMIT $1`
	return t.query(ctx, q, args...)
}

// Get implements Target.
func (t *Table) Get(ctx context.Context, keys []string) ([]Row, error) {
	q := t.selectRows() + ` WHERE t.` + t.qid + ` = ANY($1::` + t.idType + `[]) ORDER BY t.` + t.qid
	return t.query(ctx, q, keys)
}

// selectRows selects key, org and value under names that cannot shadow the
// table's columns in ORDER BY.
func (t *Table) selectRows() string {
	return `SELECT t.` + t.qid + `::text AS kw_key, t.` + t.qorg + `::text AS kw_org, t.` + t.qcol +
		` AS kw_value FROM ` + t.qtable + ` AS t`
}

func (t *Table) query(ctx context.Context, q string, args ...any) ([]Row, error) {
	rows, err := t.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("reencrypt: read %s: %w", t.qtable, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Row, error) {
		var (
			row Row
			org *string
		)
		if err := r.Scan(&row.Key, &org, &row.Value); err != nil {
			return row, err
		}
		row.ID = row.Key
		if org != nil {
			row.Org = *org
		}
		return row, nil
	})
	if err != nil {
		return nil, fmt.Errorf("reencrypt: read %s: %w", t.qtable, err)
	}
	return out, nil
}

// Swap implements Target with one UPDATE … FROM unnest(ids, olds, news, orgs):
// at READ COMMITTED, a row another transaction changed meanwhile is checked
// again against its committed value, so an application write is never
// overwritten. The row's organization is part of the compare: a row moved
// to another organization meanwhile (a Fernet token is bound to none) is
// not written with a ciphertext sealed for the organization it left.
func (t *Table) Swap(ctx context.Context, us []Update) ([]bool, error) {
	ids := make([]string, len(us))
	orgs := make([]string, len(us))
	pos := make(map[string]int, len(us))
	for i, u := range us {
		ids[i] = u.Key
		orgs[i] = u.Org
		pos[u.Key] = i
	}
	var olds, news any
	if t.text {
		o, n := make([]string, len(us)), make([]string, len(us))
		for i, u := range us {
			o[i], n[i] = string(u.Old), string(u.New)
		}
		olds, news = o, n
	} else {
		o, n := make([][]byte, len(us)), make([][]byte, len(us))
		for i, u := range us {
			o[i], n[i] = u.Old, u.New
		}
		olds, news = o, n
	}
	q := `UPDATE ` + t.qtable + ` AS t SET ` + t.qcol + ` = v.new
		FROM unnest($1::text[], $2::` + t.colType + `[], $3::` + t.colType + `[], $4::text[]) AS v(id, old, new, org)
		WHERE t.` + t.qid + ` = v.id::` + t.idType + ` AND t.` + t.qcol + ` = v.old
		  AND t.` + t.qorg + `::text = v.org
		RETURNING v.id`
	rows, err := t.pool.Query(ctx, q, ids, olds, news, orgs)
	if err != nil {
		return nil, fmt.Errorf("reencrypt: write %s: %w", t.qtable, err)
	}
	done, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("reencrypt: write %s: %w", t.qtable, err)
	}
	ok := make([]bool, len(us))
	for _, id := range done {
		if i, found := pos[id]; found {
			ok[i] = true
		}
	}
	return ok, nil
}
