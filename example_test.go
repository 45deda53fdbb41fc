package keyward_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/kms/localkms"
	"github.com/keyward/keyward/store/sqlite"
)

// Example opens an engine on the embedded store and a development KEK, then
// encrypts and decrypts one field of one organization.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "keyward-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	st, err := sqlite.Open(ctx, filepath.Join(dir, "keyward.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	kek, err := localkms.Create(filepath.Join(dir, "kek.key")) // development only
	if err != nil {
		log.Fatal(err)
	}
	eng, err := keyward.Open(st, kek, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close()

	if _, err := eng.CreateOrg(ctx, "acme"); err != nil {
		log.Fatal(err)
	}
	ct, err := eng.EncryptText(ctx, "acme", []byte("sk_live_51H…"), "integrations.stripe_key")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.HasPrefix(ct, "kw1:1:"))

	pt, err := eng.Decrypt(ctx, "acme", []byte(ct), "integrations.stripe_key")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(pt))

	// The same ciphertext under another context (another column) fails.
	_, err = eng.Decrypt(ctx, "acme", []byte(ct), "integrations.sendgrid_key")
	fmt.Println(err == keyward.ErrDecrypt)
	// Output:
	// true
	// sk_live_51H…
	// true
}

// ExampleEngine_RotateDEK shows that rotation never breaks reads.
func ExampleEngine_RotateDEK() {
	ctx := context.Background()
	eng, cleanup := exampleEngine()
	defer cleanup()

	eng.CreateOrg(ctx, "acme")
	before, _ := eng.EncryptText(ctx, "acme", []byte("old"), "")

	v, _ := eng.RotateDEK(ctx, "acme")
	after, _ := eng.EncryptText(ctx, "acme", []byte("new"), "")
	old, _ := eng.Decrypt(ctx, "acme", []byte(before), "")

	fmt.Println("active version:", v)
	fmt.Println(before[:6], after[:6], string(old))
	// Output:
	// active version: 2
	// kw1:1: kw1:2: old
}

// exampleEngine opens a throwaway engine for examples.
func exampleEngine() (*keyward.Engine, func()) {
	dir, err := os.MkdirTemp("", "keyward-example")
	if err != nil {
		log.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "keyward.db"))
	if err != nil {
		log.Fatal(err)
	}
	kek, err := localkms.Create(filepath.Join(dir, "kek.key"))
	if err != nil {
		log.Fatal(err)
	}
	eng, err := keyward.Open(st, kek, nil)
	if err != nil {
		log.Fatal(err)
	}
	return eng, func() { eng.Close(); st.Close(); os.RemoveAll(dir) }
}
