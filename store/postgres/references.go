package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/store"
)

// validReferences checks SetReferences' arguments; see the store package.
func validReferences(source string, refs []store.Reference) error {
	if source == "" || !storable(source) {
		return errf(store.ErrInvalidArgument, "empty or unstorable reference source")
	}
	seen := make(map[store.Reference]bool, len(refs))
	for _, r := range refs {
		switch {
		case r.Source != source:
			return errf(store.ErrInvalidArgument, "reference of source %q given for source %q", r.Source, source)
		case r.Org == "" || !storable(r.Org):
			return errf(store.ErrInvalidArgument, "reference without a storable organization")
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

// SetReferences implements store.ReferenceStore: one transaction deletes the
// source's rows and inserts the non-zero counts of refs.
func (s *Store) SetReferences(ctx context.Context, source string, refs []store.Reference) error {
	op := fmt.Sprintf("set references of %q", source)
	if err := validReferences(source, refs); err != nil {
		return s.fail(ctx, op, err)
	}
	return s.write(ctx, op, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM key_references WHERE source = $1`, source); err != nil {
			return err
		}
		var b pgx.Batch
		for _, r := range refs {
			if r.Count > 0 {
				b.Queue(`INSERT INTO key_references (source, org_id, kind, version, count, updated_at)
					VALUES ($1, $2, $3, $4, $5, now())`, source, r.Org, r.Key.Kind, int64(r.Key.Version), r.Count)
			}
		}
		if b.Len() == 0 {
			return nil
		}
		return tx.SendBatch(ctx, &b).Close()
	})
}

// References implements store.ReferenceStore.
func (s *Store) References(ctx context.Context, org string) ([]store.Reference, error) {
	op := fmt.Sprintf("references of org %q", org)
	found, err := lookupOrg(org)
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	if !found {
		return []store.Reference{}, nil
	}
	if err := s.begin(ctx); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	rows, err := s.pool.Query(ctx, `SELECT source, kind, version, count, updated_at FROM key_references
		WHERE org_id = $1 AND count > 0 ORDER BY source, kind, version`, org)
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	refs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Reference, error) {
		var (
			r       store.Reference
			version int64
		)
		err := row.Scan(&r.Source, &r.Key.Kind, &version, &r.Count, &r.UpdatedAt)
		r.Org, r.Key.Version, r.UpdatedAt = org, uint32(version), utc(r.UpdatedAt)
		return r, err
	})
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	if refs == nil {
		refs = []store.Reference{}
	}
	return refs, nil
}
