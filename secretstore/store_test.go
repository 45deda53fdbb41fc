package secretstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/format"
	"github.com/keyward/keyward/secret"
	"github.com/keyward/keyward/secretstore"
	"github.com/keyward/keyward/store"
)

// mustPut writes a secret or fails the test.
func mustPut(t *testing.T, f *fixture, org, name string, kind secretstore.Kind, value string, opts secretstore.PutOptions) secretstore.Metadata {
	t.Helper()
	m, err := f.ss.Put(t.Context(), org, name, kind, secret.FromString(value), opts)
	if err != nil {
		t.Fatalf("Put(%q, %q): %v", org, name, err)
	}
	return m
}

// mustReveal reveals a secret as a string or fails the test.
func mustReveal(t *testing.T, f *fixture, org, name string) (string, secretstore.Metadata) {
	t.Helper()
	v, m, err := f.ss.Reveal(t.Context(), org, name)
	if err != nil {
		t.Fatalf("Reveal(%q, %q): %v", org, name, err)
	}
	defer v.Wipe()
	return string(v.Reveal()), m
}

func TestRoundTripEveryKind(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		values := map[secretstore.Kind]string{
			secretstore.APIKey:          "sk_live_51HxQabcdefghijklmnop",
			secretstore.WebhookSecret:   "whsec_" + strings.Repeat("x", 32),
			secretstore.EmailCredential: "smtp password with spaces and ünïcödé",
			secretstore.OAuthToken:      `{"access_token":"ya29.a0","refresh_token":"1//0g"}`,
			secretstore.Generic:         "\x00\x01binary\xff\xfe" + strings.Repeat("\x80", 100),
		}
		for kind, value := range values {
			name := "kinds/" + string(kind)
			before := time.Now()
			m := mustPut(t, f, "acme", name, kind, value, secretstore.PutOptions{})
			want := secretstore.Metadata{Org: "acme", Name: name, Kind: kind, KeyVersion: 1, Revision: 1,
				CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
			if m != want {
				t.Errorf("Put %s: got %+v, want %+v", kind, m, want)
			}
			if m.CreatedAt.Before(before.Add(-2*time.Second)) || m.CreatedAt.After(time.Now().Add(2*time.Second)) {
				t.Errorf("Put %s: CreatedAt %v, want about now", kind, m.CreatedAt)
			}
			got, err := f.ss.Get(t.Context(), "acme", name)
			if err != nil || got != m {
				t.Errorf("Get %s: got %+v, %v; want %+v", kind, got, err, m)
			}
			v, rm := mustReveal(t, f, "acme", name)
			if v != value || rm != m {
				t.Errorf("Reveal %s: got %q %+v, want %q %+v", kind, v, rm, value, m)
			}
		}
		// The largest value round-trips; one byte more is refused.
		big := bytes.Repeat([]byte{0xa5}, secretstore.MaxValueSize)
		if _, err := f.ss.Put(t.Context(), "acme", "big", secretstore.Generic, secret.New(big), secretstore.PutOptions{}); err != nil {
			t.Fatalf("Put of MaxValueSize bytes: %v", err)
		}
		if v, _ := mustReveal(t, f, "acme", "big"); v != string(big) {
			t.Errorf("Reveal of MaxValueSize bytes: got %d bytes back", len(v))
		}
	})
}

func TestReplaceAndRevision(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		m1 := mustPut(t, f, "acme", "a", secretstore.APIKey, "first-value-0001", secretstore.PutOptions{Hint: "last4"})
		m2 := mustPut(t, f, "acme", "a", secretstore.Generic, "second-value", secretstore.PutOptions{IfRevision: 1})
		if m2.Revision != 2 || m2.Kind != secretstore.Generic || m2.Hint != "" || !m2.CreatedAt.Equal(m1.CreatedAt) {
			t.Errorf("replace: got %+v, want revision 2, kind generic, no hint, created %v", m2, m1.CreatedAt)
		}
		// A writer at an old revision loses, and nothing changes.
		_, err := f.ss.Put(ctx, "acme", "a", secretstore.APIKey, secret.FromString("third"), secretstore.PutOptions{IfRevision: 1})
		if !errors.Is(err, secretstore.ErrConflict) {
			t.Errorf("Put at a stale revision: got %v, want ErrConflict", err)
		}
		if v, m := mustReveal(t, f, "acme", "a"); v != "second-value" || m != m2 {
			t.Errorf("after a lost write: got %q %+v, want %q %+v", v, m, "second-value", m2)
		}
		// A conditional write to a missing secret is not found; to an
		// unknown org, unknown org.
		_, err = f.ss.Put(ctx, "acme", "missing", secretstore.APIKey, secret.FromString("x"), secretstore.PutOptions{IfRevision: 1})
		if !errors.Is(err, secretstore.ErrNotFound) {
			t.Errorf("conditional Put of a missing secret: got %v, want ErrNotFound", err)
		}
		if _, err := f.ss.Get(ctx, "acme", "missing"); !errors.Is(err, secretstore.ErrNotFound) {
			t.Errorf("a refused conditional Put created the secret: %v", err)
		}

		// Two writers at the same revision: exactly one wins.
		errs := make(chan error, 2)
		for i := range 2 {
			go func() {
				_, err := f.ss.Put(ctx, "acme", "a", secretstore.APIKey, secret.FromString(fmt.Sprint("w", i)), secretstore.PutOptions{IfRevision: 2})
				errs <- err
			}()
		}
		var won, lost int
		for range 2 {
			switch err := <-errs; {
			case err == nil:
				won++
			case errors.Is(err, secretstore.ErrConflict):
				lost++
			default:
				t.Errorf("racing writer: %v", err)
			}
		}
		if won != 1 || lost != 1 {
			t.Errorf("racing writers: %d won, %d lost; want 1 and 1", won, lost)
		}
	})
}

func TestHints(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		tests := []struct {
			value, hint string
			want        string
			err         error
		}{
			{"sk_live_abcdefgh1234", "last4", "1234", nil},
			{"sk_live_abcdefgh1234", "", "", nil},
			{"123456789012", "last4", "9012", nil}, // exactly 12 characters
			{"12345678901", "last4", "", secretstore.ErrInvalidHint},
			{"12345678", "last4", "", secretstore.ErrInvalidHint},
			{"ключ-пароль-ёжик", "last4", "ёжик", nil},
			{"日本語日本語日本語日本", "last4", "", secretstore.ErrInvalidHint}, // 33 bytes, 11 characters
			{"trailing-newline\n", "last4", "", secretstore.ErrInvalidHint},
			{"tab-at-the-end!!\t", "last4", "", secretstore.ErrInvalidHint},
			{"not utf-8 at all \xff\xfe", "last4", "", secretstore.ErrInvalidHint},
			{"sk_live_abcdefgh1234", "first4", "", secretstore.ErrInvalidHint},
			{"sk_live_abcdefgh1234", "LAST4", "", secretstore.ErrInvalidHint},
			{"sk_live_abcdefgh1234", "last", "", secretstore.ErrInvalidHint},
		}
		for i, tt := range tests {
			name := fmt.Sprintf("hint/%d", i)
			m, err := f.ss.Put(t.Context(), "acme", name, secretstore.APIKey, secret.FromString(tt.value), secretstore.PutOptions{Hint: tt.hint})
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Errorf("Put(%q, hint %q): got error %v, want %v", tt.value, tt.hint, err, tt.err)
				continue
			}
			if err != nil {
				if strings.Contains(err.Error(), tt.value) {
					t.Errorf("Put(hint %q): the error quotes the value: %v", tt.hint, err)
				}
				if _, gerr := f.ss.Get(t.Context(), "acme", name); !errors.Is(gerr, secretstore.ErrNotFound) {
					t.Errorf("a refused hint stored the secret: %v", gerr)
				}
				continue
			}
			if m.Hint != tt.want {
				t.Errorf("Put(%q, hint %q): hint %q, want %q", tt.value, tt.hint, m.Hint, tt.want)
			}
		}
	})
}

func TestInvalidInputChangesNothing(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		orig := mustPut(t, f, "acme", "a", secretstore.APIKey, "original-value", secretstore.PutOptions{})
		put := func(org, name string, kind secretstore.Kind, value secret.Bytes, opts secretstore.PutOptions) func() error {
			return func() error { _, err := f.ss.Put(ctx, org, name, kind, value, opts); return err }
		}
		v := secret.FromString("new-value-0123")
		tests := []struct {
			name string
			call func() error
			want error
		}{
			{"bad name", put("acme", "a/../a", secretstore.APIKey, v, secretstore.PutOptions{}), secretstore.ErrInvalidName},
			{"empty name", put("acme", "", secretstore.APIKey, v, secretstore.PutOptions{}), secretstore.ErrInvalidName},
			{"bad kind", put("acme", "a", "password", v, secretstore.PutOptions{}), secretstore.ErrInvalidKind},
			{"empty kind", put("acme", "a", "", v, secretstore.PutOptions{}), secretstore.ErrInvalidKind},
			{"bad hint", put("acme", "a", secretstore.APIKey, v, secretstore.PutOptions{Hint: "all"}), secretstore.ErrInvalidHint},
			{"short hinted", put("acme", "a", secretstore.APIKey, secret.FromString("short"), secretstore.PutOptions{Hint: "last4"}), secretstore.ErrInvalidHint},
			{"empty value", put("acme", "a", secretstore.APIKey, secret.Bytes{}, secretstore.PutOptions{}), secretstore.ErrEmptyValue},
			{"too large", put("acme", "a", secretstore.APIKey, secret.New(make([]byte, secretstore.MaxValueSize+1)), secretstore.PutOptions{}), secretstore.ErrTooLarge},
			{"negative revision", put("acme", "a", secretstore.APIKey, v, secretstore.PutOptions{IfRevision: -1}), secretstore.ErrInvalidRevision},
			{"stale revision", put("acme", "a", secretstore.APIKey, v, secretstore.PutOptions{IfRevision: 7}), secretstore.ErrConflict},
			{"unknown org put", put("nobody", "a", secretstore.APIKey, v, secretstore.PutOptions{}), secretstore.ErrUnknownOrg},
			{"unknown org conditional put", put("nobody", "a", secretstore.APIKey, v, secretstore.PutOptions{IfRevision: 1}), secretstore.ErrUnknownOrg},
			{"invalid org", put("a/b", "a", secretstore.APIKey, v, secretstore.PutOptions{}), secretstore.ErrInvalidOrg},
			{"get unknown org", func() error { _, err := f.ss.Get(ctx, "nobody", "a"); return err }, secretstore.ErrUnknownOrg},
			{"get missing", func() error { _, err := f.ss.Get(ctx, "acme", "b"); return err }, secretstore.ErrNotFound},
			{"get bad name", func() error { _, err := f.ss.Get(ctx, "acme", "/a"); return err }, secretstore.ErrInvalidName},
			{"reveal unknown org", func() error { _, _, err := f.ss.Reveal(ctx, "nobody", "a"); return err }, secretstore.ErrUnknownOrg},
			{"reveal missing", func() error { _, _, err := f.ss.Reveal(ctx, "globex", "a"); return err }, secretstore.ErrNotFound},
			{"list unknown org", func() error { _, _, err := f.ss.List(ctx, "nobody", "", 10); return err }, secretstore.ErrUnknownOrg},
			{"list bad cursor", func() error { _, _, err := f.ss.List(ctx, "acme", "a//", 10); return err }, secretstore.ErrInvalidName},
			{"list invalid org", func() error { _, _, err := f.ss.List(ctx, "", "", 10); return err }, secretstore.ErrInvalidOrg},
			{"delete unknown org", func() error { return f.ss.Delete(ctx, "nobody", "a") }, secretstore.ErrUnknownOrg},
			{"delete missing", func() error { return f.ss.Delete(ctx, "acme", "b") }, secretstore.ErrNotFound},
			{"delete bad name", func() error { return f.ss.Delete(ctx, "acme", "a\x00") }, secretstore.ErrInvalidName},
		}
		for _, tt := range tests {
			if err := tt.call(); !errors.Is(err, tt.want) {
				t.Errorf("%s: got error %v, want %v", tt.name, err, tt.want)
			}
		}
		items, next, err := f.ss.List(ctx, "acme", "", 0)
		if err != nil || len(items) != 1 || items[0] != orig || next != "" {
			t.Errorf("after refused calls: List = %+v, %q, %v; want only %+v", items, next, err, orig)
		}
		if v, _ := mustReveal(t, f, "acme", "a"); v != "original-value" {
			t.Errorf("after refused calls: value %q", v)
		}
		if items, _, err := f.ss.List(ctx, "globex", "", 0); err != nil || len(items) != 0 {
			t.Errorf("globex after refused calls: %+v, %v; want none", items, err)
		}
	})
}

func TestList(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		var want []string
		for i := range 25 {
			name := fmt.Sprintf("s/%02d", i)
			want = append(want, name)
			mustPut(t, f, "acme", name, secretstore.Generic, "v", secretstore.PutOptions{})
		}
		mustPut(t, f, "globex", "s/005", secretstore.Generic, "v", secretstore.PutOptions{})
		for _, limit := range []int{1, 7, 10, 24, 25, 26} {
			var got []string
			after := ""
			for page := 0; ; page++ {
				items, next, err := f.ss.List(ctx, "acme", after, limit)
				if err != nil {
					t.Fatalf("List(%q, %d): %v", after, limit, err)
				}
				if len(items) > limit || (next != "" && len(items) != limit) {
					t.Fatalf("List(%q, %d): %d items, next %q", after, limit, len(items), next)
				}
				for _, m := range items {
					got = append(got, m.Name)
				}
				if next == "" {
					break
				}
				if next != items[len(items)-1].Name {
					t.Fatalf("List(%q, %d): next %q, want the last name %q", after, limit, next, items[len(items)-1].Name)
				}
				after = next
			}
			if g, w := strings.Join(got, ","), strings.Join(want, ","); g != w {
				t.Errorf("limit %d: listed %s, want %s", limit, g, w)
			}
		}
		// An empty org lists nothing.
		if items, next, err := f.ss.List(ctx, "globex", "s/005", 10); err != nil || len(items) != 0 || next != "" {
			t.Errorf("List after the last name: %v %q %v", items, next, err)
		}
	})
}

// limitRecorder is a real store that records the limits ListSecrets is
// asked for.
type limitRecorder struct {
	store.SecretStore
	limits []int
}

func (r *limitRecorder) ListSecrets(ctx context.Context, org, after string, limit int) ([]store.Secret, error) {
	r.limits = append(r.limits, limit)
	return r.SecretStore.ListSecrets(ctx, org, after, limit)
}

func TestListLimits(t *testing.T) {
	f := newFixture(t, backends()[0])
	rec := &limitRecorder{SecretStore: f.raw}
	ss, err := secretstore.New(f.eng, rec)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ limit, want int }{
		{0, secretstore.DefaultListLimit + 1},
		{-5, secretstore.DefaultListLimit + 1},
		{1, 2},
		{secretstore.MaxListLimit, secretstore.MaxListLimit + 1},
		{secretstore.MaxListLimit + 1, secretstore.MaxListLimit + 1},
		{1 << 40, secretstore.MaxListLimit + 1},
	} {
		rec.limits = nil
		if _, _, err := ss.List(t.Context(), "acme", "", tt.limit); err != nil {
			t.Fatal(err)
		}
		if len(rec.limits) != 1 || rec.limits[0] != tt.want {
			t.Errorf("List(limit %d) asked the store for %v, want [%d] (one more than the page, to know whether another follows)", tt.limit, rec.limits, tt.want)
		}
	}
}

func TestDelete(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		mustPut(t, f, "acme", "a", secretstore.APIKey, "value-a", secretstore.PutOptions{})
		mustPut(t, f, "acme", "b", secretstore.APIKey, "value-b", secretstore.PutOptions{})
		mustPut(t, f, "globex", "a", secretstore.APIKey, "value-ga", secretstore.PutOptions{})
		if err := f.ss.Delete(ctx, "acme", "a"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.ss.Reveal(ctx, "acme", "a"); !errors.Is(err, secretstore.ErrNotFound) {
			t.Errorf("Reveal after Delete: got %v, want ErrNotFound", err)
		}
		if err := f.ss.Delete(ctx, "acme", "a"); !errors.Is(err, secretstore.ErrNotFound) {
			t.Errorf("Delete twice: got %v, want ErrNotFound", err)
		}
		if v, _ := mustReveal(t, f, "acme", "b"); v != "value-b" {
			t.Errorf("other secret after Delete: %q", v)
		}
		if v, _ := mustReveal(t, f, "globex", "a"); v != "value-ga" {
			t.Errorf("same name in another org after Delete: %q", v)
		}
	})
}

// TestMovedCiphertext copies a stored ciphertext to another name and to
// another organization, reaching around the secret store into the rows:
// decryption fails with keyward.ErrDecrypt instead of revealing the value
// under a name it does not belong to.
func TestMovedCiphertext(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		mustPut(t, f, "acme", "webhooks/stripe", secretstore.WebhookSecret, "whsec_moved", secretstore.PutOptions{})
		mustPut(t, f, "acme", "webhooks/github", secretstore.WebhookSecret, "whsec_other", secretstore.PutOptions{})
		mustPut(t, f, "globex", "webhooks/stripe", secretstore.WebhookSecret, "whsec_globex", secretstore.PutOptions{})
		row, err := f.raw.GetSecret(ctx, "acme", "webhooks/stripe")
		if err != nil {
			t.Fatal(err)
		}
		moves := []struct{ org, name string }{
			{"acme", "webhooks/github"},   // another name, replacing a row
			{"acme", "webhooks/copy"},     // another name, a new row
			{"globex", "webhooks/stripe"}, // the same name in another org
		}
		for _, mv := range moves {
			moved := row
			moved.Org, moved.Name = mv.org, mv.name
			if _, err := f.raw.PutSecret(ctx, moved, 0); err != nil {
				t.Fatal(err)
			}
			_, _, err := f.ss.Reveal(ctx, mv.org, mv.name)
			if !errors.Is(err, keyward.ErrDecrypt) {
				t.Errorf("Reveal of a ciphertext moved to %s/%s: got %v, want ErrDecrypt", mv.org, mv.name, err)
			}
		}
		// The original still opens.
		if v, _ := mustReveal(t, f, "acme", "webhooks/stripe"); v != "whsec_moved" {
			t.Errorf("original after the moves: %q", v)
		}
	})
}

// TestKeyVersion: metadata carries the DEK version of the ciphertext; after
// a rotation, new writes use the new version and old values still reveal.
func TestKeyVersion(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		mustPut(t, f, "acme", "old", secretstore.APIKey, "v1-value", secretstore.PutOptions{})
		if _, err := f.eng.RotateDEK(ctx, "acme"); err != nil {
			t.Fatal(err)
		}
		m := mustPut(t, f, "acme", "new", secretstore.APIKey, "v2-value", secretstore.PutOptions{})
		if m.KeyVersion != 2 {
			t.Errorf("Put after rotation: key version %d, want 2", m.KeyVersion)
		}
		row, err := f.raw.GetSecret(ctx, "acme", "new")
		if err != nil {
			t.Fatal(err)
		}
		if fld, err := format.ParseBinary(row.Ciphertext); err != nil || fld.KeyVersion != 2 || row.KeyVersion != 2 {
			t.Errorf("stored row: ciphertext version %d (%v), column %d; want 2 and 2", fld.KeyVersion, err, row.KeyVersion)
		}
		if v, m := mustReveal(t, f, "acme", "old"); v != "v1-value" || m.KeyVersion != 1 {
			t.Errorf("old secret after rotation: %q v%d", v, m.KeyVersion)
		}
		counts, err := f.raw.SecretVersionCounts(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := fmt.Sprint(counts), "[{1 1} {2 1}]"; got != want {
			t.Errorf("SecretVersionCounts: got %s, want %s", got, want)
		}
	})
}

func TestNew(t *testing.T) {
	f := newFixture(t, backends()[0])
	if _, err := secretstore.New(nil, f.raw); err == nil {
		t.Error("New(nil cipher): no error")
	}
	if _, err := secretstore.New(f.eng, nil); err == nil {
		t.Error("New(nil store): no error")
	}
}
