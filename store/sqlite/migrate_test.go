package sqlite

import (
	"strings"
	"testing"
)

func TestEmbeddedMigrations(t *testing.T) {
	migs, err := loadMigrations(migrationFiles, "migrations")
	if err != nil {
		t.Fatalf("embedded migrations: %v", err)
	}
	for i, m := range migs {
		if m.Version != int64(i+1) || strings.TrimSpace(m.SQL) == "" {
			t.Errorf("migration %d: %+v", i, m.Name)
		}
	}
}
