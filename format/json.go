package format

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"math"
	"strconv"
	"strings"
)

// JSON member names of the structured form.
const (
	jsonVersion    = "v"
	jsonKeyVersion = "kv"
	jsonNonce      = "iv"
	jsonCiphertext = "ct"
	jsonTag        = "tag"
)

// MarshalJSON returns the structured form of f:
//
//	{"v":1,"kv":N,"iv":"<base64>","ct":"<base64>","tag":"<base64>"}
//
// with standard, padded base64 (RFC 4648 §4), members in this order and no
// insignificant whitespace. It implements json.Marshaler.
func (f Field) MarshalJSON() ([]byte, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return f.appendJSON(make([]byte, 0, f.jsonSize())), nil
}

func (f Field) jsonSize() int {
	enc := base64.StdEncoding
	return len(`{"v":,"kv":,"iv":"","ct":"","tag":""}`) + 3 + decimalLen(f.KeyVersion) +
		enc.EncodedLen(NonceSize) + enc.EncodedLen(len(f.Ciphertext())) + enc.EncodedLen(TagSize)
}

// appendJSON appends the structured form of a valid f. Standard base64 uses
// only characters that need no JSON escaping.
func (f Field) appendJSON(dst []byte) []byte {
	enc := base64.StdEncoding
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendUint(dst, uint64(f.Version), 10)
	dst = append(dst, `,"kv":`...)
	dst = strconv.AppendUint(dst, uint64(f.KeyVersion), 10)
	dst = append(dst, `,"iv":"`...)
	dst = enc.AppendEncode(dst, f.Nonce())
	dst = append(dst, `","ct":"`...)
	dst = enc.AppendEncode(dst, f.Ciphertext())
	dst = append(dst, `","tag":"`...)
	dst = enc.AppendEncode(dst, f.Tag())
	return append(dst, `"}`...)
}

// UnmarshalJSON parses the structured form strictly: one JSON object with
// exactly the members v, kv, iv, ct and tag (case-sensitive, each once, in
// any order, nothing after the object). v and kv are canonical integers
// (no sign, fraction or exponent); iv, ct and tag are standard padded base64
// with zero trailing bits; iv is NonceSize and tag TagSize bytes long. A v
// other than 1 returns ErrUnsupported. It implements json.Unmarshaler; the
// result does not alias b. On error f is left unchanged.
func (f *Field) UnmarshalJSON(b []byte) error {
	g, err := parseJSON(b)
	if err != nil {
		return err
	}
	*f = g
	return nil
}

// jsonFields collects the members of a structured form while it is read.
type jsonFields struct {
	version, keyVersion uint64
	nonce, ct, tag      []byte
	seen                uint8 // bit set of members read
	duplicate           bool  // a member appeared twice
	bad                 error // first member-level problem (unknown member, invalid value)
}

const (
	seenVersion = 1 << iota
	seenKeyVersion
	seenNonce
	seenCiphertext
	seenTag
	seenAll = seenVersion | seenKeyVersion | seenNonce | seenCiphertext | seenTag
)

func parseJSON(b []byte) (Field, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return Field{}, malformed("json form is not an object")
	}
	var jf jsonFields
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return Field{}, malformed("invalid json")
		}
		name, _ := tok.(string) // object keys are always strings
		if err := jf.member(dec, name); err != nil {
			return Field{}, err
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return Field{}, malformed("invalid json")
	}
	if _, err := dec.Token(); err != io.EOF {
		return Field{}, malformed("trailing data after json object")
	}
	// Apart from duplicates, a v that names another version wins over every
	// other complaint: a future structured form may well have other members.
	if jf.duplicate {
		return Field{}, malformed("duplicate json member")
	}
	if jf.version != 0 && jf.version != uint64(V1) { // set only when canonical and non-zero
		return Field{}, unsupported(jf.version)
	}
	if jf.bad != nil {
		return Field{}, jf.bad
	}
	if jf.seen != seenAll {
		return Field{}, malformed("json form lacks a required member")
	}
	return NewField(uint32(jf.keyVersion), jf.nonce, jf.ct, jf.tag)
}

// member reads the value of the member called name. Syntax errors are
// returned at once; member-level problems are kept in jf.bad so that the
// whole object is still read and a foreign version can be recognised.
func (jf *jsonFields) member(dec *json.Decoder, name string) error {
	var bit uint8
	switch name {
	case jsonVersion:
		bit = seenVersion
	case jsonKeyVersion:
		bit = seenKeyVersion
	case jsonNonce:
		bit = seenNonce
	case jsonCiphertext:
		bit = seenCiphertext
	case jsonTag:
		bit = seenTag
	default:
		jf.fail(malformed("unknown json member"))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return malformed("invalid json")
		}
		return nil
	}
	tok, err := dec.Token()
	if err != nil {
		return malformed("invalid json")
	}
	if jf.seen&bit != 0 {
		jf.duplicate = true
	}
	jf.seen |= bit
	if d, ok := tok.(json.Delim); ok {
		// A nested object or array: never valid here. Skip it to keep
		// reading; the decoder still checks its syntax.
		jf.fail(malformed("json member has the wrong type"))
		return skipNested(dec, d)
	}
	switch bit {
	case seenVersion:
		v, ok := jsonUint(tok, math.MaxUint8)
		switch {
		case !ok:
			jf.fail(malformed("json v is not a canonical integer"))
		case v == 0:
			jf.fail(malformed("format version 0"))
		default:
			jf.version = v
		}
	case seenKeyVersion:
		v, ok := jsonUint(tok, math.MaxUint32)
		switch {
		case !ok:
			jf.fail(malformed("json kv is not a canonical integer"))
		case v == 0:
			jf.fail(malformed("key version 0"))
		default:
			jf.keyVersion = v
		}
	case seenNonce:
		jf.nonce = jf.decodeBase64(tok, "iv")
	case seenCiphertext:
		jf.ct = jf.decodeBase64(tok, "ct")
	case seenTag:
		jf.tag = jf.decodeBase64(tok, "tag")
	}
	return nil
}

func (jf *jsonFields) fail(err error) {
	if jf.bad == nil {
		jf.bad = err
	}
}

// decodeBase64 decodes a strict standard-base64 string member.
func (jf *jsonFields) decodeBase64(tok json.Token, name string) []byte {
	s, ok := tok.(string)
	if !ok {
		jf.fail(malformed("json " + name + " is not a string"))
		return nil
	}
	// Strict mode still skips line breaks; a canonical encoding has none.
	if strings.ContainsAny(s, "\r\n") {
		jf.fail(malformed("line break in json " + name))
		return nil
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		jf.fail(malformed("json " + name + " is not canonical padded base64"))
		return nil
	}
	return b
}

// jsonUint accepts a json.Number that is a canonical unsigned integer no
// greater than max.
func jsonUint(tok json.Token, max uint64) (uint64, bool) {
	n, ok := tok.(json.Number)
	if !ok {
		return 0, false
	}
	return parseDecimal([]byte(n), max)
}

// skipNested consumes tokens up to the delimiter closing d.
func skipNested(dec *json.Decoder, d json.Delim) error {
	if d != '{' && d != '[' {
		return malformed("invalid json")
	}
	for depth := 1; depth > 0; {
		tok, err := dec.Token()
		if err != nil {
			return malformed("invalid json")
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
	return nil
}
