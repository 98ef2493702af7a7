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
