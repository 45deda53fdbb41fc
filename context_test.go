package keyward

import (
	"strings"
	"testing"
)

// isASCII must agree with a byte-by-byte check for every length around its
// eight-byte steps and every position of a non-ASCII byte.
func TestIsASCII(t *testing.T) {
	for n := range 40 {
		s := strings.Repeat("a", n)
		if got := isASCII(s); !got {
			t.Errorf("isASCII(%d ASCII bytes) = false, want true", n)
		}
		for i := range n {
			for _, c := range []byte{0x80, 0xc3, 0xff} {
				b := []byte(s)
				b[i] = c
				if got := isASCII(string(b)); got {
					t.Errorf("isASCII(%d bytes, %#x at %d) = true, want false", n, c, i)
				}
			}
		}
	}
}

func FuzzIsASCII(f *testing.F) {
	for _, s := range []string{"", "a", "integrations.key", "caf\u00e9", "\x7f\x80", strings.Repeat("z", 17) + "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := true
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				want = false
			}
		}
		if got := isASCII(s); got != want {
			t.Errorf("isASCII(%q) = %v, want %v", s, got, want)
		}
	})
}
