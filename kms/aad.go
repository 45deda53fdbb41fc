package kms

import (
	"encoding/binary"
	"fmt"
)

// MaxOrgIDLen bounds the organization id inside a wrap AAD. It matches the
// limit keyward enforces on org ids, so every valid id fits.
const MaxOrgIDLen = 255

// aadLabelDEK separates DEK-wrap AAD from every other AAD keyward builds.
const aadLabelDEK = "keyward/dek/v1"

// DEKAAD returns the canonical additional authenticated data for wrapping the
// DEK of org at version:
//
//	u8 len(label) ‖ label ("keyward/dek/v1") ‖ u8 len(org) ‖ org ‖ u32be version
//
// Each variable-length part is length-prefixed, so no two (org, version) pairs
// share an encoding. It panics only on programmer error (an org id longer than
// MaxOrgIDLen), which keyward's org id validation rules out earlier.
func DEKAAD(org string, version uint32) []byte {
	if len(org) > MaxOrgIDLen {
		panic(fmt.Sprintf("kms: org id of %d bytes exceeds %d", len(org), MaxOrgIDLen))
	}
	b := make([]byte, 0, 1+len(aadLabelDEK)+1+len(org)+4)
	b = append(b, byte(len(aadLabelDEK)))
	b = append(b, aadLabelDEK...)
	b = append(b, byte(len(org)))
	b = append(b, org...)
	return binary.BigEndian.AppendUint32(b, version)
}
