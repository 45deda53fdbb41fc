package awskms_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/kms/awskms"
)

// A KEK in AWS KMS, named by a URI. Credentials come from the caller: here a
// provider function; in production whatever the deployment uses (an STS
// web-identity or container-role provider, …) wrapped as an
// aws.CredentialsProvider. The example is compiled but not run: it needs AWS.
func Example() {
	cfg, err := awskms.ParseURI("awskms:arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")
	if err != nil {
		log.Fatal(err)
	}
	cfg.Credentials = aws.CredentialsProviderFunc(func(ctx context.Context) (aws.Credentials, error) {
		return loadCredentials(ctx) // from a file or the platform, never from a flag
	})
	cfg.CheckKey = true // DescribeKey: enabled, symmetric, ENCRYPT_DECRYPT

	ctx := context.Background()
	kek, err := awskms.New(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}

	dek := make([]byte, 32)
	_, _ = rand.Read(dek)
	aad := kms.DEKAAD("acme", 1)
	w, err := kek.Wrap(ctx, dek, aad) // KMS Encrypt, context {"keyward:aad": …}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(w.KEKID, w.KEKVersion) // awskms:arn:aws:kms:… 1

	got, err := kek.Unwrap(ctx, w, aad) // KMS Decrypt, pinned to the key
	switch {
	case errors.Is(err, kms.ErrUnavailable):
		log.Print("kms unavailable or key disabled; retry later")
	case errors.Is(err, kms.ErrUnwrap):
		log.Print("wrapped key does not belong to this org and version")
	case err != nil:
		log.Fatal(err)
	}
	_ = got
}

// loadCredentials stands in for the deployment's credential source.
func loadCredentials(context.Context) (aws.Credentials, error) {
	return aws.Credentials{}, errors.New("no credentials in this example")
}
