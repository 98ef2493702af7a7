//go:build cgo

package vault

import (
	"context"
	"errors"
	"fmt"

	"github.com/ThalesGroup/crypto11"
)

// PKCS11Available reports whether this build can talk to a PKCS#11 HSM (it
// needs cgo).
const PKCS11Available = true

// keptInside refuses a key the token would let out: it must be sensitive,
// not extractable, and allowed to decrypt.
func keptInside(ctx *crypto11.Context, key *crypto11.SecretKey) error {
	attrs, err := ctx.GetAttributes(key, []crypto11.AttributeType{crypto11.CkaSensitive, crypto11.CkaExtractable, crypto11.CkaDecrypt})
	if err != nil {
		return err
	}
	flag := func(t crypto11.AttributeType) bool {
		a := attrs[t]
		return a != nil && len(a.Value) == 1 && a.Value[0] != 0
	}
	switch {
	case !flag(crypto11.CkaSensitive) || flag(crypto11.CkaExtractable):
		return errors.New("may leave the token (it must be CKA_SENSITIVE and not CKA_EXTRACTABLE)")
	case !flag(crypto11.CkaDecrypt):
		return errors.New("may not decrypt (CKA_DECRYPT)")
	}
	return nil
}

// openPKCS11 logs in to the token and finds the current and previous KEKs by
// label. Wrapping runs AES-GCM inside the HSM; the KEK never leaves it.
func openPKCS11(_ context.Context, c PKCS11Config, previous []KEK) (*KEKSet, error) {
	ctx, err := crypto11.Configure(&crypto11.Config{
		Path:       c.Module,
		TokenLabel: c.TokenLabel,
		Pin:        c.PIN,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: pkcs11: %w", ErrKEK, err)
	}
	find := func(label string) (KEK, error) {
		key, err := ctx.FindKey(nil, []byte(label))
		if err != nil {
			return nil, fmt.Errorf("%w: pkcs11 key %q: %w", ErrKEK, label, err)
		}
		if key == nil {
			return nil, fmt.Errorf("%w: pkcs11 key %q not found in token %q", ErrKEK, label, c.TokenLabel)
		}
		aead, err := key.NewGCM()
		if err != nil {
			return nil, fmt.Errorf("%w: pkcs11 key %q: %w", ErrKEK, label, err)
		}
		return &aeadKEK{id: "pkcs11:" + c.TokenLabel + "/" + label, aead: aead}, nil
	}
	current, err := find(c.KeyLabel)
	if err != nil {
		return nil, errors.Join(err, ctx.Close())
	}
	for _, label := range c.Previous {
		k, err := find(label)
		if err != nil {
			return nil, errors.Join(err, ctx.Close())
		}
		previous = append(previous, k)
	}
	set := NewKEKSet(current, previous...)
	set.closers = append(set.closers, ctx)
	return set, nil
}

// OpenZonePINKey finds the zone PIN key by label in the token c names (a
// triple-length TDES key, CKK_DES3: crypto11 cannot use a CKK_DES2 key, so a
// double-length ZPK is imported as K1 K2 K1), one that may decrypt and is
// sensitive and not extractable: PIN blocks are deciphered inside the HSM
// (one block of CKM_DES3_CBC with a zero IV, which is ECB), and the key
// never leaves it. c.KeyLabel and c.Previous are not used. Errors: ErrKEK
// wraps what the token answered.
func OpenZonePINKey(c PKCS11Config, label string) (*ZonePINKey, error) {
	ctx, err := crypto11.Configure(&crypto11.Config{Path: c.Module, TokenLabel: c.TokenLabel, Pin: c.PIN})
	if err != nil {
		return nil, fmt.Errorf("%w: pkcs11: %w", ErrKEK, err)
	}
	key, err := ctx.FindKey(nil, []byte(label))
	if err == nil && key == nil {
		err = fmt.Errorf("not found in token %q", c.TokenLabel)
	}
	if err == nil && key.Cipher != crypto11.CipherDES3 {
		err = errors.New("is not a triple-length TDES key (CKK_DES3)")
	}
	if err == nil {
		err = keptInside(ctx, key)
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("%w: pkcs11 zone pin key %q: %w", ErrKEK, label, err), ctx.Close())
	}
	decipher := func(dst, src []byte) (err error) {
		// crypto11 panics when the token fails mid-operation.
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("vault: hsm zone pin key: %v", r)
			}
		}()
		m, err := key.NewCBCDecrypterCloser(make([]byte, 8))
		if err != nil {
			return fmt.Errorf("vault: hsm zone pin key: %w", err)
		}
		defer m.Close()
		m.CryptBlocks(dst, src)
		return nil
	}
	return &ZonePINKey{id: "pkcs11:" + c.TokenLabel + "/" + label, decipher: decipher, close: ctx.Close}, nil
}
