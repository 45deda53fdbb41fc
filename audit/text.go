package audit

import (
	"strings"
	"unicode/utf8"
)

// MaxText bounds what an event repeats of a caller's input (an org id, a
// name, a context): contexts and names are at most 1 KiB when valid.
const MaxText = 1024

// Text makes caller input, valid or not, fit an event field: valid UTF-8
// without NUL bytes, at most MaxText bytes, marked with "…" where it was cut.
// The server and the CLI pass every org, name and context through it, so an
// event is kept for every decision, even on input the engine refuses.
func Text(s string) string {
	if len(s) <= MaxText && utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	s = strings.ToValidUTF8(s, "\ufffd")
	s = strings.ReplaceAll(s, "\x00", "\ufffd")
	if len(s) > MaxText {
		cut := MaxText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
