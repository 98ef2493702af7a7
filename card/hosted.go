package card

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/audit"
	"github.com/vaultpage/vaultpage/vault"
)

// What the cardholder does on the hosted pages once strong customer
// authentication has passed: see the card's details, see the PIN, choose a
// PIN, and whom a one-time code goes to. These methods own the card's vault
// identity, the PIN policy and the audit entries; the hosted pages parse,
// call one of them and render. Which card statuses allow which action is
// Status.Allows, checked before any of these runs (consent.Service.Hosted).

// Cardholder names who acts on the hosted pages, for the audit trail.
type Cardholder struct {
	IndividualID uuid.UUID
	ConsentID    uuid.UUID
}

// Shown is a card secret on its way to the cardholder's screen: bytes,
// never a Go string (which could not be wiped), wiped once shown.
type Shown []byte

// Wipe overwrites the secret.
func (s Shown) Wipe() {
	for i := range s {
		s[i] = 0
	}
}

// Details are what the card-details page shows.
type Details struct {
	Number Shown  // grouped in fours: "4895 3712 3456 7890"
	Expiry string // "MM/YY"
	CVV    Shown  // nil unless asked for
}

// Wipe overwrites the number and the CVV.
func (d Details) Wipe() {
	d.Number.Wipe()
	d.CVV.Wipe()
}

// Errors of the hosted actions.
var (
	// ErrNoPIN: the card has no PIN to show (one activated in the sandbox,
	// or reissued).
	ErrNoPIN = errors.New("card: the card has no PIN")
	// ErrNoContact: the cardholder has neither an email nor a phone.
	ErrNoContact = errors.New("card: the cardholder has no email or phone for one-time codes")
)

// PINError is a PIN the policy refuses; Weak tells a PIN too easy to guess
// from one of the wrong form. The reason never repeats the PIN.
type PINError struct {
	Weak   bool
	Reason string
}

func (e *PINError) Error() string { return "card: pin " + e.Reason }

func (s *Service) audited(ctx context.Context, by Cardholder, cardID uuid.UUID, action string) error {
	return s.audit.Append(ctx, audit.Entry{Actor: "cardholder:" + by.IndividualID.String(), Action: action,
		Target: "card:" + cardID.String(), Details: map[string]string{"consent_id": by.ConsentID.String()}})
}

// RevealDetails returns the card's number and expiry and, with cvv, its
// CVV2 (derived, never stored), and records the reveal in the audit trail
// (card.revealed, card.cvv_revealed). The caller wipes the details.
func (s *Service) RevealDetails(ctx context.Context, partnerID, cardID uuid.UUID, by Cardholder, cvv bool) (Details, error) {
	c, err := s.store.Card(ctx, partnerID, cardID)
	if err != nil {
		return Details{}, err
	}
	pan, err := s.vault.LoadPAN(ctx, owner(c))
	if err != nil {
		return Details{}, err
	}
	defer pan.Wipe()
	d := Details{Number: grouped(pan.Reveal()), Expiry: fmt.Sprintf("%02d/%02d", c.ExpMonth, c.ExpYear%100)}
	action := "card.revealed"
	if cvv {
		v, err := s.vault.CVV(ctx, owner(c), vault.Expiry{Year: c.ExpYear, Month: c.ExpMonth}, vault.ServiceCodeCVV2)
		if err != nil {
			d.Wipe()
			return Details{}, err
		}
		d.CVV = append(Shown(nil), v.Reveal()...)
		v.Wipe()
		action = "card.cvv_revealed"
	}
	if err := s.audited(ctx, by, c.ID, action); err != nil {
		d.Wipe()
		return Details{}, err
	}
	return d, nil
}

// grouped is a card number in groups of four.
func grouped(digits []byte) Shown {
	out := make(Shown, 0, len(digits)+len(digits)/4)
	for i, c := range digits {
		if i > 0 && i%4 == 0 {
			out = append(out, ' ')
		}
		out = append(out, c)
	}
	return out
}

// ShowPIN returns the card's PIN and records it in the audit trail
// (card.pin_viewed). Errors: ErrNoPIN. The caller wipes it.
func (s *Service) ShowPIN(ctx context.Context, partnerID, cardID uuid.UUID, by Cardholder) (Shown, error) {
	c, err := s.store.Card(ctx, partnerID, cardID)
	if err != nil {
		return nil, err
	}
	pin, err := s.vault.RevealPIN(ctx, owner(c))
	if errors.Is(err, vault.ErrNotFound) {
		return nil, ErrNoPIN
	}
	if err != nil {
		return nil, err
	}
	defer pin.Wipe()
	if err := s.audited(ctx, by, c.ID, "card.pin_viewed"); err != nil {
		return nil, err
	}
	return append(Shown(nil), pin.Reveal()...), nil
}

// CheckPIN applies the PIN policy (vault.DefaultPINPolicy: four digits, no
// repeated digit, no run, none of the most chosen, not the card number's
// last digits) to a PIN the cardholder chose for the card. Errors:
// *PINError.
func (s *Service) CheckPIN(ctx context.Context, partnerID, cardID uuid.UUID, pin []byte) error {
	c, err := s.store.Card(ctx, partnerID, cardID)
	if err != nil {
		return err
	}
	pan, err := s.vault.LoadPAN(ctx, owner(c))
	if err != nil {
		return err
	}
	defer pan.Wipe()
	err = vault.DefaultPINPolicy().Check(vault.NewSecret(append([]byte(nil), pin...)), pan)
	var ie *vault.InputError
	if errors.As(err, &ie) {
		return &PINError{Weak: errors.Is(err, vault.ErrWeakPIN), Reason: ie.Reason}
	}
	return err
}

// ChoosePIN checks the PIN against the policy, stores it as the card's PIN
// (an ISO 9564 format 4 block under the PIN key), and records it in the
// audit trail (card.pin_set on activation, card.pin_changed otherwise), in
// the transaction in ctx. Errors: *PINError.
func (s *Service) ChoosePIN(ctx context.Context, partnerID, cardID uuid.UUID, by Cardholder, pin []byte, change bool) error {
	if err := s.CheckPIN(ctx, partnerID, cardID, pin); err != nil {
		return err
	}
	secret := vault.NewSecret(append([]byte(nil), pin...))
	defer secret.Wipe()
	return s.store.InTx(ctx, func(ctx context.Context) error {
		c, err := s.store.LockCard(ctx, partnerID, cardID)
		if err != nil {
			return err
		}
		if err := s.vault.SetPIN(ctx, owner(c), secret); err != nil {
			return err
		}
		action := "card.pin_set"
		if change {
			action = "card.pin_changed"
		}
		if err := s.audited(ctx, by, c.ID, action); err != nil {
			return err
		}
		// A new PIN starts the count of wrong ones again and unblocks it;
		// its generation tells an authorisation that compared a PIN before
		// this one to compare it again.
		blocked := c.PINBlocked
		c.PINGeneration++
		c.PINTries, c.PINBlocked, c.UpdatedAt = 0, false, s.now()
		if _, err := s.store.UpdateCard(ctx, c); err != nil {
			return err
		}
		if !blocked {
			return nil
		}
		if err := s.audited(ctx, by, c.ID, "card.pin_unblocked"); err != nil {
			return err
		}
		return s.emit(ctx, c, "card.pin_unblocked", nil)
	})
}

// CodeContact is where the cardholder's one-time codes go: their email,
// else their phone. Errors: ErrNoContact.
func (s *Service) CodeContact(ctx context.Context, partnerID, individualID uuid.UUID) (string, error) {
	i, err := s.store.Individual(ctx, partnerID, individualID)
	if err != nil {
		return "", err
	}
	switch {
	case i.Email != "":
		return i.Email, nil
	case i.Phone != "":
		return i.Phone, nil
	}
	return "", ErrNoContact
}
