package server

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/keyward/keyward/errcode"
)

func TestParser(t *testing.T) {
	type item struct{ value, context string }
	tests := []struct {
		name, body, field string
		want              []item
		batch             bool
		code              string
	}{
		{"single", `{"plaintext":"aGk=","context":"a.b"}`, "plaintext", []item{{"hi", "a.b"}}, false, ""},
		{"no context", `{"plaintext":"aGk="}`, "plaintext", []item{{"hi", ""}}, false, ""},
		{"null context", `{"plaintext":"aGk=","context":null}`, "plaintext", []item{{"hi", ""}}, false, ""},
		{"empty plaintext", `{"plaintext":""}`, "plaintext", []item{{"", ""}}, false, ""},
		{"whitespace", " \n{ \"context\" : \"x\" ,\t\"plaintext\":\"aGk=\" } \r\n", "plaintext", []item{{"hi", "x"}}, false, ""},
		{"batch", `{"items":[{"plaintext":"YQ==","context":"c1"},{"plaintext":"Yg==","context":""},{"context":"c3","plaintext":"Yw=="}]}`, "plaintext",
			[]item{{"a", "c1"}, {"b", ""}, {"c", "c3"}}, true, ""},
		{"escapes in context", `{"ciphertext":"kw1:1:x","context":"a\"b\\c\u00e9\ud83d\ude00\n"}`, "ciphertext", []item{{"kw1:1:x", "a\"b\\c\u00e9\U0001F600\n"}}, false, ""},
		{"escaped ciphertext", `{"ciphertext":"{\"v\":1}"}`, "ciphertext", []item{{`{"v":1}`, ""}}, false, ""},
		{"utf-8 context", `{"ciphertext":"x","context":"täble"}`, "ciphertext", []item{{"x", "täble"}}, false, ""},

		{"empty body", ``, "plaintext", nil, false, errcode.InvalidJSON},
		{"not an object", `[]`, "plaintext", nil, false, errcode.InvalidJSON},
		{"truncated", `{"plaintext":"aGk=`, "plaintext", nil, false, errcode.InvalidJSON},
		{"trailing data", `{"plaintext":"aGk="} {}`, "plaintext", nil, false, errcode.InvalidJSON},
		{"trailing comma", `{"plaintext":"aGk=",}`, "plaintext", nil, false, errcode.InvalidJSON},
		{"unknown field", `{"plaintext":"aGk=","extra":1}`, "plaintext", nil, false, errcode.InvalidRequest},
		{"wrong value field", `{"ciphertext":"x"}`, "plaintext", nil, false, errcode.InvalidRequest},
		{"duplicate field", `{"plaintext":"aGk=","plaintext":"aGk="}`, "plaintext", nil, false, errcode.InvalidJSON},
		{"duplicate context", `{"plaintext":"aGk=","context":"a","context":"b"}`, "plaintext", nil, false, errcode.InvalidJSON},
		{"number plaintext", `{"plaintext":5}`, "plaintext", nil, false, errcode.InvalidJSON},
		{"null plaintext", `{"plaintext":null}`, "plaintext", nil, false, errcode.InvalidJSON},
		{"bad base64", `{"plaintext":"aGk"}`, "plaintext", nil, false, errcode.InvalidBase64},
		{"base64url", `{"plaintext":"-_8="}`, "plaintext", nil, false, errcode.InvalidBase64},
		{"base64 newline ignored, as encoding/base64 does", `{"plaintext":"aG\nk="}`, "plaintext", []item{{"hi", ""}}, false, ""},
		{"missing value", `{"context":"a"}`, "plaintext", nil, false, errcode.InvalidRequest},
		{"both shapes", `{"plaintext":"aGk=","items":[{"plaintext":"aGk="}]}`, "plaintext", nil, false, errcode.InvalidRequest},
		{"context with items", `{"context":"a","items":[{"plaintext":"aGk="}]}`, "plaintext", nil, false, errcode.InvalidRequest},
		{"empty batch", `{"items":[]}`, "plaintext", nil, false, errcode.InvalidRequest},
		{"item without value", `{"items":[{"context":"a"}]}`, "plaintext", nil, false, errcode.InvalidRequest},
		{"item not object", `{"items":["aGk="]}`, "plaintext", nil, false, errcode.InvalidJSON},
		{"items null", `{"items":null}`, "plaintext", nil, false, errcode.InvalidJSON},
		{"over batch limit", `{"items":[{"plaintext":"YQ=="},{"plaintext":"YQ=="},{"plaintext":"YQ=="},{"plaintext":"YQ=="}]}`, "plaintext", nil, false, errcode.BatchTooLarge},
		{"control char", "{\"ciphertext\":\"a\x01\"}", "ciphertext", nil, false, errcode.InvalidJSON},
		{"invalid utf-8", "{\"ciphertext\":\"x\",\"context\":\"\xff\"}", "ciphertext", nil, false, errcode.InvalidJSON},
		{"lone surrogate", `{"ciphertext":"x","context":"\ud83d"}`, "ciphertext", nil, false, errcode.InvalidJSON},
		{"bad escape", `{"ciphertext":"x","context":"\q"}`, "ciphertext", nil, false, errcode.InvalidJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := parser{b: []byte(tt.body), b64: tt.field == "plaintext", field: tt.field}
			got, err := p.parse(3)
			if tt.code != "" {
				var e *Error
				if !errors.As(err, &e) || e.Code != tt.code {
					t.Fatalf("parse(%q): got %v, want code %s", tt.body, err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse(%q): %v", tt.body, err)
			}
			if got.batch != tt.batch || len(got.items) != len(tt.want) {
				t.Fatalf("parse(%q): got batch=%v %d items, want batch=%v %d", tt.body, got.batch, len(got.items), tt.batch, len(tt.want))
			}
			for i, w := range tt.want {
				if g := (item{string(got.items[i].value), got.items[i].context}); g != w {
					t.Errorf("item %d: got %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

// FuzzParser checks that the batch parser never panics and agrees with
// encoding/json on every body it accepts.
func FuzzParser(f *testing.F) {
	for _, s := range []string{
		`{"plaintext":"aGk=","context":"a.b"}`, `{"items":[{"plaintext":"YQ==","context":"c1"}]}`,
		`{"ciphertext":"kw1:1:x","context":"a\u00e9\ud83d\ude00"}`, `{"items":[]}`, `{}`, `{"plaintext":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, field := range []string{"plaintext", "ciphertext"} {
			p := parser{b: append([]byte(nil), body...), b64: field == "plaintext", field: field}
			got, err := p.parse(1000)
			if err != nil {
				return
			}
			if !json.Valid(body) {
				t.Fatalf("parser accepted invalid JSON %q", body)
			}
			type item struct {
				Plaintext  []byte  `json:"plaintext"`
				Ciphertext *string `json:"ciphertext"`
				Context    *string `json:"context"`
			}
			var ref struct {
				item
				Items []item `json:"items"`
			}
			if err := json.Unmarshal(body, &ref); err != nil {
				t.Fatalf("parser accepted %q, encoding/json refused: %v", body, err)
			}
			items := ref.Items
			if !got.batch {
				items = []item{ref.item}
			}
			if len(items) != len(got.items) {
				t.Fatalf("%q: %d items, encoding/json %d", body, len(got.items), len(items))
			}
			for i, it := range items {
				want := ""
				if field == "plaintext" {
					want = string(it.Plaintext)
				} else if it.Ciphertext != nil {
					want = *it.Ciphertext
				}
				if string(got.items[i].value) != want {
					t.Fatalf("%q item %d: value %q, encoding/json %q", body, i, got.items[i].value, want)
				}
				if c := got.items[i].context; it.Context != nil && c != *it.Context || it.Context == nil && c != "" {
					t.Fatalf("%q item %d: context %q, encoding/json %v", body, i, c, it.Context)
				}
			}
		}
	})
}
