package reencrypt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/keyward/keyward/format"
	"github.com/keyward/keyward/secretstore"
	"github.com/keyward/keyward/store"
)

// SecretStore is what the secret-store target needs of keyward's store.
type SecretStore interface {
	ListOrgs(ctx context.Context, after string, limit int) ([]store.Org, error)
	ListSecrets(ctx context.Context, org, after string, limit int) ([]store.Secret, error)
	GetSecret(ctx context.Context, org, name string) (store.Secret, error)
	SwapSecretCiphertext(ctx context.Context, org, name string, old, ciphertext []byte, keyVersion uint32) error
	SecretVersionCounts(ctx context.Context, org string) ([]store.VersionCount, error)
}

// Secrets is keyward's own secret store as a Target: every secret of every
// organization (or of one), in (org, name) order. A secret's encryption
// context is secretstore.AADContext(name).
type Secrets struct {
	st  SecretStore
	org string
}

// NewSecrets returns the target over st, limited to org unless it is empty.
func NewSecrets(st SecretStore, org string) *Secrets { return &Secrets{st: st, org: org} }

// secretKey is the text form of a position: (org, name), or the end of org.
type secretKey struct {
	Org  string `json:"o"`
	Name string `json:"n,omitempty"`
	End  bool   `json:"end,omitempty"`
}

func (k secretKey) String() string {
	b, _ := json.Marshal(k)
	return string(b)
}

func parseSecretKey(k store.JobKey) (secretKey, error) {
	var sk secretKey
	if err := json.Unmarshal([]byte(k.Key), &sk); err != nil || sk.Org == "" {
		return sk, fmt.Errorf("reencrypt: bad secret-store checkpoint %q", k.Key)
	}
	return sk, nil
}

// Name implements Target.
func (s *Secrets) Name() string { return "secrets" }

// Context implements Target.
func (s *Secrets) Context(r Row) string {
	var k secretKey
	_ = json.Unmarshal([]byte(r.Key), &k)
	return secretstore.AADContext(k.Name)
}

// orgs calls fn for every organization of the target, in order.
func (s *Secrets) orgs(ctx context.Context, fn func(org string) error) error {
	if s.org != "" {
		return fn(s.org)
	}
	after := ""
	for {
		page, err := s.st.ListOrgs(ctx, after, 500)
		if err != nil {
			return err
		}
		for _, o := range page {
			if err := fn(o.ID); err != nil {
				return err
			}
		}
		if len(page) < 500 {
			return nil
		}
		after = page[len(page)-1].ID
	}
}

func (s *Secrets) count(ctx context.Context, org string) (int64, error) {
	vc, err := s.st.SecretVersionCounts(ctx, org)
	var n int64
	for _, c := range vc {
		n += c.Count
	}
	return n, err
}

// Count implements Target.
func (s *Secrets) Count(ctx context.Context) (int64, error) {
	var total int64
	err := s.orgs(ctx, func(org string) error {
		n, err := s.count(ctx, org)
		total += n
		return err
	})
	return total, err
}

// Split implements Target: chunks end at organization boundaries, each
// holding whole organizations of about size secrets together.
func (s *Secrets) Split(ctx context.Context, size int) ([]store.JobChunk, error) {
	var (
		chunks []store.JobChunk
		after  store.JobKey
		n      int64
	)
	err := s.orgs(ctx, func(org string) error {
		c, err := s.count(ctx, org)
		if err != nil {
			return err
		}
		if n += c; n >= int64(size) {
			end := store.Bound(secretKey{Org: org, End: true}.String())
			chunks = append(chunks, store.JobChunk{Index: len(chunks), After: after, Upto: end})
			after, n = end, 0
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return append(chunks, store.JobChunk{Index: len(chunks), After: after}), nil
}

// nextOrg returns the organization after org, or "" at the end.
func (s *Secrets) nextOrg(ctx context.Context, org string) (string, error) {
	if s.org != "" {
		if org < s.org {
			return s.org, nil
		}
		return "", nil
	}
	page, err := s.st.ListOrgs(ctx, org, 1)
	if err != nil || len(page) == 0 {
		return "", err
	}
	return page[0].ID, nil
}

// Read implements Target.
func (s *Secrets) Read(ctx context.Context, after, upto store.JobKey, limit int) ([]Row, error) {
	var (
		org, name string
		err       error
	)
	switch k, perr := parseSecretKey(after); {
	case !after.Set:
		org, err = s.nextOrg(ctx, "")
	case perr != nil:
		return nil, perr
	case k.End:
		org, err = s.nextOrg(ctx, k.Org)
	default:
		org, name = k.Org, k.Name
	}
	if err != nil {
		return nil, err
	}
	var last string
	if upto.Set {
		k, err := parseSecretKey(upto)
		if err != nil {
			return nil, err
		}
		last = k.Org
	}
	rows := []Row{}
	for org != "" && len(rows) < limit && (!upto.Set || org <= last) {
		want := limit - len(rows)
		page, err := s.st.ListSecrets(ctx, org, name, want)
		if err != nil {
			return nil, err
		}
		for _, sec := range page {
			rows = append(rows, secretRow(sec))
		}
		if len(page) == want {
			break
		}
		if org, err = s.nextOrg(ctx, org); err != nil {
			return nil, err
		}
		name = ""
	}
	return rows, nil
}

func secretRow(sec store.Secret) Row {
	return Row{
		Key:   secretKey{Org: sec.Org, Name: sec.Name}.String(),
		ID:    sec.Org + "/" + sec.Name,
		Org:   sec.Org,
		Value: sec.Ciphertext,
	}
}

// Get implements Target.
func (s *Secrets) Get(ctx context.Context, keys []string) ([]Row, error) {
	var rows []Row
	for _, key := range keys {
		k, err := parseSecretKey(store.Bound(key))
		if err != nil {
			return nil, err
		}
		sec, err := s.st.GetSecret(ctx, k.Org, k.Name)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		rows = append(rows, secretRow(sec))
	}
	return rows, nil
}

// Swap implements Target with SwapSecretCiphertext, one secret at a time.
func (s *Secrets) Swap(ctx context.Context, us []Update) ([]bool, error) {
	ok := make([]bool, len(us))
	for i, u := range us {
		k, err := parseSecretKey(store.Bound(u.Key))
		if err != nil {
			return nil, err
		}
		f, err := format.ParseBinary(u.New)
		if err != nil {
			return nil, err
		}
		err = s.st.SwapSecretCiphertext(ctx, k.Org, k.Name, u.Old, u.New, f.KeyVersion)
		switch {
		case err == nil:
			ok[i] = true
		case errors.Is(err, store.ErrStale), errors.Is(err, store.ErrNotFound):
		default:
			return nil, err
		}
	}
	return ok, nil
}
