package reencrypt

import (
	"context"
	"sort"

	"github.com/keyward/keyward/format"
	"github.com/keyward/keyward/store"
)

// Kinds of KeyCount.
const (
	// KindDEK counts keyward ciphertexts under DEK Version.
	KindDEK = "dek"
	// KindFernet counts Fernet tokens signed by the organization's imported
	// legacy key Version (store.LegacyKey.ID).
	KindFernet = "fernet"
	// KindFernetFile counts Fernet tokens signed by key number Version (1 =
	// the first line) of --fernet-key-file.
	KindFernetFile = "fernet-file"
	// KindFernetUnknown counts Fernet tokens no known key signed.
	KindFernetUnknown = "fernet-unknown"
)

// KeyRefer tells which key a ciphertext of org is under (*keyward.Engine).
type KeyRefer interface {
	KeyRefOf(ctx context.Context, org string, ciphertext []byte) (store.KeyRef, error)
}

// KeyCount is how many rows of one organization use one key (see the
// kinds above).
type KeyCount struct {
	Org     string
	Kind    string
	Version uint32
	Count   int64
}

// ScanResult is what Scan found.
type ScanResult struct {
	Rows int64
	// Null counts rows without a value; Unreadable rows that are neither a
	// keyward ciphertext nor a Fernet token, or that have no organization.
	Null, Unreadable int64
	Keys             []KeyCount
	// Failures lists up to 100 unreadable rows by id.
	Failures []store.JobFailure
}

// Scan walks every row of t without writing and counts the rows per
// organization and key. It reads key versions from the ciphertexts'
// headers (it does not decrypt them); a Fernet token is attributed to the
// organization's imported key whose MAC it carries (through kr, if not
// nil), else to the key of fk that signed it. progress, if set, is called
// after every batch with the rows seen so far.
func Scan(ctx context.Context, t Target, kr KeyRefer, fk *FernetKeys, batch int, progress func(done int64)) (ScanResult, error) {
	if batch <= 0 {
		batch = DefaultBatch
	}
	counts := map[key]int64{}
	var res ScanResult
	err := walkAll(ctx, t, batch, func(rows []Row) error {
		for _, r := range rows {
			res.Rows++
			switch {
			case r.Value == nil:
				res.Null++
			case r.Org == "":
				// No organization (NULL org column): no key can be
				// attributed, and a reference needs an organization.
				res.Unreadable++
				if len(res.Failures) < maxReported {
					res.Failures = append(res.Failures, store.JobFailure{RowID: sanitize(r.ID), Reason: "no organization (the org column is NULL or empty)"})
				}
			case IsFernet(r.Value):
				k, err := fernetKey(ctx, kr, fk, r)
				if err != nil {
					return err
				}
				counts[k]++
			default:
				f, err := format.Parse(r.Value)
				if err != nil {
					res.Unreadable++
					if len(res.Failures) < maxReported {
						res.Failures = append(res.Failures, store.JobFailure{RowID: sanitize(r.ID), Reason: "neither a keyward ciphertext nor a fernet token"})
					}
					continue
				}
				counts[key{r.Org, KindDEK, f.KeyVersion}]++
			}
		}
		if progress != nil {
			progress(res.Rows)
		}
		return nil
	})
	for k, n := range counts {
		res.Keys = append(res.Keys, KeyCount{Org: k.org, Kind: k.kind, Version: k.version, Count: n})
	}
	sort.Slice(res.Keys, func(i, j int) bool {
		a, b := res.Keys[i], res.Keys[j]
		if a.Org != b.Org {
			return a.Org < b.Org
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Version < b.Version
	})
	return res, err
}

type key struct {
	org     string
	kind    string
	version uint32
}

// fernetKey attributes a Fernet token to a key.
func fernetKey(ctx context.Context, kr KeyRefer, fk *FernetKeys, r Row) (key, error) {
	if kr != nil {
		ref, err := kr.KeyRefOf(ctx, r.Org, r.Value)
		if err == nil {
			return key{r.Org, KindFernet, ref.Version}, nil
		}
		if _, fatal := rowError(r.Value, err); fatal {
			return key{}, err
		}
	}
	if fk != nil {
		if i := fk.match(r.Value); i >= 0 {
			return key{r.Org, KindFernetFile, uint32(i + 1)}, nil
		}
	}
	return key{r.Org, KindFernetUnknown, 0}, nil
}

// DryRun walks every row of t and reports what Run would do, without
// writing anything: each value is opened (so a row that would fail fails
// here too) and compared with the active version.
func DryRun(ctx context.Context, t Target, conv *Converter, batch int, progress func(done int64)) (store.JobProgress, []store.JobFailure, error) {
	if batch <= 0 {
		batch = DefaultBatch
	}
	var (
		p        store.JobProgress
		failures []store.JobFailure
	)
	err := walkAll(ctx, t, batch, func(rows []Row) error {
		for _, r := range rows {
			p.Done++
			if r.Value == nil {
				p.Skipped++
				continue
			}
			changed, err := conv.Check(ctx, r.Org, r.Value, t.Context(r))
			if err != nil {
				reason, fatal := rowError(r.Value, err)
				if fatal {
					return err
				}
				p.Failed++
				if len(failures) < maxReported {
					failures = append(failures, store.JobFailure{RowID: sanitize(r.ID), Reason: reason})
				}
				continue
			}
			if changed {
				p.Rewritten++
			} else {
				p.Current++
			}
		}
		if progress != nil {
			progress(p.Done)
		}
		return nil
	})
	return p, failures, err
}

// walkAll reads every row of t in key order, batch by batch.
func walkAll(ctx context.Context, t Target, batch int, fn func([]Row) error) error {
	var after store.JobKey
	for {
		rows, err := t.Read(ctx, after, store.JobKey{}, batch)
		if err != nil {
			return err
		}
		if len(rows) > 0 {
			if err := fn(rows); err != nil {
				return err
			}
			after = store.Bound(rows[len(rows)-1].Key)
		}
		if len(rows) < batch {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// References turns scan counts into the ReferenceStore's records for
// source: DEK versions and imported Fernet keys (a key given in a file has
// no id in the store, and an unknown one none either).
func References(source string, keys []KeyCount) []store.Reference {
	refs := []store.Reference{}
	for _, k := range keys {
		if k.Kind != KindDEK && k.Kind != KindFernet {
			continue
		}
		refs = append(refs, store.Reference{Org: k.Org, Source: source, Key: store.KeyRef{Kind: k.Kind, Version: k.Version}, Count: k.Count})
	}
	return refs
}
