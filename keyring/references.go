package keyring

import (
	"context"
	"fmt"

	"github.com/keyward/keyward/store"
)

// SecretsSource is the Source of the references that the secret store's own
// rows make, counted exactly and live.
const SecretsSource = "secrets"

// secretCounter is the part of store.SecretStore that counts references.
type secretCounter interface {
	SecretVersionCounts(ctx context.Context, org string) ([]store.VersionCount, error)
}

// References returns every known reference to org's keys: the secret
// store's rows, counted now, then the counts recorded by the last complete
// scan or migration of each app table, ordered by source, kind and version.
// A store that keeps neither gives none.
func (m *Manager) References(ctx context.Context, org string) ([]store.Reference, error) {
	if err := ValidateOrgID(org); err != nil {
		return nil, err
	}
	var refs []store.Reference
	if sc, ok := m.store.(secretCounter); ok {
		counts, err := sc.SecretVersionCounts(ctx, org)
		if err != nil {
			return nil, fmt.Errorf("keyring: count secrets of org %q: %w", org, err)
		}
		for _, c := range counts {
			if c.Count > 0 {
				refs = append(refs, store.Reference{Org: org, Source: SecretsSource,
					Key: store.KeyRef{Kind: "dek", Version: c.Version}, Count: c.Count})
			}
		}
	}
	if rs, ok := m.store.(store.ReferenceStore); ok {
		recorded, err := rs.References(ctx, org)
		if err != nil {
			return nil, fmt.Errorf("keyring: read references of org %q: %w", org, err)
		}
		refs = append(refs, recorded...)
	}
	return refs, nil
}
