package spend

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/audit"
	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/events"
)

// Every decision is made the same way, whichever door the request came
// through and whatever it presented: Store.Decide locks the card and its
// account, reads the Subject, and calls a function of this package that
// decides from the subject alone and returns the Outcome: everything the
// decision writes, as data. The store writes the outcome in the same
// transaction, or nothing of it. Nothing here reads or writes the database
// while the lock is held, so a store is free to group decisions into
// transactions as it sees fit (store/batch.go) and to make a decision
// again from a fresher read: the function may run more than once, and the
// outcome written is that of its last run.

// Lookup names what a decision is made on: the partner's card, the
// windows of its spend limits, and the wallet token the payment came by
// (uuid.Nil for none), which the store reads with the card.
type Lookup struct {
	PartnerID, CardID uuid.UUID
	Windows           Windows
	TokenID           uuid.UUID
	// AuthenticationID, when set, names the payment's authentication,
	// which the store reads with the card.
	AuthenticationID uuid.UUID
	// InitialAuthorizationID, when set, names the payment that set up a
	// merchant-initiated payment's mandate (Subject.Mandate).
	InitialAuthorizationID uuid.UUID
}

// Outcome is what a decision writes, in one transaction with the lock its
// subject was read under.
type Outcome struct {
	// Authorization, when set, is recorded with Event: its hold taken from
	// the account's available amount, its spending counted, what its card
	// data checked and how the partner answered.
	Authorization *Authorization
	// Authentication, when set, is recorded with Event instead.
	Authentication *Authentication
	Event          events.Event
	// Counters, when set, are the card lineage's low-value exemption
	// counters now: an authentication or an authorisation went without
	// SCA under the exemption.
	Counters *SCACounters
	// Used, when set, is the authentication the authorisation used, its
	// AuthorizationID set.
	Used *Authentication
	// Card, when set, is the card's new state (its tries, its status, the
	// merchant it locked to), written only if its version is still the
	// subject's.
	Card *card.Card
	// Funding, when set, is credited to the account before the hold.
	Funding *Funding
	// Events are emitted before the authorisation's own (a funding's, the
	// card's).
	Events []events.Event
	// Release ends the reservation of this network reference.
	Release string
	// Then runs in the transaction once the rest is written, for what the
	// decision changes beyond the card and the account: audit entries, and
	// the wallet tokens and consents of a card it closed. An outcome with
	// Then is rare, and a store may make it in a transaction of its own.
	Then func(ctx context.Context) error
}

// record sets a as the outcome's authorisation, with its event.
func (o *Outcome) record(a Authorization) error {
	e, err := event(a, "authorization."+string(a.Status))
	if err != nil {
		return err
	}
	o.Authorization, o.Event = &a, e
	return nil
}

// changed sets c as the card's new state, updated at now.
func (o *Outcome) changed(c card.Card, now time.Time) {
	c.UpdatedAt = now
	o.Card = &c
}

// emit adds an event of the card's.
func (o *Outcome) emit(c card.Card, typ string, now time.Time, data map[string]string) error {
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	o.Events = append(o.Events, events.Event{ID: id, PartnerID: c.PartnerID, Type: typ, ResourceID: c.ID, CreatedAt: now, Data: data})
	return nil
}

// then adds fn to what runs once the rest is written.
func (o *Outcome) then(fn func(ctx context.Context) error) {
	prev := o.Then
	if prev == nil {
		o.Then = fn
		return
	}
	o.Then = func(ctx context.Context) error {
		if err := prev(ctx); err != nil {
			return err
		}
		return fn(ctx)
	}
}

// audited adds an audit entry, appended in the transaction.
func (s *Service) audited(o *Outcome, e audit.Entry) {
	o.then(func(ctx context.Context) error { return s.audit.Append(ctx, e) })
}

// maxPINCompares bounds how often one authorisation compares its PIN, a
// new one chosen each time meanwhile.
const maxPINCompares = 3

// decideOn runs decide under the lock of p's card (Store.Decide), its
// not-found the request's card_id. A PIN compared before a new one was
// chosen is compared again.
func (s *Service) decideOn(ctx context.Context, p *Prepared, decide func(Subject) (Outcome, error)) error {
	l := Lookup{PartnerID: p.partnerID, CardID: p.r.CardID, Windows: WindowsAt(p.now), TokenID: p.r.TokenID, AuthenticationID: p.r.AuthenticationID,
		InitialAuthorizationID: p.r.InitialAuthorizationID}
	err := s.store.Decide(ctx, l, decide)
	for range maxPINCompares - 1 {
		if !errors.Is(err, errPINChanged) {
			break
		}
		if p.presented, err = s.present(ctx, p.partnerID, p.r.CardID, p.r.Card); err != nil {
			return err
		}
		err = s.store.Decide(ctx, l, decide)
	}
	if errors.Is(err, card.ErrNotFound) {
		return &FieldError{Field: "card_id", Reason: "no such card"}
	}
	return err
}

// decideNow decides p, whose partner is not asked, in one transaction.
func (s *Service) decideNow(ctx context.Context, p *Prepared) (Authorization, error) {
	var out Authorization
	err := s.decideOn(ctx, p, func(sub Subject) (Outcome, error) {
		var o Outcome
		a, reason, err := s.examine(&o, &sub, p)
		if err != nil {
			return Outcome{}, err
		}
		a.decided(reason)
		if a.Status == StatusApproved {
			if err := s.afterApproval(&o, sub.Card, a.Merchant, p.now); err != nil {
				return Outcome{}, err
			}
			used(&o, sub, a)
			exempted(&o, sub, a, p.r)
		}
		out = a
		return o, o.record(a)
	})
	return out, err
}

// examine makes vaultpage's own checks of p from sub: the card data (its
// tries counted on sub.Card, and the card's new state in o), the token's
// status, then the card's status, controls, limits and the balance. It
// returns the authorisation, not yet decided, and the decline reason it
// earns ("" to approve).
func (s *Service) examine(o *Outcome, sub *Subject, p *Prepared) (Authorization, string, error) {
	var (
		reason string
		v      Verification
		err    error
	)
	if p.r.Card != nil {
		if reason, v, err = s.checkCardData(o, &sub.Card, p.r.Card, p.presented, p.now); err != nil {
			return Authorization{}, "", err
		}
	}
	a := newAuthorization(p.id, p.partnerID, sub.Card, p.amt, p.r, p.now)
	if p.r.Card != nil {
		a.EntryMode, a.Verification = p.r.Card.EntryMode, &v
	}
	a.OutOfScope, a.InitialAuthorizationID = p.r.OutOfScope, p.r.InitialAuthorizationID
	if p.r.TokenID != uuid.Nil {
		a.TokenID, a.EntryMode = p.r.TokenID, p.r.TokenEntry
		a.Verification = &Verification{CVV: CheckNotProvided, Expiry: CheckNotProvided, PIN: CheckNotProvided}
		reason = tokenDecline(p.r.TokenID, *sub)
	}
	if reason == "" && p.r.AuthenticationID != uuid.Nil {
		if reason, err = authenticationDecline(sub.Authentication, a, p.now); err != nil {
			return Authorization{}, "", err
		}
	}
	if reason == "" && p.r.InitialAuthorizationID != uuid.Nil && sub.Mandate == nil {
		return Authorization{}, "", &FieldError{Field: "initial_authorization_id", Reason: "no such authorisation"}
	}
	if reason == "" {
		reason = decline(*sub, a, p.now)
	}
	if reason == "" {
		reason = scaDecline(*sub, a, p.r)
	}
	return a, reason, nil
}

// An online payment (entry mode ecommerce, by card data or by a wallet
// token) is in SCA's scope (PSD2 Article 97). It is approved only with an
// authentication that holds for it (authenticationDecline), or under the
// low-value exemption, which the authorisation then counts as a
// frictionless authentication does: the counters are the card lineage's,
// read and written under its lock. Payments the card is present for, and
// the sandbox's payments named by card_id, are not in this scope. Nothing
// in a request says a wallet verified the cardholder on the device (no
// delegated authentication is taken), so a wallet's online payments are
// in it.

// inSCAScope tells whether the payment a of request r needs an
// authentication or an exemption: online, naming none, and not a telephone
// order or a merchant-initiated payment under a mandate that holds for it.
func inSCAScope(sub Subject, a Authorization, r Request) bool {
	if a.EntryMode != EntryEcommerce || r.AuthenticationID != uuid.Nil {
		return false
	}
	switch a.OutOfScope {
	case OutOfScopeMOTO:
		return false
	case OutOfScopeMerchantInitiated:
		return !sub.Mandate.holds(sub.Card.LineageID, a.Merchant.ID)
	}
	return true
}

// Mandate is what a merchant-initiated payment's initial payment was: the
// card lineage and merchant it paid, whether it was approved, and whether
// the cardholder authenticated it (a challenge passed, not an exemption).
type Mandate struct {
	LineageID     uuid.UUID
	MerchantID    string
	Approved      bool
	Authenticated bool
}

// holds tells whether the mandate covers a payment of the card lineage to
// the merchant: set up with the cardholder's SCA, by a payment of theirs
// to that merchant that was approved (PSD2 RTS Article 97 applies to the
// set-up, not to what the merchant initiates under it).
func (m *Mandate) holds(lineageID uuid.UUID, merchantID string) bool {
	return m != nil && m.Approved && m.Authenticated && m.LineageID == lineageID && m.MerchantID == merchantID
}

// Why an online payment is outside SCA's scope, as the acquirer flags it
// (stored values). A mail or telephone order is not an electronic payment
// the payer initiates (PSD2 recital 95); a merchant-initiated payment
// (a subscription's next charge, say) follows a mandate the cardholder
// authenticated when it was set up. The acquirer answers for the flag: it
// is recorded with the authorisation, and the partner's real-time
// decision endpoint is told it.
const (
	OutOfScopeMOTO              = "moto"
	OutOfScopeMerchantInitiated = "merchant_initiated"
)

// scope checks r's OutOfScope. Errors: *FieldError.
func (r *Request) scope() error {
	if r.OutOfScope == "" {
		if r.InitialAuthorizationID != uuid.Nil {
			return &FieldError{Field: "initial_authorization_id", Reason: "is given only for a merchant-initiated payment"}
		}
		return nil
	}
	online := (r.Card != nil && r.Card.EntryMode == EntryEcommerce) || (r.TokenID != uuid.Nil && r.TokenEntry == EntryEcommerce)
	switch {
	case r.OutOfScope != OutOfScopeMOTO && r.OutOfScope != OutOfScopeMerchantInitiated:
		return &FieldError{Field: "out_of_scope", Reason: "must be moto or merchant_initiated"}
	case !online:
		return &FieldError{Field: "out_of_scope", Reason: "is given only for an online payment (entry_mode ecommerce)"}
	case r.AuthenticationID != uuid.Nil:
		return &FieldError{Field: "out_of_scope", Reason: "a payment outside SCA's scope names no authentication"}
	case r.OutOfScope == OutOfScopeMerchantInitiated && r.InitialAuthorizationID == uuid.Nil:
		return &FieldError{Field: "initial_authorization_id", Reason: "is required for a merchant-initiated payment: the payment that set up its mandate"}
	case r.OutOfScope == OutOfScopeMOTO && r.InitialAuthorizationID != uuid.Nil:
		return &FieldError{Field: "initial_authorization_id", Reason: "is given only for a merchant-initiated payment"}
	}
	return nil
}

// scaDecline is authentication_required for a payment in SCA's scope that
// the low-value exemption does not let through; "" otherwise.
func scaDecline(sub Subject, a Authorization, r Request) string {
	if !inSCAScope(sub, a, r) {
		return ""
	}
	if _, ok := sub.lowValue(a.Currency, a.Amount); ok {
		return ""
	}
	return DeclineAuthenticationRequired
}

// exempted counts, in o, the approved payment a that went without SCA
// under the low-value exemption.
func exempted(o *Outcome, sub Subject, a Authorization, r Request) {
	if !inSCAScope(sub, a, r) {
		return
	}
	if next, ok := sub.lowValue(a.Currency, a.Amount); ok {
		o.Counters = &next
	}
}

// authenticationDecline is the decline an online payment a earns by the
// authentication it names ("" when it holds). Errors: *FieldError when
// the partner has no such authentication.
func authenticationDecline(n *Authentication, a Authorization, now time.Time) (string, error) {
	switch {
	case n == nil:
		return "", &FieldError{Field: "authentication_id", Reason: "no such authentication"}
	case n.CardID != a.CardID || a.Amount > n.Amount || a.Currency != n.Currency || a.Merchant.ID != n.Payee.ID ||
		a.Merchant.Name != n.Payee.Name || a.Merchant.MCC != n.Payee.MCC || a.Merchant.Country != n.Payee.Country:
		return DeclineAuthenticationMismatch, nil
	case n.TransStatus != TransAuthenticated:
		return DeclineAuthenticationIncomplete, nil
	case n.AuthorizationID != uuid.Nil:
		return DeclineAuthenticationUsed, nil
	case !now.Before(n.ExpiresAt):
		return DeclineAuthenticationExpired, nil
	}
	return "", nil
}

// used marks in o the authentication sub names as used by a, approved.
func used(o *Outcome, sub Subject, a Authorization) {
	if n := sub.Authentication; n != nil && a.Status == StatusApproved {
		u := *n
		u.AuthorizationID, u.UpdatedAt = a.ID, a.UpdatedAt
		o.Used = &u
	}
}

// tokenDecline is the decline a payment by the wallet token tokenID earns
// by the token's status in sub ("" for none, or uuid.Nil: no token).
func tokenDecline(tokenID uuid.UUID, sub Subject) string {
	t := sub.Token
	if tokenID == uuid.Nil || t == nil {
		return ""
	}
	switch t.Status {
	case card.TokenSuspended:
		return DeclineTokenSuspended
	case card.TokenDeleted:
		return DeclineTokenDeleted
	}
	return ""
}

// decline returns the first control the authorisation fails, "" to approve.
func decline(sub Subject, a Authorization, now time.Time) string {
	c, acct := sub.Card, sub.Account
	switch c.Status {
	case card.StatusActive:
	case card.StatusFrozen:
		return DeclineCardFrozen
	case card.StatusExpired:
		return DeclineCardExpired
	default:
		if c.Usage == card.UsageSingleUse && c.Status == card.StatusClosed && sub.Approvals > 0 {
			return DeclineSingleUseConsumed
		}
		return DeclineCardNotActive
	}
	// The card works up to the last moment of its expiry month.
	if !now.Before(time.Date(c.ExpYear, time.Month(c.ExpMonth)+1, 1, 0, 0, 0, 0, time.UTC)) {
		return DeclineCardExpired
	}
	if a.Currency != c.Currency || a.Currency != acct.Currency {
		return DeclineCurrencyNotSupported
	}
	if c.Usage == card.UsageMerchantLocked && c.LockedMerchant != "" && c.LockedMerchant != a.Merchant.ID {
		return DeclineMerchantLocked
	}
	if (len(c.AllowedMCCs) > 0 && !slices.Contains(c.AllowedMCCs, a.Merchant.MCC)) || slices.Contains(c.BlockedMCCs, a.Merchant.MCC) {
		return DeclineMCCBlocked
	}
	if (len(c.AllowedCountries) > 0 && !slices.Contains(c.AllowedCountries, a.Merchant.Country)) || slices.Contains(c.BlockedCountries, a.Merchant.Country) {
		return DeclineCountryBlocked
	}
	if sub.Restriction != nil && a.Amount > *sub.Restriction {
		return DeclineRestrictionExceeded
	}
	if c.SpendLimit != nil {
		if c.SpendLimitDuration == card.DurationTransaction {
			if a.Amount > *c.SpendLimit {
				return DeclineSpendLimitExceeded
			}
		} else if sub.Spent+a.Amount > *c.SpendLimit {
			return DeclineSpendLimitExceeded
		}
	}
	if acct.Available < a.Amount {
		return DeclineInsufficientFunds
	}
	return ""
}

// afterApproval closes a single-use card and locks a merchant-locked one,
// in o: c is the card as the decision left it.
func (s *Service) afterApproval(o *Outcome, c card.Card, m Merchant, now time.Time) error {
	switch {
	case c.Usage == card.UsageSingleUse:
		c.Status = card.StatusClosed
		o.changed(c, now)
		if err := o.emit(c, "card.status_changed", now, map[string]string{"status": string(card.StatusClosed), "from": string(card.StatusActive),
			"reason": "single_use_consumed", "last4": c.Last4}); err != nil {
			return err
		}
		s.audited(o, audit.Entry{Actor: "system:authorizations", Action: "card.status_changed", Target: "card:" + c.ID.String(),
			Details: map[string]string{"from": string(card.StatusActive), "to": string(card.StatusClosed), "reason": "single_use_consumed"}})
		closed := *o.Card
		o.then(func(ctx context.Context) error {
			if s.cfg.Cards != nil {
				if err := s.cfg.Cards.StatusChanged(ctx, "system:authorizations", closed); err != nil {
					return err
				}
			}
			if s.cfg.Consents != nil {
				return s.cfg.Consents.EndForCard(ctx, closed.PartnerID, closed.ID, func(string) bool { return true }) // closed: every one ends
			}
			return nil
		})
	case c.Usage == card.UsageMerchantLocked && c.LockedMerchant == "":
		c.LockedMerchant = m.ID
		o.changed(c, now)
	}
	return nil
}

// funded adds to o the funding of amt that a real-time decision credits to
// the subject's account for the authorisation forID, with its
// account.funded event.
func funded(o *Outcome, sub Subject, amt card.Amount, now time.Time, forID uuid.UUID) error {
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	f := Funding{ID: id, PartnerID: sub.Account.PartnerID, AccountID: sub.Account.ID, Amount: amt, CreatedAt: now}
	e, err := fundedEvent(f, sub.Account.Balance+amt, sub.Account.Available+amt, forID)
	if err != nil {
		return err
	}
	o.Funding, o.Events = &f, append(o.Events, e)
	return nil
}

// fundedEvent is a funding's account.funded event, with the account's
// balance and available amount once credited.
func fundedEvent(f Funding, balance, available card.Amount, forID uuid.UUID) (events.Event, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return events.Event{}, err
	}
	data := map[string]string{"funding_id": f.ID.String(), "amount": f.Amount.String(), "balance": balance.String(), "available": available.String()}
	if forID != uuid.Nil {
		data["authorization_id"] = forID.String()
	}
	return events.Event{ID: id, PartnerID: f.PartnerID, Type: "account.funded", ResourceID: f.AccountID, Data: data, CreatedAt: f.CreatedAt}, nil
}
