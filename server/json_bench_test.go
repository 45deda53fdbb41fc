package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"
)

func batchBody(n, size int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"items":[`)
	pt := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{'x'}, size))
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"plaintext":%q,"context":"users.api_key:%d"}`, pt, i)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// BenchmarkDecodeBatch compares the batch parser with encoding/json on a
// 1000-item encrypt batch of 32-byte values.
func BenchmarkDecodeBatch(b *testing.B) {
	body := batchBody(1000, 32)
	b.Run("parser", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			p := parser{b: body, b64: true, field: "plaintext"}
			if _, err := p.parse(1000); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		type item struct {
			Plaintext []byte `json:"plaintext"`
			Context   string `json:"context"`
		}
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var req struct {
				Items []item `json:"items"`
			}
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				b.Fatal(err)
			}
		}
	})
}
