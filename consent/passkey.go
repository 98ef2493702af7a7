package consent

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/audit"
)

// Passkeys: a discoverable WebAuthn credential with user verification is
// both factors at once (the device, and the fingerprint, face or screen lock
// that unlocks it). Cardholders enrol one after a code and passcode; from
// then on the passkey is the usual way in and the code the fallback.
//
// Ceremony state (the challenge and what it was issued for) lives in the
// database, keyed by consent, and is deleted when the ceremony finishes,
// whatever its outcome: a response can be checked once.

// Ceremony kinds.
const (
	ceremonyLogin    = "login"
	ceremonyRegister = "register"
	// ceremonyTTL bounds how long a begun ceremony may be finished.
	ceremonyTTL = 5 * time.Minute
)

// ErrNoPasskey means passkeys are not enabled, or the cardholder has none.
var ErrNoPasskey = errors.New("consent: no passkey available")

// Passkey is a registered WebAuthn credential: public material, the
// signature counter and the flags WebAuthn asks relying parties to keep.
type Passkey struct {
	CredentialID      []byte
	PublicKey         []byte // COSE key
	AttestationType   string
	AttestationFormat string
	AAGUID            []byte
	Transports        []string
	Attachment        string
	SignCount         uint32
	UserVerified      bool
	BackupEligible    bool
	BackupState       bool
	CreatedAt         time.Time
	LastUsedAt        time.Time
}

// PasskeyStore persists passkeys and ceremony state.
type PasskeyStore interface {
	// PasskeyUser returns the cardholder's user handle (nil when none yet)
	// and registered passkeys.
	PasskeyUser(ctx context.Context, individualID uuid.UUID) ([]byte, []Passkey, error)
	// AddPasskey stores a passkey; handle is used when the cardholder has
	// no user handle yet.
	AddPasskey(ctx context.Context, individualID uuid.UUID, handle []byte, p Passkey) error
	// UsePasskey records an assertion: the new counter, flags and time.
	UsePasskey(ctx context.Context, credentialID []byte, signCount uint32, backupState bool, at time.Time) error
	// PutCeremony stores ceremony state for the consent, replacing any.
	PutCeremony(ctx context.Context, consentID uuid.UUID, kind string, state []byte, expiresAt time.Time) error
	// TakeCeremony returns and deletes the consent's ceremony of that
	// kind; ErrSCAFailed when there is none or it expired.
	TakeCeremony(ctx context.Context, consentID uuid.UUID, kind string, now time.Time) ([]byte, error)
	// DeletePasskey removes one of the cardholder's passkeys; ErrNotFound
	// when the cardholder has no such passkey.
	DeletePasskey(ctx context.Context, individualID uuid.UUID, credentialID []byte) error
}

// PasskeyConfig names the relying party. RPID is the hosted pages' host
// name (never an IP address); Origins are the exact origins pages are
// served from, port included.
type PasskeyConfig struct {
	RPID    string
	RPName  string
	Origins []string
}

// Cardholder names the person a passkey is created for, as their passkey
// manager will show it.
type Cardholder struct {
	Name        string // e.g. their email address
	DisplayName string // e.g. their full name
}

// UsePasskeys turns passkeys on. It fails when the configuration is not one
// WebAuthn accepts (an IP address as RP ID, an origin that is not a URL).
func (a *SCA) UsePasskeys(s PasskeyStore, cfg PasskeyConfig) error {
	w, err := webauthn.New(&webauthn.Config{
		RPID:                  cfg.RPID,
		RPDisplayName:         cfg.RPName,
		RPOrigins:             cfg.Origins,
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification:   protocol.VerificationRequired,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: ceremonyTTL, TimeoutUVD: ceremonyTTL},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: ceremonyTTL, TimeoutUVD: ceremonyTTL},
		},
	})
	if err != nil {
		return fmt.Errorf("consent: passkeys: %w", err)
	}
	a.webauthn, a.passkeys = w, s
	return nil
}

// PasskeysEnabled reports whether UsePasskeys succeeded.
func (a *SCA) PasskeysEnabled() bool { return a.webauthn != nil }

// HasPasskey reports whether the cardholder can authenticate with a passkey.
func (a *SCA) HasPasskey(ctx context.Context, individualID uuid.UUID) (bool, error) {
	if a.webauthn == nil {
		return false, nil
	}
	_, keys, err := a.passkeys.PasskeyUser(ctx, individualID)
	return len(keys) > 0, err
}

// user adapts a cardholder to webauthn.User.
type user struct {
	handle []byte
	holder Cardholder
	keys   []webauthn.Credential
}

func (u user) WebAuthnID() []byte                         { return u.handle }
func (u user) WebAuthnName() string                       { return u.holder.Name }
func (u user) WebAuthnDisplayName() string                { return u.holder.DisplayName }
func (u user) WebAuthnCredentials() []webauthn.Credential { return u.keys }

func (a *SCA) user(ctx context.Context, individualID uuid.UUID, holder Cardholder) (user, error) {
	handle, keys, err := a.passkeys.PasskeyUser(ctx, individualID)
	if err != nil {
		return user{}, err
	}
	u := user{handle: handle, holder: holder}
	for _, k := range keys {
		u.keys = append(u.keys, k.credential())
	}
	return u, nil
}

func (p Passkey) credential() webauthn.Credential {
	c := webauthn.Credential{
		ID: p.CredentialID, PublicKey: p.PublicKey, AttestationType: p.AttestationType, AttestationFormat: p.AttestationFormat,
		Flags:         webauthn.CredentialFlags{UserPresent: true, UserVerified: p.UserVerified, BackupEligible: p.BackupEligible, BackupState: p.BackupState},
		Authenticator: webauthn.Authenticator{AAGUID: p.AAGUID, SignCount: p.SignCount, Attachment: protocol.AuthenticatorAttachment(p.Attachment)},
	}
	for _, t := range p.Transports {
		c.Transport = append(c.Transport, protocol.AuthenticatorTransport(t))
	}
	return c
}

// BeginPasskeyLogin starts an assertion for the consent's cardholder and
// returns the options for navigator.credentials.get, as JSON. Errors:
// ErrLocked, ErrNoPasskey, *StateError.
func (a *SCA) BeginPasskeyLogin(ctx context.Context, c Consent) ([]byte, error) {
	if err := a.ready(ctx, c); err != nil {
		return nil, err
	}
	u, err := a.user(ctx, c.IndividualID, Cardholder{})
	if err != nil {
		return nil, err
	}
	if len(u.keys) == 0 {
		return nil, ErrNoPasskey
	}
	loginOpts := []webauthn.LoginOption{webauthn.WithUserVerification(protocol.VerificationRequired)}
	pay, err := a.consents.payment(ctx, c)
	if err != nil {
		return nil, err
	}
	if pay != nil {
		// Dynamic linking: the challenge the authenticator signs (in the
		// client data) is a fresh random part and the payment's
		// commitment.
		challenge := make([]byte, challengeNonce, challengeNonce+len(pay.Commitment))
		if _, err := rand.Read(challenge); err != nil {
			return nil, err
		}
		loginOpts = append(loginOpts, webauthn.WithChallenge(append(challenge, pay.Commitment...)))
	}
	opts, state, err := a.webauthn.BeginLogin(u, loginOpts...)
	if err != nil {
		return nil, err
	}
	return a.putCeremony(ctx, c, ceremonyLogin, opts, state)
}

// challengeNonce is the random part of a payment's WebAuthn challenge, in
// bytes.
const challengeNonce = 32

// commits tells whether the ceremony's challenge is a random part and the
// payment's commitment, as it is now.
func commits(state webauthn.SessionData, p *Payment) bool {
	raw, err := base64.RawURLEncoding.DecodeString(state.Challenge)
	return err == nil && len(raw) == challengeNonce+len(p.Commitment) && subtle.ConstantTimeCompare(raw[challengeNonce:], p.Commitment) == 1
}

// verifier is the WebAuthn relying party an assertion for c is checked
// by: for a merchant's challenge window, one that takes an assertion made
// in a frame of the merchant's page (crossOrigin, its topOrigin the
// merchant's) and no other page's.
func (a *SCA) verifier(c Consent, p *Payment) (*webauthn.WebAuthn, error) {
	if p == nil || c.Mode != ModeChallenge {
		return a.webauthn, nil
	}
	cfg := *a.webauthn.Config
	cfg.RPAllowCrossOrigin = true
	cfg.RPTopOrigins = []string{p.Origin}
	cfg.RPTopOriginVerificationMode = protocol.TopOriginExplicitVerificationMode
	return webauthn.New(&cfg)
}

// FinishPasskeyLogin checks the authenticator's response (the JSON body the
// browser posts). The attempt is counted before it is checked, as codes and
// passcodes are (SCAStore.ReserveAttempt). A response that does not verify,
// a signature counter that went backwards, or a missing user verification
// is a failed attempt like a wrong passcode. Errors: ErrSCAFailed (never
// saying why), ErrLocked, ErrNoPasskey.
func (a *SCA) FinishPasskeyLogin(ctx context.Context, c Consent, body io.Reader) error {
	if err := a.ready(ctx, c); err != nil {
		return err
	}
	now := a.now()
	// A payment's challenge can be opened by anyone with the card's
	// number, and an assertion's signature cannot be guessed: there an
	// assertion that does not verify is refused and audited (sca.refused)
	// but not counted towards the lock. What is counted is what the
	// cardholder's own key signed and shows was not them: no user
	// verification, or a signature counter gone backwards (a cloned
	// authenticator). Elsewhere every attempt is counted before it is
	// checked.
	payment := c.Action == ActionAuthenticatePayment
	var n int
	if !payment {
		var err error
		if n, err = a.reserve(ctx, c, now); err != nil {
			return err
		}
	}
	raw, takeErr := a.passkeys.TakeCeremony(ctx, c.ID, ceremonyLogin, now)
	if takeErr != nil && !errors.Is(takeErr, ErrSCAFailed) {
		return takeErr
	}
	u, err := a.user(ctx, c.IndividualID, Cardholder{})
	if err != nil {
		return err
	}
	// A payment is read afresh: changed since the ceremony began, its
	// assertion no longer checks out.
	pay, err := a.consents.payment(ctx, c)
	if err != nil {
		return err
	}
	w, err := a.verifier(c, pay)
	if err != nil {
		return err
	}
	// counted: the real authenticator's signature that shows it was not
	// the cardholder (no user verification, a counter gone backwards);
	// otherwise, in a payment's challenge, refused uncounted.
	reason, counted := "passkey", !payment
	var state webauthn.SessionData
	switch {
	case takeErr != nil && payment:
		return ErrSCAFailed // no ceremony: nothing was asked for, nothing to record
	case takeErr == nil:
		if err := json.Unmarshal(raw, &state); err != nil {
			return err
		}
		// The signature is checked first, user verification after it, so
		// that an assertion of the cardholder's own key without it counts.
		state.UserVerification = protocol.VerificationPreferred
		parsed, err := protocol.ParseCredentialRequestResponseBody(io.LimitReader(body, 64<<10))
		if err == nil && pay != nil && !commits(state, pay) {
			err, reason = ErrSCAFailed, "passkey_payment"
		}
		if err == nil {
			var cred *webauthn.Credential
			if cred, err = w.ValidateLogin(u, state, parsed); err == nil {
				switch {
				case cred.Authenticator.CloneWarning:
					reason, counted = "passkey_counter", true
				case !parsed.Response.AuthenticatorData.Flags.UserVerified():
					reason, counted = "passkey_user_verification", true
				default:
					if err := a.passkeys.UsePasskey(ctx, cred.ID, cred.Authenticator.SignCount, cred.Flags.BackupState, now); err != nil {
						return err
					}
					return a.succeeded(ctx, c, "passkey")
				}
			}
		}
	}
	if !counted {
		return a.refused(ctx, c, reason)
	}
	if payment {
		var err error
		if n, err = a.reserve(ctx, c, now); err != nil {
			if errors.Is(err, ErrLocked) {
				return a.refusedLocked(ctx, c, reason)
			}
			return err
		}
	}
	return a.fail(ctx, c, n, reason)
}

// BeginPasskeyRegistration starts creating a passkey for the consent's
// cardholder, who has just authenticated with a code and passcode (the
// caller's to ensure). It returns the options for
// navigator.credentials.create, as JSON: a discoverable credential, user
// verification required, excluding passkeys already registered.
func (a *SCA) BeginPasskeyRegistration(ctx context.Context, c Consent, holder Cardholder) ([]byte, error) {
	if a.webauthn == nil {
		return nil, ErrNoPasskey
	}
	if c.Status != StatusStarted {
		return nil, &StateError{From: c.Status, To: StatusStarted}
	}
	u, err := a.user(ctx, c.IndividualID, holder)
	if err != nil {
		return nil, err
	}
	if u.handle == nil {
		u.handle = make([]byte, 32)
		if _, err := rand.Read(u.handle); err != nil {
			return nil, err
		}
	}
	exclude := make([]protocol.CredentialDescriptor, 0, len(u.keys))
	for _, k := range u.keys {
		exclude = append(exclude, k.Descriptor())
	}
	opts, state, err := a.webauthn.BeginRegistration(u, webauthn.WithExclusions(exclude),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired))
	if err != nil {
		return nil, err
	}
	return a.putCeremony(ctx, c, ceremonyRegister, opts, state)
}

// FinishPasskeyRegistration checks the attestation the browser posts and
// stores the new passkey. Errors: ErrSCAFailed when the response does not
// verify (registration failures do not count towards the lock: the
// cardholder is already authenticated).
func (a *SCA) FinishPasskeyRegistration(ctx context.Context, c Consent, body io.Reader) error {
	if a.webauthn == nil {
		return ErrNoPasskey
	}
	if c.Status != StatusStarted {
		return &StateError{From: c.Status, To: StatusStarted}
	}
	raw, err := a.passkeys.TakeCeremony(ctx, c.ID, ceremonyRegister, a.now())
	if err != nil {
		return err
	}
	var state webauthn.SessionData
	if err := json.Unmarshal(raw, &state); err != nil {
		return err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBody(io.LimitReader(body, 64<<10))
	if err != nil {
		return ErrSCAFailed
	}
	u, err := a.user(ctx, c.IndividualID, Cardholder{})
	if err != nil {
		return err
	}
	u.handle = state.UserID
	cred, err := a.webauthn.CreateCredential(u, state, parsed)
	if err != nil {
		return ErrSCAFailed
	}
	p := Passkey{
		CredentialID: cred.ID, PublicKey: cred.PublicKey, AttestationType: cred.AttestationType, AttestationFormat: cred.AttestationFormat,
		AAGUID: cred.Authenticator.AAGUID, Attachment: string(cred.Authenticator.Attachment), SignCount: cred.Authenticator.SignCount,
		UserVerified: cred.Flags.UserVerified, BackupEligible: cred.Flags.BackupEligible, BackupState: cred.Flags.BackupState, CreatedAt: a.now(),
	}
	for _, t := range cred.Transport {
		p.Transports = append(p.Transports, string(t))
	}
	if p.AAGUID == nil {
		p.AAGUID = []byte{}
	}
	if err := a.passkeys.AddPasskey(ctx, c.IndividualID, state.UserID, p); err != nil {
		return err
	}
	return a.audit.Append(ctx, audit.Entry{Actor: "cardholder:" + c.IndividualID.String(), Action: "passkey.registered",
		Target: "consent:" + c.ID.String(), Result: "ok", Details: map[string]string{"backup_eligible": strconv.FormatBool(p.BackupEligible)}})
}

// ready checks that passkeys are on, the consent is open and the
// cardholder is not locked.
func (a *SCA) ready(ctx context.Context, c Consent) error {
	if a.webauthn == nil {
		return ErrNoPasskey
	}
	if c.Status != StatusStarted {
		return &StateError{From: c.Status, To: StatusStarted}
	}
	p, err := a.store.Passcode(ctx, c.IndividualID)
	if err != nil {
		return err
	}
	locked, err := a.lockedUntil(ctx, c, p)
	if err != nil {
		return err
	}
	if a.now().Before(locked) {
		return ErrLocked
	}
	return nil
}

func (a *SCA) putCeremony(ctx context.Context, c Consent, kind string, opts any, state *webauthn.SessionData) ([]byte, error) {
	st, err := json.Marshal(state)
	if err != nil {
		return nil, err
	}
	if err := a.passkeys.PutCeremony(ctx, c.ID, kind, st, a.now().Add(ceremonyTTL)); err != nil {
		return nil, err
	}
	return json.Marshal(opts)
}

// Passkeys lists the cardholder's passkeys (none when passkeys are off).
func (a *SCA) Passkeys(ctx context.Context, individualID uuid.UUID) ([]Passkey, error) {
	if a.webauthn == nil {
		return nil, nil
	}
	_, keys, err := a.passkeys.PasskeyUser(ctx, individualID)
	return keys, err
}

// RemovePasskey revokes one of the cardholder's passkeys, for example when
// their phone is lost; actor names who asked, for the audit trail. From
// then on that passkey fails like any wrong factor. Errors: ErrNotFound.
func (a *SCA) RemovePasskey(ctx context.Context, actor string, individualID uuid.UUID, credentialID []byte) error {
	if a.webauthn == nil {
		return ErrNotFound
	}
	if err := a.passkeys.DeletePasskey(ctx, individualID, credentialID); err != nil {
		return err
	}
	return a.audit.Append(ctx, audit.Entry{Actor: actor, Action: "passkey.removed", Target: "individual:" + individualID.String(), Result: "ok"})
}
