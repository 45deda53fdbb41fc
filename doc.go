// Package keyward encrypts individual fields — API keys, webhook secrets,
// email-provider credentials, OAuth tokens — per organization, before they
// reach the database.
//
// Each organization (tenant) has its own data key (DEK), versioned, stored
// wrapped by a key-encryption key (KEK) that stays inside a KMS or HSM. A
// field is sealed with AES-256-GCM under the organization's active DEK
// version; the ciphertext carries that version, so rotation never breaks
// reads: old versions keep decrypting until they are retired.
//
// The additional authenticated data binds every ciphertext to its
// organization, its key version and a caller-chosen context naming where the
// value lives (table.column, and the row id if you like). A ciphertext copied
// to another organization, column or row fails with ErrDecrypt, the one error
// for every authentication failure.
//
// An Engine is opened on a store (store/sqlite embedded, PostgreSQL in
// production) and a KEK (kms/localkms for development; HSM and cloud KMS
// providers in production):
//
//	eng, err := keyward.Open(st, kek, nil)
//	ct, err := eng.Encrypt(ctx, "acme", []byte("sk_live_…"), "integrations.api_key")
//	pt, err := eng.Decrypt(ctx, "acme", ct, "integrations.api_key")
//
// Ciphertexts come in three interchangeable forms (package format): binary
// (Encrypt), text "kw1:<version>:<base64url>" (EncryptText) and a JSON object
// (EncryptField). Decrypt accepts all three.
//
// Data keys are cached unwrapped in a bounded LRU with a TTL; concurrent
// misses for one organization cause a single KEK unwrap. Nothing in this
// package logs.
package keyward
