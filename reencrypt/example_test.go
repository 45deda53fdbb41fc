package reencrypt_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/kms/localkms"
	"github.com/keyward/keyward/reencrypt"
	"github.com/keyward/keyward/secret"
	"github.com/keyward/keyward/secretstore"
	"github.com/keyward/keyward/store/sqlite"
)

// Re-encrypt the secret store after a key rotation.
func ExampleRun() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "reencrypt-example")
	defer os.RemoveAll(dir)
	kek, _ := localkms.Create(filepath.Join(dir, "kek.key"))
	st, _ := sqlite.Open(ctx, filepath.Join(dir, "keyward.db"))
	defer st.Close()
	eng, _ := keyward.Open(st, kek, &keyward.Options{ChangePoll: -1})
	defer eng.Close()

	eng.CreateOrg(ctx, "acme")
	secrets, _ := secretstore.New(eng, st)
	for _, name := range []string{"smtp", "stripe", "slack"} {
		secrets.Put(ctx, "acme", name, "generic", secret.New([]byte("value of "+name)), secretstore.PutOptions{})
	}
	eng.RotateDEK(ctx, "acme") // v2 is active; the secrets are under v1

	sum, err := reencrypt.Run(ctx, st, reencrypt.NewSecrets(st, "acme"), &reencrypt.Converter{Sealer: eng},
		reencrypt.Options{Kind: "reencrypt", Org: "acme"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s: %d rows, %d rewritten\n", sum.Job.State, sum.Job.Done, sum.Job.Rewritten)
	m, _ := secrets.Get(ctx, "acme", "stripe")
	fmt.Println("stripe is under version", m.KeyVersion)
	// Output:
	// done: 3 rows, 3 rewritten
	// stripe is under version 2
}
