package policy

// CacheLen returns the number of tokens a caches, for tests.
func CacheLen(a *Authority) int {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return len(a.cache)
}
