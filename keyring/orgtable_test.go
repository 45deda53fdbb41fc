package keyring

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

// TestOrgTableModel drives the table with random stores and deletes and
// checks every lookup against a plain map, across growth and shrinking.
func TestOrgTableModel(t *testing.T) {
	tab := newOrgTable()
	model := map[string]*orgView{}
	rng := rand.New(rand.NewPCG(1, 2))
	for step := range 200_000 {
		// A key space that grows then shrinks, so the table does both.
		space := 2000
		if step > 100_000 {
			space = 50
		}
		org := fmt.Sprintf("org-%d", rng.IntN(space))
		switch rng.IntN(3) {
		case 0, 1:
			v := &orgView{org: org}
			tab.store(org, v)
			model[org] = v
		case 2:
			tab.delete(org)
			delete(model, org)
		}
		if got, want := tab.load(org), model[org]; got != want {
			t.Fatalf("step %d: load(%q) = %p, want %p", step, org, got, want)
		}
	}
	for org, want := range model {
		if got := tab.load(org); got != want {
			t.Errorf("load(%q) = %p, want %p", org, got, want)
		}
	}
	if got, want := tab.live, len(model); got != want {
		t.Errorf("live = %d, want %d", got, want)
	}
	if got := len(tab.cur.Load().slots); got > 16*len(model)+minSlots {
		t.Errorf("table has %d slots for %d views: it did not shrink", got, len(model))
	}
	for _, org := range []string{"", "absent", "org-99999"} {
		if got := tab.load(org); got != nil && org != "" {
			t.Errorf("load(%q) = %p, want nil", org, got)
		}
	}
}

// TestOrgTableConcurrent has readers look up orgs while a writer stores,
// replaces and deletes them (run with -race): a reader only ever sees nil or
// a view of the org it asked for.
func TestOrgTableConcurrent(t *testing.T) {
	tab := newOrgTable()
	var mu sync.Mutex // the writers' lock, as cache.mu
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 9))
			for {
				select {
				case <-stop:
					return
				default:
				}
				org := fmt.Sprintf("org-%d", rng.IntN(500))
				if v := tab.load(org); v != nil && v.org != org {
					t.Errorf("load(%q) returned the view of %q", org, v.org)
					return
				}
			}
		}()
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 50_000 {
		org := fmt.Sprintf("org-%d", rng.IntN(500))
		mu.Lock()
		if rng.IntN(4) == 0 {
			tab.delete(org)
		} else {
			tab.store(org, &orgView{org: org})
		}
		mu.Unlock()
	}
	close(stop)
	wg.Wait()
}

// BenchmarkOrgLookup compares the table with the sync.Map it replaced.
func BenchmarkOrgLookup(b *testing.B) {
	for _, n := range []int{1, 10_000} {
		tab := newOrgTable()
		var sm sync.Map
		orgs := make([]string, n)
		for i := range orgs {
			orgs[i] = fmt.Sprintf("org-%06d", i)
			tab.store(orgs[i], &orgView{org: orgs[i]})
			sm.Store(orgs[i], &orgView{org: orgs[i]})
		}
		b.Run(fmt.Sprintf("orgTable/%d", n), func(b *testing.B) {
			i := 0
			for b.Loop() {
				if tab.load(orgs[i%n]) == nil {
					b.Fatal("miss")
				}
				i++
			}
		})
		b.Run(fmt.Sprintf("syncMap/%d", n), func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, ok := sm.Load(orgs[i%n]); !ok {
					b.Fatal("miss")
				}
				i++
			}
		})
	}
}

// TestOrgTableFrontCollisions: orgs sharing a front slot each still find
// their own view, and deleting one leaves the other, whichever the slot
// holds.
func TestOrgTableFrontCollisions(t *testing.T) {
	a := "org-0"
	b := ""
	for i := 1; b == "" && i < 1_000_000; i++ {
		if c := fmt.Sprintf("org-%d", i); frontSlot(c) == frontSlot(a) {
			b = c
		}
	}
	if b == "" {
		t.Fatal("no org id shares org-0's front slot among a million")
	}
	// Sequential ids spread over the slots (the hash is no seedless
	// constant in disguise).
	used := map[int]bool{}
	for i := range 2 * frontSlots {
		used[frontSlot(fmt.Sprintf("org-%d", i))] = true
	}
	if len(used) < frontSlots/2 {
		t.Errorf("%d sequential org ids use %d of %d front slots", 2*frontSlots, len(used), frontSlots)
	}
	tab := newOrgTable()
	va, vb := &orgView{org: a}, &orgView{org: b}
	tab.store(a, va)
	tab.store(b, vb) // takes the shared front slot
	if got := tab.load(a); got != va {
		t.Errorf("load(%q) = %p, want %p (through the table)", a, got, va)
	}
	if got := tab.load(b); got != vb {
		t.Errorf("load(%q) = %p, want %p (through the front)", b, got, vb)
	}
	tab.delete(a) // not in the front slot: the slot keeps b
	if got := tab.load(b); got != vb {
		t.Errorf("after delete(%q): load(%q) = %p, want %p", a, b, got, vb)
	}
	if got := tab.load(a); got != nil {
		t.Errorf("after delete(%q): load = %p, want nil", a, got)
	}
	tab.delete(b) // in the front slot: cleared
	if got := tab.front[frontSlot(b)].Load(); got != nil {
		t.Errorf("front slot after delete(%q) holds %p, want nil", b, got)
	}
	if got := tab.load(b); got != nil {
		t.Errorf("after delete(%q): load = %p, want nil", b, got)
	}
}
