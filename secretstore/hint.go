package secretstore

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Hints a writer may ask for (PutOptions.Hint).
const (
	// HintNone keeps no hint.
	HintNone = ""
	// HintLast4 keeps the value's last 4 characters in clear.
	HintLast4 = "last4"
)

// MinHintValueLen is the fewest characters (Unicode code points) a value
// must have to be given a HintLast4 hint: the hint then shows at most a
// third of it.
const MinHintValueLen = 12

// hintLen is how many characters HintLast4 keeps.
const hintLen = 4

// makeHint returns the hint kind asks for, computed from value. Its errors
// never quote the value.
func makeHint(kind string, value []byte) (string, error) {
	switch kind {
	case HintNone:
		return "", nil
	case HintLast4:
	default:
		return "", fmt.Errorf("%w: %q (want %q or none)", ErrInvalidHint, kind, HintLast4)
	}
	if !utf8.Valid(value) {
		return "", fmt.Errorf("%w: %s needs a UTF-8 text value", ErrInvalidHint, HintLast4)
	}
	if n := utf8.RuneCount(value); n < MinHintValueLen {
		return "", fmt.Errorf("%w: %s needs a value of at least %d characters, so that the hint shows at most a third of it",
			ErrInvalidHint, HintLast4, MinHintValueLen)
	}
	end := len(value)
	for range hintLen {
		r, size := utf8.DecodeLastRune(value[:end])
		if !unicode.IsGraphic(r) {
			return "", fmt.Errorf("%w: %s needs a value whose last %d characters print (it ends in a control or invisible character, such as a newline)",
				ErrInvalidHint, HintLast4, hintLen)
		}
		end -= size
	}
	return string(value[end:]), nil
}
