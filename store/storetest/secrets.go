package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

// The secret store: store.SecretStore, which every store implements.
func testSecrets(t *testing.T, open Opener) {
	sub := func(name string, fn func(*testing.T, store.Store, store.SecretStore)) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			fn(t, s, secretStore(t, s))
		})
	}
	sub("CreateReplace", testSecretCreateReplace)
	sub("IfRevision", testSecretIfRevision)
	sub("Get", testSecretGet)
	sub("List", testSecretList)
	sub("Delete", testSecretDelete)
	sub("Swap", testSecretSwap)
	sub("VersionCounts", testSecretVersionCounts)
	sub("UnknownOrg", testSecretUnknownOrg)
	sub("Invalid", testSecretInvalid)
	sub("Copies", testSecretCopies)
	sub("RevisionRace", testSecretRevisionRace)
	sub("SwapRace", testSecretSwapRace)
	t.Run("Context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		s := open(t)
		testSecretDeadContext(t, s, secretStore(t, s), ctx, context.Canceled)
	})
}

func testSecretCreateReplace(t *testing.T, s store.Store, ss store.SecretStore) {
	createOrg(t, s, "acme")
	in := newSecret("acme", "webhooks/stripe", 1, "")
	in.Kind, in.Hint = "webhook_secret", "wxyz"
	before := time.Now()
	got := mustPutSecret(t, ss, in)
	after := time.Now()
	want := in
	want.Revision, want.CreatedAt, want.UpdatedAt = 1, got.CreatedAt, got.UpdatedAt
	checkSecret(t, "PutSecret (create)", got, want)
	checkTime(t, "created secret CreatedAt", got.CreatedAt, before, after)
	checkTime(t, "created secret UpdatedAt", got.UpdatedAt, before, after)
	if !got.UpdatedAt.Equal(got.CreatedAt) {
		t.Errorf("created secret: UpdatedAt %v, want CreatedAt %v", got.UpdatedAt, got.CreatedAt)
	}
	checkSecret(t, "GetSecret after create", mustGetSecret(t, ss, "acme", "webhooks/stripe"), got)

	// Replace: kind, hint, ciphertext and key version all change; the
	// creation time stays and the revision grows.
	time.Sleep(5 * time.Millisecond) // stores keep milliseconds
	re := newSecret("acme", "webhooks/stripe", 2, "-second")
	re.Kind, re.Hint = "generic", ""
	before = time.Now()
	got2 := mustPutSecret(t, ss, re)
	after = time.Now()
	want2 := re
	want2.Revision, want2.CreatedAt, want2.UpdatedAt = 2, got.CreatedAt, got2.UpdatedAt
	checkSecret(t, "PutSecret (replace)", got2, want2)
	checkTime(t, "replaced secret UpdatedAt", got2.UpdatedAt, before, after)
	if !got2.UpdatedAt.After(got.UpdatedAt) {
		t.Errorf("replaced secret: UpdatedAt %v, want after %v", got2.UpdatedAt, got.UpdatedAt)
	}
	checkSecret(t, "GetSecret after replace", mustGetSecret(t, ss, "acme", "webhooks/stripe"), got2)
	got3 := mustPutSecret(t, ss, re)
	if got3.Revision != 3 {
		t.Errorf("third PutSecret: revision %d, want 3", got3.Revision)
	}

	// The same name in another org is another secret.
	createOrg(t, s, "globex")
	other := mustPutSecret(t, ss, newSecret("globex", "webhooks/stripe", 1, ""))
	if other.Revision != 1 {
		t.Errorf("same name in another org: revision %d, want 1", other.Revision)
	}
	checkSecret(t, "GetSecret of acme after globex's put", mustGetSecret(t, ss, "acme", "webhooks/stripe"), got3)
}

func testSecretIfRevision(t *testing.T, s store.Store, ss store.SecretStore) {
	ctx := t.Context()
	createOrg(t, s, "acme")
	first := mustPutSecret(t, ss, newSecret("acme", "a", 1, ""))

	// Missing: ErrNotFound, and nothing is created.
	_, err := ss.PutSecret(ctx, newSecret("acme", "missing", 1, ""), 1)
	checkErr(t, "PutSecret(missing, ifRevision 1)", err, store.ErrNotFound)
	if _, err := ss.GetSecret(ctx, "acme", "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSecret after a refused conditional create: got %v, want ErrNotFound", err)
	}

	// The right revision wins and moves the revision on.
	second, err := ss.PutSecret(ctx, newSecret("acme", "a", 1, "-2"), 1)
	if err != nil {
		t.Fatalf("PutSecret(ifRevision 1): %v", err)
	}
	if second.Revision != 2 || !second.CreatedAt.Equal(first.CreatedAt) {
		t.Errorf("PutSecret(ifRevision 1): revision %d created %v, want 2 and %v", second.Revision, second.CreatedAt, first.CreatedAt)
	}

	// Stale revisions (older, newer, far off) lose and change nothing.
	for _, rev := range []int64{1, 3, 1 << 40} {
		_, err := ss.PutSecret(ctx, newSecret("acme", "a", 1, "-stale"), rev)
		checkErr(t, fmt.Sprintf("PutSecret(ifRevision %d) at revision 2", rev), err, store.ErrStale)
	}
	checkSecret(t, "GetSecret after stale writes", mustGetSecret(t, ss, "acme", "a"), second)
}

func testSecretGet(t *testing.T, s store.Store, ss store.SecretStore) {
	createOrg(t, s, "acme")
	put := mustPutSecret(t, ss, newSecret("acme", "smtp/primary.password", 1, ""))
	tests := []struct {
		org, name string
		want      error
	}{
		{"acme", "smtp/primary.password", nil},
		{"acme", "smtp/primary", store.ErrNotFound},
		{"acme", "SMTP/primary.password", store.ErrNotFound}, // names are case-sensitive
		{"acme", "smtp/primary.password/", store.ErrNotFound},
		{"nobody", "smtp/primary.password", store.ErrNotFound},
	}
	for _, tt := range tests {
		got, err := ss.GetSecret(t.Context(), tt.org, tt.name)
		if !checkErr(t, fmt.Sprintf("GetSecret(%q, %q)", tt.org, tt.name), err, tt.want) || tt.want != nil {
			continue
		}
		checkSecret(t, "GetSecret", got, put)
	}
}

func testSecretList(t *testing.T, s store.Store, ss store.SecretStore) {
	ctx := t.Context()
	createOrg(t, s, "acme")
	createOrg(t, s, "globex")
	createOrg(t, s, "empty")
	// Inserted out of order; bytewise order differs from most locales'
	// ("Z" < "_" < "a", "a-b" < "a.b" < "a/b" < "aa").
	names := []string{"aa", "a/b", "Z", "b", "a.b", "_x", "a-b", "a", "B0"}
	byName := map[string]store.Secret{}
	for _, n := range names {
		byName[n] = mustPutSecret(t, ss, newSecret("acme", n, 1, ""))
	}
	mustPutSecret(t, ss, newSecret("globex", "a0", 1, "")) // between acme's "a" and "aa", in another org
	sorted := slices.Clone(names)
	slices.Sort(sorted) // Go compares strings bytewise
	if got, want := strings.Join(sorted, " "), "B0 Z _x a a-b a.b a/b aa b"; got != want {
		t.Fatalf("test setup: sorted %s, want %s", got, want)
	}

	for _, limit := range []int{1, 2, 4, len(names), len(names) + 1, 1000} {
		var got []store.Secret
		after := ""
		for pages := 0; ; pages++ {
			if pages > len(names)+1 {
				t.Fatalf("limit %d: listing does not end", limit)
			}
			page, err := ss.ListSecrets(ctx, "acme", after, limit)
			if err != nil {
				t.Fatalf("ListSecrets(acme, %q, %d): %v", after, limit, err)
			}
			if len(page) > limit {
				t.Fatalf("ListSecrets(acme, %q, %d): %d secrets", after, limit, len(page))
			}
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			after = page[len(page)-1].Name
		}
		if g, w := strings.Join(secretNames(got), " "), strings.Join(sorted, " "); g != w {
			t.Errorf("limit %d: listed %s, want %s", limit, g, w)
			continue
		}
		for i, sec := range got {
			checkSecret(t, fmt.Sprintf("limit %d: item %d", limit, i), sec, byName[sec.Name])
		}
	}

	// The cursor need not be a stored name.
	page, err := ss.ListSecrets(ctx, "acme", "a.a", 3)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(secretNames(page), " "), "a.b a/b aa"; got != want {
		t.Errorf("ListSecrets(acme, a.a, 3): got %s, want %s", got, want)
	}
	page, err = ss.ListSecrets(ctx, "acme", "b", 3)
	if err != nil || len(page) != 0 || page == nil {
		t.Errorf("ListSecrets after the last name: got %v (nil: %t), %v; want an empty list", secretNames(page), page == nil, err)
	}
	page, err = ss.ListSecrets(ctx, "empty", "", 3)
	if err != nil || len(page) != 0 || page == nil {
		t.Errorf("ListSecrets of an org without secrets: got %v (nil: %t), %v; want an empty list", secretNames(page), page == nil, err)
	}
	_, err = ss.ListSecrets(ctx, "nobody", "", 3)
	checkErr(t, "ListSecrets of an unknown org", err, store.ErrNotFound)
	for _, limit := range []int{0, -1} {
		_, err := ss.ListSecrets(ctx, "acme", "", limit)
		checkErr(t, fmt.Sprintf("ListSecrets limit %d", limit), err, store.ErrInvalidArgument)
	}
}

func testSecretDelete(t *testing.T, s store.Store, ss store.SecretStore) {
	ctx := t.Context()
	createOrg(t, s, "acme")
	createOrg(t, s, "globex")
	mustPutSecret(t, ss, newSecret("acme", "a", 1, ""))
	keepB := mustPutSecret(t, ss, newSecret("acme", "b", 1, ""))
	keepG := mustPutSecret(t, ss, newSecret("globex", "a", 1, ""))
	if err := ss.DeleteSecret(ctx, "acme", "a"); err != nil {
		t.Fatalf("DeleteSecret: %v", err)
	}
	_, err := ss.GetSecret(ctx, "acme", "a")
	checkErr(t, "GetSecret after delete", err, store.ErrNotFound)
	checkErr(t, "DeleteSecret twice", ss.DeleteSecret(ctx, "acme", "a"), store.ErrNotFound)
	checkErr(t, "DeleteSecret of a missing name", ss.DeleteSecret(ctx, "acme", "zzz"), store.ErrNotFound)
	checkErr(t, "DeleteSecret in an unknown org", ss.DeleteSecret(ctx, "nobody", "b"), store.ErrNotFound)
	checkSecretsUnchanged(t, ss, []store.Secret{keepB, keepG}, "acme", "globex")

	// A deleted name can be created again, from revision 1.
	again := mustPutSecret(t, ss, newSecret("acme", "a", 1, "-again"))
	if again.Revision != 1 {
		t.Errorf("PutSecret after delete: revision %d, want 1", again.Revision)
	}
}

func testSecretSwap(t *testing.T, s store.Store, ss store.SecretStore) {
	ctx := t.Context()
	createOrg(t, s, "acme")
	in := newSecret("acme", "a", 1, "")
	in.Kind, in.Hint = "oauth_token", "abcd"
	put := mustPutSecret(t, ss, in)
	other := mustPutSecret(t, ss, newSecret("acme", "b", 1, ""))

	time.Sleep(5 * time.Millisecond)
	newCT := sealed("acme", "a", 2, "-rewrapped")
	before := time.Now()
	if err := ss.SwapSecretCiphertext(ctx, "acme", "a", put.Ciphertext, newCT, 2); err != nil {
		t.Fatalf("SwapSecretCiphertext: %v", err)
	}
	after := time.Now()
	got := mustGetSecret(t, ss, "acme", "a")
	want := put
	want.Ciphertext, want.KeyVersion, want.Revision, want.UpdatedAt = newCT, 2, 2, got.UpdatedAt
	checkSecret(t, "GetSecret after swap", got, want)
	checkTime(t, "swapped secret UpdatedAt", got.UpdatedAt, before, after)
	if !got.UpdatedAt.After(put.UpdatedAt) {
		t.Errorf("swapped secret: UpdatedAt %v, want after %v", got.UpdatedAt, put.UpdatedAt)
	}

	// The old ciphertext no longer matches: stale, nothing changes.
	err := ss.SwapSecretCiphertext(ctx, "acme", "a", put.Ciphertext, sealed("acme", "a", 3, "-late"), 3)
	checkErr(t, "SwapSecretCiphertext from a replaced ciphertext", err, store.ErrStale)
	// Another secret's ciphertext does not match either.
	err = ss.SwapSecretCiphertext(ctx, "acme", "a", other.Ciphertext, sealed("acme", "a", 3, "-late"), 3)
	checkErr(t, "SwapSecretCiphertext from another secret's ciphertext", err, store.ErrStale)
	checkErr(t, "SwapSecretCiphertext of a missing secret",
		ss.SwapSecretCiphertext(ctx, "acme", "zzz", put.Ciphertext, newCT, 2), store.ErrNotFound)
	checkErr(t, "SwapSecretCiphertext in an unknown org",
		ss.SwapSecretCiphertext(ctx, "nobody", "a", newCT, put.Ciphertext, 2), store.ErrNotFound)
	checkSecretsUnchanged(t, ss, []store.Secret{got, other}, "acme")

	// A writer's PutSecret after the reader took the ciphertext makes the
	// swap stale, even when the writer stores the same bytes again: the
	// swap compares ciphertexts, which are never reused by encryption.
	replaced := mustPutSecret(t, ss, newSecret("acme", "a", 2, "-by-writer"))
	err = ss.SwapSecretCiphertext(ctx, "acme", "a", newCT, sealed("acme", "a", 3, ""), 3)
	checkErr(t, "SwapSecretCiphertext after a PutSecret", err, store.ErrStale)
	checkSecret(t, "GetSecret after a lost swap", mustGetSecret(t, ss, "acme", "a"), replaced)
}

func testSecretVersionCounts(t *testing.T, s store.Store, ss store.SecretStore) {
	ctx := t.Context()
	createOrg(t, s, "acme")
	createOrg(t, s, "globex")
	check := func(org, what string, want []store.VersionCount) {
		t.Helper()
		got, err := ss.SecretVersionCounts(ctx, org)
		if err != nil {
			t.Fatalf("SecretVersionCounts(%q) %s: %v", org, what, err)
		}
		if got == nil || !slices.Equal(got, want) {
			t.Errorf("SecretVersionCounts(%q) %s: got %+v, want %+v", org, what, got, want)
		}
	}
	check("acme", "without secrets", []store.VersionCount{})
	// Versions whose order as numbers differs from their order as text.
	for i, v := range []uint32{10, 2, 10, 1, 10, 2} {
		mustPutSecret(t, ss, newSecret("acme", fmt.Sprintf("s%d", i), v, ""))
	}
	mustPutSecret(t, ss, newSecret("globex", "s0", 7, ""))
	check("acme", "after puts", []store.VersionCount{vc(1, 1), vc(2, 2), vc(10, 3)})
	check("globex", "after puts", []store.VersionCount{vc(7, 1)})

	s1 := mustGetSecret(t, ss, "acme", "s1")
	if err := ss.SwapSecretCiphertext(ctx, "acme", "s1", s1.Ciphertext, sealed("acme", "s1", 10, "-re"), 10); err != nil {
		t.Fatal(err)
	}
	check("acme", "after a swap", []store.VersionCount{vc(1, 1), vc(2, 1), vc(10, 4)})
	if err := ss.DeleteSecret(ctx, "acme", "s3"); err != nil {
		t.Fatal(err)
	}
	check("acme", "after a delete", []store.VersionCount{vc(2, 1), vc(10, 4)})
	mustPutSecret(t, ss, newSecret("acme", "s0", 2, "-re")) // replace moves a count
	check("acme", "after a replace", []store.VersionCount{vc(2, 2), vc(10, 3)})

	_, err := ss.SecretVersionCounts(ctx, "nobody")
	checkErr(t, "SecretVersionCounts of an unknown org", err, store.ErrNotFound)
}

func testSecretUnknownOrg(t *testing.T, s store.Store, ss store.SecretStore) {
	ctx := t.Context()
	createOrg(t, s, "acme")
	for _, rev := range []int64{0, 1} {
		_, err := ss.PutSecret(ctx, newSecret("nobody", "a", 1, ""), rev)
		checkErr(t, fmt.Sprintf("PutSecret in an unknown org (ifRevision %d)", rev), err, store.ErrNotFound)
	}
	_, err := ss.GetSecret(ctx, "nobody", "a")
	checkErr(t, "GetSecret in an unknown org", err, store.ErrNotFound)
	if got := take(t, s); len(got.orgs) != 1 {
		t.Errorf("after writes to an unknown org: %d orgs, want 1", len(got.orgs))
	}
}

func testSecretInvalid(t *testing.T, s store.Store, ss store.SecretStore) {
	ctx := t.Context()
	createOrg(t, s, "acme")
	existing := mustPutSecret(t, ss, newSecret("acme", "a", 1, ""))
	ct := existing.Ciphertext
	with := func(f func(*store.Secret)) store.Secret {
		sec := newSecret("acme", "b", 1, "")
		f(&sec)
		return sec
	}
	put := func(sec store.Secret, rev int64) func() error {
		return func() error { _, err := ss.PutSecret(ctx, sec, rev); return err }
	}
	calls := []struct {
		name string
		call func() error
	}{
		{"Put empty org", put(with(func(s *store.Secret) { s.Org = "" }), 0)},
		{"Put empty name", put(with(func(s *store.Secret) { s.Name = "" }), 0)},
		{"Put empty kind", put(with(func(s *store.Secret) { s.Kind = "" }), 0)},
		{"Put nil ciphertext", put(with(func(s *store.Secret) { s.Ciphertext = nil }), 0)},
		{"Put empty ciphertext", put(with(func(s *store.Secret) { s.Ciphertext = []byte{} }), 0)},
		{"Put key version 0", put(with(func(s *store.Secret) { s.KeyVersion = 0 }), 0)},
		{"Put negative revision", put(with(func(s *store.Secret) {}), -1)},
		{"Replace empty kind", put(with(func(s *store.Secret) { s.Name, s.Kind = "a", "" }), 0)},
		{"Replace empty ciphertext", put(with(func(s *store.Secret) { s.Name, s.Ciphertext = "a", nil }), 1)},
		{"Replace key version 0", put(with(func(s *store.Secret) { s.Name, s.KeyVersion = "a", 0 }), 1)},
		{"Get empty org", func() error { _, err := ss.GetSecret(ctx, "", "a"); return err }},
		{"Get empty name", func() error { _, err := ss.GetSecret(ctx, "acme", ""); return err }},
		{"List empty org", func() error { _, err := ss.ListSecrets(ctx, "", "", 1); return err }},
		{"List limit 0", func() error { _, err := ss.ListSecrets(ctx, "acme", "", 0); return err }},
		{"Delete empty org", func() error { return ss.DeleteSecret(ctx, "", "a") }},
		{"Delete empty name", func() error { return ss.DeleteSecret(ctx, "acme", "") }},
		{"Swap empty org", func() error { return ss.SwapSecretCiphertext(ctx, "", "a", ct, []byte("x"), 2) }},
		{"Swap empty name", func() error { return ss.SwapSecretCiphertext(ctx, "acme", "", ct, []byte("x"), 2) }},
		{"Swap empty old", func() error { return ss.SwapSecretCiphertext(ctx, "acme", "a", nil, []byte("x"), 2) }},
		{"Swap empty new", func() error { return ss.SwapSecretCiphertext(ctx, "acme", "a", ct, nil, 2) }},
		{"Swap key version 0", func() error { return ss.SwapSecretCiphertext(ctx, "acme", "a", ct, []byte("x"), 0) }},
		{"VersionCounts empty org", func() error { _, err := ss.SecretVersionCounts(ctx, ""); return err }},
	}
	for _, c := range calls {
		checkErr(t, c.name, c.call(), store.ErrInvalidArgument)
	}
	checkSecretsUnchanged(t, ss, []store.Secret{existing}, "acme")
}

func testSecretCopies(t *testing.T, s store.Store, ss store.SecretStore) {
	ctx := t.Context()
	createOrg(t, s, "acme")
	in := newSecret("acme", "a", 1, "")
	want := slices.Clone(in.Ciphertext)
	put := mustPutSecret(t, ss, in)
	clear(in.Ciphertext) // the caller reuses its buffer
	if !bytes.Equal(put.Ciphertext, want) {
		t.Errorf("PutSecret result shares the caller's ciphertext: %q after the caller cleared it", put.Ciphertext)
	}
	clear(put.Ciphertext)
	got := mustGetSecret(t, ss, "acme", "a")
	if !bytes.Equal(got.Ciphertext, want) {
		t.Errorf("GetSecret after clearing inputs and results: %q, want %q", got.Ciphertext, want)
	}
	clear(got.Ciphertext)
	list, err := ss.ListSecrets(ctx, "acme", "", 10)
	if err != nil || len(list) != 1 || !bytes.Equal(list[0].Ciphertext, want) {
		t.Fatalf("ListSecrets after clearing a GetSecret result: %v, %v", list, err)
	}
	clear(list[0].Ciphertext)

	next := sealed("acme", "a", 2, "-swap")
	nextWant := slices.Clone(next)
	old := slices.Clone(want)
	if err := ss.SwapSecretCiphertext(ctx, "acme", "a", old, next, 2); err != nil {
		t.Fatal(err)
	}
	clear(next)
	clear(old)
	if got := mustGetSecret(t, ss, "acme", "a"); !bytes.Equal(got.Ciphertext, nextWant) {
		t.Errorf("GetSecret after clearing SwapSecretCiphertext's arguments: %q, want %q", got.Ciphertext, nextWant)
	}
}

// testSecretRevisionRace starts writers at the same revision at once:
// exactly one wins, the others are stale.
func testSecretRevisionRace(t *testing.T, s store.Store, ss store.SecretStore) {
	createOrg(t, s, "acme")
	mustPutSecret(t, ss, newSecret("acme", "a", 1, ""))
	const writers = 8
	errs := raceErrs(writers, func(i int) error {
		_, err := ss.PutSecret(t.Context(), newSecret("acme", "a", 1, fmt.Sprintf("-w%d", i)), 1)
		return err
	})
	winner := checkOneWinner(t, "PutSecret(ifRevision 1)", errs)
	got := mustGetSecret(t, ss, "acme", "a")
	if winner >= 0 && !bytes.Equal(got.Ciphertext, sealed("acme", "a", 1, fmt.Sprintf("-w%d", winner))) {
		t.Errorf("stored ciphertext %q is not the winner's (writer %d)", got.Ciphertext, winner)
	}
	if got.Revision != 2 {
		t.Errorf("revision after the race: %d, want 2", got.Revision)
	}
}

// testSecretSwapRace starts re-encryptions of the same ciphertext at once:
// exactly one wins.
func testSecretSwapRace(t *testing.T, s store.Store, ss store.SecretStore) {
	createOrg(t, s, "acme")
	put := mustPutSecret(t, ss, newSecret("acme", "a", 1, ""))
	const swappers = 8
	errs := raceErrs(swappers, func(i int) error {
		return ss.SwapSecretCiphertext(t.Context(), "acme", "a", put.Ciphertext,
			sealed("acme", "a", 2, fmt.Sprintf("-s%d", i)), 2)
	})
	winner := checkOneWinner(t, "SwapSecretCiphertext", errs)
	got := mustGetSecret(t, ss, "acme", "a")
	if winner >= 0 && !bytes.Equal(got.Ciphertext, sealed("acme", "a", 2, fmt.Sprintf("-s%d", winner))) {
		t.Errorf("stored ciphertext %q is not the winner's (swapper %d)", got.Ciphertext, winner)
	}
	if got.Revision != 2 || got.KeyVersion != 2 {
		t.Errorf("after the race: revision %d key version %d, want 2 and 2", got.Revision, got.KeyVersion)
	}
}

// testSecretDeadContext calls every method with a context that is already
// done: each fails with the context's error and nothing changes.
func testSecretDeadContext(t *testing.T, s store.Store, ss store.SecretStore, ctx context.Context, want error) {
	createOrg(t, s, "acme")
	put := mustPutSecret(t, ss, newSecret("acme", "a", 1, ""))
	calls := []struct {
		name string
		call func() error
	}{
		{"PutSecret", func() error { _, err := ss.PutSecret(ctx, newSecret("acme", "b", 1, ""), 0); return err }},
		{"PutSecret replace", func() error { _, err := ss.PutSecret(ctx, newSecret("acme", "a", 1, "-x"), 1); return err }},
		{"GetSecret", func() error { _, err := ss.GetSecret(ctx, "acme", "a"); return err }},
		{"ListSecrets", func() error { _, err := ss.ListSecrets(ctx, "acme", "", 10); return err }},
		{"DeleteSecret", func() error { return ss.DeleteSecret(ctx, "acme", "a") }},
		{"SwapSecretCiphertext", func() error {
			return ss.SwapSecretCiphertext(ctx, "acme", "a", put.Ciphertext, []byte("x"), 2)
		}},
		{"SecretVersionCounts", func() error { _, err := ss.SecretVersionCounts(ctx, "acme"); return err }},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, want) {
			t.Errorf("%s with a done context: got error %v, want %v", c.name, err, want)
		}
	}
	checkSecretsUnchanged(t, ss, []store.Secret{put}, "acme")
}
