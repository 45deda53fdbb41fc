package gcpkms_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"

	"google.golang.org/api/option"

	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/kms/gcpkms"
	"github.com/keyward/keyward/kms/gcpkms/gcpkmstest"
)

// A KEK in Cloud KMS. Here it talks to the local fake in gcpkmstest; in
// production, leave Endpoint and ClientOptions empty to reach
// https://cloudkms.googleapis.com with Application Default Credentials.
func Example() {
	fake := gcpkmstest.NewServer()
	defer fake.Close()
	const name = "projects/acme-prod/locations/europe-west1/keyRings/keyward/cryptoKeys/kek"
	if err := fake.CreateKey(name); err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	cfg, err := gcpkms.ParseURI("gcpkms:" + name)
	if err != nil {
		log.Fatal(err)
	}
	cfg.Endpoint = fake.URL                                                   // tests only
	cfg.ClientOptions = []option.ClientOption{option.WithoutAuthentication()} // tests only
	kek, err := gcpkms.New(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer kek.Close()

	dek := bytes.Repeat([]byte{0x42}, 32) // in keyward: a random 256-bit DEK
	aad := kms.DEKAAD("acme", 1)
	w, err := kek.Wrap(ctx, dek, aad)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(w.KEKID, w.KEKVersion)

	if _, err := fake.Rotate(name); err != nil { // a new primary version in Cloud KMS
		log.Fatal(err)
	}
	got, err := kek.Unwrap(ctx, w, aad)
	fmt.Println("unwrapped after rotation:", bytes.Equal(got, dek), err)

	_, err = kek.Unwrap(ctx, w, kms.DEKAAD("globex", 1)) // copied to another org
	fmt.Println("as another org:", errors.Is(err, kms.ErrUnwrap))
	// Output:
	// gcpkms:projects/acme-prod/locations/europe-west1/keyRings/keyward/cryptoKeys/kek 1
	// unwrapped after rotation: true <nil>
	// as another org: true
}
