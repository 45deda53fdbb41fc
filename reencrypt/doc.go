// Package reencrypt moves stored ciphertexts to their organization's active
// key version: keyward's own secret store (Secrets) and columns of an
// application's PostgreSQL tables (Table), including legacy Fernet tokens.
//
// One engine (Run) serves every target. A job is named by its target
// (JobID), so running it again resumes it. Its key space is split into
// chunks recorded in keyward's store (store.JobStore); a process leases a
// chunk, walks it in keyset-paginated batches, converts each value inside
// the keyward engine (no plaintext leaves it), writes the batch back with
// compare-and-swap (a row the application changed meanwhile is read again,
// never overwritten) and checkpoints the chunk's cursor and the batch's
// counts in one store transaction. A process killed at any point leaves
// either an unwritten batch (redone) or a written but unrecorded one (found
// current when redone); several processes share a job by leasing different
// chunks, and take over the chunks of processes that died.
//
// Rows that cannot be converted (not a ciphertext, a key that does not open
// them) are left as they are and reported by id, never by value; errors
// that are not a row's fault stop the job, which resumes later. Scan counts
// rows per key without writing; DryRun reports what Run would do.
//
// docs/REENCRYPT.md describes the commands built on it (keyward reencrypt,
// migrate, scan), crash safety and concurrency in full.
package reencrypt
