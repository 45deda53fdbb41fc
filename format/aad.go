package format

import (
	"encoding/binary"
	"math"
	"slices"
	"strconv"
)

// aadLabel separates field AAD from every other AAD keyward builds (the DEK
// wrap uses its own label), so no field AAD can be mistaken for another kind.
const aadLabel = "keyward/field"

// Limits of the AAD inputs, set by their length prefixes.
const (
	MaxOrgLen     = math.MaxUint16 // bytes of org id (u16 length prefix)
	MaxContextLen = math.MaxUint32 // bytes of context (u32 length prefix)
)

// AADSize returns the exact number of bytes AppendAAD appends for org and
// context.
func AADSize(org, context string) int {
	return 1 + len(aadLabel) + 1 + 2 + len(org) + 4 + 4 + len(context)
}

// AppendAAD appends the canonical additional authenticated data of a field
// to dst and returns the extended slice:
//
//	u8 len(label) ‖ label "keyward/field" ‖ u8 formatVersion ‖
//	u16be len(org) ‖ org ‖ u32be keyVersion ‖ u32be len(context) ‖ context
//
// Every variable-length part is length-prefixed and every other part has a
// fixed size, so distinct (formatVersion, org, keyVersion, context) tuples
// never share an encoding. The context names where the value lives, e.g.
// "channels.access_token" or "channels.access_token#42" with the row's key.
//
// It allocates only if dst lacks capacity (see AADSize). It panics if org is
// longer than MaxOrgLen or context longer than MaxContextLen: callers
// validate org ids (64 bytes at most) and bound request sizes long before.
func AppendAAD(dst []byte, formatVersion byte, org string, keyVersion uint32, context string) []byte {
	if uint64(len(context)) > MaxContextLen {
		panicContextLen(len(context))
	}
	dst = slices.Grow(dst, AADSize(org, context))
	return AppendAADContext(AppendAADPrefix(dst, formatVersion, org, keyVersion), context)
}

// AppendAADPrefix appends the part of AppendAAD's encoding that is fixed
// for one key of one org: everything up to the context's length prefix.
// A caller that seals many values under one key computes it once and
// completes each AAD with AppendAADContext; the bytes are AppendAAD's.
// It panics if org is longer than MaxOrgLen.
func AppendAADPrefix(dst []byte, formatVersion byte, org string, keyVersion uint32) []byte {
	if len(org) > MaxOrgLen {
		panic("format: org id of " + strconv.Itoa(len(org)) + " bytes exceeds the aad limit")
	}
	dst = append(dst, byte(len(aadLabel)))
	dst = append(dst, aadLabel...)
	dst = append(dst, formatVersion)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(org)))
	dst = append(dst, org...)
	return binary.BigEndian.AppendUint32(dst, keyVersion)
}

// AppendAADContext appends the rest of the AAD after AppendAADPrefix: the
// context's length prefix and the context. It panics if context is longer
// than MaxContextLen.
func AppendAADContext(dst []byte, context string) []byte {
	if uint64(len(context)) > MaxContextLen {
		panicContextLen(len(context))
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(context)))
	return append(dst, context...)
}

// panicContextLen is AppendAAD's panic for an oversized context, kept out
// of line so that AppendAADContext stays small enough to inline.
func panicContextLen(n int) {
	panic("format: context of " + strconv.Itoa(n) + " bytes exceeds the aad limit")
}
