package postgres

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/store"
)

// TestSchemaEnforcesInvariants writes around the Go checks, straight into
// the tables, and expects the schema to refuse every write that would break
// an invariant, with the error mapped to the right sentinel.
func TestSchemaEnforcesInvariants(t *testing.T) {
	t.Parallel()
	const insert = `INSERT INTO key_versions (org_id, version, state, kek_id, kek_version, wrapped) VALUES `
	tests := []struct {
		name  string
		query string
		want  error
	}{
		{"SecondActive", insert + `('acme', 3, 'active', 'k', 1, '\x01')`, store.ErrVersionConflict},
		{"VersionGap", insert + `('acme', 4, 'active', 'k', 1, '\x01')`, store.ErrVersionConflict},
		{"VersionReuse", insert + `('acme', 2, 'active', 'k', 1, '\x01')`, store.ErrVersionConflict},
		{"VersionZero", `UPDATE key_versions SET version = 0 WHERE org_id = 'acme' AND version = 1`, store.ErrInvalidArgument},
		{"InsertNotActive", `UPDATE key_versions SET state = 'decrypt-only' WHERE org_id = 'acme' AND version = 2;
			` + insert + `('acme', 3, 'retired', 'k', 1, '\x01')`, store.ErrInvalidTransition},
		// The transition trigger fires before the CHECK on state.
		{"UnknownState", `UPDATE key_versions SET state = 'enabled' WHERE org_id = 'acme' AND version = 1`, store.ErrInvalidTransition},
		{"VersionTooLarge", `UPDATE key_versions SET version = 4294967296 WHERE org_id = 'acme' AND version = 1`, store.ErrInvalidArgument},
		{"UnknownOrg", insert + `('nope', 1, 'active', 'k', 1, '\x01')`, store.ErrNotFound},
		{"DuplicateOrg", `INSERT INTO orgs (id) VALUES ('acme')`, store.ErrOrgExists},
		{"EmptyOrg", `INSERT INTO orgs (id) VALUES ('')`, store.ErrInvalidArgument},
		{"OrgWithoutVersion1", `INSERT INTO orgs (id) VALUES ('solo')`, store.ErrInvalidArgument},
		{"TextVersion", `UPDATE key_versions SET version = 'one' WHERE org_id = 'acme' AND version = 1`, store.ErrInvalidArgument},
		{"ActivateOld", `UPDATE key_versions SET state = 'active' WHERE org_id = 'acme' AND version = 1`, store.ErrInvalidTransition},
		{"DestroyActive", `UPDATE key_versions SET state = 'destroyed', wrapped = NULL WHERE org_id = 'acme' AND version = 2`,
			store.ErrInvalidTransition},
		{"DestroyKeepingWrapped", `UPDATE key_versions SET state = 'destroyed' WHERE org_id = 'acme' AND version = 1`,
			store.ErrInvalidArgument},
		{"EraseWithoutDestroy", `UPDATE key_versions SET wrapped = NULL WHERE org_id = 'acme' AND version = 1`, store.ErrInvalidArgument},
		{"EmptyWrapped", `UPDATE key_versions SET wrapped = '' WHERE org_id = 'acme' AND version = 1`, store.ErrInvalidArgument},
		{"Revive", `UPDATE key_versions SET state = 'destroyed', wrapped = NULL WHERE org_id = 'acme' AND version = 1;
			UPDATE key_versions SET state = 'decrypt-only', wrapped = '\x01' WHERE org_id = 'acme' AND version = 1`,
			store.ErrInvalidTransition},
		// A destroyed version is final: not rewrapped either (0002).
		{"RewrapDestroyed", `UPDATE key_versions SET state = 'destroyed', wrapped = NULL WHERE org_id = 'acme' AND version = 1;
			UPDATE key_versions SET kek_id = 'other', kek_version = 2, wrapped = '\x01' WHERE org_id = 'acme' AND version = 1`,
			store.ErrInvalidTransition},
		{"RekeyDestroyed", `UPDATE key_versions SET state = 'destroyed', wrapped = NULL WHERE org_id = 'acme' AND version = 1;
			UPDATE key_versions SET kek_id = 'other' WHERE org_id = 'acme' AND version = 1`, store.ErrInvalidTransition},
		{"RekeyVersionDestroyed", `UPDATE key_versions SET state = 'destroyed', wrapped = NULL WHERE org_id = 'acme' AND version = 1;
			UPDATE key_versions SET kek_version = 8 WHERE org_id = 'acme' AND version = 1`, store.ErrInvalidTransition},
		{"RewrapEmpty", `UPDATE key_versions SET kek_id = 'other', wrapped = '' WHERE org_id = 'acme' AND version = 1`,
			store.ErrInvalidArgument},
		{"RewrapNoKEK", `UPDATE key_versions SET kek_id = '', wrapped = '\x01' WHERE org_id = 'acme' AND version = 1`,
			store.ErrInvalidArgument},
		{"MoveVersion", `UPDATE key_versions SET org_id = 'globex' WHERE org_id = 'acme' AND version = 1`, store.ErrInvalidArgument},
		{"Delete", `DELETE FROM key_versions WHERE org_id = 'acme' AND version = 1`, store.ErrInvalidArgument},
		{"DeleteOrg", `DELETE FROM orgs WHERE id = 'globex'`, store.ErrInvalidArgument},
		{"RenameOrg", `UPDATE orgs SET id = 'initech' WHERE id = 'globex'`, store.ErrInvalidArgument},
		{"UsageDecrease", `UPDATE key_versions SET usage = 5 WHERE org_id = 'acme' AND version = 2;
			UPDATE key_versions SET usage = 4 WHERE org_id = 'acme' AND version = 2`, store.ErrInvalidArgument},
		{"NegativeUsage", `UPDATE key_versions SET usage = -1 WHERE org_id = 'acme' AND version = 2`, store.ErrInvalidArgument},
		{"UsageWhenRetired", `UPDATE key_versions SET state = 'retired' WHERE org_id = 'acme' AND version = 1;
			UPDATE key_versions SET usage = usage + 1 WHERE org_id = 'acme' AND version = 1`, store.ErrInvalidTransition},
		{"UsageOverflow", `UPDATE key_versions SET usage = 9223372036854775807 WHERE org_id = 'acme' AND version = 2;
			UPDATE key_versions SET usage = usage + 1 WHERE org_id = 'acme' AND version = 2`, store.ErrInvalidArgument},
		{"RewriteFeed", `UPDATE changes SET org_id = 'globex'`, store.ErrInvalidArgument},
		{"DeleteFeed", `DELETE FROM changes`, store.ErrInvalidArgument},
		{"DeleteCounter", `DELETE FROM change_counter`, store.ErrInvalidArgument},
		{"SecondCounter", `INSERT INTO change_counter VALUES (false, 0)`, store.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := openStore(t)
			ctx := t.Context()
			for _, org := range []string{"acme", "globex"} {
				createOrg(t, s, org)
			}
			if err := s.AddKey(ctx, key("acme", 2)); err != nil {
				t.Fatalf("AddKey: %v", err)
			}
			err := s.write(ctx, "raw", func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, tt.query)
				return err
			})
			if !errors.Is(err, tt.want) {
				t.Errorf("%s: got error %v, want %v", tt.query, err, tt.want)
			}
		})
	}
}

// TestRawWritesAppendChanges: the change feed is written by triggers, so a
// key change made by hand (a DBA in psql) is in the feed too; a rewrap by
// hand (new KEK and wrapped key, same DEK), allowed on versions that are not
// destroyed, is no key change and is not.
func TestRawWritesAppendChanges(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	createOrg(t, s, "acme")
	if err := s.AddKey(t.Context(), key("acme", 2)); err != nil {
		t.Fatal(err)
	}
	exec(t, s, `UPDATE key_versions SET kek_id = 'other', kek_version = 3, wrapped = '\x02', updated_at = now() WHERE org_id = 'acme'`)
	exec(t, s, `UPDATE key_versions SET state = 'retired', updated_at = now() WHERE org_id = 'acme' AND version = 1`)
	changes, err := s.Changes(t.Context(), 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 3 || changes[2] != (store.Change{Seq: 3, Org: "acme"}) {
		t.Errorf("Changes: got %+v, want 3 changes for acme, the last one by hand", changes)
	}
	var version int64
	var state string
	if err := s.pool.QueryRow(t.Context(), `SELECT version, state FROM changes WHERE seq = 3`).Scan(&version, &state); err != nil ||
		version != 1 || state != "retired" {
		t.Errorf("change 3 records v%d %q (%v), want v1 retired", version, state, err)
	}
}
