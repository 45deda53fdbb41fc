// Package pkcs11 is a key-encryption key (KEK) inside a PKCS#11 token: a
// hardware security module, a smart card, or SoftHSM2 for development.
//
// The KEK never leaves the token. Each version is an AES-256 key generated
// inside it (C_GenerateKey, CKM_AES_KEY_GEN) as a persistent, private,
// sensitive, non-extractable object that can only encrypt and decrypt, and,
// where the token supports it, can be neither modified nor copied. Wrap and
// Unwrap send the data key and its AAD to the token, which runs AES-GCM
// (CKM_AES_GCM through C_Encrypt and C_Decrypt); keyward only ever holds the
// data keys. [Open] refuses any key under the configured label that is not
// like that, now and since it was made (CKA_ALWAYS_SENSITIVE,
// CKA_NEVER_EXTRACTABLE), so a key imported from outside the token, whose
// value existed in plaintext somewhere, is not accepted.
//
// # Naming and versions
//
// A KEK is named by a URI in the style of RFC 7512, parsed by [ParseURI]:
//
//	pkcs11:token=keyward;object=kek
//
// The token is found by its label; the key by its label (CKA_LABEL, default
// "kek"). Every version is its own key object with the same label and its
// version as CKA_ID, 4 bytes big-endian (version 1 is 00000001). The
// highest version wraps, unless the configuration pins one; every version on
// the token unwraps. [Provision] generates version 1, [KEK.Rotate] the next
// one; KEK implements [kms.Rotator], so "keyward rotate kek" can rewrap every
// data key to the new version online. Versions need not be contiguous:
// destroying an old version (after rewrapping every data key under a newer
// one) makes keys wrapped under it unreadable, which is crypto-shredding of
// that version. A version created by another process is found in the token
// the first time a key wrapped under it is unwrapped, and, being higher,
// becomes the version this process wraps with too (as with the local KEK),
// unless the configuration pins a version.
//
// The KEK id, which every wrapped key records, is
// "pkcs11:token=LABEL;object=LABEL": it names the key and contains nothing
// secret. The module path is configuration, not part of the name, so the
// same token reached through another library path, or a replica on another
// HSM of a cluster, is the same KEK.
//
// # Wrapped form
//
// The wrapped bytes are
//
//	IV (12 bytes) ‖ ciphertext (len(key) bytes) ‖ GCM tag (16 bytes)
//
// 60 bytes for a 32-byte data key: the same layout as the local KEK. The IV
// is random (crypto/rand), passed to the token in CK_GCM_PARAMS; a token that
// insists on its own IV writes it back there and the output carries that
// one. Random 96-bit IVs are safe for 2³² wraps per KEK version, far more
// than keyward makes (one per organization and data key version, and once
// per key at each KEK rotation). The AAD is the caller's, built by
// [kms.DEKAAD] from the organization id and the DEK version.
//
// # Errors
//
// Every authentication failure is one opaque [kms.ErrUnwrap], whatever code
// the token uses (CKR_AEAD_DECRYPT_FAILED, CKR_ENCRYPTED_DATA_INVALID …;
// SoftHSM 2.6 says CKR_GENERAL_ERROR, told apart from a device failure by
// checking that the session still works). Ciphertexts of impossible length
// fail before they reach the token. A wrapped key naming another KEK id or
// a version the token does not hold is [kms.ErrUnknownKEK]. Device, session
// and token-presence errors are [kms.ErrUnavailable]; a wrong PIN is
// [ErrLogin].
//
// # Sessions
//
// A PKCS#11 session runs one operation at a time. A KEK keeps a small pool of
// logged-in sessions (Config.Sessions, default 4); calls beyond that wait for
// a session, honouring their context. A session that fails with a token
// error is closed rather than reused; one found dead (CKR_SESSION_HANDLE_INVALID,
// CKR_DEVICE_REMOVED, a lost login) closes its idle siblings too, the cached
// key handles are dropped (a token may renumber objects once all sessions
// close; SoftHSM does), and the call is retried once on a fresh session. A PKCS#11 call in progress cannot be
// interrupted: the context is checked before a call and while waiting for a
// session, not during one.
//
// # The PIN
//
// The user PIN arrives only as Config.PIN, a [secret.Bytes] the caller loaded
// through package credential (a private file, an inherited descriptor or a
// systemd credential): never a URI, a flag or an environment value. Open
// keeps its own copy, since a token may drop the login (a reset, the last
// session closed) and new sessions must log in again; Close wipes it. The
// PIN never appears in errors or in a printed KEK. The binding
// (github.com/miekg/pkcs11 v1.1.2) copies it into C memory for C_Login, and
// returns each unwrapped data key through a C buffer, and frees both unwiped;
// keyward cannot reach them. It also leaks that buffer when C_Decrypt fails
// after sizing it: at most the ciphertext's length (bounded by the length
// check, ~4 KiB) per failed unwrap.
//
// # Process-global state
//
// A PKCS#11 library is initialised once per process (C_Initialize), its
// C_Finalize ends every session of the process, and a login belongs to the
// process's connection to the token, not to a session. KEKs that share a
// module therefore share one loaded library, reference-counted in a small
// registry: the last KEK to close finalises it, and the last KEK on a token
// logs out. That registry is this package's only package-level mutable
// state; it mirrors state the library already keeps per process. If another
// part of the process initialised the library first, a KEK uses it and never
// finalises it.
package pkcs11
