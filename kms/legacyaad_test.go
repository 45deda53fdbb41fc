package kms

import (
	"bytes"
	"encoding/hex"
	"testing"
)

func TestLegacyKeyAADGolden(t *testing.T) {
	got := hex.EncodeToString(LegacyKeyAAD("fernet", "acme", 2))
	want := hex.EncodeToString([]byte("\x15keyward/legacy-key/v1\x06fernet\x04acme\x00\x00\x00\x02"))
	if got != want {
		t.Fatalf("LegacyKeyAAD: got %s, want %s", got, want)
	}
}

// No legacy-key AAD equals a DEK AAD, nor another legacy-key AAD.
func TestLegacyKeyAADDistinct(t *testing.T) {
	orgs := []string{"", "a", "acme", "acme\x00", "keyward/dek/v1", string(make([]byte, MaxOrgIDLen))}
	seen := map[string]string{}
	add := func(name string, b []byte) {
		if prev, ok := seen[string(b)]; ok {
			t.Fatalf("%s and %s share the AAD %x", prev, name, b)
		}
		seen[string(b)] = name
	}
	for _, org := range orgs {
		for _, v := range []uint32{0, 1, 2, 1 << 31, ^uint32(0)} {
			add("dek "+org, DEKAAD(org, v))
			add("fernet "+org, LegacyKeyAAD("fernet", org, v))
			add("other "+org, LegacyKeyAAD("other", org, v))
		}
	}
	if bytes.HasPrefix(LegacyKeyAAD("fernet", "x", 1), DEKAAD("x", 1)[:15]) {
		t.Fatal("legacy AAD starts with the DEK label")
	}
}
