// Package secretstore keeps typed secrets of organizations: API keys,
// webhook signing secrets, email-provider credentials, OAuth tokens and
// generic values, each under a name such as "webhooks/stripe".
//
// # Design
//
// A [Store] joins two parts it is given: a [Cipher] (a *keyward.Engine) that
// seals values with the organization's data key, and a store.SecretStore
// (the SQLite or PostgreSQL store) that keeps rows. A value is encrypted
// before it reaches the store and decrypted only by [Store.Reveal]; the
// store holds the ciphertext in keyward's binary form and metadata, never a
// plaintext. The encryption context of a value is [AADContext](name), and
// the engine binds the organization and key version into the AAD as well,
// so a ciphertext copied to another name or organization fails to decrypt
// (keyward.ErrDecrypt) instead of revealing the wrong secret.
//
// Plaintext travels as [secret.Bytes]: the caller's value is read through
// its one accessor and never copied, and a revealed value is copied once
// into a secret.Bytes and the decrypted buffer wiped. Errors, metadata and
// its JSON never carry a value. The only part of a value that may leave in
// clear is the display hint ([HintLast4]), and only when the writer asks.
//
// # Names
//
// A name is 1 to [MaxNameLen] (256) bytes: segments of ASCII letters,
// digits, '.', '_' and '-', separated by single '/'. A segment is never
// empty and never made of dots only ("." and ".." included), so a name has
// no leading, trailing or doubled '/' and no path tricks; '%', '\\', spaces,
// control characters, NUL and non-ASCII bytes are refused, so a name has
// exactly one spelling and means the same in a URL path, a shell and a log.
// Names are case-sensitive and list in bytewise order.
//
// # Kinds
//
// Every secret has one of five kinds ([APIKey], [WebhookSecret],
// [EmailCredential], [OAuthToken], [Generic]). The kind is metadata for
// people and policy; keyward does not interpret the value.
//
// # Values
//
// A value is 1 to [MaxValueSize] (64 KiB) bytes of anything. An empty value
// is refused ([ErrEmptyValue]): it is nearly always a mistake (an empty pipe
// or file), and deleting the secret says "no value" unambiguously.
//
// # Hints
//
// With PutOptions.Hint = [HintLast4], the last 4 characters (Unicode code
// points) of the value are kept in clear in the metadata, for people to
// tell secrets apart ("…f3Qx"). The value must then be valid UTF-8 of at
// least [MinHintValueLen] (12) characters, so a hint shows at most a third
// of it, and its last 4 characters must be printable; otherwise Put fails
// with [ErrInvalidHint] and writes nothing. A write without a hint clears
// any earlier one: the hint always belongs to the stored value.
//
// # Revisions and listing
//
// Every write gives the secret a new revision (1 on creation). Put with
// PutOptions.IfRevision replaces only that revision ([ErrConflict] if the
// secret changed meanwhile, [ErrNotFound] if it is gone). [Store.List] pages
// through names in bytewise order with a keyset cursor: pass the returned
// next name as after; "" means the end.
package secretstore
