package consent

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"

	"github.com/google/uuid"
)

// An online card payment past the exemptions needs the cardholder's SCA,
// and under PSD2 (RTS Article 5, dynamic linking) the authentication code
// must be bound to the payment's amount and payee: the cardholder is
// shown both, and a code or a passkey assertion made for one payment does
// not authenticate another. vaultpage runs it as a consent with action
// authenticate_payment, so that the merchant's challenge (in an iframe or a
// popup, ModeChallenge) and the partner's app (any other mode, out of
// band) take the same SCA, with the same five-try lock.
//
// What the consent authorises is the spend domain's (Payments): it is read
// afresh at every step, and its Commitment goes into the one-time code's
// MAC and the WebAuthn challenge, so that a payment changed after the
// cardholder saw it fails their authentication.

// ActionAuthenticatePayment is an online card payment's SCA.
const ActionAuthenticatePayment Action = "authenticate_payment"

// ModeChallenge is a merchant's challenge window: an iframe or a popup in
// the merchant's checkout, with no cookie (the page's session travels with
// its requests) and the outcome posted to the merchant's origin.
const ModeChallenge Mode = "challenge"

// Payment is what an authenticate_payment consent authorises, as the
// cardholder is shown it.
type Payment struct {
	AuthenticationID uuid.UUID
	Amount           string // "42.00"
	Currency         string
	Payee            string // the merchant's name
	// Origin is the merchant's site's origin: where a challenge window's
	// outcome is posted and the only page that may frame it.
	Origin string
	// Commitment is a digest of the authentication id, amount, currency
	// and payee; it changes when any of them does.
	Commitment []byte
	ExpiresAt  time.Time
}

// Payments is what consents need of online payments' authentications.
type Payments interface {
	// Payment returns what the consent authorises, as it is now; ErrSessionEnded when
	// it may no longer be authenticated (expired, or ended).
	Payment(ctx context.Context, c Consent) (Payment, error)
	// Ended records, in the transaction in ctx, that the consent ended:
	// approved (the payment is authenticated) or not.
	Ended(ctx context.Context, c Consent) error
}

// UsePayments connects online payments' authentications: their consents
// end them, and their SCA is bound to them.
func (s *Service) UsePayments(p Payments) { s.payments = p }

// payment returns what c authorises, or nil when c is no payment's.
// Errors: ErrSessionEnded when it is one that may not be authenticated.
func (s *Service) payment(ctx context.Context, c Consent) (*Payment, error) {
	if c.Action != ActionAuthenticatePayment {
		return nil, nil
	}
	if s.payments == nil {
		return nil, ErrSessionEnded
	}
	p, err := s.payments.Payment(ctx, c)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// Challenge opens the cardholder's challenge of an online payment on the
// card: a pending authenticate_payment consent and a single-use token for
// the merchant's challenge window, valid TokenTTL. It joins the transaction
// in ctx. Errors: ErrActionNotAllowed when the card allows no payment.
func (s *Service) Challenge(ctx context.Context, partnerID, cardID, individualID uuid.UUID) (Consent, Token, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return Consent{}, Token{}, err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return Consent{}, Token{}, err
	}
	value := "vpk_" + base64.RawURLEncoding.EncodeToString(raw)
	d := sha256.Sum256([]byte(value))
	now := s.now()
	// No locale: the challenge page speaks the browser's language.
	c := Consent{ID: id, PartnerID: partnerID, CardID: cardID, IndividualID: individualID, Action: ActionAuthenticatePayment, Status: StatusPending,
		Mode: ModeChallenge, ExpiresAt: now.Add(Lifetime), CreatedAt: now, UpdatedAt: now, Version: 1}
	t := Token{Value: value, RedirectURL: strings.TrimRight(s.cfg.PublicURL, "/") + "/a/" + value, ExpiresAt: now.Add(TokenTTL)}
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		ok, err := s.cards.ActionAllowed(ctx, partnerID, cardID, string(ActionAuthenticatePayment))
		if err != nil {
			return err
		}
		if !ok {
			return ErrActionNotAllowed
		}
		// Unlike other actions, a payment's consent supersedes none: each
		// payment is challenged on its own.
		if err := s.store.CreateConsent(ctx, c); err != nil {
			return err
		}
		if err := s.store.SetToken(ctx, c.ID, d[:], t.ExpiresAt); err != nil {
			return err
		}
		return s.emit(ctx, c)
	})
	if err != nil {
		return Consent{}, Token{}, err
	}
	return c, t, nil
}
