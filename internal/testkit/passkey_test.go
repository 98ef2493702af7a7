package testkit

import (
	"bytes"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// Every phone's passkey carries a public key with full-length coordinates
// in its attestation data, as go-webauthn requires: before newCredential
// drew keys again, about 1 in 128 did not, and a passkey test failed now
// and then with "No passkey was created".
func TestPhonesHaveFullLengthPublicKeys(t *testing.T) {
	for i := range 2000 {
		p := NewPhone("localhost", "http://localhost")
		var key map[int]any
		if err := cbor.Unmarshal(p.Cred.Key.AttestationData(), &key); err != nil {
			t.Fatal(err)
		}
		x, _ := key[-2].([]byte)
		y, _ := key[-3].([]byte)
		if len(x) != 32 || len(y) != 32 || bytes.Equal(x, y) {
			t.Fatalf("phone %d: public key coordinates of %d and %d bytes", i, len(x), len(y))
		}
	}
}
