package keyring

import (
	"hash/maphash"
	"strings"
	"sync/atomic"

	"github.com/keyward/keyward/format"
)

// A key remembers the whole field AAD of a few contexts it is used with
// again and again. A column's context ("channels.access_token") is the same
// for every row, and with its AAD at hand Encrypt and Decrypt neither build
// one nor make room for one in the result's allocation. That room is most
// of the library's cost over raw AES-GCM for small values: the AAD (42
// bytes for a 4-byte org and a 14-byte context) moves a 32-byte value's
// Encrypt from the 64-byte size class to 112 and its Decrypt from 32 to 80.
//
// The memo is a direct-mapped table of memoSlots immutable entries, picked
// by cheapHash and confirmed by comparing the whole context, so AAD returns
// either nil or exactly format.AppendAAD(nil, format.V1, Org, Version,
// context): a collision or a race costs a miss, never a wrong AAD. Entries
// are shared read-only; GCM only reads its AAD.
//
// What gets remembered: after a miss the caller reports the use with a byte
// of fresh randomness it has at hand (of the nonce or tag just used), and
// one use in memoSampling is considered; a context considered memoRepeats
// times in a row is remembered. So a recurring context is remembered after a few
// hundred calls, while contexts that name a row ("channels.access_token:42"),
// each seen once, are never remembered: they cost a pointer load and a flag
// check per call while the memo is empty, and a hash and a compare once it
// holds something. Nothing is written on a hit, and only on one miss in
// memoSampling, so parallel callers do not contend. Memory is bounded per
// key (memoSlots entries of contexts up to memoMaxContext bytes) and goes
// with the key when the cache drops it.
type aadMemo struct {
	slots [memoSlots]atomic.Pointer[aadEntry]
}

type aadEntry struct {
	hash    uint64 // cheapHash(context): most misses end at this compare
	context string
	aad     []byte // len == cap: an append by mistake copies
}

const (
	memoBits       = 3
	memoSlots      = 1 << memoBits
	memoSampling   = 128 // one reported use in memoSampling is considered (a power of two ≤ 256)
	memoMaxContext = 128 // longer contexts are never remembered
	// memoRepeats is how many considerations in a row remember a context
	// (at most 3, counted in two bits). Three, not two: encrypting a row's
	// value and then decrypting it are two uses of its context that may
	// both be sampled, and a context used for one value only must not be
	// remembered.
	memoRepeats = 3
)

// memoSlot picks a slot from the top bits of cheapHash, its best mixed.
func memoSlot(h uint64) int { return int(h >> (64 - memoBits)) }

// AAD returns the field AAD of context under k – the bytes of
// format.AppendAAD(nil, format.V1, k.Org, k.Version, context) – when k
// remembers it, and nil otherwise; the caller then builds it from
// AADPrefix and, after using it, calls Used. The slice is shared: pass it
// to the AEAD, never write to it.
func (k *Key) AAD(context string) []byte {
	m := k.memo.Load() // nil until a context is remembered
	if m == nil {
		return nil
	}
	return m.lookup(context)
}

// lookup returns context's remembered AAD, or nil.
func (m *aadMemo) lookup(context string) []byte {
	h := cheapHash(context)
	if e := m.slots[memoSlot(h)].Load(); e != nil && e.hash == h && e.context == context {
		return e.aad
	}
	return nil
}

// Used reports that context was just used with k and its AAD was not
// remembered. random must be a uniformly random byte (one of the nonce or
// tag just used): the memo samples on it instead of drawing randomness of
// its own, which would cost more than the whole lookup. Two reports about
// one value must use different bytes (Encrypt a byte of the tag, Decrypt
// one of the nonce); with the same byte, encrypting and then decrypting a
// row's value would count as its context recurring.
func (k *Key) Used(context string, random byte) {
	if random < 256/memoSampling {
		k.consider(context)
	}
}

// consider remembers context if it was the context considered last.
func (k *Key) consider(context string) {
	if len(context) > memoMaxContext || k.AADPrefix == nil || k.seed == (maphash.Seed{}) {
		return
	}
	// candidate holds the last considered context's hash with its two low
	// bits replaced by how many times in a row it was considered. The hash
	// is a seeded hash of the whole context, not cheapHash: cheapHash reads
	// only the ends of long strings, so contexts that differ in the middle
	// ("payments:00000042:card_token") would look like one recurring
	// context. Load and Store race with other callers; a lost update only
	// delays memoizing.
	h := maphash.String(k.seed, context) &^ 3
	c := k.candidate.Load()
	seen := uint64(0)
	if c&^3 == h {
		seen = c & 3
	}
	if seen+1 < memoRepeats {
		k.candidate.Store(h | (seen + 1))
		return
	}
	k.candidate.CompareAndSwap(c, 0) // start the next run from nothing
	m := k.memo.Load()
	if m == nil {
		k.memo.CompareAndSwap(nil, new(aadMemo))
		m = k.memo.Load()
	}
	aad := make([]byte, 0, len(k.AADPrefix)+4+len(context))
	aad = format.AppendAADContext(append(aad, k.AADPrefix...), context)
	// The context is copied: it may point into a large request body that
	// the memo must not keep alive.
	h = cheapHash(context)
	m.slots[memoSlot(h)].Store(&aadEntry{hash: h, context: strings.Clone(context), aad: aad[:len(aad):len(aad)]})
}
