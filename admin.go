package keyward

import (
	"context"

	"github.com/keyward/keyward/keyring"
	"github.com/keyward/keyward/store"
)

// KeyVersion describes one version of an organization's data key. It never
// holds key material; Wrapped is left empty.
type KeyVersion = store.KeyVersion

// Org describes one organization.
type Org = store.Org

// KeyState is a key version's lifecycle state.
type KeyState = store.KeyState

// The key lifecycle states.
const (
	StateActive      = store.StateActive
	StateDecryptOnly = store.StateDecryptOnly
	StateRetired     = store.StateRetired
	StateDestroyed   = store.StateDestroyed
)

// Stats are the engine's data-key cache counters.
type Stats = keyring.Stats

// CreateOrg creates an organization and its data key version 1.
func (e *Engine) CreateOrg(ctx context.Context, org string) (KeyVersion, error) {
	kv, err := e.mgr.CreateOrg(ctx, org)
	return redact(kv), err
}

// Orgs lists up to limit organizations whose id sorts after the id after.
func (e *Engine) Orgs(ctx context.Context, after string, limit int) ([]Org, error) {
	return e.mgr.Orgs(ctx, after, limit)
}

// Keys lists every data key version of org, oldest first, without key material.
func (e *Engine) Keys(ctx context.Context, org string) ([]KeyVersion, error) {
	keys, err := e.mgr.Keys(ctx, org)
	for i := range keys {
		keys[i] = redact(keys[i])
	}
	return keys, err
}

// RotateDEK makes a new data key version active for org and returns it. Older
// versions keep decrypting; new ciphertexts carry the new version.
func (e *Engine) RotateDEK(ctx context.Context, org string) (uint32, error) {
	return e.mgr.Rotate(ctx, org)
}

// RetireKey makes a decrypt-only version refuse to decrypt (reversible with
// ReinstateKey). It refuses while known rows still use the version
// (ErrInUse, see References), unless Force is given.
func (e *Engine) RetireKey(ctx context.Context, org string, version uint32, opts ...KeyOption) error {
	if err := e.gate(ctx, org, "retire", KeyRef{Kind: KindDEK, Version: version}, opts); err != nil {
		return err
	}
	return e.mgr.Retire(ctx, org, version)
}

// ReinstateKey returns a retired version to decrypt-only.
func (e *Engine) ReinstateKey(ctx context.Context, org string, version uint32) error {
	return e.mgr.Reinstate(ctx, org, version)
}

// DestroyKey erases a non-active version's wrapped key: data encrypted under
// it becomes unrecoverable. It cannot be undone. It refuses while known
// rows still use the version (ErrInUse, see References), unless Force is
// given.
func (e *Engine) DestroyKey(ctx context.Context, org string, version uint32, opts ...KeyOption) error {
	if err := e.gate(ctx, org, "destroy", KeyRef{Kind: KindDEK, Version: version}, opts); err != nil {
		return err
	}
	return e.mgr.Destroy(ctx, org, version)
}

// Stats returns the data-key cache counters.
func (e *Engine) Stats() Stats { return e.ring.Stats() }

func redact(kv KeyVersion) KeyVersion {
	kv.Wrapped = nil
	return kv
}

// RewrapStats reports the progress of RewrapDEKs.
type RewrapStats = keyring.RewrapStats

// KEKRef names one version of a key-encryption key.
type KEKRef = store.KEKRef

// KEKCount is the number of data key versions one KEK version wraps.
type KEKCount = store.KEKCount

// RotateKEK creates a new version of the key-encryption key (for KEKs that
// can: local key file, PKCS#11, Vault transit); new data keys are wrapped by
// it at once. Move the existing ones with RewrapDEKs.
func (e *Engine) RotateKEK(ctx context.Context) (uint32, error) { return e.mgr.RotateKEK(ctx) }

// RewrapDEKs moves every data key version to the KEK's current version,
// online and resumably (see keyring.Manager.RewrapAll). Field ciphertexts
// are untouched.
func (e *Engine) RewrapDEKs(ctx context.Context, batch int, progress func(RewrapStats)) (RewrapStats, error) {
	return e.mgr.RewrapAll(ctx, batch, progress)
}

// KEKCounts reports how many data key versions each KEK version wraps.
func (e *Engine) KEKCounts(ctx context.Context) ([]KEKCount, error) { return e.mgr.KEKCounts(ctx) }

// KEKTarget names the KEK version that wraps new data keys.
func (e *Engine) KEKTarget() KEKRef { return e.mgr.KEKTarget() }
