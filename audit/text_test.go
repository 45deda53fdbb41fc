package audit

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestText(t *testing.T) {
	long := strings.Repeat("é", 600) // 1200 bytes
	for _, tt := range []struct{ in, want string }{
		{"users.api_key:42", "users.api_key:42"},
		{"a\x00b", "a\ufffdb"},
		{"a\xffb", "a\ufffdb"},
		{long, strings.Repeat("é", 512) + "…"},
	} {
		got := Text(tt.in)
		if got != tt.want {
			t.Errorf("Text(%.20q…): got %.30q…, want %.30q…", tt.in, got, tt.want)
		}
		if !utf8.ValidString(got) || strings.ContainsRune(got, 0) || len(got) > MaxText+len("…") {
			t.Errorf("Text(%.20q…) = %.30q… is not fit for an event", tt.in, got)
		}
	}
}
