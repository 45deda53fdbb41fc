-- legacy_keys_references: reserved; filled in by the change that introduces it.
SELECT 1;
