package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// form is one encoding of a Field, as a caller uses it.
type form struct {
	name   string
	encode func(Field) ([]byte, error)
	decode func([]byte) (Field, error)
}

func forms() []form {
	return []form{
		{"binary", Field.MarshalBinary, func(b []byte) (Field, error) {
			var f Field
			err := f.UnmarshalBinary(b)
			return f, err
		}},
		{"binary zero-copy", Field.MarshalBinary, ParseBinary},
		{"text", Field.MarshalText, ParseText},
		{"text unmarshal", Field.MarshalText, func(b []byte) (Field, error) {
			var f Field
			err := f.UnmarshalText(b)
			return f, err
		}},
		{"json", Field.MarshalJSON, func(b []byte) (Field, error) {
			var f Field
			err := f.UnmarshalJSON(b)
			return f, err
		}},
		{"json via encoding/json", func(f Field) ([]byte, error) { return json.Marshal(f) }, func(b []byte) (Field, error) {
			var f Field
			err := json.Unmarshal(b, &f)
			return f, err
		}},
		{"parse binary", Field.MarshalBinary, Parse},
		{"parse text", Field.MarshalText, Parse},
		{"parse json", Field.MarshalJSON, Parse},
	}
}

func TestRoundTrip(t *testing.T) {
	const org, context = "org_01HZX", "channels.access_token#42"
	aead := mustAEAD(t, testKey())
	sizes := []struct {
		name string
		n    int
	}{
		{"0B", 0},
		{"1B", 1},
		{"64KiB", 64 << 10},
		{"1MiB", 1 << 20},
	}
	for _, size := range sizes {
		plaintext := make([]byte, size.n)
		for i := range plaintext {
			plaintext[i] = byte(i * 7)
		}
		for _, kv := range []uint32{1, 300, 1<<32 - 1} {
			aad := AppendAAD(nil, V1, org, kv, context)
			sealed := Seal(nil, aead, kv, plaintext, aad)
			if got, want := len(sealed), SealedSize(kv, size.n); got != want {
				t.Fatalf("%s kv=%d: len(Seal) = %d, want SealedSize %d", size.name, kv, got, want)
			}
			orig, err := ParseBinary(sealed)
			if err != nil {
				t.Fatalf("%s kv=%d: ParseBinary(Seal) error: %v", size.name, kv, err)
			}
			for _, fm := range forms() {
				t.Run(size.name+"/"+fm.name, func(t *testing.T) {
					enc, err := fm.encode(orig)
					if err != nil {
						t.Fatalf("encode: %v", err)
					}
					got, err := fm.decode(enc)
					if err != nil {
						t.Fatalf("decode: %v", err)
					}
					if !fieldsEqual(got, orig) {
						t.Fatalf("decoded field = {%d %d %d bytes}, want {%d %d %d bytes}",
							got.Version, got.KeyVersion, len(got.Sealed), orig.Version, orig.KeyVersion, len(orig.Sealed))
					}
					pt, err := Open(nil, aead, got, AppendAAD(nil, got.Version, org, got.KeyVersion, context))
					if err != nil {
						t.Fatalf("Open: %v", err)
					}
					if !bytes.Equal(pt, plaintext) {
						t.Fatalf("Open plaintext differs: got %d bytes, want %d", len(pt), len(plaintext))
					}
				})
			}
		}
	}
}

func TestUnmarshalBinaryCopies(t *testing.T) {
	b, err := sealedField(t, 3, []byte("secret"), "acme", "c").MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var f Field
	if err := f.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	zc, err := ParseBinary(b)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(f.Sealed)
	for i := range b {
		b[i] ^= 0xff
	}
	if got := f.Sealed; !bytes.Equal(got, want) {
		t.Errorf("UnmarshalBinary result changed with its input: got %x, want %x", got, want)
	}
	if got := zc.Sealed; bytes.Equal(got, want) {
		t.Errorf("ParseBinary result did not alias its input")
	}
}

func TestUnmarshalLeavesFieldOnError(t *testing.T) {
	orig := sealedField(t, 5, []byte("v"), "acme", "c")
	f := orig
	if err := f.UnmarshalBinary([]byte{V1}); err == nil {
		t.Fatal("UnmarshalBinary(short) = nil, want error")
	}
	if err := f.UnmarshalText([]byte("kw1:")); err == nil {
		t.Fatal("UnmarshalText(short) = nil, want error")
	}
	if err := f.UnmarshalJSON([]byte("{}")); err == nil {
		t.Fatal("UnmarshalJSON({}) = nil, want error")
	}
	if !fieldsEqual(f, orig) {
		t.Errorf("field changed by failed unmarshalling")
	}
}

// TestJSONEmbedded checks that a Field works as a member of a larger JSON
// document, as the HTTP API and JSONB columns use it.
func TestJSONEmbedded(t *testing.T) {
	type row struct {
		ID     int   `json:"id"`
		Secret Field `json:"secret"`
	}
	in := row{ID: 9, Secret: sealedField(t, 2, []byte("tok"), "acme", "c")}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out row
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("json.Unmarshal(%s): %v", b, err)
	}
	if got, want := out.ID, in.ID; got != want {
		t.Errorf("ID = %d, want %d", got, want)
	}
	if !fieldsEqual(out.Secret, in.Secret) {
		t.Errorf("embedded field did not round-trip: %s", b)
	}
	// PostgreSQL jsonb re-orders members and adds spaces; that must parse.
	jsonb := []byte(`{"v": 1, "ct": "` + b64std(in.Secret.Ciphertext()) + `", "iv": "` + b64std(in.Secret.Nonce()) +
		`", "kv": 2, "tag": "` + b64std(in.Secret.Tag()) + `"}`)
	got, err := Parse(jsonb)
	if err != nil {
		t.Fatalf("Parse(jsonb-style): %v", err)
	}
	if !fieldsEqual(got, in.Secret) {
		t.Errorf("jsonb-style field differs")
	}
	if err := json.Unmarshal([]byte(`{"id":1,"secret":{"v":1}}`), &out); !errors.Is(err, ErrMalformed) {
		t.Errorf("json.Unmarshal of an incomplete field: err = %v, want ErrMalformed", err)
	}
}
