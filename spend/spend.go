// Package spend decides card authorisations against every control a card
// and its account carry, and keeps account balances: a sandbox
// authorisation engine that needs no card network.
//
// Each decision runs in one database transaction that first locks the
// card's account (SELECT … FOR UPDATE on PostgreSQL; SQLite has a single
// writer), so concurrent authorisations on one account, from any number of
// vaultpage processes, never approve more than the limits or the balance
// allow.
//
// Authorisation statuses (stored values):
//
//	approved ──┬─ reverse ─→ reversed
//	           ├─ clear ───→ cleared
//	           └─ expire ──→ expired
//	declined (final)
package spend

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/card"
)

// Status is an authorisation's status.
type Status string

// Statuses.
const (
	StatusApproved Status = "approved"
	StatusDeclined Status = "declined"
	StatusReversed Status = "reversed"
	StatusCleared  Status = "cleared"
	StatusExpired  Status = "expired"
)

// Decline reasons: stable, part of the API.
const (
	DeclineCardNotActive        = "card_not_active"
	DeclineCardFrozen           = "card_frozen"
	DeclineCardExpired          = "card_expired"
	DeclineSingleUseConsumed    = "single_use_consumed"
	DeclineCurrencyNotSupported = "currency_not_supported"
	DeclineMerchantLocked       = "merchant_locked"
	DeclineMCCBlocked           = "merchant_category_blocked"
	DeclineCountryBlocked       = "merchant_country_blocked"
	DeclineRestrictionExceeded  = "restriction_exceeded"
	DeclineSpendLimitExceeded   = "spend_limit_exceeded"
	DeclineInsufficientFunds    = "insufficient_funds"
	// Card data that does not check out. card_not_found never tells a
	// number no card has from another programme's card.
	DeclineCardNotFound     = "card_not_found"
	DeclineIncorrectExpiry  = "incorrect_expiry"
	DeclineIncorrectCVV     = "incorrect_cvv"
	DeclineIncorrectPIN     = "incorrect_pin"
	DeclinePINTriesExceeded = "pin_tries_exceeded"
	// DeclineCardDataTriesExceeded: MaxCardDataTries wrong expiry dates or
	// CVV2s in a row locked the card's data for a while; nothing was
	// checked.
	DeclineCardDataTriesExceeded = "card_data_tries_exceeded"
	// A payment by a wallet token the partner or the card's freeze
	// suspended, or that was deleted.
	DeclineTokenSuspended = "token_suspended"
	DeclineTokenDeleted   = "token_deleted"
	// An online payment whose authentication does not hold for it: for
	// another card, a larger amount, another currency or payee
	// (authentication_mismatch), one the cardholder has not passed
	// (authentication_incomplete), used already (authentication_used) or
	// past AuthenticationTTL (authentication_expired).
	DeclineAuthenticationMismatch   = "authentication_mismatch"
	DeclineAuthenticationIncomplete = "authentication_incomplete"
	DeclineAuthenticationUsed       = "authentication_used"
	DeclineAuthenticationExpired    = "authentication_expired"
	// DeclineAuthenticationRequired: an online payment that names no
	// authentication and that no exemption lets through needs the
	// cardholder's SCA (an authentication, then the payment again with it).
	DeclineAuthenticationRequired = "authentication_required"
)

// EntryMode is how the card reached the terminal (stored values).
type EntryMode string

// Entry modes.
const (
	EntryEcommerce   EntryMode = "ecommerce"
	EntryChip        EntryMode = "chip"
	EntryContactless EntryMode = "contactless"
	EntryMagstripe   EntryMode = "magstripe"
	EntryATM         EntryMode = "atm"
)

// Valid reports whether m is an entry mode.
func (m EntryMode) Valid() bool {
	switch m {
	case EntryEcommerce, EntryChip, EntryContactless, EntryMagstripe, EntryATM:
		return true
	}
	return false
}

// Check is how one piece of presented card data came out (stored values).
type Check string

// Checks.
const (
	CheckMatch       Check = "match"
	CheckMismatch    Check = "mismatch"
	CheckNotProvided Check = "not_provided"
)

// Verification is what an authorisation's card data checked, field by
// field; never the values.
type Verification struct {
	CVV, Expiry, PIN Check
}

// CardData is the card as a merchant's terminal presents it. The number,
// CVV and PIN are bytes so that they can be wiped once checked.
type CardData struct {
	PAN               []byte
	ExpMonth, ExpYear int
	CVV               []byte // card not present; nil when not given
	PIN               []byte // ATM, chip and PIN; nil when not given
	// PINBlock is the PIN as a card network sends it instead: an ISO 9564
	// format 0 block enciphered under the zone PIN key.
	PINBlock  []byte
	EntryMode EntryMode
}

// Wipe overwrites the number, the CVV and the PIN.
func (d *CardData) Wipe() {
	if d == nil {
		return
	}
	for _, b := range [][]byte{d.PAN, d.CVV, d.PIN, d.PINBlock} {
		for i := range b {
			b[i] = 0
		}
	}
}

// Merchant is where the card is used.
type Merchant struct {
	Name    string
	MCC     string // ISO 18245, four digits
	Country string // ISO 3166-1 alpha-2
	ID      string // the acquirer's merchant id
}

// Authorization is one authorisation request and what became of it.
type Authorization struct {
	ID            uuid.UUID
	PartnerID     uuid.UUID
	CardID        uuid.UUID
	LineageID     uuid.UUID // the card's reissue lineage, which limits count under
	AccountID     uuid.UUID
	Amount        card.Amount
	Currency      string
	Merchant      Merchant
	Status        Status
	DeclineReason string
	// Held is what the authorisation holds on the account now; Spent is what
	// it counts towards spend limits (the amount while approved, the
	// cleared amount once cleared, nothing once released).
	Held    card.Amount
	Spent   card.Amount
	Cleared *card.Amount
	// EntryMode and Verification are set when the card data was presented
	// (zero for an authorisation by card id).
	EntryMode    EntryMode
	Verification *Verification
	// TokenID is the wallet token the payment came by (uuid.Nil if none).
	TokenID uuid.UUID
	// NetworkReference is the network's own name for the authorisation
	// request, unique among them ("" for the sandbox's).
	NetworkReference string
	// OutOfScope is why an online payment was outside SCA's scope ("" for
	// none); InitialAuthorizationID the mandate's payment a
	// merchant-initiated one named.
	OutOfScope             string
	InitialAuthorizationID uuid.UUID
	// Decision is how the partner's real-time decision endpoint took part
	// (nil when it was not asked).
	Decision  *Decision
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Funding is money added to an account.
type Funding struct {
	ID        uuid.UUID
	PartnerID uuid.UUID
	AccountID uuid.UUID
	Amount    card.Amount
	CreatedAt time.Time
}

// Errors.
var (
	// ErrNotFound: no such authorisation, card or account for the partner.
	ErrNotFound = errors.New("spend: not found")
	// ErrInsufficientFunds: clearing for more than the hold and the
	// available balance together.
	ErrInsufficientFunds = errors.New("spend: insufficient funds")
	// ErrReferenceReused: a network reference already names an
	// authorisation of another card, amount, currency or merchant.
	ErrReferenceReused = errors.New("spend: the network reference names another authorisation")
	// ErrReferenceTaken is what Store.Decide answers for an
	// authorisation whose network reference another one has: a resend that
	// lost the race to its first sending.
	ErrReferenceTaken = errors.New("spend: the network reference is taken")
)

// FieldError names the input field that is not acceptable.
type FieldError struct {
	Field, Reason string
}

func (e *FieldError) Error() string { return "spend: " + e.Field + " " + e.Reason }

// InvalidField names the request field and says, safely for the partner,
// what is wrong with it.
func (e *FieldError) InvalidField() (field, reason string) { return e.Field, e.Reason }

// StateError is an authorisation follow-up its status does not allow.
type StateError struct {
	From Status
	To   Status
}

func (e *StateError) Error() string {
	return fmt.Sprintf("spend: a %s authorization cannot become %s", e.From, e.To)
}

// InvalidState says, safely for the partner, what the lifecycle refused.
func (e *StateError) InvalidState() string {
	return "the authorization is " + string(e.From) + "; it cannot become " + string(e.To)
}

// Subject is what an authorisation is decided on, read under the lock of
// its card and account: the account, the card, the card's amount
// restriction (nil when it has none), what the card's lineage spent in the
// window of its spend limit (0 when the limit has no window or there is
// none), how many approved or cleared authorisations a single-use card's
// lineage has (0 for other cards), the card's low-value exemption
// counters, and the wallet token the Lookup named (nil for none).
type Subject struct {
	Account     card.Account
	Card        card.Card
	Restriction *card.Amount
	Spent       card.Amount
	Approvals   int
	Counters    SCACounters
	// SCAPolicy is the card's partner's policy for online payments.
	SCAPolicy SCAPolicy
	// Mandate is the initial payment the Lookup named (nil for none, or
	// none of the partner's with its id).
	Mandate *Mandate
	Token   *card.Token
	// Authentication is the one the Lookup named (nil for none, or none of
	// the partner's with its id).
	Authentication *Authentication
}

// Windows are where the spend-limit windows start at one moment.
type Windows struct {
	Daily, Monthly, Annually time.Time
}

// WindowsAt returns the windows at now.
func WindowsAt(now time.Time) Windows {
	return Windows{Daily: Window(card.DurationDaily, now), Monthly: Window(card.DurationMonthly, now), Annually: Window(card.DurationAnnually, now)}
}

// Window returns when the spend-limit window of duration d that contains
// now began; the zero time for FOREVER and for TRANSACTION (which has no
// window). All windows are in UTC:
//
//	DAILY     since midnight today
//	MONTHLY   the trailing month, as Privacy.com defines it: since midnight
//	          of this calendar date one month earlier (the 31st of March
//	          looks back to the 28th or 29th of February)
//	ANNUALLY  since the 1st of January this year
func Window(d card.Duration, now time.Time) time.Time {
	now = now.UTC()
	y, m, day := now.Date()
	switch d {
	case card.DurationDaily:
		return time.Date(y, m, day, 0, 0, 0, 0, time.UTC)
	case card.DurationMonthly:
		py, pm := y, m-1
		if pm < time.January {
			py, pm = y-1, time.December
		}
		last := time.Date(py, pm+1, 0, 0, 0, 0, 0, time.UTC).Day()
		return time.Date(py, pm, min(day, last), 0, 0, 0, 0, time.UTC)
	case card.DurationAnnually:
		return time.Date(y, time.January, 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Time{}
}
