package transit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/keyward/keyward/credential"
	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/kms/transit"
	"github.com/keyward/keyward/kms/transit/transittest"
)

// A KEK in Vault or OpenBao transit. Here it talks to the local fake in
// transittest; the token comes from a file, as in production (or from a file
// descriptor or a systemd credential), never from the environment.
func Example() {
	fake := transittest.NewServer("hvs.example-token")
	defer fake.Close()
	if err := fake.CreateKey("transit", "keyward", transittest.KeyOptions{}); err != nil {
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "keyward-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	tokenFile := filepath.Join(dir, "vault-token")
	if err := os.WriteFile(tokenFile, []byte("hvs.example-token\n"), 0o600); err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	// In production: transit:https://vault.internal:8200/transit/keyward
	cfg, err := transit.ParseURI("transit:" + fake.URL + "/transit/keyward")
	if err != nil {
		log.Fatal(err)
	}
	cfg.Token, err = credential.Load(credential.Source{File: tokenFile}, nil)
	if err != nil {
		log.Fatal(err)
	}
	kek, err := transit.New(ctx, cfg)
	cfg.Token.Wipe() // New keeps its own copy
	if err != nil {
		log.Fatal(err)
	}
	defer kek.Close()
	if err := kek.Check(ctx); err != nil { // token, key type, associated_data
		log.Fatal(err)
	}

	dek := bytes.Repeat([]byte{0x42}, 32) // in keyward: a random 256-bit DEK
	aad := kms.DEKAAD("acme", 1)
	w, err := kek.Wrap(ctx, dek, aad)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("version", w.KEKVersion, strings.HasPrefix(string(w.Ciphertext), "vault:v1:"))

	v, err := kek.Rotate(ctx)
	fmt.Println("rotated to version", v, err)
	got, err := kek.Unwrap(ctx, w, aad)
	fmt.Println("old wrap unwraps:", bytes.Equal(got, dek), err)

	_, err = kek.Unwrap(ctx, w, kms.DEKAAD("globex", 1)) // copied to another org
	fmt.Println("as another org:", errors.Is(err, kms.ErrUnwrap))
	// Output:
	// version 1 true
	// rotated to version 2 <nil>
	// old wrap unwraps: true <nil>
	// as another org: true
}
