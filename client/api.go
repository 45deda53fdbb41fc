package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/keyward/keyward/secret"
)

// Org is a created organization.
type Org struct {
	Org        string    `json:"org"`
	KeyVersion uint32    `json:"key_version"`
	CreatedAt  time.Time `json:"created_at"`
}

// CreateOrg creates an organization and its data key version 1.
func (c *Client) CreateOrg(ctx context.Context, org string) (Org, error) {
	var out Org
	err := c.do(ctx, http.MethodPost, "/v1/orgs", map[string]string{"org": org}, &out)
	return out, err
}

// Ciphertext is one encryption's result, in the text form.
type Ciphertext struct {
	Ciphertext string `json:"ciphertext"`
	KeyVersion uint32 `json:"key_version"`
}

// EncryptItem is one value of a batch. Plaintext is sent, never kept.
type EncryptItem struct {
	Plaintext []byte
	Context   string
}

// ItemError is a batch item's error, or nil.
type itemError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *itemError) err(status int) error {
	if e == nil {
		return nil
	}
	return &Error{Status: status, Code: e.Code, Message: e.Message}
}

type encryptItemWire struct {
	Plaintext []byte `json:"plaintext"`
	Context   string `json:"context,omitempty"`
}

// Encrypt encrypts one value for org under the context.
func (c *Client) Encrypt(ctx context.Context, org string, plaintext []byte, aadContext string) (Ciphertext, error) {
	var out Ciphertext
	in := encryptItemWire{Plaintext: nonNil(plaintext), Context: aadContext}
	err := c.do(ctx, http.MethodPost, "/v1/orgs/"+esc(org)+"/encrypt", in, &out)
	return out, err
}

// EncryptResult is one item of an EncryptBatch: a ciphertext or Err.
type EncryptResult struct {
	Ciphertext
	Err error
}

// EncryptBatch encrypts many values in one request; results are in order,
// each with its own error.
func (c *Client) EncryptBatch(ctx context.Context, org string, items []EncryptItem) ([]EncryptResult, error) {
	wire := make([]encryptItemWire, len(items))
	for i, it := range items {
		wire[i] = encryptItemWire{nonNil(it.Plaintext), it.Context}
	}
	var out struct {
		Items []struct {
			Ciphertext
			Error *itemError `json:"error"`
		} `json:"items"`
	}
	if err := c.do(ctx, http.MethodPost, "/v1/orgs/"+esc(org)+"/encrypt", map[string]any{"items": wire}, &out); err != nil {
		return nil, err
	}
	res := make([]EncryptResult, len(out.Items))
	for i, it := range out.Items {
		res[i] = EncryptResult{it.Ciphertext, it.Error.err(http.StatusOK)}
	}
	return res, nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// CipherItem is one ciphertext of a decrypt or rewrap batch.
type CipherItem struct {
	Ciphertext string `json:"ciphertext"`
	Context    string `json:"context,omitempty"`
}

type plaintextWire struct {
	Plaintext  []byte     `json:"plaintext"`
	KeyVersion uint32     `json:"key_version"`
	FernetKey  uint32     `json:"fernet_key"`
	Error      *itemError `json:"error"`
}

// Decrypt decrypts one ciphertext of org with its context. The plaintext
// is returned as a secret (wipe it when done), with the key version that
// sealed it; the version is 0 for a legacy Fernet token (opened by one of
// the org's imported Fernet keys: see DecryptBatch's FernetKey).
func (c *Client) Decrypt(ctx context.Context, org, ciphertext, aadContext string) (secret.Bytes, uint32, error) {
	var out plaintextWire
	if err := c.do(ctx, http.MethodPost, "/v1/orgs/"+esc(org)+"/decrypt", CipherItem{ciphertext, aadContext}, &out); err != nil {
		return secret.Bytes{}, 0, err
	}
	pt := secret.New(out.Plaintext)
	clear(out.Plaintext)
	return pt, out.KeyVersion, nil
}

// DecryptResult is one item of a DecryptBatch.
type DecryptResult struct {
	Plaintext  secret.Bytes
	KeyVersion uint32
	// FernetKey is the id of the org's imported Fernet key that opened a
	// legacy Fernet token (KeyVersion is then 0).
	FernetKey uint32
	Err       error
}

// DecryptBatch decrypts many ciphertexts in one request, in order.
func (c *Client) DecryptBatch(ctx context.Context, org string, items []CipherItem) ([]DecryptResult, error) {
	var out struct {
		Items []plaintextWire `json:"items"`
	}
	if err := c.do(ctx, http.MethodPost, "/v1/orgs/"+esc(org)+"/decrypt", map[string]any{"items": items}, &out); err != nil {
		return nil, err
	}
	res := make([]DecryptResult, len(out.Items))
	for i, it := range out.Items {
		res[i] = DecryptResult{Plaintext: secret.New(it.Plaintext), KeyVersion: it.KeyVersion, FernetKey: it.FernetKey, Err: it.Error.err(http.StatusOK)}
		clear(it.Plaintext)
	}
	return res, nil
}

// Rewrapped is a rewrap's result.
type Rewrapped struct {
	Ciphertext string `json:"ciphertext"`
	KeyVersion uint32 `json:"key_version"`
	// Rewrapped is false when the ciphertext was already current.
	Rewrapped bool `json:"rewrapped"`
}

// Rewrap moves a ciphertext to org's active key version; the plaintext
// never leaves the server.
func (c *Client) Rewrap(ctx context.Context, org, ciphertext, aadContext string) (Rewrapped, error) {
	var out Rewrapped
	err := c.do(ctx, http.MethodPost, "/v1/orgs/"+esc(org)+"/rewrap", CipherItem{ciphertext, aadContext}, &out)
	return out, err
}

// RewrapResult is one item of a RewrapBatch.
type RewrapResult struct {
	Rewrapped
	Err error
}

// RewrapBatch rewraps many ciphertexts in one request, in order.
func (c *Client) RewrapBatch(ctx context.Context, org string, items []CipherItem) ([]RewrapResult, error) {
	var out struct {
		Items []struct {
			Rewrapped
			Error *itemError `json:"error"`
		} `json:"items"`
	}
	if err := c.do(ctx, http.MethodPost, "/v1/orgs/"+esc(org)+"/rewrap", map[string]any{"items": items}, &out); err != nil {
		return nil, err
	}
	res := make([]RewrapResult, len(out.Items))
	for i, it := range out.Items {
		res[i] = RewrapResult{it.Rewrapped, it.Error.err(http.StatusOK)}
	}
	return res, nil
}

// SecretMetadata describes a stored secret; never its value.
type SecretMetadata struct {
	Org        string    `json:"org"`
	Name       string    `json:"name"`
	Kind       string    `json:"kind"`
	Hint       string    `json:"hint,omitempty"`
	KeyVersion uint32    `json:"key_version"`
	Revision   int64     `json:"revision"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Secret kinds.
const (
	KindAPIKey          = "api_key"
	KindWebhookSecret   = "webhook_secret"
	KindEmailCredential = "email_credential"
	KindOAuthToken      = "oauth_token"
	KindGeneric         = "generic"
)

// PutOptions tune PutSecret.
type PutOptions struct {
	// Hint is "" (no display hint) or "last4".
	Hint string
	// IfRevision writes only if the stored revision is this one; 0 writes
	// unconditionally.
	IfRevision int64
}

// PutSecret creates or replaces a secret.
func (c *Client) PutSecret(ctx context.Context, org, name, kind string, value secret.Bytes, opts *PutOptions) (SecretMetadata, error) {
	if opts == nil {
		opts = &PutOptions{}
	}
	in := struct {
		Kind       string `json:"kind"`
		Value      []byte `json:"value"`
		Hint       string `json:"hint,omitempty"`
		IfRevision int64  `json:"if_revision,omitempty"`
	}{kind, nonNil(value.Reveal()), opts.Hint, opts.IfRevision}
	var out SecretMetadata
	err := c.do(ctx, http.MethodPut, "/v1/orgs/"+esc(org)+"/secrets/"+esc(name), in, &out)
	return out, err
}

// GetSecret returns a secret's metadata.
func (c *Client) GetSecret(ctx context.Context, org, name string) (SecretMetadata, error) {
	var out SecretMetadata
	err := c.do(ctx, http.MethodGet, "/v1/orgs/"+esc(org)+"/secrets/"+esc(name), nil, &out)
	return out, err
}

// RevealSecret returns a secret's value (wipe it when done) and metadata.
func (c *Client) RevealSecret(ctx context.Context, org, name string) (secret.Bytes, SecretMetadata, error) {
	var out struct {
		SecretMetadata
		Value []byte `json:"value"`
	}
	if err := c.do(ctx, http.MethodPost, "/v1/orgs/"+esc(org)+"/secrets/"+esc(name)+"/reveal", nil, &out); err != nil {
		return secret.Bytes{}, SecretMetadata{}, err
	}
	v := secret.New(out.Value)
	clear(out.Value)
	return v, out.SecretMetadata, nil
}

// ListSecrets returns up to limit secrets' metadata after the name after,
// and the cursor of the next page ("" on the last).
func (c *Client) ListSecrets(ctx context.Context, org, after string, limit int) ([]SecretMetadata, string, error) {
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	path := "/v1/orgs/" + esc(org) + "/secrets"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out struct {
		Secrets []SecretMetadata `json:"secrets"`
		Next    string           `json:"next"`
	}
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out.Secrets, out.Next, err
}

// DeleteSecret deletes a secret.
func (c *Client) DeleteSecret(ctx context.Context, org, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/orgs/"+esc(org)+"/secrets/"+esc(name), nil, nil)
}

// Key describes one data key version.
type Key struct {
	Version    uint32 `json:"version"`
	State      string `json:"state"`
	Usage      uint64 `json:"usage"`
	KEKID      string `json:"kek_id"`
	KEKVersion uint32 `json:"kek_version"`
	References []struct {
		Source string `json:"source"`
		Count  int64  `json:"count"`
	} `json:"references"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Keys is an organization's key versions.
type Keys struct {
	Org           string `json:"org"`
	ActiveVersion uint32 `json:"active_version"`
	Keys          []Key  `json:"keys"`
}

// Keys lists org's data key versions.
func (c *Client) Keys(ctx context.Context, org string) (Keys, error) {
	var out Keys
	err := c.do(ctx, http.MethodGet, "/v1/orgs/"+esc(org)+"/keys", nil, &out)
	return out, err
}

// RotateKey makes a new data key version active and returns it.
func (c *Client) RotateKey(ctx context.Context, org string) (uint32, error) {
	var out struct {
		ActiveVersion uint32 `json:"active_version"`
	}
	err := c.do(ctx, http.MethodPost, "/v1/orgs/"+esc(org)+"/keys/rotate", nil, &out)
	return out.ActiveVersion, err
}

// Job is a re-encryption, migration or scan job's progress.
type Job struct {
	ID                                               string `json:"id"`
	Kind                                             string `json:"kind"`
	Target                                           string `json:"target"`
	Org                                              string `json:"org"`
	State                                            string `json:"state"`
	Total, Done, Rewritten, Current, Skipped, Failed int64
	Error                                            string     `json:"error"`
	StartedAt                                        time.Time  `json:"started_at"`
	UpdatedAt                                        time.Time  `json:"updated_at"`
	FinishedAt                                       *time.Time `json:"finished_at"`
}

// Job returns a job's progress.
func (c *Client) Job(ctx context.Context, id string) (Job, error) {
	var out Job
	err := c.do(ctx, http.MethodGet, "/v1/jobs/"+esc(id), nil, &out)
	return out, err
}

// Health returns nil while the server is alive.
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/healthz", nil, nil)
}

// Ready returns nil when the server's store and KEK answer.
func (c *Client) Ready(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/readyz", nil, nil)
}

// OpenAPI returns the server's OpenAPI document.
func (c *Client) OpenAPI(ctx context.Context) ([]byte, error) {
	var out json.RawMessage
	err := c.do(ctx, http.MethodGet, "/v1/openapi.json", nil, &out)
	return out, err
}
