package keyring

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// cache holds unwrapped DEKs, bounded in entries and in age (TTL).
//
// The hot path — a hit — takes no lock: lookups go through an orgTable (a
// hash table with lock-free reads, see orgtable.go) and a hit only sets the entry's
// "referenced" bit, and only when it is not set already, so concurrent hits
// on a hot key do not bounce a cache line between cores. For the same
// reason hits are not counted: a shared counter written by every Encrypt
// and Decrypt cost about 4 % of a 32-byte Encrypt+Decrypt on one core and
// more under parallel load. Misses, which read the store, are counted.
//
// Eviction is CLOCK (second chance), the LRU approximation operating
// systems use for page caches: entries sit on a ring; when the cache is full,
// a hand sweeps the ring, clearing referenced bits and evicting the first
// entry that was not used since the hand last passed. A key in use therefore
// stays; the least recently used keys go first. Insertions and evictions
// take one mutex.
//
// Expiry is driven by a timer per entry rather than a clock read per lookup:
// reading the clock costs more than the lookup itself on virtual machines,
// and the timer also frees expired keys that are never looked up again.
//
// One entry is one (org, version) DEK. The map is keyed by org id (string
// keys hash twice as fast as struct keys) and holds an immutable view of the
// org's cached entries: its active entry and a short list of versions. Writers
// replace the view under the mutex; readers never lock.
//
// The cache never holds raw key bytes: the keyring builds the AEAD and zeroes
// the unwrapped DEK before insertion. What remains is the AES key schedule
// inside crypto/aes, which Go does not let callers wipe; eviction drops the
// cache's references to it.
type cache struct {
	max int
	ttl time.Duration

	orgs *orgTable // org id → *orgView; writes under mu

	mu     sync.Mutex // guards everything below, entry.gone/slot and view replacement
	ring   []*entry   // CLOCK ring, len ≤ max; nil slots are free
	free   []int      // indexes of nil slots in ring
	count  int        // entries in ring
	hand   int
	gen    uint64 // incremented by every invalidation
	closed bool
	// bank keeps the nonce budgets of removed keys, so a key that is
	// reloaded (after an invalidation, say) goes on with the block it had
	// reserved instead of reserving another. Bounded by max.
	bank map[bankKey]*budget

	misses, evictions atomic.Uint64
}

type bankKey struct {
	org     string
	version uint32
}

// orgView is an immutable snapshot of one org's cached entries.
type orgView struct {
	org      string
	active   *entry // nil when the active key is not cached
	versions []*entry
}

type entry struct {
	key        *Key
	referenced atomic.Bool
	timer      *time.Timer
	slot       int  // index in cache.ring; guarded by cache.mu
	gone       bool // removed; guarded by cache.mu
}

func newCache(max int, ttl time.Duration) *cache {
	return &cache{max: max, ttl: ttl, orgs: newOrgTable(), bank: make(map[bankKey]*budget)}
}

// budgetFor returns the budget a removed key of (org, version) left behind,
// or a new one. Sharing the budget object (not a copy of its count) keeps
// accounting exact while a caller still holds the removed key.
func (c *cache) budgetFor(org string, version uint32) *budget {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := bankKey{org, version}
	if b := c.bank[k]; b != nil {
		delete(c.bank, k)
		return b
	}
	return new(budget)
}

// get returns the cached key of org at version (0: the active key), if any.
func (c *cache) get(org string, version uint32) *Key {
	if view := c.orgs.load(org); view != nil {
		e := view.active
		// A version lookup is most often for the active key (data written
		// since the last rotation): check it before walking the list.
		if version != 0 && (e == nil || e.key.Version != version) {
			e = nil
			for _, x := range view.versions {
				if x.key.Version == version {
					e = x
					break
				}
			}
		}
		if e != nil {
			if !e.referenced.Load() {
				e.referenced.Store(true)
			}
			return e.key
		}
	}
	c.misses.Add(1)
	return nil
}

// viewLocked returns org's current view (never nil). c.mu must be held.
func (c *cache) viewLocked(org string) *orgView {
	if v := c.orgs.load(org); v != nil {
		return v
	}
	return &orgView{org: org}
}

// setViewLocked publishes org's new view. c.mu must be held.
func (c *cache) setViewLocked(org string, v *orgView) {
	if len(v.versions) == 0 {
		c.orgs.delete(org)
		return
	}
	c.orgs.store(org, v)
}

// generation returns the invalidation counter. A loader reads it before it
// reads the store and passes it to put, so a load that raced with an
// invalidation cannot re-insert a stale key.
func (c *cache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put inserts k, replacing any entry for the same (org, version), unless the
// cache was invalidated since gen was read. When active is true, k also
// becomes the org's active key. Beyond the bound it evicts by CLOCK.
func (c *cache) put(k *Key, active bool, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if gen != c.gen {
		// The caller still uses k once; keep its budget for the reload.
		c.bankLocked(k)
		return
	}
	for _, old := range c.viewLocked(k.Org).versions {
		if old.key.Version == k.Version {
			c.removeLocked(old)
			break
		}
	}
	e := &entry{key: k}
	switch {
	case len(c.free) > 0:
		e.slot = c.free[len(c.free)-1]
		c.free = c.free[:len(c.free)-1]
	case len(c.ring) < c.max:
		e.slot = len(c.ring)
		c.ring = append(c.ring, nil)
	default:
		// Full: the victim's slot takes the new entry and the hand moves
		// past it, so the new entry is the last the hand will reach.
		e.slot = c.evictLocked()
		c.free = c.free[:len(c.free)-1]
		c.hand = e.slot + 1
	}
	c.ring[e.slot] = e
	c.count++
	old := c.viewLocked(k.Org)
	view := &orgView{org: k.Org, active: old.active, versions: append(slices.Clip(old.versions), e)}
	if active {
		view.active = e
	}
	c.setViewLocked(k.Org, view)
	if c.ttl > 0 {
		e.timer = time.AfterFunc(c.ttl, func() { c.expire(e) })
	}
}

// evictLocked advances the CLOCK hand to the first entry not referenced
// since its last pass, removes it and returns its (now free) slot. c.mu must
// be held and the ring full.
func (c *cache) evictLocked() int {
	for {
		if c.hand >= len(c.ring) {
			c.hand = 0
		}
		e := c.ring[c.hand]
		if e != nil && e.referenced.Load() {
			e.referenced.Store(false)
		} else if e != nil {
			c.removeLocked(e)
			c.evictions.Add(1)
			return e.slot
		}
		c.hand++
	}
}

// expire removes e when its TTL has passed, unless it is already gone.
func (c *cache) expire(e *entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !e.gone {
		c.removeLocked(e)
		c.evictions.Add(1)
	}
}

// removeLocked unlinks e from every index. c.mu must be held.
func (c *cache) removeLocked(e *entry) {
	if e.gone {
		return
	}
	e.gone = true
	if e.timer != nil {
		e.timer.Stop()
	}
	c.ring[e.slot] = nil
	c.free = append(c.free, e.slot)
	c.count--
	old := c.viewLocked(e.key.Org)
	view := &orgView{org: e.key.Org, active: old.active, versions: slices.DeleteFunc(slices.Clone(old.versions), func(x *entry) bool { return x == e })}
	if view.active == e {
		view.active = nil
	}
	c.setViewLocked(e.key.Org, view)
	c.bankLocked(e.key)
	// e.key stays: a lookup that raced with this removal may still be
	// returning it. The entry, and with it the cipher, becomes garbage once
	// no caller holds it.
}

// invalidate drops every cached key of org.
func (c *cache) invalidate(org string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, e := range c.viewLocked(org).versions {
		c.removeLocked(e)
	}
}

// bankLocked keeps k's budget for the next load of the same key. c.mu
// must be held.
func (c *cache) bankLocked(k *Key) {
	if k.budget == nil {
		return
	}
	if len(c.bank) >= c.max {
		for bk := range c.bank { // drop any one: its remainder goes unused
			delete(c.bank, bk)
			break
		}
	}
	c.bank[bankKey{k.Org, k.Version}] = k.budget
}

// invalidateAll drops every cached key.
func (c *cache) invalidateAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, e := range c.ring {
		if e != nil {
			c.removeLocked(e)
		}
	}
}

// close drops everything and refuses later insertions.
func (c *cache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.ring {
		if e != nil {
			c.removeLocked(e)
		}
	}
	clear(c.bank)
	c.closed = true
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count
}
