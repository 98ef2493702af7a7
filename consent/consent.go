// Package consent is how vaultpage gets the cardholder's strong customer
// authentication for sensitive card actions. A partner call that needs it
// answers 412 with a pending consent; the partner exchanges the consent for a
// short-lived token and redirect URL; the cardholder completes the action on
// vaultpage's hosted pages, and the consent ends approved, declined,
// expired, canceled or failed.
package consent

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Status is where a consent is:
//
//	pending ──token redeemed──▶ started ──▶ approved | declined | failed
//	pending | started ──▶ canceled (partner) | expired (nobody finished)
//
// Final states are final. Stored values; never renamed.
type Status string

// Consent statuses.
const (
	StatusPending  Status = "pending"
	StatusStarted  Status = "started"
	StatusApproved Status = "approved"
	StatusDeclined Status = "declined"
	StatusExpired  Status = "expired"
	StatusCanceled Status = "canceled"
	StatusFailed   Status = "failed"
)

// Final reports whether no transition leaves s.
func (s Status) Final() bool {
	return s != StatusPending && s != StatusStarted
}

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	switch s {
	case StatusPending, StatusStarted, StatusApproved, StatusDeclined, StatusExpired, StatusCanceled, StatusFailed:
		return true
	}
	return false
}

// Action is what the cardholder consents to. Stored values.
type Action string

// Actions.
const (
	ActionActivate  Action = "activate"
	ActionReveal    Action = "reveal"
	ActionPINView   Action = "pin_view"
	ActionPINChange Action = "pin_change"
	ActionUnfreeze  Action = "unfreeze"
	ActionApplePay  Action = "apple_pay"
)

// Mode is how the cardholder reached the hosted pages and how they return.
type Mode string

// Modes.
const (
	ModeRedirect Mode = "redirect"
	ModeSDK      Mode = "sdk"
	ModePopup    Mode = "popup"
)

// Lifetime is how long a consent waits for the cardholder.
const Lifetime = 15 * time.Minute

// TokenTTL is how long a consent token may be redeemed.
const TokenTTL = 5 * time.Minute

// Consent is one request for the cardholder's authentication.
type Consent struct {
	ID           uuid.UUID
	PartnerID    uuid.UUID
	CardID       uuid.UUID
	IndividualID uuid.UUID
	Action       Action
	Status       Status
	ReturnURL    string
	Locale       string
	Mode         Mode
	ExpiresAt    time.Time
	// AuthenticatedAt is when the cardholder passed SCA on the hosted pages
	// for this consent (zero before; a new token clears it).
	AuthenticatedAt time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
	Version         int64
}

// StateError is a transition the lifecycle does not allow.
type StateError struct {
	From, To Status
}

func (e *StateError) Error() string {
	return fmt.Sprintf("consent: cannot go from %s to %s", e.From, e.To)
}

// InvalidState says, safely for the partner, what the lifecycle refused.
func (e *StateError) InvalidState() string { return "the consent is " + string(e.From) }

// ErrNotFound is returned for a consent that does not exist for the partner.
var ErrNotFound = errors.New("consent: not found")

func (c *Consent) move(to Status, from ...Status) error {
	for _, f := range from {
		if c.Status == f {
			c.Status = to
			return nil
		}
	}
	return &StateError{From: c.Status, To: to}
}

// Start marks the token redeemed and the hosted page open.
func (c *Consent) Start() error { return c.move(StatusStarted, StatusPending) }

// Authenticated records that the cardholder passed SCA at the given time;
// only an open (started) consent can be.
func (c *Consent) Authenticated(at time.Time) error {
	if c.Status != StatusStarted {
		return &StateError{From: c.Status, To: StatusStarted}
	}
	c.AuthenticatedAt = at
	return nil
}

// Approve records a completed action. Only the sandbox approves a consent
// that was never started.
func (c *Consent) Approve(sandbox bool) error {
	if sandbox {
		return c.move(StatusApproved, StatusPending, StatusStarted)
	}
	return c.move(StatusApproved, StatusStarted)
}

// Decline records the cardholder saying no.
func (c *Consent) Decline() error { return c.move(StatusDeclined, StatusPending, StatusStarted) }

// Fail records a failed authentication (too many attempts).
func (c *Consent) Fail() error { return c.move(StatusFailed, StatusStarted) }

// Cancel records the partner withdrawing the consent.
func (c *Consent) Cancel() error { return c.move(StatusCanceled, StatusPending, StatusStarted) }

// Expire ends a consent nobody finished.
func (c *Consent) Expire() error { return c.move(StatusExpired, StatusPending, StatusStarted) }

// ExpireIfDue expires the consent when its time is up; it reports whether
// it did.
func (c *Consent) ExpireIfDue(now time.Time) bool {
	if c.Status.Final() || now.Before(c.ExpiresAt) {
		return false
	}
	return c.Expire() == nil
}
