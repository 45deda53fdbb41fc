package byteorder

import (
	"encoding/binary"
	"testing"
)

func TestLoads(t *testing.T) {
	for _, s := range []string{"\x00\x00\x00\x00\x00\x00\x00\x00", "abcdefgh", "\xff\x01\x02\x03\x04\x05\x06\x80xyz"} {
		if got, want := LE64(s), binary.LittleEndian.Uint64([]byte(s)); got != want {
			t.Errorf("LE64(%q) = %#x, want %#x", s, got, want)
		}
		if got, want := LE32(s), uint64(binary.LittleEndian.Uint32([]byte(s))); got != want {
			t.Errorf("LE32(%q) = %#x, want %#x", s, got, want)
		}
	}
}
