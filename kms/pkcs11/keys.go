package pkcs11

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"

	p11 "github.com/miekg/pkcs11"
)

// keySize is the KEK size: AES-256.
const keySize = 32

// keyObject is one KEK version found on the token.
type keyObject struct {
	handle  p11.ObjectHandle
	version uint32
}

// versionID encodes a KEK version as the key's CKA_ID: 4 bytes, big-endian.
func versionID(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// findKeys returns the secret keys labelled label (and, if version is not 0,
// with that version's CKA_ID), each checked by checkKey. Any key under the
// label that keyward would not use is an error wrapping ErrBadKey rather
// than skipped: a key silently ignored is a key someone expects to work.
func findKeys(ctx *p11.Ctx, sh p11.SessionHandle, label string, version uint32) ([]keyObject, error) {
	tmpl := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_LABEL, label),
	}
	if version != 0 {
		tmpl = append(tmpl, p11.NewAttribute(p11.CKA_ID, versionID(version)))
	}
	if err := ctx.FindObjectsInit(sh, tmpl); err != nil {
		return nil, opError("C_FindObjectsInit", err)
	}
	var handles []p11.ObjectHandle
	for {
		hs, _, err := ctx.FindObjects(sh, 64)
		if err != nil {
			_ = ctx.FindObjectsFinal(sh)
			return nil, opError("C_FindObjects", err)
		}
		if len(hs) == 0 {
			break
		}
		handles = append(handles, hs...)
		if len(handles) > 1<<16 {
			_ = ctx.FindObjectsFinal(sh)
			return nil, fmt.Errorf("%w: more than %d keys labelled %q", ErrBadKey, 1<<16, label)
		}
	}
	if err := ctx.FindObjectsFinal(sh); err != nil {
		return nil, opError("C_FindObjectsFinal", err)
	}
	keys := make([]keyObject, 0, len(handles))
	seen := map[uint32]bool{}
	for _, h := range handles {
		v, err := checkKey(ctx, sh, h, label)
		if err != nil {
			return nil, err
		}
		if seen[v] {
			return nil, fmt.Errorf("%w: two keys labelled %q have version %d (CKA_ID %x); destroy the one that was never used", ErrBadKey, label, v, versionID(v))
		}
		seen[v] = true
		keys = append(keys, keyObject{handle: h, version: v})
	}
	return keys, nil
}

// checkKey reads the attributes of the key h and returns its version. It
// refuses a key that is not a 256-bit AES key allowed to encrypt and decrypt,
// whose CKA_ID is not a 4-byte version from 1, or whose value could ever be
// read: it must be sensitive and not extractable, and must always have been
// (CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE), which rules out keys that
// were imported or once exportable.
func checkKey(ctx *p11.Ctx, sh p11.SessionHandle, h p11.ObjectHandle, label string) (uint32, error) {
	attrs, err := ctx.GetAttributeValue(sh, h, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_ID, nil),
		p11.NewAttribute(p11.CKA_KEY_TYPE, nil),
		p11.NewAttribute(p11.CKA_VALUE_LEN, nil),
		p11.NewAttribute(p11.CKA_TOKEN, nil),
		p11.NewAttribute(p11.CKA_SENSITIVE, nil),
		p11.NewAttribute(p11.CKA_ALWAYS_SENSITIVE, nil),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, nil),
		p11.NewAttribute(p11.CKA_NEVER_EXTRACTABLE, nil),
		p11.NewAttribute(p11.CKA_ENCRYPT, nil),
		p11.NewAttribute(p11.CKA_DECRYPT, nil),
	})
	if err != nil {
		return 0, opError("C_GetAttributeValue", err)
	}
	got := map[uint][]byte{}
	for _, a := range attrs {
		got[a.Type] = a.Value
	}
	id := got[p11.CKA_ID]
	bad := func(why string) (uint32, error) {
		return 0, fmt.Errorf("%w: key labelled %q with CKA_ID %x %s", ErrBadKey, label, id, why)
	}
	if len(id) != 4 || binary.BigEndian.Uint32(id) == 0 {
		return bad("has no keyward version (CKA_ID must be 4 bytes, big-endian, from 1); relabel or remove it")
	}
	if kt, ok := ulong(got[p11.CKA_KEY_TYPE]); !ok || kt != p11.CKK_AES {
		return bad("is not an AES key")
	}
	if n, ok := ulong(got[p11.CKA_VALUE_LEN]); !ok || n != keySize {
		return bad("is not 256 bits long")
	}
	for _, want := range []struct {
		attr  uint
		name  string
		value bool
	}{
		{p11.CKA_TOKEN, "CKA_TOKEN", true},
		{p11.CKA_SENSITIVE, "CKA_SENSITIVE", true},
		{p11.CKA_ALWAYS_SENSITIVE, "CKA_ALWAYS_SENSITIVE", true},
		{p11.CKA_EXTRACTABLE, "CKA_EXTRACTABLE", false},
		{p11.CKA_NEVER_EXTRACTABLE, "CKA_NEVER_EXTRACTABLE", true},
		{p11.CKA_ENCRYPT, "CKA_ENCRYPT", true},
		{p11.CKA_DECRYPT, "CKA_DECRYPT", true},
	} {
		if v, ok := boolean(got[want.attr]); !ok || v != want.value {
			return bad(fmt.Sprintf("has %s not %v; keyward uses only keys generated in the token that can never leave it", want.name, want.value))
		}
	}
	return binary.BigEndian.Uint32(id), nil
}

// generate creates KEK version v in the token: an AES-256 key generated
// inside it, persistent, private, sensitive and never extractable, usable
// only to encrypt and decrypt, and unmodifiable and uncopyable where the
// token supports those attributes. It checks the result with checkKey and
// destroys a key the token did not make as asked.
func generate(ctx *p11.Ctx, sh p11.SessionHandle, label string, v uint32) (p11.ObjectHandle, error) {
	base := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
		p11.NewAttribute(p11.CKA_VALUE_LEN, keySize),
		p11.NewAttribute(p11.CKA_LABEL, label),
		p11.NewAttribute(p11.CKA_ID, versionID(v)),
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_PRIVATE, true),
		p11.NewAttribute(p11.CKA_SENSITIVE, true),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
		p11.NewAttribute(p11.CKA_ENCRYPT, true),
		p11.NewAttribute(p11.CKA_DECRYPT, true),
		p11.NewAttribute(p11.CKA_WRAP, false),
		p11.NewAttribute(p11.CKA_UNWRAP, false),
		p11.NewAttribute(p11.CKA_SIGN, false),
		p11.NewAttribute(p11.CKA_VERIFY, false),
		p11.NewAttribute(p11.CKA_DERIVE, false),
	}
	strict := append(slices.Clone(base),
		p11.NewAttribute(p11.CKA_MODIFIABLE, false),
		p11.NewAttribute(p11.CKA_COPYABLE, false),
	)
	mech := []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_GEN, nil)}
	h, err := ctx.GenerateKey(sh, mech, strict)
	if is(err, p11.CKR_ATTRIBUTE_TYPE_INVALID, p11.CKR_ATTRIBUTE_VALUE_INVALID, p11.CKR_TEMPLATE_INCONSISTENT) {
		// A PKCS#11 2.20 token without CKA_COPYABLE, or one that will not
		// make keys unmodifiable. The attributes that matter are in base.
		h, err = ctx.GenerateKey(sh, mech, base)
	}
	if err != nil {
		return 0, opError("C_GenerateKey", err)
	}
	if got, err := checkKey(ctx, sh, h, label); err != nil || got != v {
		_ = ctx.DestroyObject(sh, h)
		if err == nil {
			err = fmt.Errorf("%w: the token generated version %d as %d", ErrBadKey, v, got)
		}
		return 0, fmt.Errorf("the token did not generate the key as asked: %w", err)
	}
	return h, nil
}

// versions returns the handles of keys by version and the highest version.
func versions(keys []keyObject) (map[uint32]p11.ObjectHandle, uint32) {
	m := make(map[uint32]p11.ObjectHandle, len(keys))
	for _, k := range keys {
		m[k.version] = k.handle
	}
	var top uint32
	if len(m) > 0 {
		top = slices.Max(slices.Collect(maps.Keys(m)))
	}
	return m, top
}

// ulong decodes a CK_ULONG attribute value (native byte order).
func ulong(b []byte) (uint64, bool) {
	switch len(b) {
	case 8:
		return binary.NativeEndian.Uint64(b), true
	case 4:
		return uint64(binary.NativeEndian.Uint32(b)), true
	}
	return 0, false
}

// boolean decodes a CK_BBOOL attribute value.
func boolean(b []byte) (bool, bool) {
	if len(b) != 1 {
		return false, false
	}
	return b[0] != 0, true
}
