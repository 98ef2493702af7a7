package testkit

import (
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
		Cred: virtualwebauthn.NewCredential(virtualwebauthn.KeyTypeEC2),
	}
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
