package localkms_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/kms/localkms"
)

// A development KEK: create the key file once, then wrap and unwrap data keys
// bound to an organization and DEK version.
func Example() {
	dir, err := os.MkdirTemp("", "keyward-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	kek, err := localkms.Create(filepath.Join(dir, "kek.key"))
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	dek := bytes.Repeat([]byte{0x42}, 32) // in keyward: a random 256-bit DEK
	aad := kms.DEKAAD("acme", 1)
	w, err := kek.Wrap(ctx, dek, aad)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("wrapped by this kek:", w.KEKID == kek.ID(), "version:", w.KEKVersion)

	got, err := kek.Unwrap(ctx, w, aad)
	fmt.Println("unwrapped:", bytes.Equal(got, dek), err)

	_, err = kek.Unwrap(ctx, w, kms.DEKAAD("globex", 1)) // copied to another org
	fmt.Println("as another org:", errors.Is(err, kms.ErrUnwrap))

	v, err := kek.Rotate(context.Background())
	fmt.Println("rotated to version", v, err)
	// Output:
	// wrapped by this kek: true version: 1
	// unwrapped: true <nil>
	// as another org: true
	// rotated to version 2 <nil>
}
