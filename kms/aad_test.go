package kms_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/keyward/keyward/kms"
)

func TestDEKAADGolden(t *testing.T) {
	got := kms.DEKAAD("org_1", 7)
	want := []byte("\x0ekeyward/dek/v1\x05org_1\x00\x00\x00\x07")
	if !bytes.Equal(got, want) {
		t.Errorf("DEKAAD(%q, 7) = %x, want %x", "org_1", got, want)
	}
}

func TestDEKAADDistinct(t *testing.T) {
	long := strings.Repeat("o", kms.MaxOrgIDLen)
	pairs := []struct {
		org     string
		version uint32
	}{
		{"", 0},
		{"", 1},
		{"a", 0},
		{"a", 1},
		{"b", 1},
		{"ab", 1},
		{"a", 2},
		{"A", 1},
		// Length-collision attempts: bytes of the version slide into the org
		// id and back; without length prefixes these would concatenate equal.
		{"a\x00\x00\x00", 1},
		{"a\x00", 0x00000100},
		{"\x00", 0},
		{"\x00\x00\x00\x00", 0},
		{"\x01", 1},
		{"\x00\x00\x00\x01", 1},
		{"org", 0x01020304},
		{"org\x01", 0x02030400},
		{"org\x01\x02\x03\x04", 0},
		// An org id that looks like a length-prefixed encoding itself.
		{"\x01a", 1},
		{"\x02ab", 1},
		{"org", 1},
		{"org", 1 << 31},
		{"org", ^uint32(0)},
		{long, 1},
		{long[:kms.MaxOrgIDLen-1], 1},
		{long[:kms.MaxOrgIDLen-1] + "\x00", 1},
	}
	seen := make(map[string]string, len(pairs))
	for _, p := range pairs {
		name := fmt.Sprintf("(%q, %d)", p.org, p.version)
		aad := string(kms.DEKAAD(p.org, p.version))
		if prev, ok := seen[aad]; ok {
			t.Errorf("DEKAAD%s = DEKAAD%s = %x", name, prev, aad)
		}
		seen[aad] = name
		if wantLen := 1 + 14 + 1 + len(p.org) + 4; len(aad) != wantLen {
			t.Errorf("len(DEKAAD%s) = %d, want %d", name, len(aad), wantLen)
		}
	}
}

func TestDEKAADDeterministic(t *testing.T) {
	a, b := kms.DEKAAD("org_1", 3), kms.DEKAAD("org_1", 3)
	if !bytes.Equal(a, b) {
		t.Fatalf("DEKAAD not deterministic: %x != %x", a, b)
	}
	a[0] ^= 0xff // callers own the result; it must not be shared
	if c := kms.DEKAAD("org_1", 3); c[0] == a[0] {
		t.Errorf("DEKAAD returned shared storage: mutation visible in a later call")
	}
}

func TestDEKAADPanicsOnOverlongOrg(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Errorf("DEKAAD with a %d-byte org id did not panic", kms.MaxOrgIDLen+1)
		}
	}()
	kms.DEKAAD(strings.Repeat("o", kms.MaxOrgIDLen+1), 1)
}
