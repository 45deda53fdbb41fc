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

// validTarget checks the KEK a rewrap walk moves keys to: an id, and a
// version from 1 (KEK versions start at 1).
func validTarget(target store.KEKRef) error {
	switch {
	case target.ID == "":
		return errf(store.ErrInvalidArgument, "empty target KEK id")
	case target.Version == 0:
		return errf(store.ErrInvalidArgument, "target KEK version 0 (versions start at 1)")
	}
	return nil
}

// validRewrap checks the arguments of RewrapKey: the version, the KEK it is
// expected to be wrapped by now, and the new KEK and wrapped key.
func validRewrap(org string, version uint32, from, to store.KEKRef, wrapped []byte) error {
	if err := validVersion(org, version); err != nil {
		return err
	}
	switch {
	case from.ID == "":
		return errf(store.ErrInvalidArgument, "empty current KEK id")
	case to.ID == "":
		return errf(store.ErrInvalidArgument, "empty new KEK id")
	case to.Version == 0:
		return errf(store.ErrInvalidArgument, "new KEK version 0 (versions start at 1)")
	case len(wrapped) == 0:
		return errf(store.ErrInvalidArgument, "rewrap without wrapped key")
	}
	return nil
}

// validAuditRewrap checks the arguments of RewrapAuditKey: the KEK the audit
// key is expected to be wrapped by now, and the new KEK and wrapped key.
func validAuditRewrap(from, to store.KEKRef, wrapped []byte) error {
	switch {
	case from.ID == "":
		return errf(store.ErrInvalidArgument, "empty current KEK id")
	case to.ID == "":
		return errf(store.ErrInvalidArgument, "empty new KEK id")
	case to.Version == 0:
		return errf(store.ErrInvalidArgument, "new KEK version 0 (versions start at 1)")
	case len(wrapped) == 0:
		return errf(store.ErrInvalidArgument, "rewrap without wrapped key")
	}
	return nil
}
