package sqlite

import (
	"database/sql"
	"errors"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

// TestSchemaEnforcesUsageAndFeed writes around the Go code, straight into
// the tables, and expects migration 0002's constraints and triggers to
// refuse what would break the usage counters or the change feed.
func TestSchemaEnforcesUsageAndFeed(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  error
	}{
		{"UsageDecreases",
			`UPDATE key_versions SET usage = 4 WHERE org_id = 'acme' AND version = 2`, store.ErrInvalidArgument},
		{"UsageNegative",
			`UPDATE key_versions SET usage = -1 WHERE org_id = 'acme' AND version = 2`, store.ErrInvalidArgument},
		{"UsageNotInteger",
			`UPDATE key_versions SET usage = 'many' WHERE org_id = 'acme' AND version = 2`, store.ErrInvalidArgument},
		{"UsageUnderRetired",
			`UPDATE key_versions SET state = 'retired' WHERE org_id = 'acme' AND version = 1;
			 UPDATE key_versions SET usage = usage + 1 WHERE org_id = 'acme' AND version = 1`, store.ErrInvalidTransition},
		{"UsageUnderDestroyed",
			`UPDATE key_versions SET state = 'destroyed', wrapped = NULL WHERE org_id = 'acme' AND version = 1;
			 UPDATE key_versions SET usage = usage + 1 WHERE org_id = 'acme' AND version = 1`, store.ErrInvalidTransition},
		{"ChangeRewritten",
			`UPDATE key_changes SET org_id = 'globex' WHERE seq = 1`, store.ErrInvalidArgument},
		{"ChangeDeleted",
			`DELETE FROM key_changes WHERE seq = (SELECT max(seq) FROM key_changes)`, store.ErrInvalidArgument},
		{"ChangeOfUnknownOrg",
			`INSERT INTO key_changes (org_id, version, state, changed_at) VALUES ('nope', 1, 'active', 0)`, store.ErrNotFound},
		{"ChangeUnknownState",
			`INSERT INTO key_changes (org_id, version, state, changed_at) VALUES ('acme', 1, 'enabled', 0)`, store.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openInternal(t)
			ctx := t.Context()
			for _, org := range []string{"acme", "globex"} {
				if err := s.CreateOrg(ctx, store.Org{ID: org}, newKey(org, 1)); err != nil {
					t.Fatalf("CreateOrg: %v", err)
				}
			}
			if err := s.AddKey(ctx, newKey("acme", 2)); err != nil {
				t.Fatalf("AddKey: %v", err)
			}
			if _, err := s.ReserveUsage(ctx, "acme", 2, 5); err != nil {
				t.Fatalf("ReserveUsage: %v", err)
			}
			err := s.write(ctx, "raw", func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, tt.query)
				return err
			})
			if !errors.Is(err, tt.want) {
				t.Errorf("%s: got error %v, want %v", tt.query, err, tt.want)
			}
		})
	}
}

// TestFeedWrittenBySchema: the change feed is appended by triggers, so a
// key change made by hand-written SQL is in it too, with the version and
// state it describes, and an update that changes no state is not: neither
// a usage reservation nor a rewrap (new KEK and wrapped key, same DEK),
// which the schema allows on a version that is not destroyed.
func TestFeedWrittenBySchema(t *testing.T) {
	s := openInternal(t)
	ctx := t.Context()
	if err := s.CreateOrg(ctx, store.Org{ID: "acme"}, newKey("acme", 1)); err != nil {
		t.Fatalf("CreateOrg: %v", err)
	}
	if err := s.AddKey(ctx, newKey("acme", 2)); err != nil {
		t.Fatalf("AddKey: %v", err)
	}
	err := s.write(ctx, "raw", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
			UPDATE key_versions SET state = 'retired' WHERE org_id = 'acme' AND version = 1;
			UPDATE key_versions SET state = 'retired', kek_version = 2 WHERE org_id = 'acme' AND version = 1;
			UPDATE key_versions SET usage = 9 WHERE org_id = 'acme' AND version = 2;
			UPDATE key_versions SET kek_id = 'other', kek_version = 3, wrapped = x'02', updated_at = 5
				WHERE org_id = 'acme' AND version IN (1, 2);
			UPDATE key_versions SET state = 'destroyed', wrapped = NULL WHERE org_id = 'acme' AND version = 1`)
		return err
	})
	if err != nil {
		t.Fatalf("raw updates: %v", err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT seq, org_id, version, state FROM key_changes ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type row struct {
		seq     int64
		org     string
		version int64
		state   string
	}
	var got []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.seq, &r.org, &r.version, &r.state); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []row{
		{1, "acme", 1, "active"},    // CreateOrg
		{2, "acme", 2, "active"},    // AddKey, demotion of v1 included
		{3, "acme", 1, "retired"},   // first raw update; the second keeps the state
		{4, "acme", 1, "destroyed"}, // the usage update and the rewrap are no key changes
	}
	if len(got) != len(want) {
		t.Fatalf("key_changes: got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("key_changes row %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestUsageMaximum: SQLite integers are signed, so the count stops at
// maxUsage: reaching it works, passing it is refused and changes nothing.
func TestUsageMaximum(t *testing.T) {
	s := openInternal(t)
	ctx := t.Context()
	if err := s.CreateOrg(ctx, store.Org{ID: "acme"}, newKey("acme", 1)); err != nil {
		t.Fatalf("CreateOrg: %v", err)
	}
	steps := []struct {
		n       uint64
		want    uint64
		wantErr error
	}{
		{maxUsage - 1, maxUsage - 1, nil},
		{2, 0, store.ErrInvalidArgument},
		{maxUsage + 1, 0, store.ErrInvalidArgument}, // beyond int64 on its own
		{math.MaxUint64, 0, store.ErrInvalidArgument},
		{1, maxUsage, nil},
		{1, 0, store.ErrInvalidArgument},
	}
	for _, st := range steps {
		got, err := s.ReserveUsage(ctx, "acme", 1, st.n)
		if !errors.Is(err, st.wantErr) || got != st.want {
			t.Errorf("ReserveUsage(acme, 1, %d): got %d, %v; want %d, %v", st.n, got, err, st.want, st.wantErr)
		}
	}
	kv, err := s.Key(ctx, "acme", 1)
	if err != nil || kv.Usage != maxUsage {
		t.Errorf("Key(acme, 1): usage %d, %v; want %d", kv.Usage, err, uint64(maxUsage))
	}
	// An unknown version is still ErrNotFound when n alone is too large.
	if _, err := s.ReserveUsage(ctx, "acme", 2, math.MaxUint64); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ReserveUsage(acme, 2, MaxUint64): got error %v, want %v", err, store.ErrNotFound)
	}
}

// TestMigrateUsageAndFeed: a database written by a keyward that only knew
// migration 0001 gets usage 0 on every version and an empty feed, which then
// records the changes made after the upgrade.
func TestMigrateUsageAndFeed(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "keyward.db")
	migs, err := loadMigrations(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	abs, err := createFile(path)
	if err != nil {
		t.Fatal(err)
	}
	old, err := openPool(ctx, dsn(abs, writerParams), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, old, migs[:1], time.Now()); err != nil {
		t.Fatalf("migrate to 0001: %v", err)
	}
	if _, err := old.ExecContext(ctx, `
		INSERT INTO orgs VALUES ('acme', 1000);
		INSERT INTO key_versions VALUES ('acme', 1, 'active', 'k', 1, x'01', 1000, 1000);
		UPDATE key_versions SET state = 'decrypt-only', updated_at = 2000 WHERE version = 1;
		INSERT INTO key_versions VALUES ('acme', 2, 'active', 'k', 1, x'02', 2000, 2000)`,
	); err != nil {
		t.Fatalf("write a 0001 database: %v", err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open of a 0001 database: %v", err)
	}
	defer s.Close()
	var applied int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&applied); err != nil || applied != len(migs) {
		t.Errorf("schema_migrations: %d rows (%v), want %d", applied, err, len(migs))
	}
	keys, err := s.Keys(ctx, "acme")
	if err != nil || len(keys) != 2 {
		t.Fatalf("Keys after upgrade: %v, %v", keys, err)
	}
	for _, kv := range keys {
		if kv.Usage != 0 || len(kv.Wrapped) != 1 {
			t.Errorf("v%d after upgrade: usage %d, wrapped %x; want usage 0 and the old key", kv.Version, kv.Usage, kv.Wrapped)
		}
	}
	if last, err := s.LastChange(ctx); err != nil || last != 0 {
		t.Errorf("LastChange after upgrade: %d, %v; want 0 (history is not replayed)", last, err)
	}
	if err := s.SetKeyState(ctx, "acme", 1, store.StateRetired); err != nil {
		t.Fatalf("SetKeyState: %v", err)
	}
	if got, err := s.Changes(ctx, 0, 10); err != nil || len(got) != 1 || got[0] != (store.Change{Seq: 1, Org: "acme"}) {
		t.Errorf("Changes after upgrade and one change: %+v, %v; want [{1 acme}]", got, err)
	}
	if total, err := s.ReserveUsage(ctx, "acme", 2, 3); err != nil || total != 3 {
		t.Errorf("ReserveUsage after upgrade: %d, %v; want 3", total, err)
	}
}
