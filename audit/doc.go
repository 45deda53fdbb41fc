// Package audit keeps keyward's tamper-evident audit log: one event per
// access decision (allowed or denied) and per failure, never a plaintext.
//
// # Keyed hash chain
//
// Events are numbered 1, 2, 3… (Seq) and chained: each event's MAC is
//
//	HMAC-SHA256(audit key, previous MAC ‖ canonical encoding of the event)
//
// where the first event's previous MAC is 32 zero bytes and the encoding is
// length-prefixed and covers every field, Seq and Time (milliseconds, UTC)
// included (see encode). The chain is keyed, so someone who can write to
// the database but does not hold the key cannot forge a MAC: an edited,
// deleted, inserted or reordered event breaks the chain at that event.
// The chain head (last Seq and MAC) lives in its own row, updated in the
// transaction of every append, so deleting the last events is detected too.
//
// The audit key is 32 random bytes made on the first Open, stored wrapped by
// the deployment's KEK (kms.KEK.Wrap with the AAD "keyward/audit-key/v1",
// length-prefixed, which cannot equal a data key's AAD) and unwrapped by
// Open and Verify. Every process on one store therefore uses the same key.
// RewrapKey moves it to the KEK's current version after a KEK rotation (a
// compare-and-swap on the stored wrap; the key itself never changes), so
// the old KEK version can be retired; "keyward rotate kek" calls it.
// Values that must be identified in an event (Event.ValueMAC) are MACed
// with a second key derived from it by HKDF-SHA256, so a value MAC never
// helps to forge the chain and vice versa.
//
// # Group commit
//
// Record queues the event and returns once it is durable. One writer
// goroutine takes everything queued (up to Options.MaxBatch) and appends it
// in one transaction: concurrent requests share one write and one fsync, so
// auditing every decrypt does not cap throughput at the store's
// transaction rate. The store locks the chain head for the transaction
// (PostgreSQL: SELECT … FOR UPDATE; SQLite: BEGIN IMMEDIATE), so several
// processes append to one chain safely.
//
// # Verification
//
// Verify walks the log in keyset pages with constant memory, recomputing the
// chain, and names the first bad event: edited (its MAC does not match its
// contents), missing (a gap in Seq), reordered (the record for this Seq is
// stored under another Seq) or truncated (the log ends before the head).
//
// What the chain cannot prove: an attacker with write access who deletes
// the last events AND rewinds the head row to an earlier (Seq, MAC) pair,
// both copied from the log, leaves a shorter chain that verifies. Record the
// head Verify reports somewhere the database's writers cannot reach (a
// ticket, a log shipper) to detect that; see docs/AUDIT.md.
package audit
