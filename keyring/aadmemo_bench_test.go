package keyring

import (
	"fmt"
	"hash/maphash"
	"testing"

	"github.com/keyward/keyward/format"
)

// BenchmarkKeyAAD is the memo's cost per call: a hit, and a context that
// never recurs, with the memo empty (as under per-row contexts only) and
// holding a recurring context as well.
func BenchmarkKeyAAD(b *testing.B) {
	rows := make([]string, 4096)
	for i := range rows {
		rows[i] = fmt.Sprintf("integrations.k:%d", 100000+i)
	}
	miss := func(k *Key) func(b *testing.B) {
		return func(b *testing.B) {
			i := 0
			for b.Loop() {
				row := rows[i%len(rows)]
				if k.AAD(row) == nil {
					k.Used(row, byte(i))
				}
				i++
			}
		}
	}
	k := testKey("acme", 1)
	b.Run("miss-empty", miss(k))
	remember(k, "integrations.k")
	b.Run("hit", func(b *testing.B) {
		for b.Loop() {
			if k.AAD("integrations.k") == nil {
				b.Fatal("miss")
			}
		}
	})
	b.Run("miss", miss(k))
}

func testKey(org string, version uint32) *Key {
	return &Key{Org: org, Version: version, AADPrefix: format.AppendAADPrefix(nil, format.V1, org, version), seed: maphash.MakeSeed()}
}

// remember reports context used memoRepeats times with a sampled byte,
// which makes k remember it.
func remember(k *Key, context string) {
	for range memoRepeats {
		k.Used(context, 0)
	}
}
