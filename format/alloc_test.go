package format

import (
	"bytes"
	"testing"
)

// The hot path pools buffers: with enough capacity, building the AAD,
// sealing, parsing the binary form and opening allocate nothing.
func TestAllocs(t *testing.T) {
	const org, context = "org_01HZX", "channels.access_token#42"
	aead := mustAEAD(t, testKey())
	plaintext := bytes.Repeat([]byte{'p'}, 256)
	const kv = 300
	aadBuf := make([]byte, 0, AADSize(org, context))
	sealBuf := make([]byte, 0, SealedSize(kv, len(plaintext)))
	aad := AppendAAD(nil, V1, org, kv, context)
	sealed := Seal(nil, aead, kv, plaintext, aad)
	f, err := ParseBinary(sealed)
	if err != nil {
		t.Fatal(err)
	}
	openBuf := make([]byte, 0, len(plaintext))
	textBuf := make([]byte, 0, 1024)
	tests := []struct {
		name string
		fn   func()
	}{
		{"AppendAAD", func() { aadBuf = AppendAAD(aadBuf[:0], V1, org, kv, context) }},
		{"Seal", func() { sealBuf = Seal(sealBuf[:0], aead, kv, plaintext, aad) }},
		{"AAD+Seal", func() {
			aadBuf = AppendAAD(aadBuf[:0], V1, org, kv, context)
			sealBuf = Seal(sealBuf[:0], aead, kv, plaintext, aadBuf)
		}},
		{"ParseBinary", func() { f, _ = ParseBinary(sealed) }},
		{"Open", func() {
			var err error
			if openBuf, err = Open(openBuf[:0], aead, f, aad); err != nil {
				panic(err)
			}
		}},
		{"AppendBinary", func() { textBuf, _ = f.AppendBinary(textBuf[:0]) }},
		{"AppendText", func() { textBuf, _ = f.AppendText(textBuf[:0]) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := testing.AllocsPerRun(100, tt.fn), 0.0; got != want {
				t.Errorf("allocations per run = %v, want %v", got, want)
			}
		})
	}
	// ParseText must allocate the decoded Sealed and nothing else.
	text, _ := f.MarshalText()
	if got, want := testing.AllocsPerRun(100, func() { f, _ = ParseText(text) }), 1.0; got != want {
		t.Errorf("ParseText allocations per run = %v, want %v", got, want)
	}
	if _, err := Open(nil, aead, f, aad); err != nil {
		t.Fatalf("Open after the alloc runs: %v", err)
	}
}
