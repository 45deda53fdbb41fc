package format_test

import (
	"bytes"
	"fmt"
	"log"

	"github.com/keyward/keyward/format"
)

func ExampleSeal() {
	dek := bytes.Repeat([]byte{0x42}, format.KeySize) // stands in for an unwrapped org DEK
	aead, err := format.NewAEAD(dek)
	if err != nil {
		log.Fatal(err)
	}
	const org, context, keyVersion = "acme", "channels.access_token#42", 3
	plaintext := []byte("xoxb-123-secret")

	// Build the AAD and the ciphertext into pooled, right-sized buffers.
	aad := format.AppendAAD(make([]byte, 0, format.AADSize(org, context)), format.V1, org, keyVersion, context)
	sealed := format.Seal(make([]byte, 0, format.SealedSize(keyVersion, len(plaintext))), aead, keyVersion, plaintext, aad)
	fmt.Println("binary length:", len(sealed), "=", format.SealedSize(keyVersion, len(plaintext)))
	fmt.Printf("header: %#02x %#02x\n", sealed[0], sealed[1])

	f, err := format.ParseBinary(sealed)
	if err != nil {
		log.Fatal(err)
	}
	text, _ := f.MarshalText()
	fmt.Printf("text form starts with %q\n", text[:6])

	// A reader rebuilds the AAD from the parsed key version.
	got, err := format.Open(nil, aead, f, format.AppendAAD(nil, f.Version, org, f.KeyVersion, context))
	fmt.Printf("%s %v\n", got, err)

	// Moved to another org, the same bytes do not open.
	_, err = format.Open(nil, aead, f, format.AppendAAD(nil, f.Version, "evil", f.KeyVersion, context))
	fmt.Println(err)
	// Output:
	// binary length: 45 = 45
	// header: 0x01 0x03
	// text form starts with "kw1:3:"
	// xoxb-123-secret <nil>
	// keyward: decryption failed
}

func ExampleParse() {
	// One of the golden vectors (testdata/golden.json), in its three forms.
	for _, in := range []string{
		"\x01\x01\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xa8\xa9\xaa\xab\x91\xee\x8a\x93\xe7\xb2\x97\x67\x01\x27\xc7\x70\x19\xc4\x3a\x95",
		"kw1:1:oKGio6Slpqeoqaqrke6Kk-eyl2cBJ8dwGcQ6lQ",
		`{"v":1,"kv":1,"iv":"oKGio6Slpqeoqaqr","ct":"","tag":"ke6Kk+eyl2cBJ8dwGcQ6lQ=="}`,
	} {
		f, err := format.Parse([]byte(in))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("version %d, key version %d, nonce %x, %d ciphertext bytes\n",
			f.Version, f.KeyVersion, f.Nonce(), len(f.Ciphertext()))
	}

	_, err := format.Parse([]byte("kw2:1:oKGio6Slpqeoqaqrke6Kk-eyl2cBJ8dwGcQ6lQ"))
	fmt.Println(err)
	_, err = format.Parse([]byte("gAAAAABl-not-keyward"))
	fmt.Println(err)
	// Output:
	// version 1, key version 1, nonce a0a1a2a3a4a5a6a7a8a9aaab, 0 ciphertext bytes
	// version 1, key version 1, nonce a0a1a2a3a4a5a6a7a8a9aaab, 0 ciphertext bytes
	// version 1, key version 1, nonce a0a1a2a3a4a5a6a7a8a9aaab, 0 ciphertext bytes
	// format: unsupported format version: version 2
	// format: malformed ciphertext: not a keyward field ciphertext
}

func ExampleAppendAAD() {
	aad := format.AppendAAD(nil, format.V1, "acme", 7, "t.c")
	fmt.Printf("% x\n", aad)
	fmt.Println(len(aad) == format.AADSize("acme", "t.c"))
	// Output:
	// 0d 6b 65 79 77 61 72 64 2f 66 69 65 6c 64 01 00 04 61 63 6d 65 00 00 00 07 00 00 00 03 74 2e 63
	// true
}
