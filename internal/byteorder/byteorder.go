// Package byteorder reads little-endian words out of strings, for the hot
// paths that hash org ids and check contexts eight bytes at a time without
// converting the string to a byte slice (encoding/binary reads only
// slices). The functions are small enough to inline; the compiler turns
// each into a single load.
package byteorder

// LE64 returns the first eight bytes of s as a little-endian uint64. It
// panics if s is shorter.
func LE64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// LE32 returns the first four bytes of s as a little-endian uint32, widened.
// It panics if s is shorter.
func LE32(s string) uint64 {
	_ = s[3]
	return uint64(uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24)
}
