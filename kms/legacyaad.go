package kms

import (
	"encoding/binary"
	"fmt"
)

// aadLabelLegacy separates the wrap AAD of imported legacy keys from that of
// DEKs: the labels differ in content and in length, and the label comes
// first, length-prefixed, so no legacy-key AAD equals any DEKAAD.
const aadLabelLegacy = "keyward/legacy-key/v1"

// LegacyKeyAAD returns the canonical additional authenticated data for
// wrapping an imported legacy key (a Fernet key) of org with id:
//
//	u8 len(label) ‖ label ("keyward/legacy-key/v1") ‖ u8 len(kind) ‖ kind ‖
//	u8 len(org) ‖ org ‖ u32be id
//
// kind names the legacy format ("fernet"). A wrapped legacy key copied to
// another organization, another id, or a DEK row fails to unwrap, and a
// wrapped DEK cannot be passed off as a legacy key. It panics only on
// programmer error (an org id longer than MaxOrgIDLen or a kind longer than
// 255 bytes).
func LegacyKeyAAD(kind, org string, id uint32) []byte {
	if len(org) > MaxOrgIDLen || len(kind) > 255 {
		panic(fmt.Sprintf("kms: legacy key aad: org id of %d bytes or kind of %d bytes too long", len(org), len(kind)))
	}
	b := make([]byte, 0, 1+len(aadLabelLegacy)+1+len(kind)+1+len(org)+4)
	b = append(b, byte(len(aadLabelLegacy)))
	b = append(b, aadLabelLegacy...)
	b = append(b, byte(len(kind)))
	b = append(b, kind...)
	b = append(b, byte(len(org)))
	b = append(b, org...)
	return binary.BigEndian.AppendUint32(b, id)
}
