package postgres

import (
	"github.com/keyward/keyward/store"
)

// maxOrgIDLen is the longest organization id this store holds, in bytes.
// keyring allows 64; the store's own bound keeps an id well inside
// PostgreSQL's limits on index entries (about 2.7 kB) and notification
// payloads (8000 bytes).
const maxOrgIDLen = 1024

// validOrg checks an organization id that is about to be written.
// PostgreSQL text cannot hold NUL bytes or invalid UTF-8, so unlike the
// SQLite store this one refuses such ids.
func validOrg(id string) error {
	switch {
	case id == "":
		return errf(store.ErrInvalidArgument, "empty organization id")
	case len(id) > maxOrgIDLen:
		return errf(store.ErrInvalidArgument, "organization id of %d bytes, want at most %d", len(id), maxOrgIDLen)
	case !storable(id):
		return errf(store.ErrInvalidArgument, "organization id %q is not UTF-8 without NUL bytes", id)
	}
	return nil
}

// lookupOrg checks an organization id that is about to be read. An id that
// validOrg would refuse cannot name a stored organization: found is false,
// and the caller reports store.ErrNotFound without asking the database.
func lookupOrg(id string) (found bool, err error) {
	if id == "" {
		return false, errf(store.ErrInvalidArgument, "empty organization id")
	}
	return validOrg(id) == nil, nil
}

// lookupVersion checks an organization id and version that are about to be
// read or changed, like lookupOrg.
func lookupVersion(org string, version uint32) (found bool, err error) {
	found, err = lookupOrg(org)
	if err != nil {
		return false, err
	}
	if version == 0 {
		return false, errf(store.ErrInvalidArgument, "key version 0 (versions start at 1)")
	}
	return found, nil
}

// validNewKey checks a version about to be added: it enters as the active
// version, with a wrapped key and the KEK that wrapped it.
func validNewKey(kv store.KeyVersion) error {
	if err := validOrg(kv.Org); err != nil {
		return err
	}
	switch {
	case kv.Version == 0:
		return errf(store.ErrInvalidArgument, "key version 0 (versions start at 1)")
	case kv.State != store.StateActive:
		return errf(store.ErrInvalidArgument, "new key version in state %q, want %q", kv.State, store.StateActive)
	case len(kv.Wrapped) == 0:
		return errf(store.ErrInvalidArgument, "new key version without wrapped key")
	case kv.KEKID == "":
		return errf(store.ErrInvalidArgument, "new key version without KEK id")
	case !storable(kv.KEKID):
		return errf(store.ErrInvalidArgument, "KEK id %q is not UTF-8 without NUL bytes", kv.KEKID)
	}
	return nil
}

// validKEKID checks a KEK id argument; what names it in messages.
func validKEKID(what, id string) error {
	switch {
	case id == "":
		return errf(store.ErrInvalidArgument, "empty %s KEK id", what)
	case !storable(id):
		return errf(store.ErrInvalidArgument, "%s KEK id %q is not UTF-8 without NUL bytes", what, id)
	}
	return nil
}

// validTarget checks the KEK a rewrap walk moves keys to: an id, and a
// version from 1 (KEK versions start at 1).
func validTarget(target store.KEKRef) error {
	if err := validKEKID("target", target.ID); err != nil {
		return err
	}
	if target.Version == 0 {
		return errf(store.ErrInvalidArgument, "target KEK version 0 (versions start at 1)")
	}
	return nil
}

// validRewrap checks the KEKs and wrapped key of RewrapKey: the KEK the
// version is expected to be wrapped by now, and the new KEK and wrapped key.
func validRewrap(from, to store.KEKRef, wrapped []byte) error {
	if err := validKEKID("current", from.ID); err != nil {
		return err
	}
	if err := validKEKID("new", to.ID); err != nil {
		return err
	}
	switch {
	case to.Version == 0:
		return errf(store.ErrInvalidArgument, "new KEK version 0 (versions start at 1)")
	case len(wrapped) == 0:
		return errf(store.ErrInvalidArgument, "rewrap without wrapped key")
	}
	return nil
}
