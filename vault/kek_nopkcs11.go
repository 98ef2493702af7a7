//go:build !cgo

package vault

import (
	"context"
	"fmt"
)

// PKCS11Available reports whether this build can talk to a PKCS#11 HSM (it
// needs cgo).
const PKCS11Available = false

func openPKCS11(context.Context, PKCS11Config, []KEK) (*KEKSet, error) {
	return nil, fmt.Errorf("%w: this build has no pkcs11 support (built without cgo)", ErrKEK)
}

// OpenZonePINKey needs cgo: this build has none.
func OpenZonePINKey(PKCS11Config, string) (*ZonePINKey, error) {
	return nil, fmt.Errorf("%w: this build has no pkcs11 support (built without cgo)", ErrKEK)
}
