package spend

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"net/url"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/audit"
	"github.com/vaultpage/vaultpage/consent"
)

// A payment answered C is the cardholder's to authenticate: it gets a
// consent with action authenticate_payment (consent.Service.Challenge),
// taken in the merchant's challenge window (the challenge URL, an iframe or
// a popup) or out of band in the partner's app (the consent's own token,
// as any consent's). Either way the cardholder's SCA is bound to the
// payment (Payment, dynamic linking), and however the consent ends, its
// transaction ends the authentication (Ended): approved, it is Y and the
// card's low-value exemption counts from nothing again; declined, failed,
// canceled or expired, it is N with that reason.

// TransNotAuthenticated is EMV 3-D Secure's N: the cardholder did not
// authenticate the payment.
const TransNotAuthenticated TransStatus = "N"

// How a challenged payment was authenticated (stored values).
const (
	MethodChallengeWindow = "challenge_window" // on the merchant's page
	MethodPartnerApp      = "partner_app"      // out of band, through the partner
	MethodSimulation      = "simulation"       // the sandbox's simulated consent
)

// ErrChallengeEnded means the authentication is no longer waiting for the
// cardholder.
var ErrChallengeEnded = errors.New("spend: the authentication is no longer challenged")

// Challenger opens the cardholder's challenge of an online payment
// (consent.Service).
type Challenger interface {
	Challenge(ctx context.Context, partnerID, cardID, individualID uuid.UUID) (consent.Consent, consent.Token, error)
	Get(ctx context.Context, partnerID, id uuid.UUID) (consent.Consent, error)
}

// challenge opens the challenge of the C authentication a, of the
// individual's card, and returns a with its consent and challenge URL.
func (s *Service) challenge(ctx context.Context, a Authentication, individualID uuid.UUID) (Authentication, error) {
	if s.cfg.Challenges == nil {
		return a, nil
	}
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		cs, tok, err := s.cfg.Challenges.Challenge(ctx, a.PartnerID, a.CardID, individualID)
		if err != nil {
			return err
		}
		a.ConsentID, a.ChallengeURL = cs.ID, tok.RedirectURL
		return s.store.LinkChallenge(ctx, a.ID, cs.ID)
	})
	return a, err
}

// commitment is a digest of what the cardholder authenticates: the
// authentication, the amount, the currency and the payee. Each field is
// length-prefixed, so that no two payments share one.
func (a Authentication) commitment() []byte {
	h := sha256.New()
	h.Write([]byte("vaultpage/payment-authentication/v1"))
	for _, f := range []string{a.ID.String(), a.Amount.String(), a.Currency, a.Payee.Name, a.Payee.URL, a.Payee.ID, a.Payee.MCC, a.Payee.Country} {
		_ = binary.Write(h, binary.BigEndian, uint32(len(f))) //nolint:gosec // G115: fields are at most 2,048 bytes
		h.Write([]byte(f))
	}
	return h.Sum(nil)
}

// origin is the payee's site's origin.
func (p Payee) origin() string {
	u, err := url.Parse(p.URL)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// Payment returns what the authenticate_payment consent c authorises, read
// afresh: the authentication, still waiting for the cardholder and not
// expired. It satisfies consent.Payments. Errors: consent.ErrSessionEnded.
func (s *Service) Payment(ctx context.Context, c consent.Consent) (consent.Payment, error) {
	a, err := s.store.AuthenticationByConsent(ctx, c.PartnerID, c.ID)
	if errors.Is(err, ErrNotFound) {
		return consent.Payment{}, consent.ErrSessionEnded
	}
	if err != nil {
		return consent.Payment{}, err
	}
	if a.TransStatus != TransChallenge || !s.now().Before(a.ExpiresAt) {
		return consent.Payment{}, consent.ErrSessionEnded
	}
	return consent.Payment{AuthenticationID: a.ID, Amount: a.Amount.String(), Currency: a.Currency, Payee: a.Payee.Name, Origin: a.Payee.origin(),
		Commitment: a.commitment(), ExpiresAt: a.ExpiresAt}, nil
}

// Ended ends the authentication the consent c challenged, in the
// transaction in ctx, as the consent ended: approved, Y; otherwise N, the
// consent's status the reason. It records the event and the audit entry.
// It satisfies consent.Payments. Errors: consent.ErrSessionEnded for an
// approval after the authentication expired (the approval is undone).
func (s *Service) Ended(ctx context.Context, c consent.Consent) error {
	a, err := s.store.AuthenticationByConsent(ctx, c.PartnerID, c.ID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if a.TransStatus != TransChallenge {
		return nil
	}
	now := s.now()
	a.UpdatedAt = now
	switch {
	case c.Status != consent.StatusApproved:
		a.TransStatus, a.Reason = TransNotAuthenticated, string(c.Status)
	case !now.Before(a.ExpiresAt):
		return consent.ErrSessionEnded
	default:
		a.TransStatus, a.Method = TransAuthenticated, MethodPartnerApp
		if c.AuthenticatedAt.IsZero() {
			a.Method = MethodSimulation
		} else if c.Mode == consent.ModeChallenge {
			a.Method = MethodChallengeWindow
		}
	}
	e, err := authenticationEvent(a)
	if err != nil {
		return err
	}
	e.CreatedAt = now
	if err := s.store.EndChallenge(ctx, a, e); err != nil {
		return err
	}
	result, details := "ok", map[string]string{"amount": a.Amount.String(), "currency": a.Currency, "merchant": a.Payee.Name, "trans_status": string(a.TransStatus)}
	if a.TransStatus == TransAuthenticated {
		details["method"] = a.Method
	} else {
		result, details["reason"] = "failed", a.Reason
	}
	// The system records the outcome; who brought it about is in the
	// consent's own trail (the cardholder's sca.succeeded or sca.failed,
	// the partner's cancellation, the expiry).
	details["consent_id"], details["consent_status"] = c.ID.String(), string(c.Status)
	return s.audit.Append(ctx, audit.Entry{Actor: "system:authentications", Action: "payment.authentication", Target: "authentication:" + a.ID.String(),
		Result: result, Details: details})
}

// Challenged returns the authentication the partner's consent challenges
// the cardholder for, as it is now (a challenge whose consent ended is
// ended first). Errors: ErrNotFound.
func (s *Service) Challenged(ctx context.Context, partnerID, consentID uuid.UUID) (Authentication, error) {
	a, err := s.store.AuthenticationByConsent(ctx, partnerID, consentID)
	if err != nil {
		return a, err
	}
	return s.current(ctx, a)
}

// current is the authentication as it is now: a challenge whose consent
// ended unnoticed (it expired, say) is ended first.
func (s *Service) current(ctx context.Context, a Authentication) (Authentication, error) {
	if a.TransStatus != TransChallenge || a.ConsentID == uuid.Nil || s.cfg.Challenges == nil {
		return a, nil
	}
	// Reading the consent expires it when its time is up, which ends the
	// authentication (Ended); while it is open, the authentication is as
	// read.
	cs, err := s.cfg.Challenges.Get(ctx, a.PartnerID, a.ConsentID)
	if err != nil || !cs.Status.Final() {
		return a, err
	}
	return s.store.Authentication(ctx, a.PartnerID, a.ID)
}

// Authentication returns an authentication by its id alone, as it is now,
// for the 3-D Secure server that asked for it. Errors: ErrNotFound.
func (n *Network) Authentication(ctx context.Context, id uuid.UUID) (Authentication, error) {
	a, err := n.s.store.AuthenticationByID(ctx, id)
	if err != nil {
		return a, err
	}
	return n.s.current(ctx, a)
}
