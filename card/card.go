// Package card is the card programme's domain: cardholders (individuals),
// accounts, cards with their lifecycle, reissue and spend controls. It knows
// nothing of HTTP or SQL; card numbers go through the vault and only their
// last four digits ever reach a Card.
package card

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Status is where a card is in its lifecycle:
//
//	(physical) not_activated ──activate (SCA)──▶ active ◀──unfreeze (SCA)── frozen
//	(virtual)  created ───────────────────────▶ active ────────freeze────────▲
//	any non-terminal ──▶ blocked | lost | stolen | closed | expired (terminal)
//
// Stored values; never renamed.
type Status string

// Card statuses.
const (
	StatusNotActivated Status = "not_activated"
	StatusActive       Status = "active"
	StatusFrozen       Status = "frozen"
	StatusBlocked      Status = "blocked"
	StatusLost         Status = "lost"
	StatusStolen       Status = "stolen"
	StatusClosed       Status = "closed"
	StatusExpired      Status = "expired"
)

// Terminal reports whether no transition leaves s.
func (s Status) Terminal() bool {
	switch s {
	case StatusBlocked, StatusLost, StatusStolen, StatusClosed, StatusExpired:
		return true
	}
	return false
}

// ParseStatus reads a status as a partner writes it: a stored name, or
// "block", the seeds' word for blocked. An unknown word comes back as it is,
// for Valid to refuse.
func ParseStatus(s string) Status {
	if s == "block" {
		return StatusBlocked
	}
	return Status(s)
}

// Activation is the cardholder action that makes a card in status s active:
// activate for a new physical card, unfreeze for a frozen one (the seeds'
// "activate" endpoint serves both); none for any other status.
func (s Status) Activation() (action string, ok bool) {
	switch s {
	case StatusNotActivated:
		return ActionActivate, true
	case StatusFrozen:
		return ActionUnfreeze, true
	}
	return "", false
}

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	switch s {
	case StatusNotActivated, StatusActive, StatusFrozen:
		return true
	}
	return s.Terminal()
}

// Actions the cardholder approves on the hosted pages, by the names
// consents give them.
const (
	ActionActivate  = "activate"
	ActionReveal    = "reveal"
	ActionPINView   = "pin_view"
	ActionPINChange = "pin_change"
	ActionUnfreeze  = "unfreeze"
	ActionApplePay  = "apple_pay"
	// ActionAuthenticatePayment is an online payment's SCA: it changes
	// nothing on the card.
	ActionAuthenticatePayment = "authenticate_payment"
)

// actionStatuses are the statuses in which a card allows each cardholder
// action: when a consent is asked for, and again at every step of the
// hosted pages, so that a card reported stolen meanwhile shows nothing.
var actionStatuses = map[string][]Status{
	ActionActivate:  {StatusNotActivated},
	ActionReveal:    {StatusNotActivated, StatusActive, StatusFrozen},
	ActionPINView:   {StatusActive, StatusFrozen},
	ActionPINChange: {StatusActive, StatusFrozen},
	ActionUnfreeze:  {StatusFrozen},
	ActionApplePay:  {StatusActive},
	// A payment's challenge goes on only while the card can pay.
	ActionAuthenticatePayment: {StatusActive},
}

// Allows reports whether a card in status s allows the cardholder action;
// an unknown action is allowed nowhere.
func (s Status) Allows(action string) bool {
	for _, st := range actionStatuses[action] {
		if st == s {
			return true
		}
	}
	return false
}

// Type is a card's form factor.
type Type string

// Card types.
const (
	TypeVirtual  Type = "virtual"
	TypePhysical Type = "physical"
)

// InitialStatus is where a card of type t starts: a virtual card works at
// once; a physical card waits for the cardholder to activate it (and set its
// PIN) when it arrives.
func (t Type) InitialStatus() Status {
	if t == TypePhysical {
		return StatusNotActivated
	}
	return StatusActive
}

// MaxPINTries is how many consecutive wrong PINs block a card's PIN.
const MaxPINTries = 3

// MaxCardDataTries is how many consecutive wrong expiry dates or CVV2s
// lock a card's data for CardDataLockout: at most MaxCardDataTries
// guesses a day, against the 1,000 CVV2s a card can have.
const MaxCardDataTries = 5

// MaxCardDataTriesPerDay is how many wrong expiry dates or CVV2s in one
// UTC day lock a card's data, however many right ones came between: the
// cardholder's own payments do not buy a guesser more tries.
const MaxCardDataTriesPerDay = 10

// CardDataLockout is how long a card's data stays locked after
// MaxCardDataTries wrong tries.
const CardDataLockout = 24 * time.Hour

// CardDataLocked tells whether c's card data is locked at now.
func (c Card) CardDataLocked(now time.Time) bool {
	return c.CardDataLockedUntil != nil && now.Before(*c.CardDataLockedUntil)
}

// Duration is the window a spend limit applies to (Privacy.com's values).
type Duration string

// Spend limit durations.
const (
	DurationTransaction Duration = "TRANSACTION"
	DurationDaily       Duration = "DAILY"
	DurationMonthly     Duration = "MONTHLY"
	DurationAnnually    Duration = "ANNUALLY"
	DurationForever     Duration = "FOREVER"
)

// Valid reports whether d is a known duration.
func (d Duration) Valid() bool {
	switch d {
	case DurationTransaction, DurationDaily, DurationMonthly, DurationAnnually, DurationForever:
		return true
	}
	return false
}

// ReissueType says what a reissued card keeps (Atelio's three types).
type ReissueType string

// Reissue types.
const (
	ReissueSameNumber              ReissueType = "same_card_number"
	ReissueSameNumberUpdatedExpiry ReissueType = "same_card_number_updated_expiry"
	ReissueNewNumber               ReissueType = "new_card_number"
)

// Card is a payment card as the partner API shows it.
type Card struct {
	ID                 uuid.UUID
	PartnerID          uuid.UUID
	AccountID          uuid.UUID
	IndividualID       uuid.UUID
	DisplayName        string
	Type               Type
	Brand              string
	Region             string
	Currency           string
	Last4              string
	ExpMonth           int
	ExpYear            int
	Status             Status
	SpendLimit         *Amount
	SpendLimitDuration Duration
	ReplacesID         *uuid.UUID
	ReplacedByID       *uuid.UUID
	// ShippingAddress is where a physical card ships (nil for a virtual
	// card); BillingAddress the cardholder's, when the partner gave one.
	ShippingAddress, BillingAddress *Address
	// Fulfilment is a physical card's way to the cardholder (nil for a
	// virtual card).
	Fulfilment *Fulfilment
	// PINTries counts consecutive wrong PINs presented in authorisations;
	// at MaxPINTries PINBlocked is set and PIN use stops until the
	// cardholder changes the PIN on the hosted pages.
	PINTries   int
	PINBlocked bool
	// PINGeneration counts the PINs the card has had: each one chosen
	// moves it on.
	PINGeneration int64
	// CardDataTries counts consecutive wrong expiry dates and CVV2s
	// presented in authorisations by card data; at MaxCardDataTries
	// CardDataLocked is set to when the lock ends, and until then every
	// authorisation by card data declines unchecked. A matching CVV2 or PIN
	// starts the count again.
	CardDataTries       int
	CardDataLockedUntil *time.Time
	// CardDataWrongDay (days since 1970, UTC) and CardDataWrongToday count
	// the wrong ones of a day, which nothing sets back: at
	// MaxCardDataTriesPerDay the data locks too.
	CardDataWrongDay, CardDataWrongToday int
	Controls
	// LineageID is the first card of a reissue chain: spend limits count
	// everything spent under it.
	LineageID uuid.UUID
	CreatedAt time.Time
	UpdatedAt time.Time
	Version   int64
}

// transition moves c to next if the lifecycle allows it.
func (c *Card) transition(next Status, allowed ...Status) error {
	for _, from := range allowed {
		if c.Status == from {
			c.Status = next
			return nil
		}
	}
	return &StateError{From: c.Status, To: next}
}

// Freeze moves an active card to frozen.
func (c *Card) Freeze() error { return c.transition(StatusFrozen, StatusActive) }

// Activate moves a new card to active. The partner API never calls it
// directly; activation completes a consent.
func (c *Card) Activate() error { return c.transition(StatusActive, StatusNotActivated) }

// Unfreeze moves a frozen card back to active; it needs the cardholder's SCA.
func (c *Card) Unfreeze() error { return c.transition(StatusActive, StatusFrozen) }

// Terminate moves any non-terminal card to a terminal status.
func (c *Card) Terminate(to Status) error {
	if !to.Terminal() {
		return &StateError{From: c.Status, To: to}
	}
	return c.transition(to, StatusNotActivated, StatusActive, StatusFrozen)
}

// StateError is a transition the lifecycle does not allow.
type StateError struct {
	From, To Status
	// Reason, when set, says why instead of naming the two statuses.
	Reason string
}

func (e *StateError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("card: %s card: %s", e.From, e.Reason)
	}
	return fmt.Sprintf("card: cannot go from %s to %s", e.From, e.To)
}

// InvalidState says, safely for the partner, what the lifecycle refused.
func (e *StateError) InvalidState() string {
	if e.Reason != "" {
		return "the card is " + string(e.From) + "; " + e.Reason
	}
	return "the card is " + string(e.From) + "; it cannot become " + string(e.To)
}

// Individual is a cardholder.
type Individual struct {
	ID        uuid.UUID
	PartnerID uuid.UUID
	FirstName string
	LastName  string
	Email     string
	Phone     string
	Locale    string
	CreatedAt time.Time
}

// Account holds funds in one currency for an individual.
type Account struct {
	ID           uuid.UUID
	PartnerID    uuid.UUID
	IndividualID uuid.UUID
	Currency     string
	Balance      Amount
	Available    Amount
	CreatedAt    time.Time
}

// Restriction caps a single transaction's amount (Atelio: one per card).
type Restriction struct {
	ID        uuid.UUID
	CardID    uuid.UUID
	PartnerID uuid.UUID
	Type      string // "amount"
	MaxAmount Amount
	CreatedAt time.Time
	UpdatedAt time.Time
}

// MaxRestriction is the largest amount restriction (100,000.00).
const MaxRestriction Amount = 100_000_00

// Amount is money in minor units (cents); on the wire it is a decimal string
// with two places, never a float.
type Amount int64

// maxAmount bounds amounts to keep arithmetic far from overflow.
const maxAmount Amount = 1_000_000_000_00

// ParseAmount reads "175.00", "175.5" or "175"; at most two decimal places,
// no sign, no exponent.
func ParseAmount(s string) (Amount, error) {
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || len(whole) > 12 || (hasDot && (len(frac) == 0 || len(frac) > 2)) {
		return 0, errAmount
	}
	for _, part := range []string{whole, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return 0, errAmount
			}
		}
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, errAmount
	}
	for len(frac) < 2 {
		frac += "0"
	}
	f, _ := strconv.ParseInt(frac, 10, 64)
	a := Amount(w*100 + f)
	if a > maxAmount {
		return 0, errAmount
	}
	return a, nil
}

var errAmount = errors.New("must be a decimal string with at most two places, like 175.00")

// String formats the amount with two decimal places.
func (a Amount) String() string {
	sign := ""
	if a < 0 {
		sign, a = "-", -a
	}
	return fmt.Sprintf("%s%d.%02d", sign, a/100, a%100)
}
