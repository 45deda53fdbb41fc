package pkcs11_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log"

	"github.com/keyward/keyward/credential"
	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/kms/pkcs11"
)

// Open a KEK on an HSM token and wrap a data key with it. The module path and
// the PIN's source come from keyward's configuration; the PIN itself from a
// private file (or a descriptor, or a systemd credential), never from a flag
// or the environment. (No Output: it needs a token, see docs/HSM.md.)
func Example() {
	ctx := context.Background()
	cfg, err := pkcs11.ParseURI("pkcs11:token=keyward;object=kek")
	if err != nil {
		log.Fatal(err)
	}
	cfg.Module = "/usr/lib/softhsm/libsofthsm2.so"
	cfg.PIN, err = credential.Load(credential.Source{File: "/etc/keyward/hsm-pin"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	kek, err := pkcs11.Open(ctx, cfg) // pkcs11.Provision the first time
	cfg.PIN.Wipe()                    // the KEK keeps its own copy
	if err != nil {
		log.Fatal(err)
	}
	defer kek.Close()

	dek := make([]byte, 32)
	_, _ = rand.Read(dek)
	aad := kms.DEKAAD("acme", 1)
	w, err := kek.Wrap(ctx, dek, aad) // AES-256-GCM inside the token
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(w.KEKID, w.KEKVersion, len(w.Ciphertext)) // pkcs11:token=keyward;object=kek 1 60

	got, err := kek.Unwrap(ctx, w, aad)
	fmt.Println(len(got), err) // 32 <nil>
}
