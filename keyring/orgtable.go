package keyring

import (
	"hash/maphash"
	"sync/atomic"

	"github.com/keyward/keyward/internal/byteorder"
)

// orgTable maps org ids to their cached views for the hot path.
//
// It is an open-addressing hash table (linear probing) whose reads take no
// lock and make no atomic read-modify-write: a lookup loads the current slot
// array and follows atomic pointers until it finds the org or an empty slot.
// Writers are serialised by the cache's mutex. They publish a new view by
// replacing one slot's pointer, and grow (or clean) the table by building a
// new slot array and publishing it whole, so a reader sees either the old
// array, which no writer touches any more, or the new one: every lookup
// returns a view that was current at some instant during the call.
//
// It replaced a sync.Map, whose keys are interfaces: hashing a string
// through an interface and walking the hash trie cost about twice a lookup
// here, and a hit is on the path of every Encrypt and Decrypt.
type orgTable struct {
	seed maphash.Seed
	cur  atomic.Pointer[slotArray]
	// tomb marks a deleted slot: probes continue past it. Its org id is
	// empty, which no lookup matches (org ids have at least one byte).
	tomb *orgView
	live int // views in the table; guarded by the writers' lock
	used int // slots holding a view or tomb; guarded by the writers' lock
	// front is a direct-mapped cache of recently stored views in front of
	// the table, indexed by a cheap hash of the org id: a hit costs a few
	// byte loads and one string compare instead of a seeded hash and a
	// probe. Only writers set it (store puts the view it publishes in its
	// slot, delete clears the slot if it holds the org), so it never holds
	// a view the table does not; two orgs sharing a slot just fall through
	// to the table, which is why the hash needs no seed.
	front [frontSlots]atomic.Pointer[orgView]
}

// frontSlots is the size of orgTable.front (a power of two).
const frontSlots = 512

// frontSlot is org's slot in orgTable.front.
func frontSlot(org string) int {
	return int(cheapHash(org)>>40) & (frontSlots - 1)
}

// cheapHash mixes s's length with loads that together cover every byte –
// the first and last eight bytes, or the first and last four, or for the
// shortest strings the first, middle and last byte – so it never loops.
// It is unseeded and not collision-resistant: it only picks slots of
// direct-mapped caches whose entries are confirmed by comparing the whole
// string, so a collision costs a miss, never a wrong answer. Beyond 16
// bytes only the ends count: ids and contexts that differ in the middle
// share a slot and take turns.
func cheapHash(s string) uint64 {
	n := len(s)
	var a, b uint64
	switch {
	case n >= 8:
		a, b = byteorder.LE64(s[:8]), byteorder.LE64(s[n-8:])
	case n >= 4:
		a, b = byteorder.LE32(s[:4]), byteorder.LE32(s[n-4:])
	case n > 0:
		a = uint64(s[0])<<16 | uint64(s[n>>1])<<8 | uint64(s[n-1])
	}
	h := (a^uint64(n))*0x9e3779b97f4a7c15 ^ b*0xc2b2ae3d27d4eb4f
	h ^= h >> 29
	return h * 0xbf58476d1ce4e5b9
}

type slotArray struct {
	slots []atomic.Pointer[orgView]
	mask  uint64
}

// minSlots is the smallest table; sizes are powers of two.
const minSlots = 16

func newOrgTable() *orgTable {
	t := &orgTable{seed: maphash.MakeSeed(), tomb: &orgView{}}
	t.cur.Store(newSlotArray(minSlots))
	return t
}

func newSlotArray(n int) *slotArray {
	return &slotArray{slots: make([]atomic.Pointer[orgView], n), mask: uint64(n - 1)}
}

// load returns org's view, or nil. It is small enough to inline into the
// cache's lookup: a front-cache hit costs the hash, one load and one
// compare. (An empty org id hashes like any other and matches no view: the
// front holds only views of stored orgs, never the tombstone.)
func (t *orgTable) load(org string) *orgView {
	if v := t.front[frontSlot(org)].Load(); v != nil && v.org == org {
		return v
	}
	return t.probe(org)
}

// probe looks org up in the table itself.
func (t *orgTable) probe(org string) *orgView {
	a := t.cur.Load()
	for i := maphash.String(t.seed, org) & a.mask; ; i = (i + 1) & a.mask {
		v := a.slots[i].Load()
		if v == nil {
			return nil
		}
		if v.org == org {
			return v
		}
	}
}

// store publishes v as org's view (v.org must be org). The caller holds the
// writers' lock.
func (t *orgTable) store(org string, v *orgView) {
	a := t.cur.Load()
	free := -1
	i := maphash.String(t.seed, org) & a.mask
	for ; ; i = (i + 1) & a.mask {
		x := a.slots[i].Load()
		if x == nil {
			break
		}
		if x.org == org {
			a.slots[i].Store(v)
			t.front[frontSlot(org)].Store(v)
			return
		}
		if x == t.tomb && free < 0 {
			free = int(i)
		}
	}
	if free >= 0 { // reuse a tombstone: used does not change
		a.slots[free].Store(v)
		t.front[frontSlot(org)].Store(v)
		t.live++
		return
	}
	// Keep at least a quarter of the slots empty, so probes stay short and
	// always end at an empty slot.
	if (t.used+1)*4 > len(a.slots)*3 {
		t.rehash(t.live + 1)
		a = t.cur.Load()
		i = maphash.String(t.seed, org) & a.mask
		for a.slots[i].Load() != nil {
			i = (i + 1) & a.mask
		}
	}
	a.slots[i].Store(v)
	t.front[frontSlot(org)].Store(v)
	t.live++
	t.used++
}

// delete removes org's view, if any. The caller holds the writers' lock.
func (t *orgTable) delete(org string) {
	a := t.cur.Load()
	for i := maphash.String(t.seed, org) & a.mask; ; i = (i + 1) & a.mask {
		x := a.slots[i].Load()
		if x == nil {
			return
		}
		if x.org == org {
			a.slots[i].Store(t.tomb)
			if f := &t.front[frontSlot(org)]; f.Load() == x {
				f.Store(nil)
			}
			t.live--
			// Shrink a table that emptied out, so memory follows the
			// number of cached orgs down as well as up.
			if len(a.slots) > minSlots && t.live*8 < len(a.slots) {
				t.rehash(t.live)
			}
			return
		}
	}
}

// rehash moves the live views into a fresh array sized for n views (at most
// half full) and publishes it. Tombstones are dropped.
func (t *orgTable) rehash(n int) {
	size := minSlots
	for size < 2*n {
		size *= 2
	}
	old := t.cur.Load()
	a := newSlotArray(size)
	for j := range old.slots {
		v := old.slots[j].Load()
		if v == nil || v == t.tomb {
			continue
		}
		i := maphash.String(t.seed, v.org) & a.mask
		for a.slots[i].Load() != nil {
			i = (i + 1) & a.mask
		}
		a.slots[i].Store(v)
	}
	t.used = t.live
	t.cur.Store(a)
}
