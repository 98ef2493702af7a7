package consent

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/events"
	"github.com/vaultpage/vaultpage/partner"
)

// Errors beyond ErrNotFound and *StateError.
var (
	// ErrConflict: a concurrent change won; retry.
	ErrConflict = errors.New("consent: concurrent update")
	// ErrSandboxOnly: simulations are refused outside development and sandbox.
	ErrSandboxOnly = errors.New("consent: simulations run only in development and sandbox")
	// ErrActionNotAllowed: the card's status does not allow the action (it
	// changed while the consent was being asked for).
	ErrActionNotAllowed = errors.New("consent: the card's status does not allow the action")
)

// FieldError names the request field that failed validation; Err, when
// set, says what kind of failure it is (ErrWeakPasscode).
type FieldError struct {
	Field, Reason string
	Err           error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// InvalidField names the request field and says, safely for the partner,
// what is wrong with it.
func (e *FieldError) InvalidField() (field, reason string) { return e.Field, e.Reason }

// Unwrap returns the kind of failure, if any.
func (e *FieldError) Unwrap() error { return e.Err }

// Page asks for one page of a list, newest first.
type Page struct {
	After uuid.UUID
	Limit int
}

// Store persists consents and their tokens. Methods join the transaction
// InTx puts in ctx.
type Store interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	CreateConsent(ctx context.Context, c Consent) error
	Consent(ctx context.Context, partnerID, id uuid.UUID) (Consent, error)
	ListConsents(ctx context.Context, partnerID uuid.UUID, status *Status, p Page) ([]Consent, error)
	// UpdateConsent stores c if the stored version is c.Version and bumps
	// it; ErrConflict otherwise.
	UpdateConsent(ctx context.Context, c Consent) (Consent, error)
	// SetToken stores a token digest for the consent, replacing (and so
	// revoking) any earlier one.
	SetToken(ctx context.Context, consentID uuid.UUID, digest []byte, expiresAt time.Time) error
	// RedeemToken marks a live, unredeemed token redeemed in one statement
	// and returns its consent; ErrTokenInvalid when the token is unknown,
	// revoked, expired or already redeemed. Of concurrent redemptions of one
	// token, exactly one succeeds.
	RedeemToken(ctx context.Context, digest []byte, now time.Time) (Consent, error)
	// TokenDigest returns the digest of the consent's newest token (nil
	// when it has none).
	TokenDigest(ctx context.Context, consentID uuid.UUID) ([]byte, error)
	// OpenConsents lists the card's pending and started consents.
	OpenConsents(ctx context.Context, partnerID, cardID uuid.UUID) ([]Consent, error)
}

// ErrTokenInvalid is returned for a token that is unknown, revoked, expired or used. The hosted
// pages answer it with a 410 page that sends the cardholder back to the app.
var ErrTokenInvalid = errors.New("consent: token is no longer valid")

// ErrSessionEnded is returned for a hosted session whose consent is no
// longer open to it: the consent ended or expired, a newer token replaced
// the one the session was opened with, or the card no longer allows the
// action. The hosted pages answer it as they answer ErrTokenInvalid.
var ErrSessionEnded = errors.New("consent: the hosted session has ended")

// Cards is what consents need of the card domain.
type Cards interface {
	// Complete carries out an approved action on the card (activation,
	// unfreezing); actions that only show something have no effect.
	Complete(ctx context.Context, partnerID, cardID uuid.UUID, action string) error
	// ActionAllowed reports whether the card, as it is now, allows the
	// action: a card frozen, reported stolen or closed since the consent
	// was asked for does not.
	ActionAllowed(ctx context.Context, partnerID, cardID uuid.UUID, action string) (bool, error)
	// InCardNumber reports whether digits appear in the card's number.
	InCardNumber(ctx context.Context, partnerID, cardID uuid.UUID, digits string) (bool, error)
}

// Config is the consent service's settings.
type Config struct {
	// PublicURL is the base of the hosted pages' URLs.
	PublicURL string
	// Sandbox allows simulations (development and sandbox only).
	Sandbox bool
}

// Service runs consents.
type Service struct {
	store  Store
	outbox events.Outbox
	cards  Cards
	cfg    Config
	now    func() time.Time
	polls  pollCache
	// payments, when set, are the online payments authenticate_payment
	// consents authenticate (UsePayments).
	payments Payments
}

// NewService builds the service; now defaults to time.Now.
func NewService(s Store, o events.Outbox, cards Cards, cfg Config, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	clock := now
	return &Service{store: s, outbox: o, cards: cards, cfg: cfg, now: func() time.Time { return clock().UTC().Truncate(time.Microsecond) }}
}

func (s *Service) emit(ctx context.Context, c Consent) error {
	s.polls.drop(c.ID) // every status change emits; polls see it at once
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	return s.outbox.Emit(ctx, events.Event{ID: id, PartnerID: c.PartnerID, Type: "consent." + string(c.Status), ResourceID: c.ID,
		Data: map[string]string{"action": string(c.Action), "card_id": c.CardID.String(), "status": string(c.Status)}, CreatedAt: s.now()})
}

// Require creates a pending consent for an action on a card, superseding
// the card's pending consents for the same action. Errors:
// ErrActionNotAllowed.
func (s *Service) Require(ctx context.Context, partnerID, cardID, individualID uuid.UUID, a Action) (Consent, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return Consent{}, err
	}
	now := s.now()
	c := Consent{ID: id, PartnerID: partnerID, CardID: cardID, IndividualID: individualID, Action: a, Status: StatusPending,
		Mode: ModeRedirect, Locale: "en", ExpiresAt: now.Add(Lifetime), CreatedAt: now, UpdatedAt: now, Version: 1}
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		// The card first, as every change of a card and its consents takes
		// them; its status is checked again under the lock.
		ok, err := s.cards.ActionAllowed(ctx, partnerID, cardID, string(a))
		if err != nil {
			return err
		}
		if !ok {
			return ErrActionNotAllowed
		}
		// A new consent supersedes the card's pending ones for the same
		// action: only the newest link works. A started one (the cardholder
		// is on the page) goes on.
		if err := s.cancelOpen(ctx, partnerID, cardID, func(o Consent) bool { return o.Action == a && o.Status == StatusPending }); err != nil {
			return err
		}
		if err := s.store.CreateConsent(ctx, c); err != nil {
			return err
		}
		return s.emit(ctx, c)
	})
	return c, err
}

// change applies fn to a consent in a transaction, expiring it first when
// its time is up, and records the resulting event.
func (s *Service) change(ctx context.Context, partnerID, id uuid.UUID, fn func(ctx context.Context, c *Consent) error) (Consent, error) {
	for attempt := 0; ; attempt++ {
		var out Consent
		err := s.store.InTx(ctx, func(ctx context.Context) error {
			c, err := s.store.Consent(ctx, partnerID, id)
			if err != nil {
				return err
			}
			before := c
			if !c.ExpireIfDue(s.now()) {
				if err := fn(ctx, &c); err != nil {
					return err
				}
			}
			if c == before {
				out = c
				return nil
			}
			c.UpdatedAt = s.now()
			if out, err = s.store.UpdateConsent(ctx, c); err != nil {
				return err
			}
			if out.Status == before.Status {
				return nil
			}
			if out.Action == ActionAuthenticatePayment && out.Status.Final() && s.payments != nil {
				// Every way a payment's consent ends ends its
				// authentication, in the same transaction.
				if err := s.payments.Ended(ctx, out); err != nil {
					return err
				}
			}
			return s.emit(ctx, out)
		})
		if errors.Is(err, ErrConflict) && attempt < 3 {
			continue
		}
		return out, err
	}
}

// Get returns a consent, expired first if its time is up.
func (s *Service) Get(ctx context.Context, partnerID, id uuid.UUID) (Consent, error) {
	c, err := s.store.Consent(ctx, partnerID, id)
	if err != nil || c.Status.Final() || s.now().Before(c.ExpiresAt) {
		return c, err
	}
	return s.change(ctx, partnerID, id, func(context.Context, *Consent) error { return nil })
}

// List lists a partner's consents, newest first.
func (s *Service) List(ctx context.Context, partnerID uuid.UUID, status *Status, p Page) ([]Consent, error) {
	if status != nil && !status.Valid() {
		return nil, &FieldError{Field: "status", Reason: "is not a consent status"}
	}
	list, err := s.store.ListConsents(ctx, partnerID, status, p)
	if err != nil {
		return nil, err
	}
	for i, c := range list {
		if !c.Status.Final() && !s.now().Before(c.ExpiresAt) {
			if list[i], err = s.Get(ctx, partnerID, c.ID); err != nil {
				return nil, err
			}
		}
	}
	return list, nil
}

// Decline records the cardholder saying no, on the hosted pages.
func (s *Service) Decline(ctx context.Context, partnerID, id uuid.UUID) (Consent, error) {
	return s.change(ctx, partnerID, id, func(_ context.Context, c *Consent) error { return c.Decline() })
}

// Cancel withdraws a consent.
func (s *Service) Cancel(ctx context.Context, partnerID, id uuid.UUID) (Consent, error) {
	return s.change(ctx, partnerID, id, func(_ context.Context, c *Consent) error { return c.Cancel() })
}

// TokenOptions are what the partner asks for when it starts the hosted flow.
type TokenOptions struct {
	ReturnURL string
	Locale    string
	Mode      Mode
}

// Token is a consent token and where to send the cardholder with it.
type Token struct {
	Value       string
	RedirectURL string
	ExpiresAt   time.Time
}

// Locales the hosted pages speak.
var Locales = []string{"en", "sv"}

// IssueToken gives a pending or started consent a new single-use token,
// valid TokenTTL, revoking any earlier one. registered are the partner's
// return URLs; a return URL must equal one of them exactly. Errors:
// *FieldError, *StateError, ErrNotFound.
func (s *Service) IssueToken(ctx context.Context, partnerID, id uuid.UUID, o TokenOptions, registered []string) (Token, error) {
	if o.Mode == "" {
		o.Mode = ModeRedirect
	}
	if o.Mode != ModeRedirect && o.Mode != ModeSDK && o.Mode != ModePopup {
		return Token{}, &FieldError{Field: "mode", Reason: "must be redirect, sdk or popup"}
	}
	if o.Locale == "" {
		o.Locale = "en"
	}
	if !slices.Contains(Locales, o.Locale) {
		return Token{}, &FieldError{Field: "locale", Reason: "must be en or sv"}
	}
	if o.ReturnURL != "" {
		if _, err := partner.MatchReturnURL(o.ReturnURL, registered); err != nil {
			return Token{}, &FieldError{Field: "return_url", Reason: "is not one of the partner's registered return URLs"}
		}
	}
	if o.Mode == ModePopup && o.ReturnURL == "" {
		// The popup posts its outcome to the return URL's origin only.
		return Token{}, &FieldError{Field: "return_url", Reason: "is required in popup mode: its origin receives the outcome"}
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return Token{}, err
	}
	value := "vpk_" + base64.RawURLEncoding.EncodeToString(raw)
	d := sha256.Sum256([]byte(value))
	expires := s.now().Add(TokenTTL)
	_, err := s.change(ctx, partnerID, id, func(ctx context.Context, c *Consent) error {
		if c.Status.Final() {
			return &StateError{From: c.Status, To: StatusStarted}
		}
		// A new token opens a new session, which passes SCA afresh.
		c.ReturnURL, c.Locale, c.Mode, c.AuthenticatedAt = o.ReturnURL, o.Locale, o.Mode, time.Time{}
		return s.store.SetToken(ctx, c.ID, d[:], expires)
	})
	if err != nil {
		return Token{}, err
	}
	return Token{Value: value, RedirectURL: strings.TrimRight(s.cfg.PublicURL, "/") + "/c/" + value, ExpiresAt: expires}, nil
}

// Redeem exchanges a token for its consent, once: the consent is started
// (the hosted page is open). It returns the session's binding, which Hosted
// checks on every later request of that session. A merchant's challenge
// window's token is not taken (RedeemWindow takes it), and is not used up.
// Errors: ErrTokenInvalid, also for a consent that ended or expired
// meanwhile.
func (s *Service) Redeem(ctx context.Context, token string) (Consent, []byte, error) {
	return s.redeem(ctx, token, false)
}

// RedeemWindow is Redeem for a merchant's challenge window (ModeChallenge):
// the only token it takes, and the only one Redeem does not.
func (s *Service) RedeemWindow(ctx context.Context, token string) (Consent, []byte, error) {
	return s.redeem(ctx, token, true)
}

func (s *Service) redeem(ctx context.Context, token string, window bool) (Consent, []byte, error) {
	if !strings.HasPrefix(token, "vpk_") || len(token) > 100 {
		return Consent{}, nil, ErrTokenInvalid
	}
	d := sha256.Sum256([]byte(token))
	var out Consent
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		c, err := s.store.RedeemToken(ctx, d[:], s.now())
		if err != nil {
			return err
		}
		if (c.Mode == ModeChallenge) != window {
			return ErrTokenInvalid // rolled back: the token is not used up
		}
		out, err = s.change(ctx, c.PartnerID, c.ID, func(_ context.Context, c *Consent) error {
			if c.Status == StatusStarted {
				return nil // a new token for a consent already open
			}
			return c.Start()
		})
		if err != nil {
			return err
		}
		if out.Status != StatusStarted {
			return ErrTokenInvalid
		}
		return nil
	})
	var se *StateError
	if errors.As(err, &se) {
		return Consent{}, nil, ErrTokenInvalid
	}
	if err != nil {
		return Consent{}, nil, err
	}
	return out, sessionBinding(d[:]), nil
}

// sessionBinding is what a hosted session keeps of the token that opened
// it: derived from the token's digest, so that the cookie holds neither.
func sessionBinding(digest []byte) []byte {
	h := sha256.Sum256(append([]byte("vaultpage/hosted-session/v1:"), digest...))
	return h[:16]
}

// Hosted returns the consent a hosted session works on, checked afresh on
// every request: it must still be started, the session must be the one the
// consent's newest token opened, and the card must still allow the action
// (a card frozen, reported stolen or closed meanwhile cancels the consent).
// Errors: ErrSessionEnded.
func (s *Service) Hosted(ctx context.Context, partnerID, id uuid.UUID, binding []byte) (Consent, error) {
	c, err := s.Get(ctx, partnerID, id)
	if errors.Is(err, ErrNotFound) {
		return Consent{}, ErrSessionEnded
	}
	if err != nil {
		return Consent{}, err
	}
	if c.Status != StatusStarted {
		return Consent{}, ErrSessionEnded
	}
	d, err := s.store.TokenDigest(ctx, c.ID)
	if err != nil {
		return Consent{}, err
	}
	if d == nil || !hmac.Equal(sessionBinding(d), binding) {
		return Consent{}, ErrSessionEnded
	}
	ok, err := s.cards.ActionAllowed(ctx, partnerID, c.CardID, string(c.Action))
	if err != nil {
		return Consent{}, err
	}
	if !ok {
		if _, err := s.Cancel(ctx, partnerID, c.ID); err != nil {
			return Consent{}, err
		}
		return Consent{}, ErrSessionEnded
	}
	return c, nil
}

// MarkAuthenticated records on the consent that the cardholder passed SCA
// now, so that the action pages open to the session, and for no longer than
// RevealFor where they show card secrets.
func (s *Service) MarkAuthenticated(ctx context.Context, c Consent) (Consent, error) {
	now := s.now()
	return s.change(ctx, c.PartnerID, c.ID, func(_ context.Context, c *Consent) error { return c.Authenticated(now) })
}

// RevealFor is how long after SCA the hosted pages show a card's number,
// CVV or PIN; the server stops serving them then, whatever the browser does.
const RevealFor = 5 * time.Minute

// RevealLeft is how much longer the consent's card secrets may be shown:
// RevealFor from the cardholder's authentication, zero once it has passed
// or before it.
func (s *Service) RevealLeft(c Consent) time.Duration {
	if c.AuthenticatedAt.IsZero() {
		return 0
	}
	return max(0, c.AuthenticatedAt.Add(RevealFor).Sub(s.now()))
}

// EndForCard cancels, in the transaction in ctx, the card's open consents
// whose action ends names: the card's status changed, and what they were
// opened for may no longer go on. It satisfies card.ConsentEnder.
func (s *Service) EndForCard(ctx context.Context, partnerID, cardID uuid.UUID, ends func(action string) bool) error {
	return s.cancelOpen(ctx, partnerID, cardID, func(c Consent) bool { return ends(string(c.Action)) })
}

// cancelOpen cancels the card's open consents that match.
func (s *Service) cancelOpen(ctx context.Context, partnerID, cardID uuid.UUID, match func(Consent) bool) error {
	open, err := s.store.OpenConsents(ctx, partnerID, cardID)
	if err != nil {
		return err
	}
	for _, c := range open {
		if !match(c) {
			continue
		}
		if _, err := s.change(ctx, partnerID, c.ID, func(_ context.Context, c *Consent) error { return c.Cancel() }); err != nil {
			var se *StateError
			if errors.As(err, &se) { // it ended meanwhile
				continue
			}
			return err
		}
	}
	return nil
}

// Outcomes a simulation can force.
var simulated = map[string]func(*Consent) error{
	"approved": func(c *Consent) error { return c.Approve(true) },
	"declined": (*Consent).Decline,
	"expired":  (*Consent).Expire,
}

// Simulate completes a consent without a browser, in development and
// sandbox only, so that partners can test 412 flows in CI. Approving carries
// out the action's effect (an approved activation leaves the card active
// with no PIN set).
func (s *Service) Simulate(ctx context.Context, partnerID, id uuid.UUID, outcome string) (Consent, error) {
	if !s.cfg.Sandbox {
		return Consent{}, ErrSandboxOnly
	}
	fn, ok := simulated[outcome]
	if !ok {
		return Consent{}, &FieldError{Field: "outcome", Reason: "must be approved, declined or expired"}
	}
	var out Consent
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		if outcome == "approved" { // the card first, as every change of a card and its consents takes them
			c, err := s.store.Consent(ctx, partnerID, id)
			if err != nil {
				return err
			}
			allowed, err := s.cards.ActionAllowed(ctx, partnerID, c.CardID, string(c.Action))
			if err != nil {
				return err
			}
			if !allowed && !c.Status.Final() {
				return ErrActionNotAllowed // the card's status no longer allows it
			}
		}
		c, err := s.change(ctx, partnerID, id, func(_ context.Context, c *Consent) error { return fn(c) })
		if err != nil {
			return err
		}
		if c.Status == StatusExpired && outcome != "expired" {
			return &StateError{From: StatusExpired, To: Status(outcome)}
		}
		if outcome == "approved" {
			if err := s.cards.Complete(ctx, partnerID, c.CardID, string(c.Action)); err != nil {
				return fmt.Errorf("consent: carry out %s: %w", c.Action, err)
			}
		}
		out = c
		return nil
	})
	return out, err
}

// Finish approves a started consent after the cardholder completed the
// action on the hosted pages: the card is locked first (the order every
// change of a card and its consents keeps) and checked to allow the action
// still,
// work (setting a PIN, say) runs, then the consent turns approved and the
// action's effect on the card is carried out, all in one transaction.
// Errors: ErrSessionEnded when the card no longer allows the action.
func (s *Service) Finish(ctx context.Context, c Consent, work func(ctx context.Context) error) (Consent, error) {
	var out Consent
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		ok, err := s.cards.ActionAllowed(ctx, c.PartnerID, c.CardID, string(c.Action))
		if err != nil {
			return err
		}
		if !ok {
			return ErrSessionEnded
		}
		if work != nil {
			if err := work(ctx); err != nil {
				return err
			}
		}
		out, err = s.change(ctx, c.PartnerID, c.ID, func(_ context.Context, c *Consent) error { return c.Approve(false) })
		if err != nil {
			return err
		}
		if out.Status != StatusApproved {
			return &StateError{From: out.Status, To: StatusApproved}
		}
		return s.cards.Complete(ctx, c.PartnerID, c.CardID, string(c.Action))
	})
	return out, err
}
