package client_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/secret"
)

// An application encrypts a field before storing it and decrypts it when
// it needs it; errors carry the server's stable code.
func Example() {
	ctx := context.Background()
	tokenBytes, err := os.ReadFile("/etc/myapp/keyward-token") // never a flag or an environment value
	if err != nil {
		log.Fatal(err)
	}
	token := secret.New(tokenBytes)
	clear(tokenBytes)
	kw, err := client.New("https://keyward.internal:8420", token, nil)
	if err != nil {
		log.Fatal(err)
	}

	ct, err := kw.Encrypt(ctx, "acme", []byte("sk_live_51HxEXAMPLE"), "integrations.stripe_key:42")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ct.Ciphertext) // kw1:1:… — store this in your column

	pt, _, err := kw.Decrypt(ctx, "acme", ct.Ciphertext, "integrations.stripe_key:42")
	switch {
	case client.HasCode(err, "decrypt_failed"):
		log.Fatal("wrong org or context, or the value was altered")
	case err != nil:
		log.Fatal(err)
	}
	defer pt.Wipe()
	use(pt.Reveal())
}

func use([]byte) {}
