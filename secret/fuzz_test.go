package secret_test

import (
	"fmt"
	"testing"

	"github.com/keyward/keyward/secret"
)

// FuzzFormat checks that no format string makes output depend on a secret:
// two secrets of different contents and lengths must print identically,
// alone and nested in values that fmt prints by reflection. This is stricter
// than searching the output for the secret: it also catches a leaked length
// or an encoding the search does not know.
func FuzzFormat(f *testing.F) {
	for _, s := range []string{
		"%v", "%+v", "%#v", "%s", "%q", "%x", "% X", "%#x", "%d", "%08.3f", "%-10s|",
		"%[2]v %[1]v", "%*d", "%.*s", "%!", "%", "%p", "%T", "%w", "%U", "%c", "x=%v y=%+v",
	} {
		f.Add(s)
	}
	a, b := secret.FromString(canary), secret.FromString("x")
	wrap := []func(secret.Bytes) any{
		func(s secret.Bytes) any { return s },
		func(s secret.Bytes) any { return exported{"n", s} },
		func(s secret.Bytes) any { return unexported{"n", s} },
		// Arrays and interface fields, not slices and maps: %p prints a
		// slice's or map's heap address, which differs between any two.
		func(s secret.Bytes) any { return [2]secret.Bytes{s} },
		func(s secret.Bytes) any { return struct{ K, k any }{s, s} },
		func(s secret.Bytes) any { return embedded{s, "e"} },
	}
	f.Fuzz(func(t *testing.T, format string) {
		for i, w := range wrap {
			outA := fmt.Sprintf(format, w(a), w(a), 3)
			outB := fmt.Sprintf(format, w(b), w(b), 3)
			if outA != outB {
				t.Fatalf("value %d: Sprintf(%q) depends on the secret:\n%q\n%q", i, format, outA, outB)
			}
		}
	})
}
