package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/keyward/keyward/store"
)

var _ store.ReferenceStore = (*Store)(nil)

// validReferences checks SetReferences' arguments; see the store package.
func validReferences(source string, refs []store.Reference) error {
	if source == "" {
		return errf(store.ErrInvalidArgument, "empty reference source")
	}
	seen := make(map[store.Reference]bool, len(refs))
	for _, r := range refs {
		switch {
		case r.Source != source:
			return errf(store.ErrInvalidArgument, "reference of source %q given for source %q", r.Source, source)
		case r.Org == "":
			return errf(store.ErrInvalidArgument, "reference without organization")
		case r.Key.Kind != "dek" && r.Key.Kind != store.LegacyFernet:
			return errf(store.ErrInvalidArgument, "reference to key kind %q, want dek or fernet", r.Key.Kind)
		case r.Key.Version == 0:
			return errf(store.ErrInvalidArgument, "reference to key version 0")
		case r.Count < 0:
			return errf(store.ErrInvalidArgument, "negative reference count %d", r.Count)
		}
		k := store.Reference{Org: r.Org, Key: r.Key}
		if seen[k] {
			return errf(store.ErrInvalidArgument, "org %q %s %d listed twice", r.Org, r.Key.Kind, r.Key.Version)
		}
		seen[k] = true
	}
	return nil
}

// SetReferences implements store.ReferenceStore: one write transaction
// deletes the source's rows and inserts the non-zero counts of refs.
func (s *Store) SetReferences(ctx context.Context, source string, refs []store.Reference) error {
	op := fmt.Sprintf("set references of %q", source)
	if err := validReferences(source, refs); err != nil {
		return s.fail(ctx, op, err)
	}
	return s.write(ctx, op, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM key_references WHERE source = ?`, source); err != nil {
			return err
		}
		now := millis(s.now())
		for _, r := range refs {
			if r.Count == 0 {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO key_references (source, org_id, kind, version, count, updated_at)
				VALUES (?, ?, ?, ?, ?, ?)`, source, r.Org, r.Key.Kind, r.Key.Version, r.Count, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// References implements store.ReferenceStore.
func (s *Store) References(ctx context.Context, org string) (refs []store.Reference, err error) {
	op := fmt.Sprintf("references of org %q", org)
	if err := validOrg(org); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	if err := s.begin(ctx); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT source, kind, version, count, updated_at FROM key_references
		WHERE org_id = ? AND count > 0 ORDER BY source, kind, version`, org)
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	defer rows.Close()
	refs = []store.Reference{}
	for rows.Next() {
		var (
			r       store.Reference
			version int64
			updated int64
		)
		if err := rows.Scan(&r.Source, &r.Key.Kind, &version, &r.Count, &updated); err != nil {
			return nil, s.fail(ctx, op, err)
		}
		r.Org, r.Key.Version, r.UpdatedAt = org, uint32(version), fromMillis(updated)
		refs = append(refs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	return refs, nil
}
