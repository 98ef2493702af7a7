package spend

import (
	"context"
	"crypto/subtle"
	"errors"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/audit"
	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/vault"
)

// Vault is what the engine needs of the vault to check presented card
// data: find the card by its number (the blind index), derive its CVV2,
// compare a PIN with the stored one. No clear value leaves it but the
// derived CVV2, which is compared here and wiped.
type Vault interface {
	FindPAN(ctx context.Context, pan vault.PAN) (vault.IndexEntry, error)
	CVV(ctx context.Context, o vault.Owner, e vault.Expiry, serviceCode string) (vault.Secret, error)
	VerifyPIN(ctx context.Context, o vault.Owner, candidate vault.Secret) (bool, error)
	VerifyPINBlock(ctx context.Context, o vault.Owner, zpk *vault.ZonePINKey, block []byte) (bool, error)
}

// validate checks the presented card data's form. Errors: *FieldError.
func (d *CardData) validate() error {
	digits := func(b []byte, lo, hi int) bool {
		if len(b) < lo || len(b) > hi {
			return false
		}
		for _, c := range b {
			if c < '0' || c > '9' {
				return false
			}
		}
		return true
	}
	switch {
	case !digits(d.PAN, 13, 19):
		return &FieldError{Field: "pan", Reason: "must be 13 to 19 digits"}
	case d.ExpMonth < 1 || d.ExpMonth > 12:
		return &FieldError{Field: "exp_month", Reason: "must be two digits 01 to 12"}
	case d.ExpYear < 2000 || d.ExpYear > 2099:
		return &FieldError{Field: "exp_year", Reason: "must be four digits"}
	case !d.EntryMode.Valid():
		return &FieldError{Field: "entry_mode", Reason: "must be ecommerce, chip, contactless, magstripe or atm"}
	case d.CVV != nil && !digits(d.CVV, 3, 3):
		return &FieldError{Field: "cvv", Reason: "must be three digits"}
	case d.PIN != nil && !digits(d.PIN, vault.MinPINLength, vault.MaxPINLength):
		return &FieldError{Field: "pin", Reason: "must be 4 to 12 digits"}
	case d.PIN != nil && d.PINBlock != nil:
		return &FieldError{Field: "pin_block", Reason: "give pin or pin_block, not both"}
	case d.PINBlock != nil && len(d.PINBlock) != 8:
		return &FieldError{Field: "pin_block", Reason: "must be 16 hexadecimal digits (an ISO 9564 format 0 block)"}
	case d.EntryMode == EntryEcommerce && d.PINBlock != nil:
		return &FieldError{Field: "pin_block", Reason: "is not entered in an online payment"}
	case d.EntryMode == EntryATM && d.PIN == nil && d.PINBlock == nil:
		return &FieldError{Field: "pin", Reason: "is required at an ATM"}
	case d.EntryMode == EntryEcommerce && d.PIN != nil:
		return &FieldError{Field: "pin", Reason: "is not entered in an online payment"}
	case d.EntryMode != EntryEcommerce && d.CVV != nil:
		return &FieldError{Field: "cvv", Reason: "is given only in an online payment"}
	}
	return nil
}

// findCard finds the card that carries the presented number: the
// partner's (partnerID set, the sandbox) or any partner's (nil, the card
// network, which names no partner). ok is false when none does, and a
// number another partner's card carries is no card of this partner's: the
// two are not told apart. owner is the partner the answer is for.
func (s *Service) findCard(ctx context.Context, partnerID *uuid.UUID, d *CardData) (owner, id uuid.UUID, ok bool, err error) {
	if partnerID != nil {
		owner = *partnerID
	}
	if s.cfg.Vault == nil {
		return owner, uuid.Nil, false, errors.New("spend: no vault to check card data with")
	}
	pan, err := vault.ParsePAN(string(d.PAN))
	if err != nil {
		return owner, uuid.Nil, false, &FieldError{Field: "pan", Reason: "is not a card number"}
	}
	defer pan.Wipe()
	e, err := s.cfg.Vault.FindPAN(ctx, pan)
	if errors.Is(err, vault.ErrNotFound) {
		return owner, uuid.Nil, false, nil
	}
	if err != nil {
		return owner, uuid.Nil, false, err
	}
	if e.Table != "cards" || (partnerID != nil && e.PartnerID != partnerID.String()) {
		return owner, uuid.Nil, false, nil
	}
	if owner, err = uuid.Parse(e.PartnerID); err != nil {
		return owner, uuid.Nil, false, err
	}
	id, err = uuid.Parse(e.RecordID)
	return owner, id, err == nil, err
}

// notFound is the decline of card data no card of the partner carries: it
// is not recorded, as there is no card and no account to record it on.
func notFound(id, partnerID uuid.UUID, amt card.Amount, r Request, now time.Time) Authorization {
	return Authorization{ID: id, PartnerID: partnerID, Amount: amt, Currency: r.Currency, Merchant: r.Merchant, Status: StatusDeclined,
		DeclineReason: DeclineCardNotFound, EntryMode: r.Card.EntryMode,
		Verification: &Verification{CVV: CheckNotProvided, Expiry: CheckNotProvided, PIN: CheckNotProvided}, CreatedAt: now, UpdatedAt: now}
}

// presented is what the vault made of the presented CVV2 and PIN, before
// any lock is taken (the vault reads and deciphers; nothing of that may
// wait under a lock others wait for). It is only what the values compare
// to: checkCardData decides, under the lock, whether each comparison may
// count.
type presented struct {
	cvv, pin bool
	// pinGeneration is the card's PIN generation before the PIN was
	// compared: a PIN chosen since makes the comparison void.
	pinGeneration int64
	// pinErr is why the PIN block cannot be compared at all (a
	// *FieldError), raised only where the PIN would be checked.
	pinErr error
}

// present compares the presented CVV2 (derived for the presented expiry:
// it counts only when that is the card's) and PIN with the card's.
func (s *Service) present(ctx context.Context, partnerID, cardID uuid.UUID, d *CardData) (presented, error) {
	var p presented
	o := vault.Owner{PartnerID: partnerID.String(), Table: "cards", RecordID: cardID.String()}
	if d.CVV != nil {
		want, err := s.cfg.Vault.CVV(ctx, o, vault.Expiry{Year: d.ExpYear, Month: d.ExpMonth}, vault.ServiceCodeCVV2)
		switch {
		case errors.Is(err, vault.ErrNotFound):
			// The number moved to a reissued card meanwhile: this card's
			// status declines it under the lock.
		case err != nil:
			return p, err
		default:
			p.cvv = subtle.ConstantTimeCompare(want.Reveal(), d.CVV) == 1
			want.Wipe()
		}
	}
	if d.PIN != nil || d.PINBlock != nil {
		c, err := s.store.Card(ctx, partnerID, cardID)
		if err != nil {
			return p, err
		}
		p.pinGeneration = c.PINGeneration
	}
	var err error
	switch {
	case d.PINBlock != nil && s.cfg.ZonePINKey == nil:
		p.pinErr = &FieldError{Field: "pin_block", Reason: "is not taken here: no zone PIN key is configured"}
	case d.PINBlock != nil:
		p.pin, err = s.cfg.Vault.VerifyPINBlock(ctx, o, s.cfg.ZonePINKey, d.PINBlock)
		if errors.Is(err, vault.ErrMalformed) {
			// Another key or another card's block: a key problem, not a
			// wrong PIN, so no try is counted.
			p.pinErr, err = &FieldError{Field: "pin_block", Reason: "does not decipher to a format 0 block for this card under the zone PIN key"}, nil
		}
	case d.PIN != nil:
		candidate := vault.NewSecret(append([]byte(nil), d.PIN...))
		p.pin, err = s.cfg.Vault.VerifyPIN(ctx, o, candidate)
		candidate.Wipe()
	}
	if errors.Is(err, vault.ErrNotFound) { // no PIN set: none matches
		p.pin, err = false, nil
	}
	return p, err
}

// errPINChanged: a new PIN was chosen after the presented one was
// compared; it is compared again (decideOn).
var errPINChanged = errors.New("spend: the PIN changed while it was compared")

// checkCardData checks the presented expiry, and counts the CVV2 and PIN
// as present compared them, against c under its lock, and counts tries on
// c (its new state in o): a wrong PIN counts towards MaxPINTries, which
// block the PIN; a wrong expiry or CVV2 towards MaxCardDataTries in a row
// or MaxCardDataTriesPerDay in a day, which lock the card's data for
// CardDataLockout. A right PIN starts its count again; a right CVV2 or PIN
// the card data's. It returns the decline reason the card data earns (""
// when it checks out) and what was checked.
//
// Each answer is an oracle for the value it checks, so nothing counts or
// shows that could not change the outcome: no card data at all for a card
// that is not active (its status declines it) or whose data is locked,
// nothing after the first mismatch (the CVV2 of a wrong expiry, the PIN of
// a wrong CVV2), and never a blocked PIN. What was not checked is
// not_provided.
func (s *Service) checkCardData(o *Outcome, c *card.Card, d *CardData, p presented, now time.Time) (string, Verification, error) {
	v := Verification{CVV: CheckNotProvided, Expiry: CheckNotProvided, PIN: CheckNotProvided}
	if c.Status != card.StatusActive {
		return "", v, nil
	}
	if c.CardDataLocked(now) {
		return DeclineCardDataTriesExceeded, v, nil
	}
	if d.ExpMonth != c.ExpMonth || d.ExpYear != c.ExpYear {
		v.Expiry = CheckMismatch
		return DeclineIncorrectExpiry, v, s.countCardDataTry(o, c, now)
	}
	v.Expiry = CheckMatch
	if d.CVV != nil {
		if !p.cvv {
			v.CVV = CheckMismatch
			return DeclineIncorrectCVV, v, s.countCardDataTry(o, c, now)
		}
		v.CVV = CheckMatch
	}
	// Only a matching CVV2 or PIN starts the card data count again: a right
	// expiry alone is no proof, and would let wrong CVV2s be tried without
	// end between right expiry dates.
	if v.CVV == CheckMatch {
		provedCardData(o, c, now)
	}
	if d.PIN == nil && d.PINBlock == nil {
		return "", v, nil
	}
	if c.PINBlocked {
		return DeclinePINTriesExceeded, v, nil
	}
	if p.pinErr != nil {
		return "", v, p.pinErr
	}
	if p.pinGeneration != c.PINGeneration {
		return "", v, errPINChanged
	}
	v.PIN = CheckMismatch
	if p.pin {
		v.PIN = CheckMatch
		provedCardData(o, c, now)
	}
	reason, err := s.countPINTry(o, c, p.pin, now)
	return reason, v, err
}

// countCardDataTry counts one wrong expiry or CVV2 on c. A count whose lock
// has ended starts again first; the MaxCardDataTries-th wrong one in a
// row, or the MaxCardDataTriesPerDay-th of the UTC day, locks the card's
// data.
func (s *Service) countCardDataTry(o *Outcome, c *card.Card, now time.Time) error {
	if c.CardDataLockedUntil != nil { // ended: CardDataLocked is checked first
		c.CardDataTries, c.CardDataLockedUntil = 0, nil
	}
	if today := int(now.Unix() / 86400); c.CardDataWrongDay != today {
		c.CardDataWrongDay, c.CardDataWrongToday = today, 0
	}
	c.CardDataTries = min(c.CardDataTries+1, card.MaxCardDataTries)
	c.CardDataWrongToday = min(c.CardDataWrongToday+1, card.MaxCardDataTriesPerDay)
	locks := c.CardDataTries == card.MaxCardDataTries || c.CardDataWrongToday == card.MaxCardDataTriesPerDay
	if locks {
		until := now.Add(card.CardDataLockout)
		c.CardDataLockedUntil = &until
	}
	o.changed(*c, now)
	if locks {
		return s.cardDataLocked(o, *c, now)
	}
	return nil
}

// provedCardData starts c's card data try count again, for card data a
// matching CVV2 or PIN proved.
func provedCardData(o *Outcome, c *card.Card, now time.Time) {
	if c.CardDataTries == 0 && c.CardDataLockedUntil == nil {
		return
	}
	c.CardDataTries, c.CardDataLockedUntil = 0, nil
	o.changed(*c, now)
}

// countPINTry moves c's PIN try count, the PIN not blocked, for one PIN
// that matched or not, and returns the decline it earns: incorrect_pin for
// a wrong one.
func (s *Service) countPINTry(o *Outcome, c *card.Card, matched bool, now time.Time) (string, error) {
	switch {
	case matched && c.PINTries == 0:
		return "", nil
	case matched:
		c.PINTries = 0
	default:
		c.PINTries++
		c.PINBlocked = c.PINTries >= card.MaxPINTries
	}
	o.changed(*c, now)
	if matched {
		return "", nil
	}
	if c.PINBlocked {
		if err := s.pinBlocked(o, *c, now); err != nil {
			return "", err
		}
	}
	return DeclineIncorrectPIN, nil
}

// cardDataLocked records in o that c's card data is locked: an audit
// entry, and a card.card_data_locked event (and so a webhook).
func (s *Service) cardDataLocked(o *Outcome, c card.Card, now time.Time) error {
	tries, until := strconv.Itoa(c.CardDataTries), c.CardDataLockedUntil.UTC().Format(time.RFC3339)
	s.audited(o, audit.Entry{Actor: "system:authorizations", Action: "card.card_data_locked", Target: "card:" + c.ID.String(),
		Details: map[string]string{"tries": tries, "locked_until": until}})
	return o.emit(c, "card.card_data_locked", now, map[string]string{"status": string(c.Status), "last4": c.Last4, "card_data_tries": tries,
		"locked_until": until})
}

// pinBlocked records in o that c's PIN is blocked: an audit entry, and a
// card.pin_blocked event (and so a webhook).
func (s *Service) pinBlocked(o *Outcome, c card.Card, now time.Time) error {
	tries := strconv.Itoa(c.PINTries)
	s.audited(o, audit.Entry{Actor: "system:authorizations", Action: "card.pin_blocked", Target: "card:" + c.ID.String(),
		Details: map[string]string{"tries": tries}})
	return o.emit(c, "card.pin_blocked", now, map[string]string{"status": string(c.Status), "last4": c.Last4, "pin_tries": tries})
}
