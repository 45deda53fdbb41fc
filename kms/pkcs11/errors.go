package pkcs11

import (
	"errors"
	"fmt"

	p11 "github.com/miekg/pkcs11"

	"github.com/keyward/keyward/kms"
)

// Sentinel errors, besides the kms ones. Functions wrap them with %w.
var (
	// ErrLogin reports that the token refused the PIN: wrong, locked or not
	// yet set. The error never contains the PIN.
	ErrLogin = errors.New("pkcs11: login refused")
	// ErrNoKey reports a token that holds no key with the configured label;
	// create version 1 with [Provision].
	ErrNoKey = errors.New("pkcs11: no key-encryption key on the token")
	// ErrKeyExists reports that [Provision] found a key with the label
	// already; use [Open].
	ErrKeyExists = errors.New("pkcs11: key-encryption key exists")
	// ErrBadKey reports a key object under the configured label that keyward
	// refuses to use: not AES-256, extractable or not sensitive (now or ever),
	// unable to encrypt and decrypt, a CKA_ID that is not a version, or two
	// objects with one version.
	ErrBadKey = errors.New("pkcs11: unusable key object")
	// ErrClosed reports a call on a closed KEK.
	ErrClosed = errors.New("pkcs11: kek closed")
)

// ckrAEADDecryptFailed is CKR_AEAD_DECRYPT_FAILED from PKCS#11 3.0, which
// miekg/pkcs11 v1.1.2 does not define.
const ckrAEADDecryptFailed = 0x35

// code returns the PKCS#11 return value in err, if there is one.
func code(err error) (uint, bool) {
	var e p11.Error
	if errors.As(err, &e) {
		return uint(e), true
	}
	return 0, false
}

// is reports whether err carries one of the PKCS#11 return values.
func is(err error, codes ...uint) bool {
	c, ok := code(err)
	if !ok {
		return false
	}
	for _, want := range codes {
		if c == want {
			return true
		}
	}
	return false
}

// stale reports an error after which the session is useless but a freshly
// opened session (and a freshly looked-up key handle) may work: the session
// or the login is gone, or the token was re-inserted. Calls that fail this
// way are retried once.
func stale(err error) bool {
	return is(err,
		p11.CKR_SESSION_HANDLE_INVALID, p11.CKR_SESSION_CLOSED,
		p11.CKR_USER_NOT_LOGGED_IN, p11.CKR_DEVICE_REMOVED,
		p11.CKR_KEY_HANDLE_INVALID, p11.CKR_OBJECT_HANDLE_INVALID,
		p11.CKR_OPERATION_ACTIVE)
}

// transient reports a PKCS#11 error that may pass: device, session, token
// presence and resource errors. It maps to kms.ErrUnavailable. Everything
// else (an unsupported mechanism, a key not permitted to encrypt) is a
// configuration problem and is returned as is.
func transient(err error) bool {
	return stale(err) || is(err,
		p11.CKR_DEVICE_ERROR, p11.CKR_DEVICE_MEMORY, p11.CKR_TOKEN_NOT_PRESENT,
		p11.CKR_TOKEN_NOT_RECOGNIZED, p11.CKR_SLOT_ID_INVALID, p11.CKR_HOST_MEMORY,
		p11.CKR_GENERAL_ERROR, p11.CKR_FUNCTION_FAILED, p11.CKR_FUNCTION_CANCELED,
		p11.CKR_CRYPTOKI_NOT_INITIALIZED, p11.CKR_SESSION_COUNT, p11.CKR_CANT_LOCK)
}

// authFailure reports a C_Decrypt error that means "this ciphertext does not
// authenticate under this key and AAD". Tokens disagree on the code: PKCS#11
// 3.0 says CKR_AEAD_DECRYPT_FAILED, 2.40 tokens use
// CKR_ENCRYPTED_DATA_INVALID or CKR_SIGNATURE_INVALID, and SoftHSM 2.6
// returns CKR_GENERAL_ERROR (see ambiguousAuthFailure).
func authFailure(err error) bool {
	return is(err,
		ckrAEADDecryptFailed, p11.CKR_ENCRYPTED_DATA_INVALID,
		p11.CKR_ENCRYPTED_DATA_LEN_RANGE, p11.CKR_DATA_INVALID,
		p11.CKR_DATA_LEN_RANGE, p11.CKR_SIGNATURE_INVALID)
}

// ambiguousAuthFailure reports a C_Decrypt error that is an authentication
// failure on some tokens (SoftHSM 2.6: CKR_GENERAL_ERROR for a wrong tag)
// and a device failure on others. The caller probes the session to decide.
func ambiguousAuthFailure(err error) bool {
	return is(err, p11.CKR_GENERAL_ERROR, p11.CKR_FUNCTION_FAILED)
}

// opError wraps a PKCS#11 error from the call op (e.g. "C_Encrypt") with
// kms.ErrUnavailable when it may pass. The result keeps the PKCS#11 error,
// so the session pool can tell a dead session from a bad input.
func opError(op string, err error) error {
	if transient(err) {
		return fmt.Errorf("%s: %w: %w", op, kms.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}
