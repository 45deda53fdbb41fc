package keyring

import (
	"container/list"
	"sync"
	"sync/atomic"
	"time"
)

// cache holds unwrapped DEKs, bounded in entries (LRU) and in age (TTL).
//
// One entry is one (org, version) DEK. Each organization additionally points
// at the entry of its active version, so the encrypt path is one map lookup.
// Expiry is driven by a timer per entry rather than a clock read per lookup:
// reading the clock costs more than the lookup itself on virtual machines, and
// the timer also frees expired keys that are never looked up again.
//
// The cache never holds raw key bytes: the keyring builds the AEAD and zeroes
// the unwrapped DEK before insertion. What remains is the AES key schedule
// inside crypto/aes, which Go does not let callers wipe; eviction drops the
// last reference to it.
type cache struct {
	max int
	ttl time.Duration

	mu     sync.Mutex
	gen    uint64 // incremented by every invalidation; guarded by mu
	orgs   map[string]*orgKeys
	lru    list.List // of *entry, most recently used at the front
	closed bool

	hits, misses, evictions atomic.Uint64
}

type orgKeys struct {
	active   *entry
	versions map[uint32]*entry
}

type entry struct {
	key   *Key
	elem  *list.Element
	timer *time.Timer
	gone  bool // removed from the cache; guarded by cache.mu
}

func newCache(max int, ttl time.Duration) *cache {
	return &cache{max: max, ttl: ttl, orgs: make(map[string]*orgKeys)}
}

// active returns the cached active key of org, if any.
func (c *cache) active(org string) *Key {
	c.mu.Lock()
	if ok := c.orgs[org]; ok != nil && ok.active != nil {
		e := ok.active
		c.lru.MoveToFront(e.elem)
		c.mu.Unlock()
		c.hits.Add(1)
		return e.key
	}
	c.mu.Unlock()
	c.misses.Add(1)
	return nil
}

// version returns the cached key of org at version, if any.
func (c *cache) version(org string, version uint32) *Key {
	c.mu.Lock()
	if ok := c.orgs[org]; ok != nil {
		if e := ok.versions[version]; e != nil {
			c.lru.MoveToFront(e.elem)
			c.mu.Unlock()
			c.hits.Add(1)
			return e.key
		}
	}
	c.mu.Unlock()
	c.misses.Add(1)
	return nil
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
// becomes the org's active key. It evicts the least recently used entries
// beyond the bound.
func (c *cache) put(k *Key, active bool, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || gen != c.gen {
		return
	}
	ok := c.orgs[k.Org]
	if ok == nil {
		ok = &orgKeys{versions: make(map[uint32]*entry, 2)}
		c.orgs[k.Org] = ok
	}
	if old := ok.versions[k.Version]; old != nil {
		c.removeLocked(old)
		if c.orgs[k.Org] == nil { // removing the last entry dropped the org
			c.orgs[k.Org] = ok
		}
	}
	e := &entry{key: k}
	e.elem = c.lru.PushFront(e)
	ok.versions[k.Version] = e
	if active {
		ok.active = e
	}
	if c.ttl > 0 {
		e.timer = time.AfterFunc(c.ttl, func() { c.expire(e) })
	}
	for c.lru.Len() > c.max {
		c.removeLocked(c.lru.Back().Value.(*entry))
		c.evictions.Add(1)
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
	c.lru.Remove(e.elem)
	org := e.key.Org
	if ok := c.orgs[org]; ok != nil {
		if ok.versions[e.key.Version] == e {
			delete(ok.versions, e.key.Version)
		}
		if ok.active == e {
			ok.active = nil
		}
		if len(ok.versions) == 0 {
			delete(c.orgs, org)
		}
	}
	e.key = nil // drop the cache's reference to the cipher
}

// invalidate drops every cached key of org.
func (c *cache) invalidate(org string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if ok := c.orgs[org]; ok != nil {
		for _, e := range ok.versions {
			c.removeLocked(e)
		}
	}
}

// close drops everything and refuses later insertions.
func (c *cache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for e := c.lru.Front(); e != nil; {
		next := e.Next()
		c.removeLocked(e.Value.(*entry))
		e = next
	}
	c.closed = true
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
