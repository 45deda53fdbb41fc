package sqlite_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/sqlite"
)

func benchStore(b *testing.B) *sqlite.Store {
	b.Helper()
	s, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "keyward.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkCreateOrg measures one durable write transaction (two inserts,
// fsync at commit).
func BenchmarkCreateOrg(b *testing.B) {
	s := benchStore(b)
	i := 0
	for b.Loop() {
		id := fmt.Sprintf("org-%09d", i)
		i++
		if err := s.CreateOrg(b.Context(), store.Org{ID: id}, key(id, 1)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkActiveKey measures the read a keyring makes on a cache miss, from
// parallel goroutines.
func BenchmarkActiveKey(b *testing.B) {
	s := benchStore(b)
	const orgs = 1000
	for i := range orgs {
		id := fmt.Sprintf("org-%04d", i)
		if err := s.CreateOrg(b.Context(), store.Org{ID: id}, key(id, 1)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := s.ActiveKey(b.Context(), fmt.Sprintf("org-%04d", i%orgs)); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkReserveUsage measures one reservation: a durable write
// transaction of one UPDATE … RETURNING, as an engine makes once per block.
func BenchmarkReserveUsage(b *testing.B) {
	s := benchStore(b)
	if err := s.CreateOrg(b.Context(), store.Org{ID: "acme"}, key("acme", 1)); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.ReserveUsage(b.Context(), "acme", 1, 1000); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChanges measures the poll of a watcher that is up to date: an
// empty page after the feed's end.
func BenchmarkChanges(b *testing.B) {
	s := benchStore(b)
	for i := range 100 {
		id := fmt.Sprintf("org-%03d", i)
		if err := s.CreateOrg(b.Context(), store.Org{ID: id}, key(id, 1)); err != nil {
			b.Fatal(err)
		}
	}
	last, err := s.LastChange(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Changes(b.Context(), last, 100); err != nil {
			b.Fatal(err)
		}
	}
}
