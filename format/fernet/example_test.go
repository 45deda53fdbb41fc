package fernet_test

import (
	"fmt"

	"github.com/keyward/keyward/format/fernet"
)

// Read a token written by Python's cryptography with MultiFernet([new, old]):
// the keys are tried newest first.
func ExampleDecrypt() {
	newest, err := fernet.ParseKey([]byte("_CcR3N9GLqk-Ngbo3jJD34k4G9NDOOGuBtqiVeDD1dQ="))
	if err != nil {
		panic(err)
	}
	oldest, err := fernet.ParseKey([]byte("gTCC0NyEMJgN8x9L1WxrlznlvUsE74CPBdFlbxMMAOQ="))
	if err != nil {
		panic(err)
	}
	token := []byte("gAAAAABrAvIiZwUpNv0DCxXHtbLP_ZRRLjqL91YoggzTLfURjJjyC3bEB9-9LDp8dIOeM4GwaRpKlwxn599VIPBb67vLfBiy0W5hA06h27hUjmjZC8VLLPM=")
	pt, index, err := fernet.Decrypt(token, newest, oldest)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s (key %d)\n", pt, index)
	// Output: token-written-before-rotation (key 1)
}
