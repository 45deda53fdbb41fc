package storetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/keyward/keyward/store"
)

// secretStore returns s as a store.SecretStore, or fails the test: every
// store keeps secrets.
func secretStore(t *testing.T, s store.Store) store.SecretStore {
	t.Helper()
	ss, ok := s.(store.SecretStore)
	if !ok {
		t.Fatalf("%T does not implement store.SecretStore", s)
	}
	return ss
}

// newSecret returns a secret of org with recognisable stand-in ciphertext.
func newSecret(org, name string, version uint32, tag string) store.Secret {
	return store.Secret{
		Org:        org,
		Name:       name,
		Kind:       "api_key",
		Hint:       "",
		Ciphertext: sealed(org, name, version, tag),
		KeyVersion: version,
	}
}

// sealed returns recognisable stand-in bytes for a secret's ciphertext.
func sealed(org, name string, version uint32, tag string) []byte {
	return []byte(fmt.Sprintf("ciphertext(%s,%s,v%d%s)\x00\xff", org, name, version, tag))
}

// mustPutSecret writes sec unconditionally or fails the test.
func mustPutSecret(t *testing.T, ss store.SecretStore, sec store.Secret) store.Secret {
	t.Helper()
	got, err := ss.PutSecret(t.Context(), sec, 0)
	if err != nil {
		t.Fatalf("PutSecret(%q, %q): %v", sec.Org, sec.Name, err)
	}
	return got
}

// mustGetSecret reads one secret or fails the test.
func mustGetSecret(t *testing.T, ss store.SecretStore, org, name string) store.Secret {
	t.Helper()
	got, err := ss.GetSecret(t.Context(), org, name)
	if err != nil {
		t.Fatalf("GetSecret(%q, %q): %v", org, name, err)
	}
	return got
}

// secretDiff describes how got differs from want on every field; "" means
// equal.
func secretDiff(got, want store.Secret) string { return fieldDiff(got, want) }

// checkSecret compares a secret with want on every field, times included.
func checkSecret(t *testing.T, call string, got, want store.Secret) {
	t.Helper()
	if d := secretDiff(got, want); d != "" {
		t.Errorf("%s: %s", call, d)
	}
}

// allSecrets reads every secret of the given orgs, in order.
func allSecrets(t *testing.T, ss store.SecretStore, orgs ...string) []store.Secret {
	t.Helper()
	var out []store.Secret
	for _, org := range orgs {
		page, err := ss.ListSecrets(t.Context(), org, "", 10000)
		if err != nil {
			t.Fatalf("ListSecrets(%q): %v", org, err)
		}
		out = append(out, page...)
	}
	return out
}

// checkSecretsUnchanged checks that the secrets of orgs are exactly before.
func checkSecretsUnchanged(t *testing.T, ss store.SecretStore, before []store.Secret, orgs ...string) {
	t.Helper()
	now := allSecrets(t, ss, orgs...)
	if len(now) != len(before) {
		t.Errorf("store has %d secrets, want %d (unchanged): %v", len(now), len(before), secretNames(now))
		return
	}
	for i := range now {
		if d := secretDiff(now[i], before[i]); d != "" {
			t.Errorf("secret %s/%s changed: %s", before[i].Org, before[i].Name, d)
		}
	}
}

// secretNames lists the names of secrets, for messages.
func secretNames(secrets []store.Secret) []string {
	out := make([]string, len(secrets))
	for i, s := range secrets {
		out[i] = s.Name
	}
	return out
}

// raceErrs runs call(i) for i in 0..n-1 at once (see race) and returns
// their errors.
func raceErrs(n int, call func(i int) error) []error {
	errs := make([]error, n)
	race(n, func(i int) { errs[i] = call(i) })
	return errs
}

// checkOneWinner checks that exactly one of errs is nil and the others are
// store.ErrStale, and returns the winner's index (-1 if none).
func checkOneWinner(t *testing.T, call string, errs []error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("%s: calls %d and %d both won", call, winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrStale):
			t.Errorf("%s: call %d: got error %v, want none or ErrStale", call, i, err)
		}
	}
	if winner < 0 {
		t.Errorf("%s: no call won", call)
	}
	return winner
}

// vc is a VersionCount.
func vc(version uint32, count int64) store.VersionCount {
	return store.VersionCount{Version: version, Count: count}
}
