package localkms

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// Two fixed keys for golden files (not secret: tests only).
var (
	key1 = bytes.Repeat([]byte{0x11}, 32)
	key2 = []byte("0123456789abcdef0123456789abcdef")
)

const (
	line1 = "keyward-local-kek v1 ERERERERERERERERERERERERERERERERERERERERERE=\n"
	line2 = "keyward-local-kek v2 MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"
)

func TestEncodeGolden(t *testing.T) {
	got := string(encode([][]byte{key1, key2}))
	want := header + line1 + line2
	if got != want {
		t.Errorf("encode = %q, want %q", got, want)
	}
	if !strings.Contains(got, "development only — not for production") {
		t.Errorf("encoded file lacks the development-only warning")
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want [][]byte
	}{
		{"canonical", header + line1 + line2, [][]byte{key1, key2}},
		{"no header", line1, [][]byte{key1}},
		{"no final newline", strings.TrimSuffix(line1, "\n"), [][]byte{key1}},
		{"blank lines and comments", "\n# a\n\n" + line1 + "#b\n\n" + line2 + "\n", [][]byte{key1, key2}},
		{"comment with carriage return", "# c\r\n" + line1, [][]byte{key1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse([]byte(tt.in))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("parse returned %d keys, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if !bytes.Equal(got[i], tt.want[i]) {
					t.Errorf("key v%d differs", i+1)
				}
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	k1 := strings.TrimSuffix(line1, "\n")
	b1 := strings.TrimPrefix(k1, "keyward-local-kek v1 ")
	tests := []struct {
		name, in, wantMsg string
	}{
		{"empty", "", "no key line"},
		{"only comments", header, "no key line"},
		{"crlf", k1 + "\r\n", "line 1: carriage return"},
		{"wrong magic", "keyward-local-key v1 " + b1 + "\n", "line 1: want"},
		{"tab separated", "keyward-local-kek\tv1\t" + b1 + "\n", "line 1: want"},
		{"double space", "keyward-local-kek  v1 " + b1 + "\n", "line 1: want"},
		{"trailing space", k1 + " \n", "line 1: want"},
		{"leading space", " " + line1, "line 1: want"},
		{"indented comment", " # c\n" + line1, "line 1: want"},
		{"whitespace-only line", " \n" + line1, "line 1: want"},
		{"missing key", "keyward-local-kek v1\n", "line 1: want"},
		{"extra field", k1 + " x\n", "line 1: want"},
		{"version zero", "keyward-local-kek v0 " + b1 + "\n", "want version v1"},
		{"version 2 first", "keyward-local-kek v2 " + b1 + "\n", "want version v1"},
		{"leading zero", "keyward-local-kek v01 " + b1 + "\n", "want version v1"},
		{"no v", "keyward-local-kek 1 " + b1 + "\n", "want version v1"},
		{"upper V", "keyward-local-kek V1 " + b1 + "\n", "want version v1"},
		{"plus sign", "keyward-local-kek v+1 " + b1 + "\n", "want version v1"},
		{"duplicate version", line1 + line1, "line 2: want version v2"},
		{"gap", line1 + strings.Replace(line2, "v2", "v3", 1), "line 2: want version v2"},
		{"descending", strings.Replace(line2, "v2", "v1", 1) + strings.Replace(line1, "v1", "v2", 1) + "keyward-local-kek v1 " + b1 + "\n", "line 3: want version v3"},
		{"unpadded base64", "keyward-local-kek v1 " + strings.TrimSuffix(b1, "=") + "\n", "line 1: key is not 32 bytes"},
		{"url base64", "keyward-local-kek v1 " + "____________________________________________\n", "line 1: key is not 32 bytes"},
		{"non-canonical padding bits", "keyward-local-kek v1 " + strings.TrimSuffix(b1, "E=") + "F=\n", "line 1: key is not 32 bytes"},
		{"16-byte key", "keyward-local-kek v1 ERERERERERERERERERERER==\n", "line 1: key is not 32 bytes"},
		{"33-byte key", "keyward-local-kek v1 ERERERERERERERERERERERERERERERERERERERERERER\n", "line 1: key is not 32 bytes"},
		{"bad line after good", line1 + "garbage\n", "line 2: want"},
		{"too large", line1 + "#" + strings.Repeat("x", maxFileSize) + "\n", "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse([]byte(tt.in))
			if err == nil {
				t.Fatalf("parse accepted %q (%d keys)", tt.name, len(got))
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("parse error = %q, want it to contain %q", err, tt.wantMsg)
			}
			if strings.Contains(err.Error(), b1[:16]) || strings.Contains(err.Error(), "ERERERERERER") {
				t.Errorf("parse error %q echoes key material", err)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(header + line1 + line2))
	f.Add([]byte(line1))
	f.Add([]byte("# c\n\n" + line1 + "\n"))
	f.Add([]byte(strings.Replace(line1, "v1", "v2", 1)))
	f.Add([]byte(line1 + "\r\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := parse(data)
		if err != nil {
			if keys != nil {
				t.Fatalf("parse returned %d keys with its error", len(keys))
			}
			if errors.Is(err, ErrMalformedFile) {
				t.Fatalf("parse wraps ErrMalformedFile itself; readKeyFile does that")
			}
			return
		}
		for i, k := range keys {
			if len(k) != 32 {
				t.Fatalf("key v%d is %d bytes", i+1, len(k))
			}
		}
		enc := encode(keys)
		again, err := parse(enc)
		if err != nil {
			t.Fatalf("parse(encode(parse(x))) failed: %v", err)
		}
		if len(again) != len(keys) {
			t.Fatalf("round trip: %d keys, want %d", len(again), len(keys))
		}
		for i := range keys {
			if !bytes.Equal(again[i], keys[i]) {
				t.Fatalf("round trip: key v%d differs", i+1)
			}
		}
		if enc2 := encode(again); !bytes.Equal(enc, enc2) {
			t.Fatalf("encode is not canonical:\n%q\n%q", enc, enc2)
		}
		// Stripped of comments and blank lines, x must already be canonical.
		var kept [][]byte
		for _, l := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
			if len(l) > 0 && l[0] != '#' {
				kept = append(kept, l)
			}
		}
		if got, want := string(bytes.Join(kept, []byte("\n")))+"\n", strings.TrimPrefix(string(enc), header); got != want {
			t.Fatalf("accepted a non-canonical key line:\n%q\nwant\n%q", got, want)
		}
	})
}
