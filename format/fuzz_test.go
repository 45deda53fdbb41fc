package format

import (
	"bytes"
	"encoding/json"
	"testing"
)

// goldenSeeds returns the golden encodings of the given kind ("binary",
// "text" or "json") for seeding fuzzers.
func goldenSeeds(f *testing.F, kind string) [][]byte {
	f.Helper()
	var seeds [][]byte
	for _, c := range loadGolden(f).Cases {
		switch kind {
		case "binary":
			seeds = append(seeds, mustHex(f, c.Binary))
		case "text":
			seeds = append(seeds, []byte(c.Text))
		case "json":
			seeds = append(seeds, []byte(c.JSON))
		}
	}
	return seeds
}

// checkParsed asserts the invariants every successfully parsed Field meets:
// it validates and survives all three encodings unchanged.
func checkParsed(t *testing.T, f Field) {
	t.Helper()
	if err := f.Validate(); err != nil {
		t.Fatalf("parsed field does not validate: %v", err)
	}
	bin, err := f.MarshalBinary()
	if err != nil {
		t.Fatalf("MarshalBinary: %v", err)
	}
	if g, err := ParseBinary(bin); err != nil || !fieldsEqual(g, f) {
		t.Fatalf("binary round trip: err %v, equal %v", err, err == nil && fieldsEqual(g, f))
	}
	text, err := f.MarshalText()
	if err != nil {
		t.Fatalf("MarshalText: %v", err)
	}
	if g, err := ParseText(text); err != nil || !fieldsEqual(g, f) {
		t.Fatalf("text round trip of %q: err %v", text, err)
	}
	js, err := f.MarshalJSON()
	if err != nil {
		t.Fatalf("MarshalJSON: %v", err)
	}
	if !json.Valid(js) {
		t.Fatalf("MarshalJSON produced invalid json %s", js)
	}
	var g Field
	if err := g.UnmarshalJSON(js); err != nil || !fieldsEqual(g, f) {
		t.Fatalf("json round trip of %s: err %v", js, err)
	}
	if got, want := len(bin), SealedSize(f.KeyVersion, len(f.Ciphertext())); got != want {
		t.Fatalf("len(binary) = %d, SealedSize = %d", got, want)
	}
}

func checkParseErr(t *testing.T, fn string, err error) {
	t.Helper()
	if !isParseError(err) {
		t.Fatalf("%s error = %v, want ErrMalformed or ErrUnsupported", fn, err)
	}
}

func FuzzParseBinary(f *testing.F) {
	for _, s := range goldenSeeds(f, "binary") {
		f.Add(s)
	}
	f.Add([]byte{})
	f.Add([]byte{V1, 0x80, 0x00})
	f.Add([]byte{0x02, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		fd, err := ParseBinary(b)
		if !bytes.Equal(in, b) {
			t.Fatal("ParseBinary modified its input")
		}
		if err != nil {
			checkParseErr(t, "ParseBinary", err)
			return
		}
		checkParsed(t, fd)
		re, err := fd.MarshalBinary()
		if err != nil || !bytes.Equal(re, b) {
			t.Fatalf("re-encoding = %x, %v; want the input %x", re, err, b)
		}
		var u Field
		if err := u.UnmarshalBinary(b); err != nil || !fieldsEqual(u, fd) {
			t.Fatalf("UnmarshalBinary disagrees with ParseBinary: %v", err)
		}
	})
}

func FuzzParseText(f *testing.F) {
	for _, s := range goldenSeeds(f, "text") {
		f.Add(s)
	}
	f.Add([]byte("kw1:1:"))
	f.Add([]byte("kw2:1:AAAA"))
	f.Add([]byte("kw1:01:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fd, err := ParseText(b)
		if err != nil {
			checkParseErr(t, "ParseText", err)
			return
		}
		checkParsed(t, fd)
		re, err := fd.MarshalText()
		if err != nil || !bytes.Equal(re, b) {
			t.Fatalf("re-encoding = %q, %v; want the input %q", re, err, b)
		}
		if got, want := fd.String(), string(b); got != want {
			t.Fatalf("String() = %q, want %q", got, want)
		}
	})
}

func FuzzUnmarshalJSON(f *testing.F) {
	for _, s := range goldenSeeds(f, "json") {
		f.Add(s)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"v":2}`))
	f.Add([]byte(`{"v":1,"v":1}`))
	f.Add([]byte(`{"x":[{"y":[]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var fd Field
		err := fd.UnmarshalJSON(b)
		if err != nil {
			checkParseErr(t, "UnmarshalJSON", err)
			return
		}
		if !json.Valid(b) {
			t.Fatalf("UnmarshalJSON accepted invalid json %q", b)
		}
		checkParsed(t, fd)
		// Canonical re-encoding is stable.
		js, _ := fd.MarshalJSON()
		var g Field
		if err := json.Unmarshal(js, &g); err != nil || !fieldsEqual(g, fd) {
			t.Fatalf("encoding/json round trip: %v", err)
		}
		if js2, _ := g.MarshalJSON(); !bytes.Equal(js, js2) {
			t.Fatalf("MarshalJSON not stable: %s vs %s", js, js2)
		}
	})
}

func FuzzParse(f *testing.F) {
	for _, kind := range []string{"binary", "text", "json"} {
		for _, s := range goldenSeeds(f, kind) {
			f.Add(s)
		}
	}
	f.Add([]byte("gAAAAAB"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fd, err := Parse(b)
		if err != nil {
			checkParseErr(t, "Parse", err)
			return
		}
		checkParsed(t, fd)
		// Parse agrees with the parser of the detected form.
		var want Field
		var werr error
		switch b[0] {
		case V1:
			want, werr = ParseBinary(b)
		case 'k':
			want, werr = ParseText(b)
		case '{':
			werr = want.UnmarshalJSON(b)
		default:
			t.Fatalf("Parse accepted input starting with %#x", b[0])
		}
		if werr != nil || !fieldsEqual(fd, want) {
			t.Fatalf("Parse and the form parser disagree: %v", werr)
		}
	})
}
