package secretstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/kms/localkms"
	"github.com/keyward/keyward/secret"
	"github.com/keyward/keyward/secretstore"
	"github.com/keyward/keyward/store/sqlite"
)

// Example keeps a webhook signing secret for an organization: put with a
// display hint, read the metadata, reveal the value, list, delete.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "secretstore-example")
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

	secrets, err := secretstore.New(eng, st)
	if err != nil {
		log.Fatal(err)
	}
	value := secret.FromString("whsec_5WbX5kEWLlfzsGNjH64I8lOOqUB6e8FH")
	defer value.Wipe()
	m, err := secrets.Put(ctx, "acme", "webhooks/stripe", secretstore.WebhookSecret, value,
		secretstore.PutOptions{Hint: secretstore.HintLast4})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Name, m.Kind, m.Hint, m.KeyVersion, m.Revision)

	// Metadata never holds the value; a secret.Bytes never prints it.
	js, _ := json.Marshal(struct {
		Name  string       `json:"name"`
		Value secret.Bytes `json:"value"`
	}{m.Name, value})
	fmt.Println(string(js))

	v, _, err := secrets.Reveal(ctx, "acme", "webhooks/stripe")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(v.Equal(value))
	v.Wipe()

	items, next, err := secrets.List(ctx, "acme", "", 10)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(items), items[0].Name, next == "")

	if err := secrets.Delete(ctx, "acme", "webhooks/stripe"); err != nil {
		log.Fatal(err)
	}
	_, err = secrets.Get(ctx, "acme", "webhooks/stripe")
	fmt.Println(errors.Is(err, secretstore.ErrNotFound))
	// Output:
	// webhooks/stripe webhook_secret e8FH 1 1
	// {"name":"webhooks/stripe","value":"[REDACTED]"}
	// true
	// 1 webhooks/stripe true
	// true
}

// ExampleValidateName shows the name grammar.
func ExampleValidateName() {
	for _, name := range []string{"webhooks/stripe", "smtp/primary.password", "a//b", "../etc", "a%2Fb", "/lead"} {
		fmt.Println(name, secretstore.ValidateName(name) == nil)
	}
	// Output:
	// webhooks/stripe true
	// smtp/primary.password true
	// a//b false
	// ../etc false
	// a%2Fb false
	// /lead false
}
