package policy

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

func TestParseToken(t *testing.T) {
	raw := bytes.Repeat([]byte{0xab}, tokenBytes)
	tok := formatToken(raw)
	if len(tok) != TokenLen || !strings.HasPrefix(tok, "kw_") {
		t.Fatalf("formatToken: %q (len %d), want kw_ and %d characters", tok, len(tok), TokenLen)
	}
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{tok, true},
		{"Bearer " + tok, true},
		{"bearer  " + tok, true},
		{"BEARER " + tok, true},
		{"", false},
		{"Bearer ", false},
		{"Bearer", false},
		{"Basic " + tok, false},
		{tok + " ", false},
		{" " + tok, false},
		{tok[:len(tok)-1], false},
		{tok + "A", false},
		{"KW_" + tok[3:], false},
		{"kw-" + tok[3:], false},
		{"kw_" + strings.Repeat("+", 43), false},       // std alphabet
		{"kw_" + strings.Repeat("A", 42) + "B", false}, // stray bits: not canonical
		{"kw_" + strings.Repeat("A", 42) + "=", false},
	} {
		got, ok := parseToken(tc.in)
		if ok != tc.ok {
			t.Errorf("parseToken(%q): ok %v, want %v", tc.in, ok, tc.ok)
		}
		if ok && !bytes.Equal(got, raw) {
			t.Errorf("parseToken(%q): got %x, want %x", tc.in, got, raw)
		}
	}
}

func TestTokenID(t *testing.T) {
	raw := newToken()
	id := tokenID(raw)
	if len(id) != len("tok_")+24 || !strings.HasPrefix(id, "tok_") {
		t.Fatalf("tokenID: %q, want tok_ and 24 hex digits", id)
	}
	sum := tokenHash(raw)
	if strings.Contains(id, hex.EncodeToString(sum[:3])) {
		t.Errorf("id %q contains a prefix of the stored hash %x", id, sum)
	}
	if got, err := TokenID(formatToken(raw)); err != nil || got != id {
		t.Errorf("TokenID: got %q, %v; want %q", got, err, id)
	}
	if tokenID(newToken()) == id {
		t.Errorf("two tokens share id %s", id)
	}
	if _, err := TokenID("nope"); err != ErrUnauthenticated {
		t.Errorf("TokenID(malformed): got %v, want ErrUnauthenticated", err)
	}
}

// FuzzParseToken checks that the token parser never panics, that whatever
// it accepts is 32 bytes whose printed form is the input (one form per
// token, so one hash per token), and that any change to an accepted token
// is refused or decodes to other bytes.
func FuzzParseToken(f *testing.F) {
	tok := formatToken(bytes.Repeat([]byte{7}, tokenBytes))
	for _, s := range []string{tok, "Bearer " + tok, "", "kw_", "Bearer", tok[:45] + "=", "kw_" + strings.Repeat("_", 43)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		raw, ok := parseToken(s)
		if !ok {
			if raw != nil {
				t.Fatalf("parseToken(%q) refused but returned bytes", s)
			}
			return
		}
		if len(raw) != tokenBytes {
			t.Fatalf("parseToken(%q): %d bytes", s, len(raw))
		}
		printed := formatToken(raw)
		if !strings.HasSuffix(s, printed) {
			t.Fatalf("parseToken(%q) = %x, which prints as %q", s, raw, printed)
		}
	})
}
