-- 0003: KEK rotation (store.Store.KeysToRewrap, RewrapKey, KEKCounts).
--
-- Rewrapping replaces a version's kek_id, kek_version and wrapped key in
-- place. The data key is the same, so it is no key change: the state is not
-- touched, and the change feed's triggers (AFTER UPDATE OF state) do not
-- fire. The triggers of 0001 guarding identity and transitions do not cover
-- these columns, so a non-destroyed version may be rewrapped.

-- A destroyed version is final: its wrapped key stays erased (the CHECK of
-- 0001), and the record of the KEK that once wrapped it does not change
-- either. The message maps to store.ErrInvalidTransition, like the other
-- refusals of a destroyed version's revival.
CREATE TRIGGER key_versions_destroyed_final
BEFORE UPDATE OF kek_id, kek_version, wrapped ON key_versions
WHEN OLD.state = 'destroyed'
 AND (NEW.kek_id IS NOT OLD.kek_id
   OR NEW.kek_version IS NOT OLD.kek_version
   OR NEW.wrapped IS NOT OLD.wrapped)
BEGIN
    SELECT RAISE(ABORT, 'keyward: invalid key state transition: a destroyed key version is final');
END;

-- KEKCounts groups the versions that hold a wrapped key by KEK version: a
-- covering scan of this index, already in the order it returns.
CREATE INDEX key_versions_kek
    ON key_versions (kek_id, kek_version) WHERE state <> 'destroyed';
