// Package format owns the bytes of a keyward field ciphertext.
//
// A field ciphertext is one value (an API key, a webhook secret, an OAuth
// token…) sealed with AES-256-GCM under an organization's data-encryption
// key (DEK). In memory it is a [Field]: the format version, the DEK version
// that sealed it, and the sealed bytes nonce ‖ ciphertext ‖ tag exactly as
// [crypto/cipher.NewGCMWithRandomNonce] produces them.
//
// A Field has three encodings, all lossless and all carrying the same parts:
//
//   - binary, for bytea/BLOB columns:
//     0x01 ‖ uvarint(key version) ‖ nonce(12) ‖ ciphertext ‖ tag(16)
//   - text, for text columns and JSON strings:
//     "kw1:" decimal(key version) ":" base64url-nopad(nonce ‖ ciphertext ‖ tag)
//   - structured JSON, for apps that keep the parts apart:
//     {"v":1,"kv":N,"iv":"…","ct":"…","tag":"…"} (standard, padded base64)
//
// [Parse] tells the three apart by their first byte. Every parser is strict
// and canonical: for the binary and text forms there is exactly one encoding
// of a given Field, so re-encoding a parsed value reproduces the input bytes.
// Parse failures wrap [ErrMalformed] (or [ErrUnsupported] for a well-formed
// value of a format version this package does not know) and never quote the
// input.
//
// The additional authenticated data is never free-form: [AppendAAD] is the
// one canonical encoder. It binds the format version, the organization, the
// key version and a context naming where the value lives (table.column and,
// optionally, the row), every variable-length part length-prefixed. A value
// moved to another organization, column or row, or whose visible key version
// was edited, fails to open.
//
// [Open] reports every failure – wrong key, wrong AAD, tampered bytes, an
// invalid Field – as the one opaque [ErrDecrypt], so a caller cannot be used
// as an oracle for which part was wrong.
//
// [Seal] and [AppendAAD] append to a caller-supplied buffer and allocate
// nothing when its capacity suffices ([SealedSize] and [AADSize] give exact
// lengths), so hot paths can pool buffers.
//
// The byte-level specification lives in docs/FORMAT.md; the golden vectors
// in testdata/golden.json pin it, so the format cannot drift silently.
package format
