package format

// Parse detects the encoding of b by its first byte and parses it:
//
//	0x01        binary form (ParseBinary; the result aliases b)
//	'k'         text form (ParseText)
//	'{'         structured JSON form (UnmarshalJSON)
//
// A text prefix "kwN:" with N other than 1, or a leading byte in 0x02..0x1f
// (reserved for future binary versions), returns ErrUnsupported; anything
// else that is not one of the three forms returns ErrMalformed. Callers that
// also read legacy formats (Fernet) should try Parse first and fall back on
// ErrMalformed.
func Parse(b []byte) (Field, error) {
	if len(b) == 0 {
		return Field{}, malformed("empty input")
	}
	switch c := b[0]; {
	case c == 'k':
		return ParseText(b)
	case c == '{':
		return parseJSON(b)
	case c <= maxBinaryVersion:
		// V1, version 0 or a reserved binary version: ParseBinary sorts them.
		return ParseBinary(b)
	default:
		return Field{}, malformed("not a keyward field ciphertext")
	}
}
