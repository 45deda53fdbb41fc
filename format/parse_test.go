package format

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// validSealed is 28 bytes of nonce ‖ tag around a 2-byte ciphertext.
func validSealed() []byte {
	b := make([]byte, Overhead+2)
	for i := range b {
		b[i] = byte(i + 1)
	}
	return b
}

func TestParseBinaryErrors(t *testing.T) {
	s := validSealed()
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name string
		in   []byte
		want error // nil: parses
	}{
		{"ok kv 1", cat([]byte{1, 1}, s), nil},
		{"ok kv 300", cat([]byte{1, 0xac, 0x02}, s), nil},
		{"ok kv max", cat([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f}, s), nil},
		{"ok empty ciphertext", cat([]byte{1, 1}, s[:Overhead]), nil},
		{"empty", nil, ErrMalformed},
		{"version only", []byte{1}, ErrMalformed},
		{"format version 0", cat([]byte{0, 1}, s), ErrMalformed},
		{"format version 2", cat([]byte{2, 1}, s), ErrUnsupported},
		{"format version 0x1f", cat([]byte{0x1f, 1}, s), ErrUnsupported},
		{"leading 0x20", cat([]byte{0x20, 1}, s), ErrMalformed},
		{"leading 0x80 (fernet)", cat([]byte{0x80, 1}, s), ErrMalformed},
		{"text form", []byte("kw1:1:AAAA"), ErrMalformed},
		{"key version 0", cat([]byte{1, 0}, s), ErrMalformed},
		{"key version 0 non-minimal", cat([]byte{1, 0x80, 0x00}, s), ErrMalformed},
		{"key version 1 non-minimal", cat([]byte{1, 0x81, 0x00}, s), ErrMalformed},
		{"key version 300 non-minimal", cat([]byte{1, 0xac, 0x82, 0x00}, s), ErrMalformed},
		{"key version 2^32", cat([]byte{1, 0x80, 0x80, 0x80, 0x80, 0x10}, s), ErrMalformed},
		{"key version 6 bytes", cat([]byte{1, 0x81, 0x80, 0x80, 0x80, 0x80, 0x00}, s), ErrMalformed},
		{"key version overflow", cat([]byte{1}, bytes.Repeat([]byte{0xff}, 11), s), ErrMalformed},
		{"truncated key version", []byte{1, 0x80}, ErrMalformed},
		{"sealed one short", cat([]byte{1, 1}, s[:Overhead-1]), ErrMalformed},
		{"no sealed", []byte{1, 1}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseBinary(tt.in)
			checkParseResult(t, "ParseBinary", err, tt.want)
			if err == nil {
				re, err := f.MarshalBinary()
				if err != nil || !bytes.Equal(re, tt.in) {
					t.Errorf("re-encoding = %x, %v; want %x", re, err, tt.in)
				}
			}
			// Parse agrees on binary input.
			if _, perr := Parse(tt.in); !sameKind(perr, err) {
				t.Errorf("Parse error = %v, ParseBinary error = %v; want the same kind", perr, err)
			}
		})
	}
}

func TestParseTextErrors(t *testing.T) {
	p := base64.RawURLEncoding.EncodeToString(validSealed()) // 30 bytes → 40 chars
	short := base64.RawURLEncoding.EncodeToString(validSealed()[:Overhead-1])
	// A 29-byte payload has a trailing 2-bit remainder: 29 = 9*3+2 → 39 chars,
	// the last of which carries 2 unused bits.
	odd := base64.RawURLEncoding.EncodeToString(append(validSealed()[:Overhead], 0))
	nonCanonicalOdd := odd[:len(odd)-1] + "B" // 'A'→'B' sets an unused bit
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"ok", "kw1:1:" + p, nil},
		{"ok kv max", "kw1:4294967295:" + p, nil},
		{"ok odd length", "kw1:7:" + odd, nil},
		{"empty", "", ErrMalformed},
		{"prefix only", "kw1:", ErrMalformed},
		{"no payload separator", "kw1:1", ErrMalformed},
		{"empty payload", "kw1:1:", ErrMalformed},
		{"short payload", "kw1:1:" + short, ErrMalformed},
		{"format version 2", "kw2:1:" + p, ErrUnsupported},
		{"format version 10", "kw10:1:" + p, ErrUnsupported},
		{"format version 0", "kw0:1:" + p, ErrMalformed},
		{"format version 01", "kw01:1:" + p, ErrMalformed},
		{"format version huge", "kw99999999999:1:" + p, ErrMalformed},
		{"format version no colon", "kw2", ErrMalformed},
		{"upper-case prefix", "KW1:1:" + p, ErrMalformed},
		{"leading space", " kw1:1:" + p, ErrMalformed},
		{"key version 0", "kw1:0:" + p, ErrMalformed},
		{"key version leading zero", "kw1:01:" + p, ErrMalformed},
		{"key version plus", "kw1:+1:" + p, ErrMalformed},
		{"key version minus", "kw1:-1:" + p, ErrMalformed},
		{"key version space", "kw1: 1:" + p, ErrMalformed},
		{"key version empty", "kw1::" + p, ErrMalformed},
		{"key version 2^32", "kw1:4294967296:" + p, ErrMalformed},
		{"key version hex", "kw1:0x1:" + p, ErrMalformed},
		{"trailing newline", "kw1:1:" + p + "\n", ErrMalformed},
		{"trailing crlf", "kw1:1:" + p + "\r\n", ErrMalformed},
		{"embedded newline", "kw1:1:" + p[:4] + "\n" + p[4:], ErrMalformed},
		{"trailing space", "kw1:1:" + p + " ", ErrMalformed},
		{"trailing colon", "kw1:1:" + p + ":", ErrMalformed},
		{"padding", "kw1:7:" + odd + "=", ErrMalformed},
		{"std alphabet", "kw1:1:" + strings.ReplaceAll(strings.ReplaceAll(p, "-", "+"), "_", "/") + "+/", ErrMalformed},
		{"non-zero trailing bits", "kw1:7:" + nonCanonicalOdd, ErrMalformed},
		{"length 1 mod 4", "kw1:1:" + p + "A", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseText([]byte(tt.in))
			checkParseResult(t, "ParseText", err, tt.want)
			if err == nil {
				if got, want := f.String(), tt.in; got != want {
					t.Errorf("re-encoding = %q, want %q", got, want)
				}
			}
			if _, perr := Parse([]byte(tt.in)); tt.in != "" && tt.in[0] == 'k' && !sameKind(perr, err) {
				t.Errorf("Parse error = %v, ParseText error = %v; want the same kind", perr, err)
			}
		})
	}
}

func TestUnmarshalJSONErrors(t *testing.T) {
	iv := b64std(make([]byte, NonceSize))
	tag := b64std(make([]byte, TagSize))
	ct := b64std([]byte("ab"))
	obj := func(members ...string) string { return "{" + strings.Join(members, ",") + "}" }
	v, kv, ivm, ctm, tagm := `"v":1`, `"kv":3`, `"iv":"`+iv+`"`, `"ct":"`+ct+`"`, `"tag":"`+tag+`"`
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"ok", obj(v, kv, ivm, ctm, tagm), nil},
		{"ok reordered with spaces", " { " + strings.Join([]string{tagm, ctm, kv, ivm, v}, " , ") + " } \n", nil},
		{"ok empty ct", obj(v, kv, ivm, `"ct":""`, tagm), nil},
		{"ok escaped key", obj(`"\u0076":1`, kv, ivm, ctm, tagm), nil},
		{"empty", "", ErrMalformed},
		{"null", "null", ErrMalformed},
		{"array", "[]", ErrMalformed},
		{"empty object", "{}", ErrMalformed},
		{"missing v", obj(kv, ivm, ctm, tagm), ErrMalformed},
		{"missing kv", obj(v, ivm, ctm, tagm), ErrMalformed},
		{"missing iv", obj(v, kv, ctm, tagm), ErrMalformed},
		{"missing ct", obj(v, kv, ivm, tagm), ErrMalformed},
		{"missing tag", obj(v, kv, ivm, ctm), ErrMalformed},
		{"unknown member", obj(v, kv, ivm, ctm, tagm, `"x":1`), ErrMalformed},
		{"unknown nested member", obj(v, kv, ivm, ctm, tagm, `"x":{"a":[1,{"b":2}]}`), ErrMalformed},
		{"upper-case member", obj(`"V":1`, kv, ivm, ctm, tagm), ErrMalformed},
		{"duplicate v", obj(v, v, kv, ivm, ctm, tagm), ErrMalformed},
		{"duplicate v with another version", obj(v, `"v":2`, kv, ivm, ctm, tagm), ErrMalformed},
		{"duplicate v another version first", obj(`"v":2`, v, kv, ivm, ctm, tagm), ErrMalformed},
		{"duplicate ct", obj(v, kv, ivm, ctm, ctm, tagm), ErrMalformed},
		{"duplicate via escape", obj(v, kv, ivm, ctm, tagm, `"t\u0061g":"`+tag+`"`), ErrMalformed},
		{"v 2", obj(`"v":2`, kv, ivm, ctm, tagm), ErrUnsupported},
		{"v 2 with other members", obj(`"v":2`, `"kv":3`, `"nonce":"x"`), ErrUnsupported},
		{"v 0", obj(`"v":0`, kv, ivm, ctm, tagm), ErrMalformed},
		{"v 256", obj(`"v":256`, kv, ivm, ctm, tagm), ErrMalformed},
		{"v string", obj(`"v":"1"`, kv, ivm, ctm, tagm), ErrMalformed},
		{"v 1.0", obj(`"v":1.0`, kv, ivm, ctm, tagm), ErrMalformed},
		{"v 1e0", obj(`"v":1e0`, kv, ivm, ctm, tagm), ErrMalformed},
		{"v object", obj(`"v":{}`, kv, ivm, ctm, tagm), ErrMalformed},
		{"kv 0", obj(v, `"kv":0`, ivm, ctm, tagm), ErrMalformed},
		{"kv negative", obj(v, `"kv":-3`, ivm, ctm, tagm), ErrMalformed},
		{"kv 2^32", obj(v, `"kv":4294967296`, ivm, ctm, tagm), ErrMalformed},
		{"kv null", obj(v, `"kv":null`, ivm, ctm, tagm), ErrMalformed},
		{"kv array", obj(v, `"kv":[3]`, ivm, ctm, tagm), ErrMalformed},
		{"iv short", obj(v, kv, `"iv":"`+b64std(make([]byte, 11))+`"`, ctm, tagm), ErrMalformed},
		{"iv url alphabet", obj(v, kv, `"iv":"`+base64.RawURLEncoding.EncodeToString(make([]byte, 12))+`"`, ctm, tagm), nil}, // 12 zero bytes: same in both alphabets, no padding needed
		{"tag long", obj(v, kv, ivm, ctm, `"tag":"`+b64std(make([]byte, 17))+`"`), ErrMalformed},
		{"ct unpadded", obj(v, kv, ivm, `"ct":"YWI"`, tagm), ErrMalformed},
		{"ct url alphabet", obj(v, kv, ivm, `"ct":"-_8="`, tagm), ErrMalformed},
		{"ct non-zero trailing bits", obj(v, kv, ivm, `"ct":"YWJ="`, tagm), ErrMalformed},
		{"ct escaped newline", obj(v, kv, ivm, `"ct":"YW\nI="`, tagm), ErrMalformed},
		{"ct number", obj(v, kv, ivm, `"ct":1`, tagm), ErrMalformed},
		{"trailing data", obj(v, kv, ivm, ctm, tagm) + "{}", ErrMalformed},
		{"trailing garbage", obj(v, kv, ivm, ctm, tagm) + "x", ErrMalformed},
		{"unterminated", `{"v":1,"kv":3`, ErrMalformed},
		{"trailing comma", `{"v":1,}`, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f Field
			err := f.UnmarshalJSON([]byte(tt.in))
			checkParseResult(t, "UnmarshalJSON", err, tt.want)
			if err == nil {
				re, err := f.MarshalJSON()
				if err != nil {
					t.Fatalf("MarshalJSON: %v", err)
				}
				var g Field
				if err := g.UnmarshalJSON(re); err != nil || !fieldsEqual(f, g) {
					t.Errorf("re-encoded %s does not parse back to the same field (err %v)", re, err)
				}
			}
			if _, perr := Parse([]byte(tt.in)); strings.HasPrefix(tt.in, "{") && !sameKind(perr, err) {
				t.Errorf("Parse error = %v, UnmarshalJSON error = %v; want the same kind", perr, err)
			}
		})
	}
}

func TestParseDetect(t *testing.T) {
	f := sealedField(t, 300, []byte("value"), "acme", "t.c")
	bin, _ := f.MarshalBinary()
	txt, _ := f.MarshalText()
	js, _ := f.MarshalJSON()
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"binary", bin, nil},
		{"text", txt, nil},
		{"json", js, nil},
		{"empty", nil, ErrMalformed},
		{"binary version 2", append([]byte{2}, bin[1:]...), ErrUnsupported},
		{"text version 2", append([]byte("kw2"), txt[3:]...), ErrUnsupported},
		{"json version 2", bytes.Replace(js, []byte(`"v":1`), []byte(`"v":2`), 1), ErrUnsupported},
		{"fernet token", []byte("gAAAAABmZ2V0dGluZy1zdGFydGVk"), ErrMalformed},
		{"fernet binary", []byte{0x80, 0, 0, 0, 0}, ErrMalformed},
		{"plain text", []byte("hello"), ErrMalformed},
		{"json with leading space", append([]byte(" "), js...), ErrMalformed},
		{"k but not kw", []byte("key"), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			checkParseResult(t, "Parse", err, tt.want)
			if err == nil && !fieldsEqual(got, f) {
				t.Errorf("Parse = {%d %d %x}, want {%d %d %x}", got.Version, got.KeyVersion, got.Sealed, f.Version, f.KeyVersion, f.Sealed)
			}
		})
	}
}

// TestErrorsDoNotQuoteInput checks that parse errors never echo the input.
func TestErrorsDoNotQuoteInput(t *testing.T) {
	const marker = "SECRETMARKER"
	inputs := []string{
		marker,
		"kw1:" + marker,
		"kw1:1:" + marker,
		"kw" + marker + ":",
		`{"` + marker + `":1}`,
		`{"v":1,"kv":1,"iv":"` + marker + `","ct":"","tag":""}`,
		`{"v":"` + marker + `"}`,
		`{` + marker,
		"\x01\x01" + marker,
	}
	for _, in := range inputs {
		_, err := Parse([]byte(in))
		if err == nil {
			t.Fatalf("Parse(%q) = nil error, want failure", in)
		}
		if strings.Contains(err.Error(), marker) || strings.Contains(strings.ToLower(err.Error()), strings.ToLower(marker)) {
			t.Errorf("Parse(%q) error %q quotes the input", in, err)
		}
		if msg := err.Error(); msg != strings.ToLower(msg) {
			t.Errorf("error %q is not lower-case", msg)
		}
	}
}

func checkParseResult(t *testing.T, fn string, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("%s error = %v, want nil", fn, err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("%s error = %v, want %v", fn, err, want)
	}
	if errors.Is(err, ErrMalformed) && errors.Is(err, ErrUnsupported) {
		t.Fatalf("%s error = %v is both malformed and unsupported", fn, err)
	}
}

// sameKind reports whether a and b are both nil, both ErrMalformed or both
// ErrUnsupported.
func sameKind(a, b error) bool {
	return (a == nil) == (b == nil) &&
		errors.Is(a, ErrMalformed) == errors.Is(b, ErrMalformed) &&
		errors.Is(a, ErrUnsupported) == errors.Is(b, ErrUnsupported)
}
