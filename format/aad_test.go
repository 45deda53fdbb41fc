package format

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

type aadInput struct {
	formatVersion byte
	org           string
	keyVersion    uint32
	context       string
}

func (in aadInput) encode() []byte {
	return AppendAAD(nil, in.formatVersion, in.org, in.keyVersion, in.context)
}

func TestAppendAADLayout(t *testing.T) {
	got := AppendAAD([]byte("pre"), V1, "acme", 0x01020304, "t.c")
	want, _ := hex.DecodeString("707265" + // "pre" stays in front
		"0d" + hex.EncodeToString([]byte("keyward/field")) + // u8 len ‖ label
		"01" + // format version
		"0004" + hex.EncodeToString([]byte("acme")) + // u16be len ‖ org
		"01020304" + // u32be key version
		"00000003" + hex.EncodeToString([]byte("t.c"))) // u32be len ‖ context
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendAAD = %x, want %x", got, want)
	}
	if got, want := len(got)-3, AADSize("acme", "t.c"); got != want {
		t.Errorf("appended %d bytes, AADSize = %d", got, want)
	}
}

func TestAADSize(t *testing.T) {
	for _, tt := range []struct{ org, context string }{
		{"", ""}, {"a", ""}, {"", "b"}, {"org_01HZX", "channels.access_token#42"},
		{strings.Repeat("o", MaxOrgLen), strings.Repeat("c", 70000)},
	} {
		if got, want := len(AppendAAD(nil, V1, tt.org, 1, tt.context)), AADSize(tt.org, tt.context); got != want {
			t.Errorf("len(AppendAAD(%d-byte org, %d-byte context)) = %d, want AADSize %d", len(tt.org), len(tt.context), got, want)
		}
	}
}

func TestAADDistinct(t *testing.T) {
	base := aadInput{V1, "acme", 1, "channels.access_token"}
	tests := []struct {
		name string
		a, b aadInput
	}{
		{"org", base, aadInput{V1, "acme2", 1, "channels.access_token"}},
		{"context", base, aadInput{V1, "acme", 1, "channels.refresh_token"}},
		{"row in context", aadInput{V1, "acme", 1, "t.c#1"}, aadInput{V1, "acme", 1, "t.c#2"}},
		{"key version", base, aadInput{V1, "acme", 2, "channels.access_token"}},
		{"key version high byte", base, aadInput{V1, "acme", 1 | 1<<24, "channels.access_token"}},
		{"format version", base, aadInput{2, "acme", 1, "channels.access_token"}},
		// Pairs that naive concatenation of the parts would make equal.
		{"org/context boundary ab+c vs a+bc", aadInput{V1, "ab", 1, "c"}, aadInput{V1, "a", 1, "bc"}},
		{"org absorbs context", aadInput{V1, "abc", 1, ""}, aadInput{V1, "", 1, "abc"}},
		{"empty org vs empty context", aadInput{V1, "", 1, "x"}, aadInput{V1, "x", 1, ""}},
		{"separator inside org", aadInput{V1, "a:b", 1, "c"}, aadInput{V1, "a", 1, "b:c"}},
		{"separator inside context", aadInput{V1, "a|", 1, "b"}, aadInput{V1, "a", 1, "|b"}},
		{"nul bytes", aadInput{V1, "a\x00", 1, "b"}, aadInput{V1, "a", 1, "\x00b"}},
		// The key version bytes sit between org and context; a naive
		// encoding could trade them for org or context bytes.
		{"version digits vs org", aadInput{V1, "acme1", 2, "c"}, aadInput{V1, "acme", 12, "c"}},
		{"version bytes vs org bytes", aadInput{V1, "a\x00\x00\x00", 1, ""}, aadInput{V1, "a", 0, "\x00\x00\x00\x01"}},
		{"length bytes vs content", aadInput{V1, "", 0x00000003, "abc"}, aadInput{V1, "\x00\x00", 0x03616263, ""}},
		{"format version vs org", aadInput{V1, "x", 1, ""}, aadInput{'x', "", 1, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := tt.a.encode(), tt.b.encode()
			if bytes.Equal(a, b) {
				t.Fatalf("AAD(%+v) == AAD(%+v) = %x; want different", tt.a, tt.b, a)
			}
		})
	}
}

// TestAADInjective checks, over a grid of short inputs, that no two distinct
// tuples encode the same.
func TestAADInjective(t *testing.T) {
	parts := []string{"", "a", "b", "ab", "ba", "\x00", "a\x00", "\x00\x00\x00\x01", "abc"}
	seen := make(map[string]aadInput)
	for _, fv := range []byte{0, V1, 2} {
		for _, org := range parts {
			for _, kv := range []uint32{0, 1, 2, 0x61, 0x00616263} {
				for _, ctx := range parts {
					in := aadInput{fv, org, kv, ctx}
					key := string(in.encode())
					if prev, dup := seen[key]; dup {
						t.Fatalf("AAD(%+v) == AAD(%+v)", prev, in)
					}
					seen[key] = in
				}
			}
		}
	}
}

func TestAADBindsCiphertext(t *testing.T) {
	const org, context = "acme", "channels.access_token#7"
	aead := mustAEAD(t, testKey())
	f := sealedField(t, 4, []byte("token"), org, context)
	tests := []struct {
		name string
		in   aadInput
		want error
	}{
		{"same", aadInput{V1, org, 4, context}, nil},
		{"other org", aadInput{V1, "acme-evil", 4, context}, ErrDecrypt},
		{"other column", aadInput{V1, org, 4, "channels.refresh_token#7"}, ErrDecrypt},
		{"other row", aadInput{V1, org, 4, "channels.access_token#8"}, ErrDecrypt},
		{"other key version", aadInput{V1, org, 5, context}, ErrDecrypt},
		{"other format version", aadInput{2, org, 4, context}, ErrDecrypt},
		{"boundary shift", aadInput{V1, org + "c", 4, context[1:]}, ErrDecrypt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(nil, aead, f, tt.in.encode())
			if got, want := err, tt.want; got != want {
				t.Fatalf("Open error = %v, want %v", got, want)
			}
		})
	}
}

func TestAppendAADPanicsOnOversizedOrg(t *testing.T) {
	defer func() {
		r := recover()
		if r == nil {
			t.Fatal("AppendAAD with an oversized org did not panic")
		}
		if msg, _ := r.(string); strings.Contains(msg, "oooo") {
			t.Errorf("panic message %q quotes the org", msg)
		}
	}()
	AppendAAD(nil, V1, strings.Repeat("o", MaxOrgLen+1), 1, "")
}

// TestAADPrefixContext checks that the two halves make exactly AppendAAD's
// bytes, so a caller caching the prefix builds the canonical AAD.
func TestAADPrefixContext(t *testing.T) {
	tests := []struct {
		org     string
		version uint32
		context string
	}{
		{"a", 1, ""},
		{"acme", 0x01020304, "t.c"},
		{"org.with-dots_1", 1 << 31, "channels.access_token#42"},
	}
	for _, tt := range tests {
		want := AppendAAD(nil, V1, tt.org, tt.version, tt.context)
		got := AppendAADContext(AppendAADPrefix(nil, V1, tt.org, tt.version), tt.context)
		if !bytes.Equal(got, want) {
			t.Errorf("prefix+context(%q, %d, %q) = %x, want %x", tt.org, tt.version, tt.context, got, want)
		}
	}
}
