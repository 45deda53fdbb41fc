package keyward

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/keyward/keyward/keyring"
	"github.com/keyward/keyward/store"
)

// References and the retire/destroy gate.
//
// keyward knows how many rows use each key: the secret store's rows exactly
// (counted at the time of asking), and an application table's rows as the
// last complete scan or migration of that table counted them
// (store.ReferenceStore, written by keyward scan and keyward migrate).
// RetireKey, DestroyKey and their Fernet counterparts refuse a key that
// known rows still use, unless forced. Rows of a table never scanned are
// unknown to keyward: scan every table that holds ciphertexts first.

// Reference counts the rows of one source that use one key of an
// organization. The secret store's source is SecretsSource.
type Reference = store.Reference

// SecretsSource is the Source of the secret store's own references.
const SecretsSource = keyring.SecretsSource

// ErrInUse reports a key that known rows still use; the error is an
// *InUseError listing them.
var ErrInUse = errors.New("key still in use")

// InUseError is the refusal to retire or destroy a key that rows still use.
type InUseError struct {
	Org  string
	Key  KeyRef
	Op   string // "retire" or "destroy"
	Refs []Reference
}

// Error lists the sources and counts.
func (e *InUseError) Error() string {
	return fmt.Sprintf("%s: cannot %s org %q %s: %s still use it (re-encrypt or migrate them, then scan; or force it)",
		ErrInUse, e.Op, e.Org, KeyName(e.Key), DescribeRefs(e.Refs))
}

// Is makes errors.Is(err, ErrInUse) true.
func (e *InUseError) Is(target error) bool { return target == ErrInUse }

// KeyName writes a KeyRef as the CLI reads it: "v3" or "fernet:1".
func KeyName(k KeyRef) string {
	if k.Kind == KindFernet {
		return fmt.Sprintf("fernet:%d", k.Version)
	}
	return fmt.Sprintf("v%d", k.Version)
}

// DescribeRefs sums up references as "12 rows in secrets, 3 rows in
// postgres:app/public.t.c".
func DescribeRefs(refs []Reference) string {
	parts := make([]string, len(refs))
	for i, r := range refs {
		rows := "rows"
		if r.Count == 1 {
			rows = "row"
		}
		parts[i] = fmt.Sprintf("%d %s in %s", r.Count, rows, r.Source)
	}
	return strings.Join(parts, ", ")
}

// KeyOption changes how RetireKey, DestroyKey and their Fernet counterparts
// treat references.
type KeyOption func(*keyOptions)

type keyOptions struct{ force bool }

// Force retires or destroys a key even though known rows still use it:
// those rows stop decrypting (retire, reversible) or become unrecoverable
// (destroy). Ask References first to say what will be lost.
func Force() KeyOption { return func(o *keyOptions) { o.force = true } }

func applyKeyOptions(opts []KeyOption) keyOptions {
	var o keyOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

// References returns every known reference to org's keys: the secret
// store's rows, counted now, then the counts recorded by the last complete
// scan or migration of each application table, ordered by source, kind and
// version.
func (e *Engine) References(ctx context.Context, org string) ([]Reference, error) {
	return e.mgr.References(ctx, org)
}

// ReferencesTo returns the references to one key of org.
func (e *Engine) ReferencesTo(ctx context.Context, org string, key KeyRef) ([]Reference, error) {
	all, err := e.References(ctx, org)
	if err != nil {
		return nil, err
	}
	var out []Reference
	for _, r := range all {
		if r.Key == key && r.Count > 0 {
			out = append(out, r)
		}
	}
	return out, nil
}

// gate refuses op on key while references remain, unless forced.
func (e *Engine) gate(ctx context.Context, org, op string, key KeyRef, opts []KeyOption) error {
	if applyKeyOptions(opts).force {
		return nil
	}
	refs, err := e.ReferencesTo(ctx, org, key)
	if err != nil {
		return err
	}
	if len(refs) > 0 {
		return &InUseError{Org: org, Key: key, Op: op, Refs: refs}
	}
	return nil
}

// RetireFernetKey makes an imported Fernet key refuse to decrypt
// (reversible with ReinstateFernetKey). It refuses while known rows still
// use the key (ErrInUse), unless Force is given.
func (e *Engine) RetireFernetKey(ctx context.Context, org string, id uint32, opts ...KeyOption) error {
	if _, err := e.mgr.LegacyKey(ctx, org, id); err != nil {
		return err
	}
	if err := e.gate(ctx, org, "retire", KeyRef{Kind: KindFernet, Version: id}, opts); err != nil {
		return err
	}
	return e.mgr.RetireLegacy(ctx, org, id)
}

// ReinstateFernetKey returns a retired Fernet key to decrypt-only.
func (e *Engine) ReinstateFernetKey(ctx context.Context, org string, id uint32) error {
	return e.mgr.ReinstateLegacy(ctx, org, id)
}

// DestroyFernetKey erases an imported Fernet key: tokens only it opens
// become unrecoverable. It refuses while known rows still use the key
// (ErrInUse), unless Force is given.
func (e *Engine) DestroyFernetKey(ctx context.Context, org string, id uint32, opts ...KeyOption) error {
	if _, err := e.mgr.LegacyKey(ctx, org, id); err != nil {
		return err
	}
	if err := e.gate(ctx, org, "destroy", KeyRef{Kind: KindFernet, Version: id}, opts); err != nil {
		return err
	}
	return e.mgr.DestroyLegacy(ctx, org, id)
}

// RetireUnused retires, in one call, every decrypt-only key of org — data
// key versions and imported Fernet keys — that no known row uses, and
// returns them. Run it after a complete re-encryption or migration (and a
// scan of every table): only the active version and the keys rows still
// use are left decrypting (References lists the latter). Retiring is
// reversible with ReinstateKey and ReinstateFernetKey.
func (e *Engine) RetireUnused(ctx context.Context, org string) ([]KeyRef, error) {
	keys, err := e.mgr.Keys(ctx, org)
	if err != nil {
		return nil, err
	}
	legacy, err := e.mgr.LegacyKeys(ctx, org)
	if err != nil {
		return nil, err
	}
	refs, err := e.References(ctx, org)
	if err != nil {
		return nil, err
	}
	used := make(map[KeyRef]bool)
	for _, r := range refs {
		if r.Count > 0 {
			used[r.Key] = true
		}
	}
	var retired []KeyRef
	for _, kv := range keys {
		ref := KeyRef{Kind: KindDEK, Version: kv.Version}
		if kv.State != StateDecryptOnly || used[ref] {
			continue
		}
		if err := e.mgr.Retire(ctx, org, kv.Version); err != nil {
			return retired, err
		}
		retired = append(retired, ref)
	}
	for _, lk := range legacy {
		ref := KeyRef{Kind: KindFernet, Version: lk.ID}
		if lk.State != StateDecryptOnly || used[ref] {
			continue
		}
		if err := e.mgr.RetireLegacy(ctx, org, lk.ID); err != nil {
			return retired, err
		}
		retired = append(retired, ref)
	}
	return retired, nil
}
