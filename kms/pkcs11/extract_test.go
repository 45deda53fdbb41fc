package pkcs11

import (
	"testing"

	p11 "github.com/miekg/pkcs11"

	"github.com/keyward/keyward/kms"
)

// TestKEKNeverLeavesToken proves the KEK Provision and Rotate make cannot be
// read, exported, copied out or made exportable, by anyone holding the user
// PIN and a read-write session: the attacker this package assumes is keyward
// itself compromised.
func TestKEKNeverLeavesToken(t *testing.T) {
	k, tok := provision(t, nil)
	if _, err := k.Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}
	sh := rwSession(t, k, tok.cfg.PIN)
	ctx11 := k.module.ctx
	keys, err := findKeys(ctx11, sh, k.object, 0)
	if err != nil || len(keys) != 2 {
		t.Fatalf("findKeys = %d keys, %v; want 2", len(keys), err)
	}

	// Another key in the token that may wrap (export) keys.
	wrapper, err := ctx11.GenerateKey(sh, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_GEN, nil)}, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
		p11.NewAttribute(p11.CKA_VALUE_LEN, 32),
		p11.NewAttribute(p11.CKA_TOKEN, false),
		p11.NewAttribute(p11.CKA_WRAP, true),
		p11.NewAttribute(p11.CKA_UNWRAP, true),
		p11.NewAttribute(p11.CKA_ENCRYPT, true),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, true),
	})
	if err != nil {
		t.Fatalf("generating a wrapping key: %v", err)
	}
	// And a key the KEK might be asked to export.
	victim, err := ctx11.GenerateKey(sh, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_GEN, nil)}, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
		p11.NewAttribute(p11.CKA_VALUE_LEN, 32),
		p11.NewAttribute(p11.CKA_TOKEN, false),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, true),
	})
	if err != nil {
		t.Fatalf("generating a second key: %v", err)
	}

	wrapMechs := []uint{p11.CKM_AES_KEY_WRAP, p11.CKM_AES_KEY_WRAP_PAD, p11.CKM_AES_CBC}
	// Control: the wrapping key does export an extractable key, so the
	// refusals below are about the KEK, not about the mechanisms.
	for _, m := range wrapMechs {
		if _, err := ctx11.WrapKey(sh, []*p11.Mechanism{mechanism(m)}, wrapper, victim); err != nil {
			t.Fatalf("control: C_WrapKey(mechanism 0x%x) of an extractable key: %v", m, err)
		}
	}
	for _, key := range keys {
		h := key.handle
		t.Logf("version %d", key.version)

		attrs, err := ctx11.GetAttributeValue(sh, h, []*p11.Attribute{
			p11.NewAttribute(p11.CKA_SENSITIVE, nil),
			p11.NewAttribute(p11.CKA_ALWAYS_SENSITIVE, nil),
			p11.NewAttribute(p11.CKA_EXTRACTABLE, nil),
			p11.NewAttribute(p11.CKA_NEVER_EXTRACTABLE, nil),
			p11.NewAttribute(p11.CKA_MODIFIABLE, nil),
			p11.NewAttribute(p11.CKA_COPYABLE, nil),
			p11.NewAttribute(p11.CKA_PRIVATE, nil),
			p11.NewAttribute(p11.CKA_TOKEN, nil),
			p11.NewAttribute(p11.CKA_WRAP, nil),
			p11.NewAttribute(p11.CKA_UNWRAP, nil),
		})
		if err != nil {
			t.Fatalf("C_GetAttributeValue: %v", err)
		}
		want := map[uint]bool{
			p11.CKA_SENSITIVE: true, p11.CKA_ALWAYS_SENSITIVE: true,
			p11.CKA_EXTRACTABLE: false, p11.CKA_NEVER_EXTRACTABLE: true,
			p11.CKA_MODIFIABLE: false, p11.CKA_COPYABLE: false,
			p11.CKA_PRIVATE: true, p11.CKA_TOKEN: true,
			p11.CKA_WRAP: false, p11.CKA_UNWRAP: false,
		}
		for _, a := range attrs {
			if got, ok := boolean(a.Value); !ok || got != want[a.Type] {
				t.Errorf("attribute 0x%x = %x, want %v", a.Type, a.Value, want[a.Type])
			}
		}

		// The value cannot be read.
		if _, err := ctx11.GetAttributeValue(sh, h, []*p11.Attribute{p11.NewAttribute(p11.CKA_VALUE, nil)}); !is(err, p11.CKR_ATTRIBUTE_SENSITIVE) {
			t.Errorf("reading CKA_VALUE: %v, want CKR_ATTRIBUTE_SENSITIVE", err)
		}
		// It cannot be wrapped out of the token by another key.
		for _, m := range wrapMechs {
			out, err := ctx11.WrapKey(sh, []*p11.Mechanism{mechanism(m)}, wrapper, h)
			if !is(err, p11.CKR_KEY_UNEXTRACTABLE) {
				t.Errorf("C_WrapKey(mechanism 0x%x) of the KEK = %d bytes, %v; want CKR_KEY_UNEXTRACTABLE", m, len(out), err)
			}
		}
		// It cannot wrap (export) another key itself: CKA_WRAP is false.
		if out, err := ctx11.WrapKey(sh, []*p11.Mechanism{mechanism(p11.CKM_AES_KEY_WRAP)}, h, victim); err == nil {
			t.Errorf("the KEK wrapped another key out of the token (%d bytes)", len(out))
		}
		// It cannot be made extractable or non-sensitive, nor changed at all
		// (CKA_MODIFIABLE false; SoftHSM says CKR_ACTION_PROHIBITED, the
		// specification CKR_ATTRIBUTE_READ_ONLY).
		for _, a := range []*p11.Attribute{
			p11.NewAttribute(p11.CKA_EXTRACTABLE, true),
			p11.NewAttribute(p11.CKA_SENSITIVE, false),
			p11.NewAttribute(p11.CKA_WRAP, true),
			p11.NewAttribute(p11.CKA_LABEL, "stolen"),
		} {
			if err := ctx11.SetAttributeValue(sh, h, []*p11.Attribute{a}); !is(err, p11.CKR_ATTRIBUTE_READ_ONLY, p11.CKR_ACTION_PROHIBITED) {
				t.Errorf("C_SetAttributeValue(0x%x) on the KEK: %v, want CKR_ATTRIBUTE_READ_ONLY or CKR_ACTION_PROHIBITED", a.Type, err)
			}
		}
		// It cannot be copied, extractable or not (CKA_COPYABLE false).
		for _, tmpl := range [][]*p11.Attribute{
			{p11.NewAttribute(p11.CKA_EXTRACTABLE, true)},
			{p11.NewAttribute(p11.CKA_TOKEN, false)},
		} {
			c, err := ctx11.CopyObject(sh, h, tmpl)
			if err == nil {
				_ = ctx11.DestroyObject(sh, c)
			}
			if !is(err, p11.CKR_ACTION_PROHIBITED) {
				t.Errorf("C_CopyObject of the KEK: %v, want CKR_ACTION_PROHIBITED", err)
			}
		}
		// And after all that it is unchanged: still not extractable, still
		// usable.
		if _, err := checkKey(ctx11, sh, h, k.object); err != nil {
			t.Errorf("after the attempts: %v", err)
		}
	}
	key, aad := newDEK(), kms.DEKAAD("org_x", 1)
	mustUnwrap(t, k, mustWrap(t, k, key, aad), aad, key)
}

// mechanism returns m with the parameters the token needs: an IV for CBC.
func mechanism(m uint) *p11.Mechanism {
	if m == p11.CKM_AES_CBC {
		return p11.NewMechanism(m, make([]byte, 16))
	}
	return p11.NewMechanism(m, nil)
}
