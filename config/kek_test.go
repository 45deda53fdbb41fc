package config_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/config"
	"github.com/keyward/keyward/credential"
	"github.com/keyward/keyward/kms"
)

// awsARN is a well-formed KMS key ARN.
const awsARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"

// KEK URIs of each provider, for the tests.
const (
	pkcs11URI  = "pkcs11:token=keyward;object=kek"
	transitURI = "transit:https://vault.internal:8200/transit/keyward"
	awsURI     = "awskms:" + awsARN
	gcpURI     = "gcpkms:projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k"
)

// kekConfig is a config with a SQLite store and the given [kek] table body.
func kekConfig(body string) string {
	return "[store]\nsqlite = \"k.db\"\n[kek]\n" + body
}

func TestParseKEK(t *testing.T) {
	abs := func(p string) string { return filepath.FromSlash("/etc/keyward/" + p) }
	tests := []struct {
		name string
		body string
		want config.KEK
	}{
		{"local", `uri = "local:kek.key"`,
			config.KEK{URI: "local:" + abs("kek.key")}},
		{"pkcs11 pin_file", `uri = "` + pkcs11URI + `"
module = "/usr/lib/softhsm/libsofthsm2.so"
pin_file = "hsm-pin"
sessions = 8`,
			config.KEK{URI: pkcs11URI, Module: "/usr/lib/softhsm/libsofthsm2.so", PIN: credential.Source{File: abs("hsm-pin")}, Sessions: 8}},
		{"pkcs11 pin_fd", `uri = "` + pkcs11URI + `;version=2"
module = "/opt/hsm/lib.so"
pin_fd = 3`,
			config.KEK{URI: pkcs11URI + ";version=2", Module: "/opt/hsm/lib.so", PIN: credential.Source{FD: 3}}},
		{"pkcs11 pin_credential", `uri = "` + pkcs11URI + `"
module = "/opt/hsm/lib.so"
pin_credential = "hsm-pin"`,
			config.KEK{URI: pkcs11URI, Module: "/opt/hsm/lib.so", PIN: credential.Source{Credential: "hsm-pin"}}},
		{"transit", `uri = "` + transitURI + `"
token_file = "secrets/vault-token"
namespace = "team-a"
ca_file = "vault-ca.pem"`,
			config.KEK{URI: transitURI, Token: credential.Source{File: abs("secrets/vault-token")}, Namespace: "team-a", CAFile: abs("vault-ca.pem")}},
		{"transit absolute ca_file, token_credential", `uri = "` + transitURI + `"
token_credential = "vault-token"
ca_file = "/etc/ssl/vault.pem"`,
			config.KEK{URI: transitURI, Token: credential.Source{Credential: "vault-token"}, CAFile: "/etc/ssl/vault.pem"}},
		{"awskms", `uri = "` + awsURI + `"
credentials_file = "aws-credentials"
profile = "keyward"
endpoint = "https://vpce-0a1b.kms.eu-west-1.vpce.amazonaws.com"`,
			config.KEK{URI: awsURI, Credentials: credential.Source{File: abs("aws-credentials")}, Profile: "keyward",
				Endpoint: "https://vpce-0a1b.kms.eu-west-1.vpce.amazonaws.com"}},
		{"awskms credentials_fd", `uri = "` + awsURI + `"
credentials_fd = 4`,
			config.KEK{URI: awsURI, Credentials: credential.Source{FD: 4}}},
		{"gcpkms", `uri = "` + gcpURI + `"
credentials_file = "/etc/keyward/sa.json"
endpoint = "https://europe-west1-cloudkms.googleapis.com/"`,
			config.KEK{URI: gcpURI, Credentials: credential.Source{File: "/etc/keyward/sa.json"}, Endpoint: "https://europe-west1-cloudkms.googleapis.com/"}},
		{"gcpkms credentials_credential", `uri = "` + gcpURI + `"
credentials_credential = "gcp-sa"`,
			config.KEK{URI: gcpURI, Credentials: credential.Source{Credential: "gcp-sa"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse([]byte(kekConfig(tt.body+"\n")), "/etc/keyward")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := c.KEK; got != tt.want {
				t.Errorf("KEK =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestLoadKEKFixtures(t *testing.T) {
	dir, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file string
		want config.KEK
	}{
		{"pkcs11.toml", config.KEK{URI: pkcs11URI, Module: "/usr/lib/softhsm/libsofthsm2.so", PIN: credential.Source{Credential: "hsm-pin"}, Sessions: 4}},
		{"transit.toml", config.KEK{URI: transitURI, Token: credential.Source{File: filepath.Join(dir, "vault-token")}, Namespace: "team-a", CAFile: filepath.Join(dir, "vault-ca.pem")}},
		{"awskms.toml", config.KEK{URI: awsURI, Credentials: credential.Source{File: "/etc/keyward/aws-credentials"}, Profile: "keyward",
			Endpoint: "https://vpce-0a1b2c3d-kms.eu-west-1.vpce.amazonaws.com"}},
		{"gcpkms.toml", config.KEK{URI: "gcpkms:projects/my-project/locations/europe-west1/keyRings/keyward/cryptoKeys/kek", Credentials: credential.Source{FD: 3}}},
	}
	for _, tt := range tests {
		c, err := config.Load(filepath.Join("testdata", tt.file))
		if err != nil {
			t.Errorf("%s: %v", tt.file, err)
			continue
		}
		if c.KEK != tt.want {
			t.Errorf("%s: KEK =\n%+v\nwant\n%+v", tt.file, c.KEK, tt.want)
		}
	}
}

func TestParseKEKInvalid(t *testing.T) {
	const (
		p11  = "uri = \"" + pkcs11URI + "\"\nmodule = \"/usr/lib/p11.so\"\n"
		vt   = "uri = \"" + transitURI + "\"\n"
		aws  = "uri = \"" + awsURI + "\"\n"
		gcp  = "uri = \"" + gcpURI + "\"\n"
		loc  = "uri = \"local:kek.key\"\n"
		pin  = "pin_file = \"pin\"\n"
		tok  = "token_file = \"tok\"\n"
		cred = "credentials_file = \"creds\"\n"
	)
	tests := []struct {
		name    string
		body    string
		wantErr error // besides ErrInvalid; nil for none
		wantMsg string
	}{
		// pkcs11:
		{"pkcs11 without module", "uri = \"" + pkcs11URI + "\"\n" + pin, nil, "a pkcs11: kek needs kek.module"},
		{"pkcs11 relative module", "uri = \"" + pkcs11URI + "\"\nmodule = \"libsofthsm2.so\"\n" + pin, nil, "kek.module \"libsofthsm2.so\" is not an absolute path"},
		{"pkcs11 empty module", "uri = \"" + pkcs11URI + "\"\nmodule = \"\"\n" + pin, nil, "kek.module is empty"},
		{"pkcs11 without pin", p11, credential.ErrNoSource, "a pkcs11: kek needs the token's user PIN: set kek.pin_file, pin_fd or pin_credential"},
		{"pkcs11 two pin sources", p11 + pin + "pin_fd = 3\n", credential.ErrAmbiguous, "set at most one of kek.pin_file, pin_fd and pin_credential"},
		{"pkcs11 pin_fd 2", p11 + "pin_fd = 2\n", nil, "kek.pin_fd is 2; it must be an inherited descriptor, 3 or above"},
		{"pkcs11 empty pin_file", p11 + "pin_file = \"\"\n", nil, "kek.pin_file is empty"},
		{"pkcs11 pin_credential path", p11 + "pin_credential = \"../pin\"\n", credential.ErrInvalidSource, "not a plain file name"},
		{"pkcs11 sessions 0", p11 + pin + "sessions = 0\n", nil, "kek.sessions is 0; it must be between 1 and 64"},
		{"pkcs11 sessions 65", p11 + pin + "sessions = 65\n", nil, "kek.sessions is 65"},
		{"pkcs11 sessions string", p11 + pin + "sessions = \"4\"\n", nil, "kek.sessions must be an integer, not a string"},
		{"pkcs11 pin_fd string", p11 + "pin_fd = \"3\"\n", nil, "kek.pin_fd must be an integer, not a string"},
		{"pkcs11 pin-source", "uri = \"" + pkcs11URI + ";type=secret-key?pin-source=/etc/keyward/pin\"\nmodule = \"/usr/lib/p11.so\"\n", nil, "kek.uri sets pin-source=; remove it: keyward reads the PIN only through pin_file"},
		{"pkcs11 module-path", "uri = \"" + pkcs11URI + ";module-path=/usr/lib/p11.so\"\n" + pin, nil, "set module = \"/ABSOLUTE/PATH\" in [kek]"},
		{"pkcs11 uri without token", "uri = \"pkcs11:object=kek\"\nmodule = \"/usr/lib/p11.so\"\n" + pin, kms.ErrInvalidURI, "kek.uri"},
		{"pkcs11 with token_file", p11 + pin + tok, nil, "kek.token_file, token_fd and token_credential: not used by the pkcs11: provider (only by transit:)"},
		{"pkcs11 with credentials_file", p11 + pin + cred, nil, "not used by the pkcs11: provider (only by awskms: and gcpkms:)"},
		{"pkcs11 with endpoint", p11 + pin + "endpoint = \"https://kms\"\n", nil, "kek.endpoint: not used by the pkcs11: provider"},
		// transit:
		{"transit without token", vt, credential.ErrNoSource, "a transit: kek needs the Vault token: set kek.token_file, token_fd or token_credential"},
		{"transit two token sources", vt + tok + "token_credential = \"t\"\n", credential.ErrAmbiguous, "set at most one of kek.token_file, token_fd and token_credential"},
		{"transit with module", vt + tok + "module = \"/usr/lib/p11.so\"\n", nil, "kek.module: not used by the transit: provider (only by pkcs11:)"},
		{"transit with pin_file", vt + tok + pin, nil, "kek.pin_file, pin_fd and pin_credential: not used by the transit: provider"},
		{"transit with sessions", vt + tok + "sessions = 4\n", nil, "kek.sessions: not used by the transit: provider"},
		{"transit with profile", vt + tok + "profile = \"p\"\n", nil, "kek.profile: not used by the transit: provider (only by awskms:)"},
		{"transit empty namespace", vt + tok + "namespace = \"\"\n", nil, "kek.namespace is empty"},
		{"transit empty ca_file", vt + tok + "ca_file = \"\"\n", nil, "kek.ca_file is empty"},
		{"transit uri query", "uri = \"" + transitURI + "?x=1\"\n" + tok, kms.ErrInvalidURI, "has a query"},
		// awskms:
		{"awskms without credentials", aws, credential.ErrNoSource, "does not read AWS_* environment variables or ~/.aws, and instance-profile, ECS and IRSA credentials are not wired yet"},
		{"awskms two credentials sources", aws + cred + "credentials_fd = 5\n", credential.ErrAmbiguous, "set at most one of kek.credentials_file, credentials_fd and credentials_credential"},
		{"awskms bad profile", aws + cred + "profile = \"a b\"\n", nil, "kek.profile is not a profile name"},
		{"awskms empty profile", aws + cred + "profile = \"\"\n", nil, "kek.profile is empty"},
		{"awskms with namespace", aws + cred + "namespace = \"ns\"\n", nil, "kek.namespace: not used by the awskms: provider"},
		{"awskms with token_fd", aws + cred + "token_fd = 3\n", nil, "kek.token_file, token_fd and token_credential: not used by the awskms: provider"},
		{"awskms bad arn", "uri = \"awskms:arn:aws:kms:eu-west-1:111122223333:key/x\"\n" + cred, kms.ErrInvalidURI, "kek.uri: awskms"},
		{"awskms endpoint user", aws + cred + "endpoint = \"https://kw@kms.internal\"\n", nil, "kek.endpoint carries user information"},
		{"awskms endpoint path", aws + cred + "endpoint = \"https://kms.internal/v1\"\n", nil, "without path, query or fragment"},
		{"awskms endpoint not a url", aws + cred + "endpoint = \"kms.internal\"\n", nil, "kek.endpoint must be a URL"},
		{"awskms endpoint scheme", aws + cred + "endpoint = \"ftp://kms.internal\"\n", nil, "the scheme must be https"},
		{"awskms empty endpoint", aws + cred + "endpoint = \"\"\n", nil, "kek.endpoint is empty"},
		// gcpkms:
		{"gcpkms without credentials", gcp, credential.ErrNoSource, "keyward does not use Application Default Credentials"},
		{"gcpkms with profile", gcp + cred + "profile = \"default\"\n", nil, "kek.profile: not used by the gcpkms: provider (only by awskms:)"},
		{"gcpkms with ca_file", gcp + cred + "ca_file = \"ca.pem\"\n", nil, "kek.ca_file: not used by the gcpkms: provider (only by transit:)"},
		{"gcpkms key version", "uri = \"" + gcpURI + "/cryptoKeyVersions/1\"\n" + cred, kms.ErrInvalidURI, "names a crypto key version"},
		// local:
		{"local with module", loc + "module = \"/usr/lib/p11.so\"\n", nil, "kek.module: not used by the local: provider (only by pkcs11:)"},
		{"local with pin_file", loc + pin, nil, "kek.pin_file, pin_fd and pin_credential: not used by the local: provider"},
		{"local with credentials_credential", loc + "credentials_credential = \"c\"\n", nil, "not used by the local: provider"},
		// the table
		{"unknown kek key", loc + "region = \"eu-west-1\"\n", nil, "unknown key kek.region (keys in [kek]: uri, module, pin_file"},
		{"module as integer", loc + "module = 1\n", nil, "kek.module must be a string, not an integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wantErr == kms.ErrInvalidURI && strings.HasPrefix(tt.body, "uri = \"pkcs11:") && !cgoEnabled {
				t.Skip("without cgo, package pkcs11 and its URI parser are not built")
			}
			c, err := config.Parse([]byte(kekConfig(tt.body)), "/etc/keyward")
			if !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("Parse = %+v, %v; want ErrInvalid", c, err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v; want it to wrap %v", err, tt.wantErr)
			}
			if errors.Is(err, config.ErrInlineSecret) {
				t.Errorf("not an inline secret, but: %v", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
		})
	}
}

// Secrets written into [kek] are refused, naming the key that names such a
// secret instead; the value is never repeated.
func TestParseKEKInlineSecrets(t *testing.T) {
	const v = " = \"" + canary + "\"\n"
	tests := []struct {
		body    string
		wantMsg string
	}{
		{"uri = \"" + pkcs11URI + "\"\npin" + v, "key kek.pin would put a secret in the config file"},
		{"uri = \"" + pkcs11URI + "\"\npin" + v, "pin_file (or pin_fd, pin_credential) in [kek]"},
		{"uri = \"" + pkcs11URI + "\"\nuser_pin" + v, "pin_file"},
		{"uri = \"" + pkcs11URI + "\"\npin_value" + v, "pin_file"},
		{"uri = \"" + transitURI + "\"\ntoken" + v, "token_file (or token_fd, token_credential) in [kek]"},
		{"uri = \"" + transitURI + "\"\nvault_token" + v, "token_file"},
		{"uri = \"" + transitURI + "\"\nsecret" + v, "key kek.secret would put a secret"},
		{"uri = \"" + transitURI + "\"\nrole_id = \"r\"\nsecret_id" + v, "key kek.secret_id would put a secret"},
		{"uri = \"" + awsURI + "\"\naws_secret_access_key" + v, "key kek.aws_secret_access_key would put a secret in the config file; keyward reads secrets only from a file, a file descriptor or a systemd credential: remove the key, write the secret to a file with mode 600 and name it with credentials_file (or credentials_fd, credentials_credential) in [kek]"},
		{"uri = \"" + awsURI + "\"\naws_session_token" + v, "credentials_file"},
		{"uri = \"" + awsURI + "\"\naws_access_key_id = \"AKIAKEYWARD00000001\"\n", "key kek.aws_access_key_id would put a secret"},
		{"uri = \"" + awsURI + "\"\nAWS_SECRET_ACCESS_KEY" + v, "credentials_file"},
		{"uri = \"" + gcpURI + "\"\nprivate_key" + v, "credentials_file"},
		{"uri = \"" + gcpURI + "\"\ncredentials" + v, "credentials_file"},
		{"uri = \"" + gcpURI + "\"\ncredentials_json" + v, "credentials_file"},
		{"uri = \"local:k\"\npassword" + v, "pin_file (pkcs11:), token_file (transit:) or credentials_file (awskms:, gcpkms:) in [kek]"},
		{"uri = \"local:k\"\nsecret" + v, "pin_file (pkcs11:), token_file (transit:) or credentials_file"},
		{"uri = \"" + awsURI + "\"\naws_secret_access_key = " + canary + "\n", "credentials_file"}, // TOML syntax error
		{"uri = \"" + awsURI + "\"\ncredentials_file = \"c\"\nendpoint = \"https://kw:" + canary + "@kms.internal\"\n", "kek.endpoint carries a password"},
	}
	for _, tt := range tests {
		t.Run(tt.wantMsg, func(t *testing.T) {
			c, err := config.Parse([]byte(kekConfig(tt.body)), "/etc/keyward")
			if !errors.Is(err, config.ErrInlineSecret) || !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("Parse = %+v, %v; want ErrInlineSecret and ErrInvalid", c, err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
			if strings.Contains(err.Error(), canary) || strings.Contains(err.Error(), "AKIAKEYWARD") {
				t.Errorf("error contains the secret: %v", err)
			}
		})
	}
}

// Validate applies the same rules to a Config built in code.
func TestValidateKEK(t *testing.T) {
	tests := []struct {
		name string
		kek  config.KEK
		want error
	}{
		{"pkcs11 two pin sources", config.KEK{URI: pkcs11URI, Module: "/m.so", PIN: credential.Source{File: "/pin", FD: 3}}, credential.ErrAmbiguous},
		{"pkcs11 sessions", config.KEK{URI: pkcs11URI, Module: "/m.so", PIN: credential.Source{FD: 3}, Sessions: 65}, config.ErrInvalid},
		{"pkcs11 negative sessions", config.KEK{URI: pkcs11URI, Module: "/m.so", PIN: credential.Source{FD: 3}, Sessions: -1}, config.ErrInvalid},
		{"pkcs11 pin fd 1", config.KEK{URI: pkcs11URI, Module: "/m.so", PIN: credential.Source{FD: 1}}, credential.ErrInvalidSource},
		{"transit with module", config.KEK{URI: transitURI, Token: credential.Source{FD: 3}, Module: "/m.so"}, config.ErrInvalid},
		{"transit no token", config.KEK{URI: transitURI}, credential.ErrNoSource},
		{"awskms with pin", config.KEK{URI: awsURI, Credentials: credential.Source{FD: 3}, PIN: credential.Source{FD: 4}}, config.ErrInvalid},
		{"awskms endpoint password", config.KEK{URI: awsURI, Credentials: credential.Source{FD: 3}, Endpoint: "https://u:" + canary + "@kms"}, config.ErrInlineSecret},
		{"gcpkms no credentials", config.KEK{URI: gcpURI}, credential.ErrNoSource},
		{"local with endpoint", config.KEK{URI: "local:/k", Endpoint: "https://kms"}, config.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &config.Config{Store: config.Store{SQLite: "/k.db"}, KEK: tt.kek}
			err := c.Validate()
			if !errors.Is(err, tt.want) || !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("Validate = %v, want %v (and ErrInvalid)", err, tt.want)
			}
			if strings.Contains(err.Error(), canary) {
				t.Errorf("error contains the secret: %v", err)
			}
		})
	}
	good := &config.Config{Store: config.Store{SQLite: "/k.db"}, KEK: config.KEK{URI: gcpURI, Credentials: credential.Source{Credential: "sa"}}}
	if err := good.Validate(); err != nil {
		t.Errorf("Validate(gcpkms with credentials) = %v", err)
	}
}
