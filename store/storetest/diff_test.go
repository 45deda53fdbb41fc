package storetest

import (
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

func TestFieldDiff(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	base := store.Secret{Org: "acme", Name: "a", Ciphertext: []byte{1}, KeyVersion: 1, Revision: 1, CreatedAt: at, UpdatedAt: at}
	tests := []struct {
		name string
		edit func(*store.Secret)
		skip []string
		want string
	}{
		{"equal", func(*store.Secret) {}, nil, ""},
		{"same instant elsewhere", func(s *store.Secret) { s.CreatedAt = at.In(time.FixedZone("x", 3600)) }, nil, ""},
		{"nil and empty bytes", func(s *store.Secret) { s.Hint = ""; s.Ciphertext = []byte{1} }, nil, ""},
		{"string", func(s *store.Secret) { s.Name = "b" }, nil, `Name: got b, want a`},
		{"bytes", func(s *store.Secret) { s.Ciphertext = []byte{2} }, nil, `Ciphertext: got "\x02", want "\x01"`},
		{"time", func(s *store.Secret) { s.UpdatedAt = at.Add(time.Second) }, nil, "UpdatedAt: got 2026-11-22 10:00:01 +0000 UTC, want 2026-11-22 10:00:00 +0000 UTC"},
		{"skipped", func(s *store.Secret) { s.UpdatedAt = at.Add(time.Second) }, []string{"UpdatedAt"}, ""},
		{"two fields", func(s *store.Secret) { s.KeyVersion = 2; s.Revision = 3 }, nil, "KeyVersion: got 2, want 1; Revision: got 3, want 1"},
	}
	for _, tt := range tests {
		got := base
		tt.edit(&got)
		if d := fieldDiff(got, base, tt.skip...); d != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, d, tt.want)
		}
	}
	var nilBytes, empty store.KeyVersion
	empty.Wrapped = []byte{}
	if d := fieldDiff(nilBytes, empty); d != "" {
		t.Errorf("nil vs empty Wrapped: got %q, want equal", d)
	}
}
