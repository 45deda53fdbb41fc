package keyring

import (
	"fmt"
	"testing"
)

// TestClockKeepsHotKeys checks the eviction policy: under churn of cold
// keys, a key used between insertions stays cached.
func TestClockKeepsHotKeys(t *testing.T) {
	c := newCache(4, 0)
	defer c.close()
	hot := &Key{Org: "hot", Version: 1}
	c.put(hot, true, c.generation())
	for i := range 100 {
		if got := c.get("hot", 0); got != hot {
			t.Fatalf("round %d: hot key evicted", i)
		}
		c.put(&Key{Org: fmt.Sprintf("cold-%d", i), Version: 1}, true, c.generation())
		if got, want := c.len(), min(i+2, 4); got != want {
			t.Fatalf("round %d: len %d, want %d", i, got, want)
		}
	}
	if got := c.get("cold-0", 0); got != nil {
		t.Fatalf("oldest cold key still cached")
	}
	if got := c.get("cold-99", 0); got == nil {
		t.Fatalf("newest cold key not cached")
	}
}

func TestCacheVersionsAndInvalidate(t *testing.T) {
	c := newCache(10, 0)
	defer c.close()
	v1 := &Key{Org: "acme", Version: 1}
	v2 := &Key{Org: "acme", Version: 2}
	c.put(v1, true, c.generation())
	c.put(v2, true, c.generation())
	c.put(&Key{Org: "globex", Version: 1}, true, c.generation())
	tests := []struct {
		org     string
		version uint32
		want    *Key
	}{
		{"acme", 0, v2},
		{"acme", 1, v1},
		{"acme", 2, v2},
		{"acme", 3, nil},
		{"nobody", 0, nil},
	}
	for _, tt := range tests {
		if got := c.get(tt.org, tt.version); got != tt.want {
			t.Errorf("get(%q, %d): got %v, want %v", tt.org, tt.version, got, tt.want)
		}
	}
	stale := c.generation()
	c.invalidate("acme")
	if c.get("acme", 1) != nil || c.get("acme", 0) != nil {
		t.Fatal("invalidate left acme keys cached")
	}
	if c.get("globex", 0) == nil {
		t.Fatal("invalidate of acme dropped globex")
	}
	// A load that read the store before the invalidation must not re-insert.
	c.put(v1, true, stale)
	if c.get("acme", 0) != nil {
		t.Fatal("stale load re-inserted a key after invalidation")
	}
	if got, want := c.len(), 1; got != want {
		t.Fatalf("len: got %d, want %d", got, want)
	}
}
