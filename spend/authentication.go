package spend

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/audit"
	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/events"
)

// Online payments need the cardholder's strong customer authentication
// unless an exemption applies (PSD2 RTS). A merchant's 3-D Secure server
// asks the issuer's access control server, before it sends the
// authorisation, whether the cardholder must authenticate the payment;
// vaultpage answers as that server, in EMV 3-D Secure's vocabulary, so
// that a directory-server adapter maps onto it:
//
//	Y  authenticated without the cardholder: an exemption applied (named)
//	C  challenge: the cardholder must authenticate the payment
//	R  rejected: the card cannot pay online (the reason named)
//
// Authentications are decided like authorisations, under the card's and
// the account's lock (Store.Decide), and the low-value exemption's
// counters (RTS Article 16) are kept in the database with the card: two
// payments racing the cumulative limit never both go without SCA past it.

// TransStatus is EMV 3-D Secure's transaction status (stored values).
type TransStatus string

// Transaction statuses.
const (
	TransAuthenticated TransStatus = "Y"
	TransChallenge     TransStatus = "C"
	TransRejected      TransStatus = "R"
)

// MessageVersion is the EMV 3-D Secure protocol version the answers
// follow.
const MessageVersion = "2.2.0"

// ChallengePreference is the merchant's preference (EMV 3-D Secure's
// threeDSRequestorChallengeInd, simplified; stored values). It is a
// preference: a payment past the exemptions is challenged whatever it
// says.
type ChallengePreference string

// Challenge preferences.
const (
	PreferNothing     ChallengePreference = "no_preference"
	PreferChallenge   ChallengePreference = "challenge_requested"
	PreferNoChallenge ChallengePreference = "no_challenge_requested"
)

// ExemptionLowValue is the low-value exemption of RTS Article 16.
const ExemptionLowValue = "low_value"

// The low-value exemption's limits, in euros: a payment of at most
// LowValueMax goes without SCA while the card's payments since its last
// SCA, this one counted, number at most LowValuePayments and add up to at
// most LowValueCumulative. Article 16 lets an issuer keep either count;
// vaultpage keeps both, so whichever is reached first calls for SCA. The
// counts are the card's reissue lineage's, so a card reissued with its
// number goes on counting. Article 16's limits are in euros and vaultpage
// keeps no exchange rates: a payment in another currency is always
// challenged.
const (
	LowValueMax        card.Amount = 30_00
	LowValueCumulative card.Amount = 100_00
	LowValuePayments               = 5
)

// AuthenticationTTL is how long an authentication's answer holds: an
// authorisation must name it within this time.
const AuthenticationTTL = 30 * time.Minute

// SCACounters are what a card lineage's online payments let through
// without SCA under the low-value exemption since its last SCA.
type SCACounters struct {
	LineageID uuid.UUID
	Payments  int
	Amount    card.Amount
}

// lowValue tells whether a payment of amt goes without SCA under the
// low-value exemption, and the counters once it has.
func (c SCACounters) lowValue(amt card.Amount) (SCACounters, bool) {
	next := SCACounters{LineageID: c.LineageID, Payments: c.Payments + 1, Amount: c.Amount + amt}
	if amt > LowValueMax || next.Payments > LowValuePayments || next.Amount > LowValueCumulative {
		return c, false
	}
	return next, true
}

// lowValue is the low-value exemption for a payment of amt in currency on
// the subject's card, and its counters once it applied: EUR only
// (Article 16's limits are in euros), and never under the partner's
// policy SCAPolicyAlways.
func (sub Subject) lowValue(currency string, amt card.Amount) (SCACounters, bool) {
	if currency != "EUR" || sub.SCAPolicy == SCAPolicyAlways {
		return sub.Counters, false
	}
	return sub.Counters.lowValue(amt)
}

// Payee is the merchant an online payment goes to, as the cardholder is
// shown it, and the acquirer's id for it.
type Payee struct {
	Name    string
	URL     string // the merchant's site, https
	MCC     string
	Country string
	ID      string // the acquirer's merchant id
}

// Authentication is a merchant's request to authenticate one online
// payment and vaultpage's answer.
type Authentication struct {
	ID, PartnerID, CardID uuid.UUID
	Amount                card.Amount
	Currency              string
	Payee                 Payee
	Preference            ChallengePreference
	TransStatus           TransStatus
	// Exemption is the exemption that let a Y through ("" for none);
	// Reason says why an R was rejected.
	Exemption, Reason string
	// AuthorizationID is the authorisation it was used for (uuid.Nil:
	// none yet).
	AuthorizationID uuid.UUID
	// ConsentID is the cardholder's consent a C answer challenges them
	// with; Method how a challenged payment was authenticated (Y).
	ConsentID uuid.UUID
	Method    string
	// ChallengeURL is where the merchant opens the challenge, in the
	// answer only (its token is single-use and stored as a digest).
	ChallengeURL string
	// DecidedBy is who answered: vaultpage, or the partner's real-time
	// decision endpoint (a decline or a challenge), or its fallback.
	DecidedBy                       DecidedBy
	CreatedAt, UpdatedAt, ExpiresAt time.Time
}

// AuthenticationRequest is what a merchant's authentication request
// carries: the card (its number and expiry, or a wallet token), the
// amount and the payee.
type AuthenticationRequest struct {
	Card       *CardData // PAN and expiry; no CVV2 or PIN
	TokenID    uuid.UUID
	Amount     string
	Currency   string
	Payee      Payee
	Preference ChallengePreference
}

// validate checks r's form and returns its amount. Errors: *FieldError.
func (r *AuthenticationRequest) validate(sandbox bool) (card.Amount, error) {
	amt, err := card.ParseAmount(r.Amount)
	if err != nil || amt <= 0 {
		return 0, &FieldError{Field: "amount", Reason: "must be a positive decimal amount with at most two places"}
	}
	r.Currency = strings.ToUpper(strings.TrimSpace(r.Currency))
	p := &r.Payee
	name, shown := shownName(p.Name)
	p.Name, p.URL, p.Country, p.ID = name, strings.TrimSpace(p.URL), strings.ToUpper(strings.TrimSpace(p.Country)), strings.TrimSpace(p.ID)
	if r.Preference == "" {
		r.Preference = PreferNothing
	}
	switch {
	case (r.Card == nil) == (r.TokenID == uuid.Nil):
		return 0, &FieldError{Field: "pan", Reason: "give the card's data or a token_id, one of the two"}
	case r.Card != nil && (r.Card.CVV != nil || r.Card.PIN != nil || r.Card.PINBlock != nil):
		return 0, &FieldError{Field: "cvv", Reason: "is not part of an authentication request"}
	case !currencyRE.MatchString(r.Currency):
		return 0, &FieldError{Field: "currency", Reason: "must be an ISO 4217 code such as EUR"}
	case !shown || p.Name == "" || len(p.Name) > 100:
		return 0, &FieldError{Field: "merchant.name", Reason: "must be 1 to 100 characters of letters, digits, punctuation, symbols and spaces"}
	case !validPayeeURL(p.URL, sandbox):
		return 0, &FieldError{Field: "merchant.url", Reason: "must be an https URL of at most 2,048 characters"}
	case !mccRE.MatchString(p.MCC):
		return 0, &FieldError{Field: "merchant.mcc", Reason: "must be a four-digit merchant category code"}
	case !countryRE.MatchString(p.Country):
		return 0, &FieldError{Field: "merchant.country", Reason: "must be an ISO 3166-1 alpha-2 country code"}
	case p.ID == "" || len(p.ID) > 100 || !printableASCII(p.ID):
		return 0, &FieldError{Field: "merchant.id", Reason: "must be 1 to 100 printable ASCII characters"}
	}
	switch r.Preference {
	case PreferNothing, PreferChallenge, PreferNoChallenge:
	default:
		return 0, &FieldError{Field: "challenge_preference", Reason: "must be no_preference, challenge_requested or no_challenge_requested"}
	}
	if r.Card != nil {
		r.Card.EntryMode = EntryEcommerce
		if err := r.Card.validate(); err != nil {
			return 0, err
		}
	}
	return amt, nil
}

// payeeHostRE is what a payee's host may be: a DNS name (IDNs in their
// ASCII form) and a port. Its origin goes into the challenge window's
// Content-Security-Policy and postMessage target, where nothing else may.
var payeeHostRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,62}\.)*[A-Za-z0-9-]{1,63}(:[0-9]{1,5})?$`)

// validPayeeURL tells whether u is an absolute https URL with a DNS host;
// in the sandbox, an http URL of this machine's also (a test checkout).
func validPayeeURL(u string, sandbox bool) bool {
	if len(u) > 2048 {
		return false
	}
	p, err := url.Parse(u)
	if err != nil || p.User != nil || !payeeHostRE.MatchString(p.Host) {
		return false
	}
	if p.Scheme == "http" && sandbox {
		h := p.Hostname()
		return h == "localhost" || h == "127.0.0.1"
	}
	return p.Scheme == "https"
}

// Authenticate answers a merchant's authentication request for the
// partner's card (sandbox) or, with partnerID nil (the card network's
// door), for whichever partner's card carries the presented data: Y with
// the exemption applied, C when the cardholder must authenticate, R with
// the reason when the card cannot pay online. A number no card carries is
// rejected card_not_found and not recorded. A wrong expiry counts towards
// the card data's tries, as it does in an authorisation. The card data is
// wiped when it returns. Errors: *FieldError, ErrSandboxOnly (a partner's
// request outside the sandbox).
func (s *Service) Authenticate(ctx context.Context, partnerID *uuid.UUID, r AuthenticationRequest) (Authentication, error) {
	defer r.Card.Wipe()
	if partnerID != nil && !s.cfg.Sandbox {
		return Authentication{}, ErrSandboxOnly
	}
	amt, err := r.validate(s.cfg.Sandbox)
	if err != nil {
		return Authentication{}, err
	}
	now := s.now().UTC()
	id, err := uuid.NewV7()
	if err != nil {
		return Authentication{}, err
	}
	a := Authentication{ID: id, Amount: amt, Currency: r.Currency, Payee: r.Payee, Preference: r.Preference, CreatedAt: now, UpdatedAt: now,
		ExpiresAt: now.Add(AuthenticationTTL), DecidedBy: DecidedByVaultpage}
	var cardID uuid.UUID
	if r.TokenID != uuid.Nil {
		t, err := s.token(ctx, partnerID, r.TokenID)
		if err != nil {
			return Authentication{}, err
		}
		a.PartnerID, cardID = t.PartnerID, t.CardID
	} else {
		owner, found, ok, err := s.findCard(ctx, partnerID, r.Card)
		if err != nil {
			return Authentication{}, err
		}
		if !ok {
			a.PartnerID, a.TransStatus, a.Reason = owner, TransRejected, DeclineCardNotFound
			return a, nil
		}
		a.PartnerID, cardID = owner, found
	}
	ans, err := s.askAboutAuthentication(ctx, a, cardID)
	if err != nil {
		return Authentication{}, err
	}
	var (
		out    Authentication
		holder uuid.UUID
	)
	err = s.store.Decide(ctx, Lookup{PartnerID: a.PartnerID, CardID: cardID, Windows: WindowsAt(now), TokenID: r.TokenID},
		func(sub Subject) (Outcome, error) {
			var o Outcome
			holder = sub.Account.IndividualID
			b, counters, err := s.answer(&o, sub, a, r, ans, now)
			if err != nil {
				return Outcome{}, err
			}
			e, err := authenticationEvent(b)
			if err != nil {
				return Outcome{}, err
			}
			o.Authentication, o.Event, o.Counters, out = &b, e, counters, b
			return o, nil
		})
	if errors.Is(err, card.ErrNotFound) && r.TokenID != uuid.Nil {
		return Authentication{}, &FieldError{Field: "token_id", Reason: "no such token"}
	}
	if errors.Is(err, card.ErrNotFound) {
		return Authentication{}, &FieldError{Field: "pan", Reason: "no such card"}
	}
	if err != nil || out.TransStatus != TransChallenge {
		return out, err
	}
	return s.challenge(ctx, out, holder)
}

// Authentication returns one of the partner's authentications. Errors:
// ErrNotFound.
func (s *Service) Authentication(ctx context.Context, partnerID, id uuid.UUID) (Authentication, error) {
	a, err := s.store.Authentication(ctx, partnerID, id)
	if err != nil {
		return a, err
	}
	return s.current(ctx, a)
}

// askAboutAuthentication asks the partner's real-time decision endpoint,
// when it has one, about the authentication a of its card, with no lock
// or transaction held; nil when it is not asked.
func (s *Service) askAboutAuthentication(ctx context.Context, a Authentication, cardID uuid.UUID) (*Answer, error) {
	asks, err := s.asks(ctx, a.PartnerID)
	if err != nil || !asks {
		return nil, err
	}
	q := a
	q.CardID = cardID
	ans := s.cfg.RealTime.Ask(ctx, a.PartnerID, Question{Authentication: &q})
	return &ans, nil
}

// answer decides the authentication a of the subject's card, in o: the
// card data's tries it counts, and the counters once a payment went
// without SCA (nil when they stay). The partner's answer, when it was
// asked, may decline the payment (R, partner_declined) or have the
// cardholder authenticate it (C); its fallback, when it gave no answer,
// approves (vaultpage's answer stands) or has the cardholder authenticate.
func (s *Service) answer(o *Outcome, sub Subject, a Authentication, r AuthenticationRequest, ans *Answer, now time.Time) (Authentication, *SCACounters, error) {
	c := sub.Card
	a.CardID = c.ID
	reject := func(reason string) (Authentication, *SCACounters, error) {
		a.TransStatus, a.Reason = TransRejected, reason
		return a, nil, nil
	}
	if reason := tokenDecline(r.TokenID, sub); reason != "" {
		return reject(reason)
	}
	if r.Card != nil && c.Status == card.StatusActive {
		if c.CardDataLocked(now) {
			return reject(DeclineCardDataTriesExceeded)
		}
		if r.Card.ExpMonth != c.ExpMonth || r.Card.ExpYear != c.ExpYear {
			if err := s.countCardDataTry(o, &c, now); err != nil {
				return Authentication{}, nil, err
			}
			return reject(DeclineIncorrectExpiry)
		}
	}
	switch c.Status {
	case card.StatusActive:
	case card.StatusFrozen:
		return reject(DeclineCardFrozen)
	case card.StatusExpired:
		return reject(DeclineCardExpired)
	default:
		return reject(DeclineCardNotActive)
	}
	if !now.Before(time.Date(c.ExpYear, time.Month(c.ExpMonth)+1, 1, 0, 0, 0, 0, time.UTC)) {
		return reject(DeclineCardExpired)
	}
	if a.Currency != c.Currency {
		return reject(DeclineCurrencyNotSupported)
	}
	if ans != nil {
		a.DecidedBy = ans.By
		switch {
		case ans.By == DecidedByPartner && !ans.Approved:
			return reject(DeclinePartnerDeclined)
		case ans.Challenge || !ans.Approved:
			a.TransStatus = TransChallenge
			return a, nil, nil
		}
		if ans.By == DecidedByVaultpage {
			a.DecidedBy = DecidedByVaultpage // the endpoint was deleted meanwhile
		}
	}
	if a.Preference != PreferChallenge {
		if next, ok := sub.lowValue(a.Currency, a.Amount); ok {
			a.TransStatus, a.Exemption = TransAuthenticated, ExemptionLowValue
			return a, &next, nil
		}
	}
	a.TransStatus = TransChallenge
	return a, nil, nil
}

// authenticationEvent is the authentication's event:
// authentication.frictionless, .challenge_required or .rejected.
func authenticationEvent(a Authentication) (events.Event, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return events.Event{}, err
	}
	typ := map[TransStatus]string{TransAuthenticated: "authentication.frictionless", TransChallenge: "authentication.challenge_required",
		TransRejected: "authentication.rejected", TransNotAuthenticated: "authentication.failed"}[a.TransStatus]
	if a.TransStatus == TransAuthenticated && a.Method != "" {
		typ = "authentication.authenticated"
	}
	data := map[string]string{"card_id": a.CardID.String(), "amount": a.Amount.String(), "currency": a.Currency, "trans_status": string(a.TransStatus),
		"merchant_name": a.Payee.Name, "merchant_url": a.Payee.URL}
	if a.Exemption != "" {
		data["exemption"] = a.Exemption
	}
	if a.Reason != "" {
		data["reason"] = a.Reason
	}
	if a.Method != "" {
		data["method"] = a.Method
	}
	if a.DecidedBy != "" && a.DecidedBy != DecidedByVaultpage {
		data["decided_by"] = string(a.DecidedBy)
	}
	return events.Event{ID: id, PartnerID: a.PartnerID, Type: typ, ResourceID: a.ID, Data: data, CreatedAt: a.CreatedAt}, nil
}

// SCAPolicy is a partner's policy for its cards' online payments (stored
// values): SCAPolicyExemptions lets the low-value exemption apply;
// SCAPolicyAlways has the cardholder authenticate every online payment in
// SCA's scope (every authentication request is challenged, and an online
// payment without an authentication declines authentication_required).
type SCAPolicy string

// SCA policies.
const (
	SCAPolicyExemptions SCAPolicy = "exemptions"
	SCAPolicyAlways     SCAPolicy = "always"
)

// SCAPolicyOf returns the partner's SCA policy and when it was set (the
// zero time for the default, SCAPolicyExemptions).
func (s *Service) SCAPolicyOf(ctx context.Context, partnerID uuid.UUID) (SCAPolicy, time.Time, error) {
	return s.store.SCAPolicy(ctx, partnerID)
}

// SetSCAPolicy sets the partner's SCA policy, for every decision from
// then on, and audits the change. Errors: *FieldError.
func (s *Service) SetSCAPolicy(ctx context.Context, partnerID uuid.UUID, p SCAPolicy) (time.Time, error) {
	if p != SCAPolicyExemptions && p != SCAPolicyAlways {
		return time.Time{}, &FieldError{Field: "policy", Reason: "must be exemptions or always"}
	}
	now := s.now()
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		before, _, err := s.store.SCAPolicy(ctx, partnerID)
		if err != nil {
			return err
		}
		if err := s.store.SetSCAPolicy(ctx, partnerID, p, now); err != nil {
			return err
		}
		return s.audit.Append(ctx, audit.Entry{Actor: "partner:" + partnerID.String(), Action: "sca_policy.changed", Target: "partner:" + partnerID.String(),
			Result: "ok", Details: map[string]string{"from": string(before), "to": string(p)}})
	})
	return now, err
}
