-- 0002: KEK rotation (store.Store.KeysToRewrap, RewrapKey, KEKCounts).
--
-- Rewrapping replaces a version's kek_id, kek_version and wrapped key in
-- place, in one UPDATE of the version's row. The data key is the same, so it
-- is no key change: the state is not touched, key_versions_change_state
-- (AFTER UPDATE OF state) does not fire and nothing is appended to the feed
-- or notified. key_versions_check_update (identity and transitions) does not
-- cover these columns, and the update changes no key column, so it takes no
-- lock but the version row's (FOR NO KEY UPDATE) and no foreign key check:
-- it cannot deadlock with AddKey, SetKeyState or DestroyKey.

-- A destroyed version is final: its wrapped key stays erased (the CHECK of
-- 0001), and the record of the KEK that once wrapped it does not change
-- either. KW002: like any other attempt to revive a destroyed version.
CREATE FUNCTION key_versions_check_destroyed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'keyward: invalid key state transition: destroyed key version %/% is final',
        OLD.org_id, OLD.version USING ERRCODE = 'KW002';
END
$$;

CREATE TRIGGER key_versions_check_destroyed
    BEFORE UPDATE OF kek_id, kek_version, wrapped ON key_versions
    FOR EACH ROW WHEN (OLD.state = 'destroyed'
                       AND (NEW.kek_id IS DISTINCT FROM OLD.kek_id
                            OR NEW.kek_version IS DISTINCT FROM OLD.kek_version
                            OR NEW.wrapped IS DISTINCT FROM OLD.wrapped))
    EXECUTE FUNCTION key_versions_check_destroyed();

-- KEKCounts groups the versions that hold a wrapped key by KEK version, in
-- bytewise order of the KEK id (COLLATE "C", as the SQLite store orders).
CREATE INDEX key_versions_kek
    ON key_versions (kek_id COLLATE "C", kek_version) WHERE state <> 'destroyed';
