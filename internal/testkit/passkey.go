package testkit

import (
	"crypto/ecdsa"
	"crypto/x509"
	"testing"

	"github.com/descope/virtualwebauthn"
)

// Phone is a software WebAuthn authenticator standing in for a
// cardholder's device in Go tests: it signs real responses with a real
// P-256 key, with user presence and verification, backup eligible and
// backed up (as synced passkeys are). Browser tests use Chromium's virtual
// authenticator instead.
type Phone struct {
	RP   virtualwebauthn.RelyingParty
	Auth virtualwebauthn.Authenticator
	Cred virtualwebauthn.Credential
}

// NewPhone returns an authenticator for the relying party rpID whose pages
// are at origin.
func NewPhone(rpID, origin string) *Phone {
	return &Phone{
		RP:   virtualwebauthn.RelyingParty{ID: rpID, Name: "vaultpage", Origin: origin},
		Auth: virtualwebauthn.NewAuthenticatorWithOptions(virtualwebauthn.AuthenticatorOptions{BackupEligible: true, BackupState: true}),
		Cred: newCredential(),
	}
}

// newCredential returns a P-256 credential whose public key the relying
// party accepts. virtualwebauthn encodes the key's coordinates without
// their leading zero bytes (big.Int.Bytes), and go-webauthn rightly refuses
// a coordinate shorter than 32 bytes: about one key in 128 would fail
// registration. Such keys are drawn again.
func newCredential() virtualwebauthn.Credential {
	for {
		c := virtualwebauthn.NewCredential(virtualwebauthn.KeyTypeEC2)
		if fullCoordinates(c) {
			return c
		}
	}
}

// fullCoordinates reports whether both coordinates of c's public key are
// 32 bytes long without padding.
func fullCoordinates(c virtualwebauthn.Credential) bool {
	k, err := x509.ParsePKCS8PrivateKey(c.Key.Data)
	if err != nil {
		panic("testkit: a virtualwebauthn key that is not PKCS #8: " + err.Error())
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	return ok && len(ec.X.Bytes()) == 32 && len(ec.Y.Bytes()) == 32
}

// Register answers navigator.credentials.create options (JSON) with an
// attestation response (JSON).
func (p *Phone) Register(t testing.TB, options []byte) string {
	t.Helper()
	opts, err := virtualwebauthn.ParseAttestationOptions(string(options))
	if err != nil {
		t.Fatalf("registration options: %v", err)
	}
	p.Auth.Options.UserHandle = []byte(opts.UserID)
	return virtualwebauthn.CreateAttestationResponse(p.RP, p.Auth, p.Cred, *opts)
}

// Sign answers navigator.credentials.get options (JSON) with an assertion
// (JSON); the signature counter moves forward first, as a real
// authenticator's does.
func (p *Phone) Sign(t testing.TB, options []byte) string {
	t.Helper()
	opts, err := virtualwebauthn.ParseAssertionOptions(string(options))
	if err != nil {
		t.Fatalf("assertion options: %v", err)
	}
	p.Cred.Counter++
	return virtualwebauthn.CreateAssertionResponse(p.RP, p.Auth, p.Cred, *opts)
}
