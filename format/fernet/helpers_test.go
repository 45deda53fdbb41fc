package fernet

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
)

func encrypter(k *Key, iv []byte) cipher.BlockMode { return cipher.NewCBCEncrypter(k.m.block, iv) }

func appendMAC(k *Key, raw []byte) []byte {
	m := hmac.New(sha256.New, k.m.sign[:])
	m.Write(raw)
	return m.Sum(raw)
}
