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
// TDES key, CKK_DES3 or CKK_DES2): PIN blocks are deciphered inside the HSM
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
		err = errors.New("is not a TDES key")
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("%w: pkcs11 zone pin key %q: %w", ErrKEK, label, err), ctx.Close())
	}
	decipher := func(dst, src []byte) error {
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
