package pkcs11

import (
	"fmt"

	p11 "github.com/miekg/pkcs11"

	"github.com/keyward/keyward/kms"
)

// gcm returns CKM_AES_GCM with iv, aad and a 128-bit tag. The caller must
// Free the parameters once the operation is complete.
func gcm(iv, aad []byte) (*p11.GCMParams, []*p11.Mechanism) {
	params := p11.NewGCMParams(iv, aad, TagSize*8)
	return params, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_GCM, params)}
}

// encrypt seals key in the token with the key h and returns
// IV ‖ ciphertext ‖ tag. It passes its own random IV; a token that
// substitutes its own (as some do in FIPS mode) writes it back into the
// parameters, and that is the IV the output carries.
func (k *KEK) encrypt(sh p11.SessionHandle, h p11.ObjectHandle, iv, key, aad []byte) ([]byte, error) {
	ctx11 := k.module.ctx
	params, mech := gcm(iv, aad)
	defer params.Free()
	if err := ctx11.EncryptInit(sh, mech, h); err != nil {
		return nil, k.keyError("C_EncryptInit", h, err)
	}
	ct, err := ctx11.Encrypt(sh, key)
	if err != nil {
		return nil, k.keyError("C_Encrypt", h, err)
	}
	used := params.IV()
	if len(used) != IVSize || len(ct) != len(key)+TagSize {
		return nil, fmt.Errorf("C_Encrypt: the token returned a %d-byte iv and %d bytes for a %d-byte key; want %d and %d",
			len(used), len(ct), len(key), IVSize, len(key)+TagSize)
	}
	out := make([]byte, 0, IVSize+len(ct))
	return append(append(out, used...), ct...), nil
}

// decrypt opens ct (ciphertext ‖ tag) in the token with the key h.
//
// Authentication failures are kms.ErrUnwrap without the token's code (which
// would only say how it failed). SoftHSM 2.6 reports a wrong tag as
// CKR_GENERAL_ERROR, which on other tokens means a device failure, so for
// that code the session is probed: if it is still open and logged in, the
// token is fine and the input was bad.
func (k *KEK) decrypt(sh p11.SessionHandle, h p11.ObjectHandle, iv, ct, aad []byte) ([]byte, error) {
	ctx11 := k.module.ctx
	params, mech := gcm(iv, aad)
	defer params.Free()
	if err := ctx11.DecryptInit(sh, mech, h); err != nil {
		return nil, k.keyError("C_DecryptInit", h, err)
	}
	key, err := ctx11.Decrypt(sh, ct)
	if err != nil {
		if authFailure(err) || ambiguousAuthFailure(err) && k.healthy(sh) {
			return nil, kms.ErrUnwrap
		}
		return nil, k.keyError("C_Decrypt", h, err)
	}
	if len(key) != len(ct)-TagSize {
		clear(key)
		return nil, fmt.Errorf("C_Decrypt: the token returned %d bytes for %d; want %d", len(key), len(ct), len(ct)-TagSize)
	}
	return key, nil
}

// healthy reports whether the session is open and logged in.
func (k *KEK) healthy(sh p11.SessionHandle) bool {
	info, err := k.module.ctx.GetSessionInfo(sh)
	return err == nil && (info.State == p11.CKS_RO_USER_FUNCTIONS || info.State == p11.CKS_RW_USER_FUNCTIONS)
}

// keyError is opError, and forgets the handle h if the token no longer
// accepts it, so that the retry looks the version up again.
func (k *KEK) keyError(op string, h p11.ObjectHandle, err error) error {
	if is(err, p11.CKR_KEY_HANDLE_INVALID, p11.CKR_OBJECT_HANDLE_INVALID) {
		k.mu.Lock()
		for v, cached := range k.handles {
			if cached == h {
				delete(k.handles, v)
			}
		}
		k.mu.Unlock()
	}
	return opError(op, err)
}
