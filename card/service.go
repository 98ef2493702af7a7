package card

import (
	"bytes"
	"context"
	"errors"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/audit"
	"github.com/vaultpage/vaultpage/events"
	"github.com/vaultpage/vaultpage/vault"
)

// Errors. Handlers map them to HTTP in one table.
var (
	// ErrNotFound: no such resource for this partner (another partner's
	// resource is not found either).
	ErrNotFound = errors.New("card: not found")
	// ErrConflict: a concurrent update won; retry.
	ErrConflict = errors.New("card: concurrent update")
	// ErrInvalid: input failed validation; wrapped in a *FieldError.
	ErrInvalid = errors.New("card: invalid input")
	// ErrSCARequired: the change needs the cardholder's strong customer
	// authentication; wrapped in an *SCARequiredError naming the action.
	ErrSCARequired = errors.New("card: cardholder authentication required")
	// ErrSandboxOnly: a simulation outside development and sandbox.
	ErrSandboxOnly = errors.New("card: simulations run only in development and sandbox")
)

// FieldError names the field that failed validation and why.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// InvalidField names the request field and says, safely for the partner,
// what is wrong with it.
func (e *FieldError) InvalidField() (field, reason string) { return e.Field, e.Reason }

// Unwrap returns ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func invalid(field, reason string) error { return &FieldError{Field: field, Reason: reason} }

// SCARequiredError says which cardholder action would make the change.
type SCARequiredError struct {
	Action string // "activate", "unfreeze"
	Card   Card
}

func (e *SCARequiredError) Error() string {
	return "card: " + e.Action + " needs cardholder authentication"
}

// Unwrap returns ErrSCARequired.
func (e *SCARequiredError) Unwrap() error { return ErrSCARequired }

// Page asks for one page of a list, newest first: up to Limit items created
// before the item whose id is After (ids are time-ordered UUIDv7).
type Page struct {
	After uuid.UUID
	Limit int
}

// Filter narrows a card list.
type Filter struct {
	AccountID     *uuid.UUID
	IndividualID  *uuid.UUID
	Status        *Status
	CreatedAfter  *time.Time
	CreatedBefore *time.Time
}

// Store persists the domain. Every method that takes a partner id only sees
// that partner's rows. Methods join the transaction InTx puts in ctx.
type Store interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	CreateIndividual(ctx context.Context, i Individual) error
	Individual(ctx context.Context, partnerID, id uuid.UUID) (Individual, error)
	ListIndividuals(ctx context.Context, partnerID uuid.UUID, p Page) ([]Individual, error)
	CreateAccount(ctx context.Context, a Account) error
	Account(ctx context.Context, partnerID, id uuid.UUID) (Account, error)
	ListAccounts(ctx context.Context, partnerID uuid.UUID, individualID *uuid.UUID, p Page) ([]Account, error)
	CreateCard(ctx context.Context, c Card) error
	Card(ctx context.Context, partnerID, id uuid.UUID) (Card, error)
	// LockCard reads a card and holds its row until the transaction in ctx
	// ends, so that changes to the card and to its consents are made in
	// one order (the card first) and never deadlock.
	LockCard(ctx context.Context, partnerID, id uuid.UUID) (Card, error)
	ListCards(ctx context.Context, partnerID uuid.UUID, f Filter, p Page) ([]Card, error)
	// UpdateCard stores c if the stored version is c.Version, and bumps it;
	// ErrConflict otherwise.
	UpdateCard(ctx context.Context, c Card) (Card, error)
	// PutRestriction stores r, replacing any other restriction of its card.
	PutRestriction(ctx context.Context, r Restriction) error
	Restrictions(ctx context.Context, partnerID, cardID uuid.UUID) ([]Restriction, error)
	DeleteRestriction(ctx context.Context, partnerID, cardID, id uuid.UUID) error
	// ClaimForBureau moves up to limit physical cards, of every partner,
	// whose fulfilment is pending and whose status is not terminal, oldest
	// first, to sent_to_bureau under batch, and returns them as they are
	// now. Of concurrent claims, each card goes to exactly one.
	ClaimForBureau(ctx context.Context, batch string, now time.Time, limit int) ([]Card, error)
	// BureauBatch counts the cards a batch sent.
	BureauBatch(ctx context.Context, batch string) (int, error)
	TokenStore
}

// Vault is what the card service needs of the vault.
type Vault interface {
	IssuePAN(ctx context.Context, o vault.Owner, r vault.BINRange) (vault.PAN, error)
	TransferPAN(ctx context.Context, from, to vault.Owner, keepCVK bool) (vault.PAN, error)
	LoadPAN(ctx context.Context, o vault.Owner) (vault.PAN, error)
	HasPIN(ctx context.Context, o vault.Owner) (bool, error)
	CVV(ctx context.Context, o vault.Owner, e vault.Expiry, serviceCode string) (vault.Secret, error)
	RevealPIN(ctx context.Context, o vault.Owner) (vault.Secret, error)
	SetPIN(ctx context.Context, o vault.Owner, pin vault.Secret) error
}

// Auditor records audit entries.
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) error
}

// Config is the programme's card settings.
type Config struct {
	BIN         vault.BINRange
	Region      string // "europe"
	ExpiryYears int    // validity of a new card, default 3
	// Outbox, when set, records card.created, card.status_changed and
	// card.reissued events in the same transaction as the change.
	Outbox events.Outbox
	// Sandbox allows simulations (development and sandbox only).
	Sandbox bool
}

// emit records a card event when the service has an outbox.
func (s *Service) emit(ctx context.Context, c Card, typ string, data map[string]string) error {
	if s.cfg.Outbox == nil {
		return nil
	}
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	d := map[string]string{"status": string(c.Status), "last4": c.Last4, "account_id": c.AccountID.String(), "individual_id": c.IndividualID.String()}
	for k, v := range data {
		d[k] = v
	}
	return s.cfg.Outbox.Emit(ctx, events.Event{ID: id, PartnerID: c.PartnerID, Type: typ, ResourceID: c.ID, Data: d, CreatedAt: s.now().UTC()})
}

// ConsentEnder ends what was begun for a card that may not go on after a
// change of its status. It runs in the transaction of the card's change.
type ConsentEnder interface {
	// EndForCard ends the card's open consents whose action ends names.
	EndForCard(ctx context.Context, partnerID, cardID uuid.UUID, ends func(action string) bool) error
}

// Service runs the card domain.
type Service struct {
	store    Store
	vault    Vault
	audit    Auditor
	cfg      Config
	now      func() time.Time
	consents ConsentEnder
}

// EndConsentsWith makes every change that freezes a card or ends it
// (blocked, lost, stolen, closed, reissued) cancel the card's open consents
// through e, in the same transaction. The consent service needs the card
// service to exist first, hence a setter; call it before serving.
func (s *Service) EndConsentsWith(e ConsentEnder) { s.consents = e }

// endConsents ends, after a change of the card's status, the open consents
// that may not go on: every one when the card was frozen or reached a
// terminal status (nothing begun before may go on), else those whose action
// the new status no longer allows (an activation once the card is active).
func (s *Service) endConsents(ctx context.Context, c Card) error {
	if s.consents == nil {
		return nil
	}
	all := c.Status == StatusFrozen || c.Status.Terminal()
	return s.consents.EndForCard(ctx, c.PartnerID, c.ID, func(action string) bool { return all || !c.Status.Allows(action) })
}

// NewService builds the service; now defaults to time.Now.
func NewService(s Store, v Vault, a Auditor, cfg Config, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	clock := now
	// Timestamps are kept to the microsecond, as PostgreSQL stores them.
	now = func() time.Time { return clock().UTC().Truncate(time.Microsecond) }
	if cfg.ExpiryYears <= 0 {
		cfg.ExpiryYears = 3
	}
	if cfg.Region == "" {
		cfg.Region = "europe"
	}
	return &Service{store: s, vault: v, audit: a, cfg: cfg, now: now}
}

// Actor is who makes a request, for the audit trail.
type Actor struct {
	PartnerID uuid.UUID
	Source    string // client IP
}

func (a Actor) name() string { return "partner:" + a.PartnerID.String() }

func newID() (uuid.UUID, error) { return uuid.NewV7() }

// IndividualInput creates a cardholder.
type IndividualInput struct {
	FirstName, LastName, Email, Phone, Locale string
}

var (
	e164    = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	localeR = regexp.MustCompile(`^[a-z]{2}(-[A-Z]{2})?$`)
)

// CreateIndividual validates and stores a cardholder. Errors: *FieldError.
func (s *Service) CreateIndividual(ctx context.Context, a Actor, in IndividualInput) (Individual, error) {
	in.FirstName, in.LastName = strings.TrimSpace(in.FirstName), strings.TrimSpace(in.LastName)
	switch {
	case in.FirstName == "" || len(in.FirstName) > 100:
		return Individual{}, invalid("first_name", "is required, at most 100 characters")
	case in.LastName == "" || len(in.LastName) > 100:
		return Individual{}, invalid("last_name", "is required, at most 100 characters")
	case in.Email == "" && in.Phone == "":
		return Individual{}, invalid("email", "email or phone is required")
	case in.Phone != "" && !e164.MatchString(in.Phone):
		return Individual{}, invalid("phone", "must be in E.164 form, like +46701234567")
	case in.Locale != "" && !localeR.MatchString(in.Locale):
		return Individual{}, invalid("locale", "must be a language tag like sv or sv-SE")
	}
	if in.Email != "" {
		addr, err := mail.ParseAddress(in.Email)
		if err != nil || addr.Address != in.Email || len(in.Email) > 254 {
			return Individual{}, invalid("email", "must be an email address")
		}
	}
	if in.Locale == "" {
		in.Locale = "en"
	}
	id, err := newID()
	if err != nil {
		return Individual{}, err
	}
	i := Individual{ID: id, PartnerID: a.PartnerID, FirstName: in.FirstName, LastName: in.LastName,
		Email: in.Email, Phone: in.Phone, Locale: in.Locale, CreatedAt: s.now().UTC()}
	return i, s.store.CreateIndividual(ctx, i)
}

// Individual returns a cardholder of the partner.
func (s *Service) Individual(ctx context.Context, a Actor, id uuid.UUID) (Individual, error) {
	return s.store.Individual(ctx, a.PartnerID, id)
}

// ListIndividuals lists the partner's cardholders, newest first.
func (s *Service) ListIndividuals(ctx context.Context, a Actor, p Page) ([]Individual, error) {
	return s.store.ListIndividuals(ctx, a.PartnerID, p)
}

// CreateAccount opens an account for a cardholder. Errors: *FieldError.
func (s *Service) CreateAccount(ctx context.Context, a Actor, individualID uuid.UUID, currency string) (Account, error) {
	if !validCurrency(currency) {
		return Account{}, invalid("currency", "must be an ISO 4217 code such as EUR or SEK")
	}
	if _, err := s.store.Individual(ctx, a.PartnerID, individualID); errors.Is(err, ErrNotFound) {
		return Account{}, invalid("individual_id", "no such individual")
	} else if err != nil {
		return Account{}, err
	}
	id, err := newID()
	if err != nil {
		return Account{}, err
	}
	acc := Account{ID: id, PartnerID: a.PartnerID, IndividualID: individualID, Currency: currency, CreatedAt: s.now().UTC()}
	return acc, s.store.CreateAccount(ctx, acc)
}

// Account returns an account of the partner.
func (s *Service) Account(ctx context.Context, a Actor, id uuid.UUID) (Account, error) {
	return s.store.Account(ctx, a.PartnerID, id)
}

// ListAccounts lists the partner's accounts, newest first.
func (s *Service) ListAccounts(ctx context.Context, a Actor, individualID *uuid.UUID, p Page) ([]Account, error) {
	return s.store.ListAccounts(ctx, a.PartnerID, individualID, p)
}

// currencies vaultpage issues cards in.
var currencies = map[string]bool{"EUR": true, "SEK": true, "NOK": true, "DKK": true, "GBP": true, "USD": true, "CHF": true, "PLN": true}

func validCurrency(c string) bool { return currencies[c] }

// Input orders a card (seed 000's body).
type Input struct {
	IndividualID       uuid.UUID
	AccountID          uuid.UUID
	DisplayName        string
	Type               Type
	ExpMonth, ExpYear  string
	SpendLimit         string
	SpendLimitDuration Duration
	Usage              Usage // "" is multi_use
	Controls           ControlsPatch
	// ShippingAddress is required for a physical card and refused for a
	// virtual one; BillingAddress is optional on every card.
	ShippingAddress, BillingAddress *Address
}

// addresses checks a card's addresses for its type.
func addresses(t Type, ship, bill *Address) error {
	switch {
	case t == TypePhysical && ship == nil:
		return invalid("shipping_address", "is required for a physical card")
	case t == TypeVirtual && ship != nil:
		return invalid("shipping_address", "only a physical card ships")
	}
	if ship != nil {
		if err := ship.normalise("shipping_address"); err != nil {
			return err
		}
	}
	if bill != nil {
		return bill.normalise("billing_address")
	}
	return nil
}

func (s *Service) expiry(month, year string) (int, int, error) {
	if month == "" && year == "" {
		e := vault.ExpiryAfter(s.now(), s.cfg.ExpiryYears)
		return e.Month, e.Year, nil
	}
	m, err := strconv.Atoi(month)
	if err != nil || len(month) != 2 || m < 1 || m > 12 {
		return 0, 0, invalid("exp_month", "must be two digits 01 to 12")
	}
	y, err := strconv.Atoi(year)
	if err != nil || len(year) != 4 {
		return 0, 0, invalid("exp_year", "must be four digits")
	}
	e := vault.Expiry{Year: y, Month: m}
	if e.Expired(s.now()) {
		return 0, 0, invalid("exp_year", "expiry is in the past")
	}
	if e.End().After(s.now().AddDate(10, 1, 0)) {
		return 0, 0, invalid("exp_year", "expiry is more than 10 years away")
	}
	return m, y, nil
}

func parseSpendLimit(limit string, d Duration) (*Amount, Duration, error) {
	if limit == "" && d == "" {
		return nil, "", nil
	}
	if limit == "" {
		return nil, "", invalid("spend_limit", "is required with spend_limit_duration")
	}
	amt, err := ParseAmount(limit)
	if err != nil {
		return nil, "", invalid("spend_limit", err.Error())
	}
	if d == "" {
		return nil, "", invalid("spend_limit_duration", "is required with spend_limit")
	}
	if !d.Valid() {
		return nil, "", invalid("spend_limit_duration", "must be TRANSACTION, DAILY, MONTHLY, ANNUALLY or FOREVER")
	}
	return &amt, d, nil
}

func brandOf(bin string) string {
	switch {
	case strings.HasPrefix(bin, "4"):
		return "visa"
	case strings.HasPrefix(bin, "5"), strings.HasPrefix(bin, "2"):
		return "mastercard"
	}
	return "unknown"
}

// CreateCard orders a card: a number from the vault (only its last four
// digits reach the card), its type's initial status (a virtual card active,
// a physical one not_activated), in one transaction with its audit entry.
// Errors: *FieldError.
func (s *Service) CreateCard(ctx context.Context, a Actor, in Input) (Card, error) {
	in.DisplayName = strings.TrimSpace(in.DisplayName)
	if len(in.DisplayName) > 100 {
		return Card{}, invalid("display_name", "at most 100 characters")
	}
	if in.Type == "" {
		in.Type = TypeVirtual
	}
	if in.Type != TypeVirtual && in.Type != TypePhysical {
		return Card{}, invalid("type", "must be virtual or physical")
	}
	if err := addresses(in.Type, in.ShippingAddress, in.BillingAddress); err != nil {
		return Card{}, err
	}
	m, y, err := s.expiry(in.ExpMonth, in.ExpYear)
	if err != nil {
		return Card{}, err
	}
	limit, dur, err := parseSpendLimit(in.SpendLimit, in.SpendLimitDuration)
	if err != nil {
		return Card{}, err
	}
	if in.Usage == "" {
		in.Usage = UsageMultiUse
	}
	if !in.Usage.Valid() {
		return Card{}, invalid("usage", "must be multi_use, single_use or merchant_locked")
	}
	controls := Controls{Usage: in.Usage}
	if err := in.Controls.apply(&controls); err != nil {
		return Card{}, err
	}
	ind, err := s.store.Individual(ctx, a.PartnerID, in.IndividualID)
	if errors.Is(err, ErrNotFound) {
		return Card{}, invalid("individual_id", "no such individual")
	} else if err != nil {
		return Card{}, err
	}
	if in.Type == TypePhysical && nameOnCard(ind.FirstName, ind.LastName) == "" {
		return Card{}, invalid("individual_id", "the cardholder's name has no Latin letter a physical card can carry")
	}
	acc, err := s.store.Account(ctx, a.PartnerID, in.AccountID)
	if errors.Is(err, ErrNotFound) {
		return Card{}, invalid("account_id", "no such account")
	} else if err != nil {
		return Card{}, err
	}
	if acc.IndividualID != in.IndividualID {
		return Card{}, invalid("account_id", "belongs to another individual")
	}
	id, err := newID()
	if err != nil {
		return Card{}, err
	}
	now := s.now().UTC()
	c := Card{
		ID: id, PartnerID: a.PartnerID, AccountID: acc.ID, IndividualID: in.IndividualID,
		DisplayName: in.DisplayName, Type: in.Type, Brand: brandOf(s.cfg.BIN.Prefix), Region: s.cfg.Region,
		Currency: acc.Currency, ExpMonth: m, ExpYear: y, Status: in.Type.InitialStatus(),
		SpendLimit: limit, SpendLimitDuration: dur, Controls: controls, LineageID: id, CreatedAt: now, UpdatedAt: now, Version: 1,
		ShippingAddress: in.ShippingAddress, BillingAddress: in.BillingAddress, Fulfilment: newFulfilment(in.Type, now),
	}
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		pan, err := s.vault.IssuePAN(ctx, owner(c), s.cfg.BIN)
		if err != nil {
			return err
		}
		c.Last4 = pan.Last4()
		pan.Wipe()
		if err := s.store.CreateCard(ctx, c); err != nil {
			return err
		}
		if err := s.audit.Append(ctx, audit.Entry{Actor: a.name(), Action: "card.created", Target: "card:" + c.ID.String(),
			Source: a.Source, Details: map[string]string{"status": string(c.Status), "last4": c.Last4}}); err != nil {
			return err
		}
		return s.emit(ctx, c, "card.created", nil)
	})
	if err != nil {
		return Card{}, err
	}
	return c, nil
}

func owner(c Card) vault.Owner {
	return vault.Owner{PartnerID: c.PartnerID.String(), Table: "cards", RecordID: c.ID.String()}
}

// Card returns a card of the partner.
func (s *Service) Card(ctx context.Context, a Actor, id uuid.UUID) (Card, error) {
	return s.store.Card(ctx, a.PartnerID, id)
}

// ListCards lists the partner's cards, newest first.
func (s *Service) ListCards(ctx context.Context, a Actor, f Filter, p Page) ([]Card, error) {
	if f.Status != nil && !f.Status.Valid() {
		return nil, invalid("status", "unknown card status")
	}
	return s.store.ListCards(ctx, a.PartnerID, f, p)
}

// Patch changes a card; nil fields stay as they are.
type Patch struct {
	DisplayName        *string
	Status             *Status
	SpendLimit         *string // "" clears the limit
	SpendLimitDuration *Duration
	Controls           ControlsPatch
}

// UpdateCard applies a patch. A status change to frozen or a terminal
// status happens at once; to active it needs the cardholder and fails with
// *SCARequiredError. Errors: *FieldError, *StateError, ErrNotFound.
func (s *Service) UpdateCard(ctx context.Context, a Actor, id uuid.UUID, p Patch) (Card, error) {
	for attempt := 0; ; attempt++ {
		c, err := s.updateCardOnce(ctx, a, id, p)
		if errors.Is(err, ErrConflict) && attempt < 3 {
			continue
		}
		return c, err
	}
}

func (s *Service) updateCardOnce(ctx context.Context, a Actor, id uuid.UUID, p Patch) (Card, error) {
	var out Card
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		// Locked, so that a change never loses to an authorisation writing
		// the card (its tries) meanwhile, nor to another change.
		c, err := s.store.LockCard(ctx, a.PartnerID, id)
		if err != nil {
			return err
		}
		before := c
		if p.DisplayName != nil {
			name := strings.TrimSpace(*p.DisplayName)
			if len(name) > 100 {
				return invalid("display_name", "at most 100 characters")
			}
			c.DisplayName = name
		}
		if p.SpendLimit != nil || p.SpendLimitDuration != nil {
			limit, dur := "", Duration("")
			if c.SpendLimit != nil {
				limit, dur = c.SpendLimit.String(), c.SpendLimitDuration
			}
			if p.SpendLimit != nil {
				limit = *p.SpendLimit
			}
			if p.SpendLimitDuration != nil {
				dur = *p.SpendLimitDuration
			}
			if limit == "" && p.SpendLimitDuration == nil {
				dur = ""
			}
			if c.SpendLimit, c.SpendLimitDuration, err = parseSpendLimit(limit, dur); err != nil {
				return err
			}
		}
		if err := p.Controls.apply(&c.Controls); err != nil {
			return err
		}
		if p.Status != nil {
			if err := s.changeStatus(&c, *p.Status); err != nil {
				return err
			}
		}
		changed := changedFields(before, c)
		if len(changed) == 0 && c.Status == before.Status {
			out = c // nothing to store, nothing to tell
			return nil
		}
		c.UpdatedAt = s.now().UTC()
		if out, err = s.store.UpdateCard(ctx, c); err != nil {
			return err
		}
		if len(changed) > 0 {
			fields := strings.Join(changed, ",")
			if err := s.audit.Append(ctx, audit.Entry{Actor: a.name(), Action: "card.updated", Target: "card:" + c.ID.String(),
				Source: a.Source, Details: map[string]string{"fields": fields}}); err != nil {
				return err
			}
			if err := s.emit(ctx, c, "card.updated", map[string]string{"fields": fields}); err != nil {
				return err
			}
		}
		if c.Status != before.Status {
			if err := s.audit.Append(ctx, audit.Entry{Actor: a.name(), Action: "card.status_changed", Target: "card:" + c.ID.String(),
				Source: a.Source, Details: map[string]string{"from": string(before.Status), "to": string(c.Status)}}); err != nil {
				return err
			}
			if err := s.endConsents(ctx, c); err != nil {
				return err
			}
			if err := s.tokensFollow(ctx, a.name(), c); err != nil {
				return err
			}
			return s.emit(ctx, c, "card.status_changed", map[string]string{"from": string(before.Status)})
		}
		return nil
	})
	return out, err
}

// changedFields names, as the partner API spells them, the fields other
// than status in which after differs from before.
func changedFields(before, after Card) []string {
	var out []string
	amount := func(a *Amount) string {
		if a == nil {
			return ""
		}
		return a.String()
	}
	for _, f := range []struct {
		name string
		same bool
	}{
		{"display_name", before.DisplayName == after.DisplayName},
		{"spend_limit", amount(before.SpendLimit) == amount(after.SpendLimit)},
		{"spend_limit_duration", before.SpendLimitDuration == after.SpendLimitDuration},
		{"allowed_mccs", slices.Equal(before.AllowedMCCs, after.AllowedMCCs)},
		{"blocked_mccs", slices.Equal(before.BlockedMCCs, after.BlockedMCCs)},
		{"allowed_countries", slices.Equal(before.AllowedCountries, after.AllowedCountries)},
		{"blocked_countries", slices.Equal(before.BlockedCountries, after.BlockedCountries)},
	} {
		if !f.same {
			out = append(out, f.name)
		}
	}
	return out
}

func (s *Service) changeStatus(c *Card, to Status) error {
	switch {
	case !to.Valid():
		return invalid("status", "must be active, frozen, blocked (or block), lost, stolen or closed")
	case to == c.Status:
		return nil
	case to == StatusFrozen:
		return c.Freeze()
	case to == StatusActive && c.Status == StatusFrozen:
		return &SCARequiredError{Action: "unfreeze", Card: *c}
	case to == StatusActive && c.Status == StatusNotActivated:
		return &SCARequiredError{Action: "activate", Card: *c}
	case to == StatusExpired:
		return invalid("status", "cards expire by themselves")
	case to.Terminal():
		return c.Terminate(to)
	}
	return &StateError{From: c.Status, To: to}
}

// Terminate closes a card for good (DELETE /v3/cards/{id}).
func (s *Service) Terminate(ctx context.Context, a Actor, id uuid.UUID) (Card, error) {
	st := StatusClosed
	return s.UpdateCard(ctx, a, id, Patch{Status: &st})
}

// Reissue replaces a card with one that starts in its type's initial
// status and carries the old one's limits, restrictions and controls.
// same_card_number keeps number and expiry; same_card_number_updated_expiry
// keeps the number with a new expiry; new_card_number draws a new number and
// expiry. A live card is closed by its reissue; a lost or stolen card, whose
// number may be in someone else's hands, keeps its status and can only be
// reissued with new_card_number, once. ship, when set, is where the new
// physical card ships instead of the old one's address.
// Errors: *FieldError, *StateError, ErrNotFound.
func (s *Service) Reissue(ctx context.Context, a Actor, id uuid.UUID, t ReissueType, ship *Address) (Card, error) {
	if t != ReissueSameNumber && t != ReissueSameNumberUpdatedExpiry && t != ReissueNewNumber {
		return Card{}, invalid("reissue_type", "must be same_card_number, same_card_number_updated_expiry or new_card_number")
	}
	var out Card
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		old, err := s.store.LockCard(ctx, a.PartnerID, id)
		if err != nil {
			return err
		}
		compromised := old.Status == StatusLost || old.Status == StatusStolen
		switch {
		case compromised && old.ReplacedByID != nil:
			return &StateError{From: old.Status, To: old.Status, Reason: "the card was reissued already"}
		case compromised && t != ReissueNewNumber:
			return invalid("reissue_type", "a "+string(old.Status)+" card's number may be in someone else's hands: reissue it with new_card_number")
		case old.Status.Terminal() && !compromised:
			return &StateError{From: old.Status, To: StatusClosed}
		}
		if ship == nil && old.Type == TypePhysical && old.ShippingAddress == nil {
			// Ordered before addresses were kept: the new card needs one.
			return invalid("shipping_address", "is required: the card has none to ship the new one to")
		}
		if ship != nil {
			if err := addresses(old.Type, ship, nil); err != nil {
				return err
			}
		}
		nid, err := newID()
		if err != nil {
			return err
		}
		now := s.now().UTC()
		n := old
		n.ID, n.Status, n.CreatedAt, n.UpdatedAt, n.Version = nid, old.Type.InitialStatus(), now, now, 1
		n.Fulfilment = newFulfilment(n.Type, now) // a new card to make and ship
		if ship != nil {
			n.ShippingAddress = ship
		}
		n.LineageID = lineageOf(old) // the spend limits' windows carry on
		n.ReplacesID, n.ReplacedByID = &old.ID, nil
		if t != ReissueSameNumber {
			e := vault.ExpiryAfter(now, s.cfg.ExpiryYears)
			n.ExpMonth, n.ExpYear = e.Month, e.Year
		}
		var pan vault.PAN
		if t == ReissueNewNumber {
			pan, err = s.vault.IssuePAN(ctx, owner(n), s.cfg.BIN)
		} else {
			pan, err = s.vault.TransferPAN(ctx, owner(old), owner(n), t == ReissueSameNumber)
		}
		if err != nil {
			return err
		}
		n.Last4 = pan.Last4()
		pan.Wipe()
		if err := s.store.CreateCard(ctx, n); err != nil {
			return err
		}
		rs, err := s.store.Restrictions(ctx, a.PartnerID, old.ID)
		if err != nil {
			return err
		}
		for _, r := range rs {
			if r.ID, err = newID(); err != nil {
				return err
			}
			r.CardID, r.CreatedAt, r.UpdatedAt = n.ID, now, now
			if err := s.store.PutRestriction(ctx, r); err != nil {
				return err
			}
		}
		before := old.Status
		old.ReplacedByID, old.UpdatedAt = &n.ID, now
		if !compromised {
			old.Status = StatusClosed
		}
		if _, err := s.store.UpdateCard(ctx, old); err != nil {
			return err
		}
		if !compromised {
			if err := s.endConsents(ctx, old); err != nil {
				return err
			}
			if err := s.tokensFollow(ctx, a.name(), old); err != nil {
				return err
			}
			target := "card:" + old.ID.String()
			if err := s.audit.Append(ctx, audit.Entry{Actor: a.name(), Action: "card.status_changed", Target: target, Source: a.Source,
				Details: map[string]string{"from": string(before), "to": string(StatusClosed), "reason": "reissued", "replaced_by": n.ID.String()}}); err != nil {
				return err
			}
			if err := s.emit(ctx, old, "card.status_changed", map[string]string{"from": string(before), "reason": "reissued", "replaced_by": n.ID.String()}); err != nil {
				return err
			}
		}
		out = n
		if err := s.audit.Append(ctx, audit.Entry{Actor: a.name(), Action: "card.reissued", Target: "card:" + n.ID.String(), Source: a.Source,
			Details: map[string]string{"reissue_type": string(t), "replaces": old.ID.String(), "status": string(n.Status), "last4": n.Last4}}); err != nil {
			return err
		}
		return s.emit(ctx, n, "card.reissued", map[string]string{"reissue_type": string(t), "replaces": old.ID.String()})
	})
	return out, err
}

// newFulfilment is a new card's fulfilment: pending for a physical card,
// none for a virtual one.
func newFulfilment(t Type, now time.Time) *Fulfilment {
	if t != TypePhysical {
		return nil
	}
	return &Fulfilment{Status: FulfilmentPending, UpdatedAt: now}
}

// SimulateFulfilment moves a physical card's fulfilment one step, as the
// card bureau and the carrier report it in production; development and
// sandbox only. Errors: ErrSandboxOnly, *FieldError, *FulfilmentError,
// ErrNotFound.
func (s *Service) SimulateFulfilment(ctx context.Context, a Actor, id uuid.UUID, to FulfilmentStatus, carrier, tracking string) (Card, error) {
	if !s.cfg.Sandbox {
		return Card{}, ErrSandboxOnly
	}
	var out Card
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		c, err := s.store.LockCard(ctx, a.PartnerID, id)
		if err != nil {
			return err
		}
		if c.Fulfilment == nil {
			return &StateError{From: c.Status, To: c.Status, Reason: "a virtual card is not shipped"}
		}
		f := *c.Fulfilment
		if err := f.advance(to, carrier, tracking, s.now()); err != nil {
			return err
		}
		c.Fulfilment, c.UpdatedAt = &f, s.now()
		if out, err = s.store.UpdateCard(ctx, c); err != nil {
			return err
		}
		return s.fulfilmentChanged(ctx, a.name(), a.Source, c)
	})
	return out, err
}

// fulfilmentChanged records a card's new fulfilment status: an audit entry
// and a card.fulfilment_changed event.
func (s *Service) fulfilmentChanged(ctx context.Context, actor, source string, c Card) error {
	f := c.Fulfilment
	details := map[string]string{"fulfilment_status": string(f.Status)}
	if f.Carrier != "" {
		details["carrier"], details["tracking_number"] = f.Carrier, f.TrackingNumber
	}
	if f.Batch != "" {
		details["batch"] = f.Batch
	}
	if err := s.audit.Append(ctx, audit.Entry{Actor: actor, Action: "card.fulfilment_changed", Target: "card:" + c.ID.String(),
		Source: source, Details: details}); err != nil {
		return err
	}
	return s.emit(ctx, c, "card.fulfilment_changed", details)
}

// SetRestriction places an amount restriction on a card, replacing any
// existing one (Atelio: one per card). Errors: *FieldError.
func (s *Service) SetRestriction(ctx context.Context, a Actor, cardID uuid.UUID, typ, maxAmount string) (Restriction, error) {
	if typ != "amount" {
		return Restriction{}, invalid("restriction_type", "only amount is supported")
	}
	amt, err := ParseAmount(maxAmount)
	if err != nil {
		return Restriction{}, invalid("max_amount", err.Error())
	}
	if amt <= 0 || amt > MaxRestriction {
		return Restriction{}, invalid("max_amount", "must be more than 0.00 and at most 100000.00")
	}
	c, err := s.store.Card(ctx, a.PartnerID, cardID)
	if err != nil {
		return Restriction{}, err
	}
	if c.Status.Terminal() {
		return Restriction{}, &StateError{From: c.Status, To: c.Status}
	}
	existing, err := s.store.Restrictions(ctx, a.PartnerID, cardID)
	if err != nil {
		return Restriction{}, err
	}
	now := s.now().UTC()
	r := Restriction{CardID: cardID, PartnerID: a.PartnerID, Type: typ, MaxAmount: amt, CreatedAt: now, UpdatedAt: now}
	if len(existing) > 0 {
		if existing[0].Type == typ && existing[0].MaxAmount == amt {
			return existing[0], nil // nothing changes, nothing to tell
		}
		r.ID, r.CreatedAt = existing[0].ID, existing[0].CreatedAt
	} else if r.ID, err = newID(); err != nil {
		return Restriction{}, err
	}
	return r, s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.PutRestriction(ctx, r); err != nil {
			return err
		}
		return s.restrictionsChanged(ctx, a, c)
	})
}

// restrictionsChanged records that a card's restrictions changed.
func (s *Service) restrictionsChanged(ctx context.Context, a Actor, c Card) error {
	if err := s.audit.Append(ctx, audit.Entry{Actor: a.name(), Action: "card.updated", Target: "card:" + c.ID.String(),
		Source: a.Source, Details: map[string]string{"fields": "restrictions"}}); err != nil {
		return err
	}
	return s.emit(ctx, c, "card.updated", map[string]string{"fields": "restrictions"})
}

// UpdateRestriction changes an existing restriction.
func (s *Service) UpdateRestriction(ctx context.Context, a Actor, cardID, id uuid.UUID, typ, maxAmount string) (Restriction, error) {
	if _, err := s.Restriction(ctx, a, cardID, id); err != nil {
		return Restriction{}, err
	}
	return s.SetRestriction(ctx, a, cardID, typ, maxAmount)
}

// Restrictions lists a card's restrictions.
func (s *Service) Restrictions(ctx context.Context, a Actor, cardID uuid.UUID) ([]Restriction, error) {
	if _, err := s.store.Card(ctx, a.PartnerID, cardID); err != nil {
		return nil, err
	}
	return s.store.Restrictions(ctx, a.PartnerID, cardID)
}

// Restriction returns one restriction.
func (s *Service) Restriction(ctx context.Context, a Actor, cardID, id uuid.UUID) (Restriction, error) {
	rs, err := s.Restrictions(ctx, a, cardID)
	if err != nil {
		return Restriction{}, err
	}
	for _, r := range rs {
		if r.ID == id {
			return r, nil
		}
	}
	return Restriction{}, ErrNotFound
}

// DeleteRestriction removes a restriction and returns it.
func (s *Service) DeleteRestriction(ctx context.Context, a Actor, cardID, id uuid.UUID) (Restriction, error) {
	r, err := s.Restriction(ctx, a, cardID, id)
	if err != nil {
		return Restriction{}, err
	}
	c, err := s.store.Card(ctx, a.PartnerID, cardID)
	if err != nil {
		return Restriction{}, err
	}
	return r, s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.DeleteRestriction(ctx, a.PartnerID, cardID, id); err != nil {
			return err
		}
		return s.restrictionsChanged(ctx, a, c)
	})
}

// ActionAllowed reports whether the card, as it is now, allows the
// cardholder action (see Status.Allows); in a transaction, the card stays
// locked until it ends. It satisfies consent.Cards.
func (s *Service) ActionAllowed(ctx context.Context, partnerID, cardID uuid.UUID, action string) (bool, error) {
	c, err := s.store.LockCard(ctx, partnerID, cardID)
	if err != nil {
		return false, err
	}
	return c.Status.Allows(action), nil
}

// HasPIN reports whether the card has a PIN set (a card the sandbox
// activated, or one reissued, may have none).
func (s *Service) HasPIN(ctx context.Context, a Actor, cardID uuid.UUID) (bool, error) {
	c, err := s.store.Card(ctx, a.PartnerID, cardID)
	if err != nil {
		return false, err
	}
	return s.vault.HasPIN(ctx, owner(c))
}

// InCardNumber reports whether digits (at least four) appear in the card's
// number, so that a passcode cannot be a piece of it. It satisfies
// consent.Cards.
func (s *Service) InCardNumber(ctx context.Context, partnerID, cardID uuid.UUID, digits string) (bool, error) {
	c, err := s.store.Card(ctx, partnerID, cardID)
	if err != nil {
		return false, err
	}
	pan, err := s.vault.LoadPAN(ctx, owner(c))
	if err != nil {
		return false, err
	}
	defer pan.Wipe()
	return len(digits) >= 4 && bytes.Contains(pan.Reveal(), []byte(digits)), nil
}

// Complete carries out what a cardholder approved on the hosted pages (or a
// sandbox simulation approved): "activate" turns a new card active,
// "unfreeze" a frozen one; the other actions only show something and change
// nothing here. It satisfies consent.Effects.
func (s *Service) Complete(ctx context.Context, partnerID, cardID uuid.UUID, action string) error {
	var step func(*Card) error
	switch action {
	case "activate":
		step = (*Card).Activate
	case "unfreeze":
		step = (*Card).Unfreeze
	case ActionApplePay:
		// The cardholder approved adding the card to Apple Pay: its token.
		return s.store.InTx(ctx, func(ctx context.Context) error {
			c, err := s.store.LockCard(ctx, partnerID, cardID)
			if err != nil {
				return err
			}
			_, err = s.provision(ctx, c, WalletApplePay)
			return err
		})
	default:
		return nil
	}
	return s.store.InTx(ctx, func(ctx context.Context) error {
		c, err := s.store.Card(ctx, partnerID, cardID)
		if err != nil {
			return err
		}
		before := c.Status
		if err := step(&c); err != nil {
			return err
		}
		c.UpdatedAt = s.now()
		if _, err := s.store.UpdateCard(ctx, c); err != nil {
			return err
		}
		if err := s.audit.Append(ctx, audit.Entry{Actor: "cardholder:" + c.IndividualID.String(), Action: "card.status_changed",
			Target: "card:" + c.ID.String(), Details: map[string]string{"from": string(before), "to": string(c.Status), "consent_action": action}}); err != nil {
			return err
		}
		// The consent that did this is approved by now; an older link for
		// the same action (a second activation, say) ends.
		if err := s.endConsents(ctx, c); err != nil {
			return err
		}
		if err := s.tokensFollow(ctx, "cardholder:"+c.IndividualID.String(), c); err != nil {
			return err
		}
		return s.emit(ctx, c, "card.status_changed", map[string]string{"from": string(before), "consent_action": action})
	})
}
