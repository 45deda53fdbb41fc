package sqlite

import (
	"github.com/keyward/keyward/store"
)

// validOrg checks an organization id argument.
func validOrg(id string) error {
	if id == "" {
		return errf(store.ErrInvalidArgument, "empty organization id")
	}
	return nil
}

// validVersion checks an organization id and version argument.
func validVersion(org string, version uint32) error {
	if err := validOrg(org); err != nil {
		return err
	}
	if version == 0 {
		return errf(store.ErrInvalidArgument, "key version 0 (versions start at 1)")
	}
	return nil
}

// validNewKey checks a version about to be added: it enters as the active
// version, with a wrapped key and the KEK that wrapped it.
func validNewKey(kv store.KeyVersion) error {
	if err := validVersion(kv.Org, kv.Version); err != nil {
		return err
	}
	switch {
	case kv.State != store.StateActive:
		return errf(store.ErrInvalidArgument, "new key version in state %q, want %q", kv.State, store.StateActive)
	case len(kv.Wrapped) == 0:
		return errf(store.ErrInvalidArgument, "new key version without wrapped key")
	case kv.KEKID == "":
		return errf(store.ErrInvalidArgument, "new key version without KEK id")
	}
	return nil
}
