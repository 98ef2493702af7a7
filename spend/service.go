package spend

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/audit"
	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/events"
	"github.com/vaultpage/vaultpage/vault"
)

// Store persists authorisations, fundings and balances. Every method runs
// in the transaction InTx put in ctx, when there is one.
type Store interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	// LockAccount reads the account and holds it until the transaction
	// ends; card.ErrNotFound if the partner has no such account.
	LockAccount(ctx context.Context, partnerID, id uuid.UUID) (card.Account, error)
	// AdjustAccount adds to the balance and the available amount and
	// returns the account; ErrInsufficientFunds if either would go below 0.
	AdjustAccount(ctx context.Context, id uuid.UUID, balance, available card.Amount) (card.Account, error)
	Card(ctx context.Context, partnerID, id uuid.UUID) (card.Card, error)
	// AuthorizationPartner names the partner of an authorisation, for the
	// network's follow-ups, which name no partner; ErrNotFound if none.
	AuthorizationPartner(ctx context.Context, id uuid.UUID) (uuid.UUID, error)
	// Token reads a wallet token; card.ErrNotFound if the partner has none
	// with the id.
	Token(ctx context.Context, partnerID, id uuid.UUID) (card.Token, error)
	// AnyToken reads a wallet token of any partner, for the network's
	// door, which names no partner; card.ErrNotFound if there is none.
	AnyToken(ctx context.Context, id uuid.UUID) (card.Token, error)
	// ReferencedAuthorization reads the authorisation, of any partner, that
	// the network reference names; ErrNotFound if none.
	ReferencedAuthorization(ctx context.Context, reference string) (Authorization, error)
	// ReserveReference reserves a network reference for the authorisation
	// id, or takes over a reservation made before staleBefore: reserved is
	// true and holder the id to decide under (the taken-over one's). A
	// reservation another holds answers false.
	ReserveReference(ctx context.Context, reference string, id uuid.UUID, now, staleBefore time.Time) (holder uuid.UUID, reserved bool, err error)
	// ReleaseReference removes a reservation.
	ReleaseReference(ctx context.Context, reference string) error
	// Spent sums what the lineage's authorisations count towards limits
	// since a time (the zero time: ever).
	Spent(ctx context.Context, lineageID uuid.UUID, since time.Time) (card.Amount, error)
	// Decide makes a decision in one transaction (the caller's, when ctx
	// carries one, else one the store chooses, which other decisions may
	// share): it locks the card the Lookup names and its account, reads
	// the Subject under that lock, calls decide and writes the Outcome it
	// returns, all of it or nothing. decide may be called more than once,
	// each time from a fresh read; the outcome written is its last. When
	// decide fails nothing is written and its error is returned;
	// card.ErrNotFound if the partner has no such card; ErrReferenceTaken
	// if another authorisation has the recorded one's network reference;
	// ErrInsufficientFunds if the hold would take the available amount
	// below zero.
	Decide(ctx context.Context, l Lookup, decide func(Subject) (Outcome, error)) error
	Authorization(ctx context.Context, partnerID, id uuid.UUID) (Authorization, error)
	// Authentication reads one of the partner's authentications;
	// ErrNotFound if it has none with the id.
	Authentication(ctx context.Context, partnerID, id uuid.UUID) (Authentication, error)
	// SCAPolicy reads the partner's policy for online payments
	// (SCAPolicyExemptions, at the zero time, when it set none);
	// SetSCAPolicy sets it.
	SCAPolicy(ctx context.Context, partnerID uuid.UUID) (SCAPolicy, time.Time, error)
	SetSCAPolicy(ctx context.Context, partnerID uuid.UUID, p SCAPolicy, at time.Time) error
	// AuthenticationByID reads an authentication whoever's card it is
	// for; ErrNotFound if none has the id.
	AuthenticationByID(ctx context.Context, id uuid.UUID) (Authentication, error)
	// AuthenticationByConsent reads the authentication the partner's
	// consent challenges the cardholder for; ErrNotFound if none.
	AuthenticationByConsent(ctx context.Context, partnerID, consentID uuid.UUID) (Authentication, error)
	// LinkChallenge records the consent that challenges the cardholder
	// for a C authentication; ErrChallengeEnded if it is not one, or has
	// one.
	LinkChallenge(ctx context.Context, authenticationID, consentID uuid.UUID) error
	// EndChallenge records a C authentication's end (a's TransStatus,
	// Reason, Method, UpdatedAt) and its event e; an authenticated one
	// resets the card lineage's low-value exemption counters. Errors:
	// ErrChallengeEnded if it is not C any more.
	EndChallenge(ctx context.Context, a Authentication, e events.Event) error
	// AuthenticationOf reads the authentication the authorisation used;
	// ErrNotFound if it used none.
	AuthenticationOf(ctx context.Context, authorizationID uuid.UUID) (Authentication, error)
	// Authorizations lists the partner's authorisations, newest first,
	// optionally for one card.
	Authorizations(ctx context.Context, partnerID uuid.UUID, cardID *uuid.UUID, p card.Page) ([]Authorization, error)
	UpdateAuthorization(ctx context.Context, a Authorization) error
	InsertFunding(ctx context.Context, f Funding) error
}

// Auditor records audit entries.
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) error
}

// Service authorises, follows up and funds.
type Service struct {
	store  Store
	outbox events.Outbox
	audit  Auditor
	cfg    Config
	now    func() time.Time
}

// Config configures the service.
type Config struct {
	// Sandbox allows simulated authorisations and their follow-ups
	// (development and sandbox only; production refuses them).
	Sandbox bool
	// Consents, when set, cancels a single-use card's open consents when
	// its one payment closes it, as closing it any other way does.
	Consents card.ConsentEnder
	// Cards, when set, deletes the wallet tokens of a single-use card its
	// one payment closes, as closing it any other way does.
	Cards interface {
		StatusChanged(ctx context.Context, actor string, c card.Card) error
	}
	// Vault checks presented card data; without it, an authorisation by
	// card data is refused.
	Vault Vault
	// ZonePINKey is the TDES key card networks encipher PIN blocks under,
	// configured or in the HSM (the network door's; none refuses
	// pin_block).
	ZonePINKey *vault.ZonePINKey
	// Challenges opens the cardholder's challenge of an online payment
	// past the exemptions; without it, such a payment is answered C
	// without a challenge URL (the partner's app cannot take it either).
	Challenges Challenger
	// RealTime asks the partners that registered a decision endpoint;
	// without it no partner is asked.
	RealTime RealTime
}

// ErrSandboxOnly means simulated authorisations are refused outside development
// and sandbox.
var ErrSandboxOnly = errors.New("spend: simulated authorizations run only in development and sandbox")

// NewService builds the service; now defaults to time.Now.
func NewService(s Store, o events.Outbox, a Auditor, cfg Config, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	clock := now
	// Timestamps are kept to the microsecond, as PostgreSQL stores them, so
	// that what is answered is what is read back.
	return &Service{store: s, outbox: o, audit: a, cfg: cfg, now: func() time.Time { return clock().UTC().Truncate(time.Microsecond) }}
}

// Request is an authorisation request, for the card CardID names or, when
// Card is set, the card that carries the presented card data.
type Request struct {
	CardID uuid.UUID
	Card   *CardData
	// TokenID, when set, is the wallet token the payment comes by, with
	// TokenEntry how it reached the terminal (contactless in a shop,
	// ecommerce in an app).
	TokenID    uuid.UUID
	TokenEntry EntryMode
	// NetworkReference names the request on the network's door (see
	// Network.Authorize).
	NetworkReference string
	// AuthenticationID, when set, is the authentication of this online
	// payment (Authenticate): it holds for its amount at most, its
	// currency and its payee, once.
	AuthenticationID uuid.UUID
	// OutOfScope, when set, says why an online payment is outside SCA's
	// scope: OutOfScopeMOTO or OutOfScopeMerchantInitiated, the latter
	// with InitialAuthorizationID, the payment that set up the mandate.
	OutOfScope             string
	InitialAuthorizationID uuid.UUID
	Amount                 string // decimal, two places at most
	Currency               string
	Merchant               Merchant
}

var (
	currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)
	mccRE      = regexp.MustCompile(`^[0-9]{4}$`)
	countryRE  = regexp.MustCompile(`^[A-Z]{2}$`)
)

func (r *Request) validate() (card.Amount, error) {
	amt, err := card.ParseAmount(r.Amount)
	if err != nil || amt <= 0 {
		return 0, &FieldError{Field: "amount", Reason: "must be a positive decimal amount with at most two places"}
	}
	r.Currency = strings.ToUpper(strings.TrimSpace(r.Currency))
	r.Merchant.Country = strings.ToUpper(strings.TrimSpace(r.Merchant.Country))
	name, shown := shownName(r.Merchant.Name)
	r.Merchant.Name, r.Merchant.ID = name, strings.TrimSpace(r.Merchant.ID)
	switch {
	case !currencyRE.MatchString(r.Currency):
		return 0, &FieldError{Field: "currency", Reason: "must be an ISO 4217 code such as EUR"}
	case !shown || r.Merchant.Name == "" || len(r.Merchant.Name) > 100:
		return 0, &FieldError{Field: "merchant.name", Reason: "must be 1 to 100 characters of letters, digits, punctuation, symbols and spaces"}
	case !printableASCII(r.Merchant.ID):
		return 0, &FieldError{Field: "merchant.id", Reason: "must be 1 to 100 printable ASCII characters"}
	case !mccRE.MatchString(r.Merchant.MCC):
		return 0, &FieldError{Field: "merchant.mcc", Reason: "must be a four-digit merchant category code"}
	case !countryRE.MatchString(r.Merchant.Country):
		return 0, &FieldError{Field: "merchant.country", Reason: "must be an ISO 3166-1 alpha-2 country code"}
	case r.Merchant.ID == "" || len(r.Merchant.ID) > 100:
		return 0, &FieldError{Field: "merchant.id", Reason: "must be 1 to 100 printable ASCII characters"}
	}
	return amt, nil
}

// Authorize decides an authorisation and records it, approved or declined,
// with its event, in one transaction. An approval holds the amount on the
// account; a single-use card closes; a merchant-locked card locks to the
// merchant. The card data is wiped when it returns. Errors: ErrSandboxOnly,
// *FieldError, ErrNotFound.
func (s *Service) Authorize(ctx context.Context, partnerID uuid.UUID, r Request) (Authorization, error) {
	defer r.Card.Wipe()
	if !s.cfg.Sandbox {
		return Authorization{}, ErrSandboxOnly
	}
	return s.authorizeFor(ctx, &partnerID, r)
}

// authorizeFor decides r for the partner, or, with partnerID nil (the card
// network's door), for the partner whose card carries the presented data.
func (s *Service) authorizeFor(ctx context.Context, partnerID *uuid.UUID, r Request) (Authorization, error) {
	p, err := s.prepare(ctx, partnerID, r, false)
	if err != nil {
		return Authorization{}, err
	}
	return p.Commit(ctx)
}

// prepare validates r, finds its card and, when the card's partner decides
// in real time, makes vaultpage's checks and asks the partner (see
// Prepared); deferred keeps a decline of those checks for Commit to record.
func (s *Service) prepare(ctx context.Context, partnerID *uuid.UUID, r Request, deferred bool) (*Prepared, error) {
	if partnerID == nil && r.Card == nil && r.TokenID == uuid.Nil {
		return nil, &FieldError{Field: "pan", Reason: "is required"}
	}
	amt, err := r.validate()
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	p := &Prepared{s: s, id: id, amt: amt, now: now, deferred: deferred}
	if err := r.scope(); err != nil {
		return nil, err
	}
	switch {
	case r.TokenID != uuid.Nil:
		if r.TokenEntry == "" {
			r.TokenEntry = EntryContactless
		}
		if r.TokenEntry != EntryContactless && r.TokenEntry != EntryEcommerce {
			return nil, &FieldError{Field: "entry_mode", Reason: "a wallet token pays contactless or ecommerce"}
		}
		t, err := s.token(ctx, partnerID, r.TokenID)
		if err != nil {
			return nil, err
		}
		p.partnerID, r.CardID = t.PartnerID, t.CardID
	case r.Card != nil:
		if err := r.Card.validate(); err != nil {
			return nil, err
		}
		owner, cardID, ok, err := s.findCard(ctx, partnerID, r.Card)
		if err != nil {
			return nil, err
		}
		if !ok {
			a := notFound(id, owner, amt, r, now)
			p.done = &a
			return p, nil
		}
		p.partnerID, r.CardID = owner, cardID
		if p.presented, err = s.present(ctx, owner, cardID, r.Card); err != nil {
			return nil, err
		}
	default:
		p.partnerID = *partnerID
	}
	p.r = r
	asks, err := s.asks(ctx, p.partnerID)
	if err != nil || !asks {
		return p, err
	}
	return p, p.ask(ctx)
}

// token reads the wallet token a request names: the partner's (partnerID
// set, the sandbox) or any partner's (nil, the card network's door).
// Errors: *FieldError when there is none.
func (s *Service) token(ctx context.Context, partnerID *uuid.UUID, id uuid.UUID) (card.Token, error) {
	var (
		t   card.Token
		err error
	)
	if partnerID == nil {
		t, err = s.store.AnyToken(ctx, id)
	} else {
		t, err = s.store.Token(ctx, *partnerID, id)
	}
	if errors.Is(err, card.ErrNotFound) {
		return t, &FieldError{Field: "token_id", Reason: "no such token"}
	}
	return t, err
}

func newAuthorization(id, partnerID uuid.UUID, c card.Card, amt card.Amount, r Request, now time.Time) Authorization {
	return Authorization{ID: id, PartnerID: partnerID, CardID: c.ID, LineageID: c.LineageID, AccountID: c.AccountID, Amount: amt,
		Currency: r.Currency, Merchant: r.Merchant, NetworkReference: r.NetworkReference, CreatedAt: now, UpdatedAt: now}
}

// decided sets the outcome: declined for reason, approved (holding and
// spending the amount) when reason is "".
func (a *Authorization) decided(reason string) {
	if reason != "" {
		a.Status, a.DeclineReason, a.Held, a.Spent = StatusDeclined, reason, 0, 0
		return
	}
	a.Status, a.DeclineReason, a.Held, a.Spent = StatusApproved, "", a.Amount, a.Amount
}

// Reverse releases an approved authorisation's hold. Errors: ErrNotFound,
// *StateError.
func (s *Service) Reverse(ctx context.Context, partnerID, id uuid.UUID) (Authorization, error) {
	return s.follow(ctx, partnerID, id, StatusReversed, s.release)
}

// release gives an authorisation's hold back to its account.
func (s *Service) release(ctx context.Context, a *Authorization, _ card.Account) error {
	if _, err := s.store.AdjustAccount(ctx, a.AccountID, 0, a.Held); err != nil {
		return err
	}
	a.Held, a.Spent = 0, 0
	return nil
}

// Expire releases an approved authorisation that was never cleared.
// Errors: ErrNotFound, *StateError.
func (s *Service) Expire(ctx context.Context, partnerID, id uuid.UUID) (Authorization, error) {
	return s.follow(ctx, partnerID, id, StatusExpired, s.release)
}

// MaxClearingOverage is how far, in per cent of the authorised amount, a
// clearing may go above it (a tip, a fuel pump's final amount): beyond it
// the merchant must ask for a new authorisation.
const MaxClearingOverage = 20

// Clear settles an approved authorisation for amount ("" for the amount
// held), which may differ from the authorised amount, by at most
// MaxClearingOverage per cent more: the hold is released and the cleared
// amount leaves the balance. Errors: *FieldError,
// ErrNotFound, *StateError, ErrInsufficientFunds (more than the hold and
// the available balance together).
func (s *Service) Clear(ctx context.Context, partnerID, id uuid.UUID, amount string) (Authorization, error) {
	return s.clear(ctx, partnerID, id, amount, s.follow)
}

// followFunc is follow or followUp: a follow-up through one door.
type followFunc func(ctx context.Context, partnerID, id uuid.UUID, to Status, fn func(ctx context.Context, a *Authorization, acct card.Account) error) (Authorization, error)

func (s *Service) clear(ctx context.Context, partnerID, id uuid.UUID, amount string, follow followFunc) (Authorization, error) {
	var amt card.Amount
	if amount != "" {
		var err error
		if amt, err = card.ParseAmount(amount); err != nil || amt <= 0 {
			return Authorization{}, &FieldError{Field: "amount", Reason: "must be a positive decimal amount with at most two places"}
		}
	}
	return follow(ctx, partnerID, id, StatusCleared, func(ctx context.Context, a *Authorization, acct card.Account) error {
		cleared := amt
		if amount == "" {
			cleared = a.Held
		}
		if cleared > a.Amount+a.Amount*MaxClearingOverage/100 {
			return &FieldError{Field: "amount", Reason: "may be at most " + strconv.Itoa(MaxClearingOverage) + "% more than the authorised amount"}
		}
		// A payment the cardholder authenticated, or an exemption let
		// through, is for that amount at most (dynamic linking).
		switch n, err := s.store.AuthenticationOf(ctx, a.ID); {
		case err == nil && cleared > n.Amount:
			return &FieldError{Field: "amount", Reason: "may be at most the authenticated amount, " + n.Amount.String()}
		case err != nil && !errors.Is(err, ErrNotFound):
			return err
		}
		if cleared > a.Held && cleared-a.Held > acct.Available {
			return ErrInsufficientFunds
		}
		if _, err := s.store.AdjustAccount(ctx, a.AccountID, -cleared, a.Held-cleared); err != nil {
			return err
		}
		a.Held, a.Spent, a.Cleared = 0, cleared, &cleared
		return nil
	})
}

// follow moves an approved authorisation to a final status, with its
// account locked and its event, in one transaction.
func (s *Service) follow(ctx context.Context, partnerID, id uuid.UUID, to Status, fn func(ctx context.Context, a *Authorization, acct card.Account) error) (Authorization, error) {
	if !s.cfg.Sandbox {
		return Authorization{}, ErrSandboxOnly
	}
	return s.followUp(ctx, partnerID, id, to, fn)
}

// followUp is follow without the sandbox's door.
func (s *Service) followUp(ctx context.Context, partnerID, id uuid.UUID, to Status, fn func(ctx context.Context, a *Authorization, acct card.Account) error) (Authorization, error) {
	var out Authorization
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		a, err := s.store.Authorization(ctx, partnerID, id)
		if err != nil {
			return err
		}
		acct, err := s.store.LockAccount(ctx, partnerID, a.AccountID)
		if err != nil {
			return err
		}
		// Read again under the lock: a concurrent follow-up may have won.
		if a, err = s.store.Authorization(ctx, partnerID, id); err != nil {
			return err
		}
		if a.Status != StatusApproved {
			return &StateError{From: a.Status, To: to}
		}
		if err := fn(ctx, &a, acct); err != nil {
			return err
		}
		a.Status, a.UpdatedAt = to, s.now().UTC()
		if err := s.store.UpdateAuthorization(ctx, a); err != nil {
			return err
		}
		out = a
		return s.emit(ctx, a, "authorization."+string(to))
	})
	return out, err
}

// Fund adds money to an account (real-time funding). Errors: *FieldError,
// ErrNotFound.
func (s *Service) Fund(ctx context.Context, partnerID, accountID uuid.UUID, amount string) (Funding, card.Account, error) {
	amt, err := card.ParseAmount(amount)
	if err != nil || amt <= 0 {
		return Funding{}, card.Account{}, &FieldError{Field: "amount", Reason: "must be a positive decimal amount with at most two places"}
	}
	var (
		f    Funding
		acct card.Account
	)
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.store.LockAccount(ctx, partnerID, accountID); err != nil {
			return err
		}
		id, err := uuid.NewV7()
		if err != nil {
			return err
		}
		f = Funding{ID: id, PartnerID: partnerID, AccountID: accountID, Amount: amt, CreatedAt: s.now().UTC()}
		if err := s.store.InsertFunding(ctx, f); err != nil {
			return err
		}
		if acct, err = s.store.AdjustAccount(ctx, accountID, amt, amt); err != nil {
			return err
		}
		e, err := fundedEvent(f, acct.Balance, acct.Available, uuid.Nil)
		if err != nil {
			return err
		}
		return s.outbox.Emit(ctx, e)
	})
	return f, acct, err
}

// Authorizations lists authorisations, newest first, optionally for one
// card.
func (s *Service) Authorizations(ctx context.Context, partnerID uuid.UUID, cardID *uuid.UUID, p card.Page) ([]Authorization, error) {
	return s.store.Authorizations(ctx, partnerID, cardID, p)
}

// Authorization returns one authorisation. Errors: ErrNotFound.
func (s *Service) Authorization(ctx context.Context, partnerID, id uuid.UUID) (Authorization, error) {
	return s.store.Authorization(ctx, partnerID, id)
}

// Limit is one spend-limit window of a card: what is configured (nil when
// the card's limit is for another window or it has none), used and left.
type Limit struct {
	Duration   card.Duration
	Since      time.Time // zero for FOREVER and TRANSACTION
	Used       card.Amount
	Configured *card.Amount
	Available  *card.Amount
}

// Limits shows every window of the card's lineage. Errors: ErrNotFound.
func (s *Service) Limits(ctx context.Context, partnerID, cardID uuid.UUID) ([]Limit, error) {
	c, err := s.store.Card(ctx, partnerID, cardID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out []Limit
	for _, d := range []card.Duration{card.DurationTransaction, card.DurationDaily, card.DurationMonthly, card.DurationAnnually, card.DurationForever} {
		l := Limit{Duration: d, Since: Window(d, now)}
		if d != card.DurationTransaction {
			if l.Used, err = s.store.Spent(ctx, c.LineageID, l.Since); err != nil {
				return nil, err
			}
		}
		if c.SpendLimit != nil && c.SpendLimitDuration == d {
			conf := *c.SpendLimit
			avail := max(conf-l.Used, 0)
			l.Configured, l.Available = &conf, &avail
		}
		out = append(out, l)
	}
	return out, nil
}

func (s *Service) emit(ctx context.Context, a Authorization, typ string) error {
	e, err := event(a, typ)
	if err != nil {
		return err
	}
	return s.outbox.Emit(ctx, e)
}

// event is the authorisation's event of type typ.
func event(a Authorization, typ string) (events.Event, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return events.Event{}, err
	}
	data := map[string]string{"card_id": a.CardID.String(), "account_id": a.AccountID.String(), "amount": a.Amount.String(),
		"currency": a.Currency, "status": string(a.Status), "merchant_name": a.Merchant.Name, "merchant_mcc": a.Merchant.MCC}
	if a.DeclineReason != "" {
		data["decline_reason"] = a.DeclineReason
	}
	if a.Cleared != nil {
		data["cleared_amount"] = a.Cleared.String()
	}
	decisionData(a.Decision, data)
	return events.Event{ID: id, PartnerID: a.PartnerID, Type: typ, ResourceID: a.ID, Data: data, CreatedAt: a.UpdatedAt}, nil
}

// shownName is a merchant's name as the cardholder is shown it, on the
// challenge page and in their code's message: in Unicode's composed form
// (NFC, so that one name is one string, whichever form the merchant's
// systems send), every space character a plain space, runs of them one,
// trimmed. ok is false for a name with what may not be shown: a control,
// format (bidirectional overrides, zero-width joiners), private-use or
// line-separating character, a blank that shows as nothing
// (default-ignorable code points, the braille blank), a variation selector
// but for an emoji's after a symbol, or more than four combining marks on
// one character.
func shownName(s string) (name string, ok bool) {
	if !utf8.ValidString(s) {
		return "", false
	}
	s = norm.NFC.String(s)
	var b strings.Builder
	prev, marks := rune(-1), 0
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Zs, r):
			if prev != ' ' {
				b.WriteByte(' ')
			}
			prev, marks = ' ', 0
			continue
		case r == 0x2800 || unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r):
			return "", false
		case unicode.Is(unicode.Variation_Selector, r):
			if (r != 0xFE0E && r != 0xFE0F) || prev < 0 || !unicode.Is(unicode.S, prev) {
				return "", false
			}
		case unicode.Is(unicode.M, r):
			if marks++; marks > 4 {
				return "", false
			}
		case unicode.In(r, unicode.L, unicode.N, unicode.P, unicode.S):
			marks = 0
		default:
			return "", false
		}
		prev = r
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String()), true
}

// printableASCII tells whether s is printable ASCII: a merchant's id, as
// an acquirer sends it (ISO 8583's card acceptor identification).
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7E {
			return false
		}
	}
	return true
}
