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

// An application that sealed its column with Python's Fernet imports its key
// into the organization; Decrypt then reads the old tokens and Rewrap turns
// each into a keyward ciphertext bound to its column.
func ExampleEngine_ImportFernetKey() {
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

	// Normally read from a mode-600 file (keyward fernet import --key-file).
	key := []byte("gTCC0NyEMJgN8x9L1WxrlznlvUsE74CPBdFlbxMMAOQ=")
	imported, err := eng.ImportFernetKey(ctx, "acme", key)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(keyward.KeyName(keyward.KeyRef{Kind: keyward.KindFernet, Version: imported.ID}), imported.State)

	token := []byte("gAAAAABrAvIiZwUpNv0DCxXHtbLP_ZRRLjqL91YoggzTLfURjJjyC3bEB9-9LDp8dIOeM4GwaRpKlwxn599VIPBb67vLfBiy0W5hA06h27hUjmjZC8VLLPM=")
	pt, err := eng.Decrypt(ctx, "acme", token, "channels.access_token")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(pt))

	migrated, _, err := eng.Rewrap(ctx, "acme", token, "channels.access_token")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.HasPrefix(string(migrated), "kw1:1:"))
	// Output:
	// fernet:1 decrypt-only
	// token-written-before-rotation
	// true
}
