package config

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"google.golang.org/api/option"

	"github.com/keyward/keyward/credential"
	"github.com/keyward/keyward/kms"
	"github.com/keyward/keyward/kms/awskms"
	"github.com/keyward/keyward/kms/gcpkms"
	"github.com/keyward/keyward/kms/localkms"
	"github.com/keyward/keyward/kms/transit"
)

// openKEK opens the KEK k names into d, adding what must be closed to d's
// closers. Secrets are loaded here and wiped once the provider holds them.
func (d *Deployment) openKEK(ctx context.Context, k KEK, getenv func(string) string) error {
	u, err := kms.ParseURI(k.URI)
	if err != nil {
		return fmt.Errorf("config: kek: %w", err)
	}
	switch u.Scheme {
	case "local":
		kek, err := localkms.Open(u.Opaque)
		if err != nil {
			return fmt.Errorf("config: kek: %w", err)
		}
		d.KEK = kek
	case "pkcs11":
		if d.KEK, err = openPKCS11(ctx, k, getenv, false); err != nil {
			return err
		}
	case "transit":
		if d.KEK, err = openTransit(ctx, k, getenv); err != nil {
			return err
		}
	case "awskms":
		kek, creds, err := openAWS(ctx, k, getenv)
		if err != nil {
			return err
		}
		d.KEK = kek
		d.closers = append(d.closers, func() error { creds.wipe(); return nil })
	case "gcpkms":
		if d.KEK, err = openGCP(ctx, k, getenv); err != nil {
			return err
		}
	default:
		return fmt.Errorf("config: kek: %w: no provider for scheme %s", kms.ErrInvalidURI, u.Scheme)
	}
	if cl, ok := d.KEK.(io.Closer); ok {
		d.closers = append(d.closers, cl.Close)
	}
	return nil
}

// openTransit opens a transit: KEK and checks it against the server
// (transit.KEK.Check): the token can read the key, the key is a non-derived
// AEAD key, and the server authenticates associated_data.
func openTransit(ctx context.Context, k KEK, getenv func(string) string) (kms.KEK, error) {
	cfg, err := transit.ParseURI(k.URI)
	if err != nil {
		return nil, fmt.Errorf("config: kek: %w", err)
	}
	cfg.Namespace, cfg.CAFile = k.Namespace, k.CAFile
	cfg.Token, err = credential.Load(k.Token, getenv)
	if err != nil {
		return nil, fmt.Errorf("config: kek token: %w", err)
	}
	kek, err := transit.New(ctx, cfg) // copies the token
	cfg.Token.Wipe()
	if err != nil {
		return nil, fmt.Errorf("config: kek: %w", err)
	}
	if err := kek.Check(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("config: kek: checking %s at start failed (the token must be able to read, "+
			"encrypt and decrypt with a non-derived aes256-gcm96 key, on Vault 1.13 or later or OpenBao): %w", kek.ID(), err), kek.Close())
	}
	return kek, nil
}

// openAWS opens an awskms: KEK with static keys from the credentials k
// names. The caller wipes the returned credentials once the KEK is no
// longer used.
func openAWS(ctx context.Context, k KEK, getenv func(string) string) (kms.KEK, awsCredentials, error) {
	cfg, err := awskms.ParseURI(k.URI)
	if err != nil {
		return nil, awsCredentials{}, fmt.Errorf("config: kek: %w", err)
	}
	data, err := credential.Load(k.Credentials, getenv)
	if err != nil {
		return nil, awsCredentials{}, fmt.Errorf("config: kek credentials: %w", err)
	}
	profile := k.Profile
	if profile == "" {
		profile = "default"
	}
	creds, err := parseAWSCredentials(data.Reveal(), profile)
	data.Wipe()
	if err != nil {
		return nil, awsCredentials{}, fmt.Errorf("config: kek credentials (%s): %w", k.Credentials, err)
	}
	cfg.Credentials = creds.provider(k.Credentials.String())
	cfg.Endpoint = k.Endpoint
	kek, err := awskms.New(ctx, cfg)
	if err != nil {
		creds.wipe()
		return nil, awsCredentials{}, fmt.Errorf("config: kek: %w", err)
	}
	return kek, creds, nil
}

// openGCP opens a gcpkms: KEK with the service-account key k names. The
// client parses the key when it is built; the loaded JSON is wiped then.
func openGCP(ctx context.Context, k KEK, getenv func(string) string) (kms.KEK, error) {
	cfg, err := gcpkms.ParseURI(k.URI)
	if err != nil {
		return nil, fmt.Errorf("config: kek: %w", err)
	}
	data, err := credential.Load(k.Credentials, getenv)
	if err != nil {
		return nil, fmt.Errorf("config: kek credentials: %w", err)
	}
	defer data.Wipe()
	if err := checkServiceAccount(data.Reveal()); err != nil {
		return nil, fmt.Errorf("config: kek credentials (%s): %w", k.Credentials, err)
	}
	cfg.Endpoint = k.Endpoint
	cfg.ClientOptions = []option.ClientOption{option.WithAuthCredentialsJSON(option.ServiceAccount, data.Reveal())}
	kek, err := gcpkms.New(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("config: kek: %w", err)
	}
	return kek, nil
}

// credentialType is the form of a credential "type" an error may quote.
var credentialType = regexp.MustCompile(`^[a-z_]{1,40}$`)

// checkServiceAccount checks that data is a Google service-account JSON
// key: an object with "type": "service_account", a client_email and a
// private_key. Errors wrap ErrCredentials and quote nothing from data but a
// well-formed type name.
func checkServiceAccount(data []byte) error {
	var f struct {
		Type        string          `json:"type"`
		ClientEmail string          `json:"client_email"`
		PrivateKey  json.RawMessage `json:"private_key"`
	}
	err := json.Unmarshal(data, &f)
	defer clear(f.PrivateKey)
	if err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("%w: not valid JSON (at byte %d); want a service-account key file as the cloud console downloads it", ErrCredentials, se.Offset)
		}
		return fmt.Errorf("%w: not a service-account key (a JSON object with type, client_email and private_key)", ErrCredentials)
	}
	switch {
	case f.Type == "":
		return fmt.Errorf("%w: no \"type\"; want a service-account key (\"type\": \"service_account\")", ErrCredentials)
	case f.Type != "service_account" && credentialType.MatchString(f.Type):
		return fmt.Errorf("%w: a %q credential; keyward takes a service-account key (\"type\": \"service_account\") only", ErrCredentials, f.Type)
	case f.Type != "service_account":
		return fmt.Errorf("%w: not a service-account key; want \"type\": \"service_account\"", ErrCredentials)
	case f.ClientEmail == "":
		return fmt.Errorf("%w: the service-account key has no client_email", ErrCredentials)
	case len(f.PrivateKey) < 3 || f.PrivateKey[0] != '"': // absent, null, "" or not a string
		return fmt.Errorf("%w: the service-account key has no private_key", ErrCredentials)
	}
	return nil
}

// ProvisionKEK creates the key-encryption key c names, for `keyward kek
// create`:
//
//   - local: writes a new key file (mode 0600) at the path of the URI; an
//     existing file is refused with an error wrapping fs.ErrExist;
//   - pkcs11: loads the PIN and generates version 1 of the key inside the
//     token (pkcs11.Provision); a token that holds a key with the label
//     already is refused with an error wrapping pkcs11.ErrKeyExists.
//
// transit:, awskms: and gcpkms: keys are created with the provider's own
// console or command-line tool; for them ProvisionKEK returns an error
// wrapping ErrExternalKEK that says how. getenv is as for Open.
func ProvisionKEK(ctx context.Context, c *Config, getenv func(string) string) error {
	if c == nil {
		return fmt.Errorf("config: %w: nil config", ErrInvalid)
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	if err := c.Validate(); err != nil {
		return err
	}
	if err := credential.RefuseEnv(getenv, SecretEnv()...); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	u, err := kms.ParseURI(c.KEK.URI)
	if err != nil {
		return fmt.Errorf("config: kek: %w", err)
	}
	switch u.Scheme {
	case "local":
		if _, err := localkms.Create(u.Opaque); err != nil {
			return fmt.Errorf("config: kek: %w", err)
		}
		return nil
	case "pkcs11":
		kek, err := openPKCS11(ctx, c.KEK, getenv, true)
		if err != nil {
			return err
		}
		if cl, ok := kek.(io.Closer); ok {
			if err := cl.Close(); err != nil {
				return fmt.Errorf("config: kek: %w", err)
			}
		}
		return nil
	}
	return fmt.Errorf("config: kek: %w: %s", ErrExternalKEK, externalKEKHint(u))
}

// externalKEKHint says how to create a transit:, awskms: or gcpkms: key.
func externalKEKHint(u kms.URI) string {
	switch u.Scheme {
	case "transit":
		cfg, _ := transit.ParseURI(u.String()) // validated
		return fmt.Sprintf("create the transit key in Vault or OpenBao, e.g. vault write -f %s/keys/%s type=aes256-gcm96", cfg.Mount, cfg.Key)
	case "awskms":
		return "create the key in the AWS console or with aws kms create-key --key-spec SYMMETRIC_DEFAULT " +
			"--key-usage ENCRYPT_DECRYPT, then name its ARN in kek.uri"
	case "gcpkms":
		p := strings.Split(u.Opaque, "/") // projects/P/locations/L/keyRings/R/cryptoKeys/K, validated
		if len(p) == 8 {
			return fmt.Sprintf("create the key in the Google Cloud console or with gcloud kms keys create %s --keyring %s "+
				"--location %s --project %s --purpose encryption", p[7], p[5], p[3], p[1])
		}
	}
	return "create the key with the provider's own tools"
}
