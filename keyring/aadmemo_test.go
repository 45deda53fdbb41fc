package keyring

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward/format"
)

func canonicalAAD(k *Key, context string) []byte {
	return format.AppendAAD(nil, format.V1, k.Org, k.Version, context)
}

// checkAAD fails unless k.AAD(context) is nil or exactly the canonical AAD.
func checkAAD(t testing.TB, k *Key, context string) []byte {
	t.Helper()
	got := k.AAD(context)
	if got != nil && !bytes.Equal(got, canonicalAAD(k, context)) {
		t.Fatalf("AAD(%q) = %x, want %x", context, got, canonicalAAD(k, context))
	}
	return got
}

func TestKeyAADMemo(t *testing.T) {
	if memoSlot(cheapHash("a.b")) == memoSlot(cheapHash("c.d")) || memoSlot(cheapHash("a.b")) != memoSlot(cheapHash("x.y:1")) {
		t.Fatal("the table below assumes a.b and c.d take different slots, a.b and x.y:1 the same")
	}
	long := strings.Repeat("c", memoMaxContext+1)
	tests := []struct {
		name   string
		uses   []string // contexts reported with a sampled byte, in order
		unsamp []string // contexts reported with a byte that is not sampled
		want   map[string]bool
	}{
		{name: "nothing used", want: map[string]bool{"t.c": false}},
		{name: "recurring context", uses: []string{"t.c", "t.c", "t.c"}, want: map[string]bool{"t.c": true, "t.d": false}},
		{name: "one use short", uses: []string{"t.c", "t.c"}, want: map[string]bool{"t.c": false}},
		{name: "interleaved contexts", uses: []string{"t.c", "t.d", "t.c", "t.d", "t.c", "t.d"}, want: map[string]bool{"t.c": false, "t.d": false}},
		{name: "run broken then complete", uses: []string{"t.c", "t.c", "t.d", "t.c", "t.c", "t.c"}, want: map[string]bool{"t.c": true, "t.d": false}},
		{name: "unsampled uses count for nothing", unsamp: []string{"t.c", "t.c", "t.c", "t.c"}, want: map[string]bool{"t.c": false}},
		{name: "over-long context", uses: []string{long, long, long}, want: map[string]bool{long: false}},
		{name: "empty context", uses: []string{"", "", ""}, want: map[string]bool{"": true, "t.c": false}},
		// a.b and c.d take different slots; a.b and x.y:1 share one.
		{name: "two contexts", uses: []string{"a.b", "a.b", "a.b", "c.d", "c.d", "c.d"}, want: map[string]bool{"a.b": true, "c.d": true, "x.y:2": false}},
		{name: "two contexts, one slot", uses: []string{"a.b", "a.b", "a.b", "x.y:1", "x.y:1", "x.y:1"}, want: map[string]bool{"a.b": false, "x.y:1": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := testKey("acme", 3)
			for _, c := range tt.uses {
				k.Used(c, 0)
			}
			for i, c := range tt.unsamp {
				k.Used(c, byte(256/memoSampling+i))
			}
			for c, want := range tt.want {
				if got := checkAAD(t, k, c) != nil; got != want {
					t.Errorf("AAD(%.20q) remembered = %v, want %v", c, got, want)
				}
			}
		})
	}
}

// The memo's slice must not be writable through append, and remembering
// must not keep the caller's string (which may point into a request body).
func TestKeyAADMemoShared(t *testing.T) {
	k := testKey("acme", 1)
	body := []byte("xx integrations.key yy")
	context := string(body[3:19])
	remember(k, context)
	aad := checkAAD(t, k, "integrations.key")
	if aad == nil {
		t.Fatal("context not remembered")
	}
	if len(aad) != cap(aad) {
		t.Errorf("len %d, cap %d: an append would write into the shared AAD", len(aad), cap(aad))
	}
	_ = append(aad, 'x')
	checkAAD(t, k, "integrations.key")
}

// Many contexts through few slots: whatever is remembered is exact.
func TestKeyAADMemoCollisions(t *testing.T) {
	k := testKey("globex", 7)
	for i := range 1000 {
		remember(k, fmt.Sprintf("t.c:%d", i))
	}
	hits := 0
	for i := range 1000 {
		if checkAAD(t, k, fmt.Sprintf("t.c:%d", i)) != nil {
			hits++
		}
	}
	if hits == 0 || hits > memoSlots {
		t.Errorf("%d contexts remembered, want 1..%d", hits, memoSlots)
	}
}

// Concurrent readers and writers (run with -race): every answer is nil or
// exact.
func TestKeyAADMemoConcurrent(t *testing.T) {
	k := testKey("acme", 2)
	contexts := []string{"a.b", "a.c", "x.y:1", "x.y:2", strings.Repeat("z", 40), ""}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20000 {
				c := contexts[(i/7+g)%len(contexts)]
				if checkAAD(t, k, c) == nil {
					k.Used(c, byte(i))
				}
			}
		}()
	}
	wg.Wait()
}

func FuzzKeyAAD(f *testing.F) {
	f.Add("acme", uint32(1), "integrations.key", "other")
	f.Add("o", uint32(1<<31), "", "x")
	f.Fuzz(func(t *testing.T, org string, version uint32, context, other string) {
		if org == "" || len(org) > 64 {
			return
		}
		k := testKey(org, version)
		remember(k, context)
		got := checkAAD(t, k, context)
		if (got != nil) != (len(context) <= memoMaxContext) {
			t.Errorf("AAD(%q) remembered = %v, want %v", context, got != nil, len(context) <= memoMaxContext)
		}
		if other != context {
			checkAAD(t, k, other)
		}
	})
}

// Contexts that differ only in the middle – where cheapHash does not look –
// are still one-offs: none is remembered.
func TestKeyAADMemoMiddleOfContext(t *testing.T) {
	k := testKey("acme", 1)
	remembered := 0
	for i := range 1000 {
		c := fmt.Sprintf("payments:%08d:card_token", i)
		k.Used(c, 0)
		if k.AAD(c) != nil {
			remembered++
		}
	}
	if remembered != 0 {
		t.Errorf("%d one-off contexts remembered, want 0", remembered)
	}
}

// Once a context is remembered the run starts over, so the considerations
// that remembered it count for no other context.
func TestKeyAADMemoRunRestarts(t *testing.T) {
	k := testKey("acme", 1)
	remember(k, "a.b")
	if c := k.candidate.Load(); c != 0 {
		t.Errorf("candidate after remembering = %#x, want 0", c)
	}
	for range memoRepeats - 1 {
		k.Used("c.d", 0)
	}
	if checkAAD(t, k, "c.d") != nil {
		t.Errorf("c.d remembered after %d considerations, want %d", memoRepeats-1, memoRepeats)
	}
	k.Used("c.d", 0)
	if checkAAD(t, k, "c.d") == nil {
		t.Errorf("c.d not remembered after %d considerations", memoRepeats)
	}
}
