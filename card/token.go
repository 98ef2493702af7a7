package card

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/audit"
	"github.com/vaultpage/vaultpage/vault"
)

// TokenStatus is where a wallet token is (stored values; never renamed):
//
//	active ⇄ suspended ──▶ deleted (final)
//	active ───────────────▶ deleted
type TokenStatus string

// Token statuses.
const (
	TokenActive    TokenStatus = "active"
	TokenSuspended TokenStatus = "suspended"
	TokenDeleted   TokenStatus = "deleted"
)

// Who suspended a token: its card's freeze (undone when the card is
// unfrozen) or the partner (undone by the partner only).
const (
	SuspendedByCard    = "card"
	SuspendedByPartner = "partner"
)

// WalletApplePay is the wallet an Apple Pay consent provisions.
const WalletApplePay = "apple_pay"

// Token is a card's number in a wallet (a device account number): its own
// number, issued and sealed in the vault like a card's, of which only the
// last four digits leave it.
type Token struct {
	ID          uuid.UUID
	PartnerID   uuid.UUID
	CardID      uuid.UUID
	Wallet      string
	DeviceName  string
	Last4       string
	Status      TokenStatus
	SuspendedBy string // "" unless suspended
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// TokenError is a token transition its status does not allow.
type TokenError struct {
	From TokenStatus
	To   TokenStatus
}

func (e *TokenError) Error() string {
	return fmt.Sprintf("card: a %s token cannot become %s", e.From, e.To)
}

// InvalidState says, safely for the partner, what was refused.
func (e *TokenError) InvalidState() string {
	return "the token is " + string(e.From) + "; it cannot become " + string(e.To)
}

// TokenStore persists wallet tokens. Methods join the transaction in ctx.
type TokenStore interface {
	CreateToken(ctx context.Context, t Token) error
	Token(ctx context.Context, partnerID, id uuid.UUID) (Token, error)
	Tokens(ctx context.Context, partnerID, cardID uuid.UUID) ([]Token, error)
	UpdateToken(ctx context.Context, t Token) error
}

func tokenOwner(t Token) vault.Owner {
	return vault.Owner{PartnerID: t.PartnerID.String(), Table: "card_tokens", RecordID: t.ID.String()}
}

// provision creates c's wallet token, in the transaction in ctx: a number
// of its own from the vault, active.
func (s *Service) provision(ctx context.Context, c Card, wallet string) (Token, error) {
	id, err := newID()
	if err != nil {
		return Token{}, err
	}
	now := s.now()
	t := Token{ID: id, PartnerID: c.PartnerID, CardID: c.ID, Wallet: wallet, Status: TokenActive, CreatedAt: now, UpdatedAt: now}
	dpan, err := s.vault.IssuePAN(ctx, tokenOwner(t), s.cfg.BIN)
	if err != nil {
		return Token{}, err
	}
	t.Last4 = dpan.Last4()
	dpan.Wipe()
	if err := s.store.CreateToken(ctx, t); err != nil {
		return Token{}, err
	}
	if err := s.audit.Append(ctx, audit.Entry{Actor: "cardholder:" + c.IndividualID.String(), Action: "card.token_created",
		Target: "card:" + c.ID.String(), Details: map[string]string{"token_id": t.ID.String(), "wallet": wallet, "last4": t.Last4}}); err != nil {
		return Token{}, err
	}
	return t, s.emit(ctx, c, "card.token_created", map[string]string{"token_id": t.ID.String(), "wallet": wallet, "token_last4": t.Last4})
}

// Tokens lists a card's wallet tokens, oldest first. Errors: ErrNotFound.
func (s *Service) Tokens(ctx context.Context, a Actor, cardID uuid.UUID) ([]Token, error) {
	if _, err := s.store.Card(ctx, a.PartnerID, cardID); err != nil {
		return nil, err
	}
	return s.store.Tokens(ctx, a.PartnerID, cardID)
}

// SetTokenStatus suspends, resumes or deletes one of a card's tokens for
// the partner. A token resumes only while its card is active. Errors:
// ErrNotFound, *TokenError, *FieldError.
func (s *Service) SetTokenStatus(ctx context.Context, a Actor, cardID, tokenID uuid.UUID, to TokenStatus) (Token, error) {
	var out Token
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		c, err := s.store.LockCard(ctx, a.PartnerID, cardID)
		if err != nil {
			return err
		}
		t, err := s.store.Token(ctx, a.PartnerID, tokenID)
		if err != nil {
			return err
		}
		if t.CardID != c.ID {
			return ErrNotFound
		}
		switch {
		case to == TokenActive && c.Status != StatusActive:
			return &StateError{From: c.Status, To: c.Status, Reason: "a token resumes only on an active card"}
		case to != TokenActive && to != TokenSuspended && to != TokenDeleted:
			return invalid("status", "must be active, suspended or deleted")
		}
		if out, err = s.moveToken(ctx, a.name(), c, t, to, SuspendedByPartner); err != nil {
			return err
		}
		return nil
	})
	return out, err
}

// moveToken changes t's status, checking its lifecycle, and records it.
func (s *Service) moveToken(ctx context.Context, actor string, c Card, t Token, to TokenStatus, by string) (Token, error) {
	switch {
	case t.Status == TokenDeleted, t.Status == to, to == TokenActive && t.Status != TokenSuspended:
		return Token{}, &TokenError{From: t.Status, To: to}
	}
	from := t.Status
	t.Status, t.SuspendedBy, t.UpdatedAt = to, "", s.now()
	if to == TokenSuspended {
		t.SuspendedBy = by
	}
	if err := s.store.UpdateToken(ctx, t); err != nil {
		return Token{}, err
	}
	if err := s.audit.Append(ctx, audit.Entry{Actor: actor, Action: "card.token_updated", Target: "card:" + c.ID.String(),
		Details: map[string]string{"token_id": t.ID.String(), "from": string(from), "to": string(to)}}); err != nil {
		return Token{}, err
	}
	return t, s.emit(ctx, c, "card.token_updated", map[string]string{"token_id": t.ID.String(), "token_status": string(to), "token_from": string(from)})
}

// StatusChanged moves c's wallet tokens after a change of its status made
// outside this service (an authorisation that closed a single-use card),
// in the transaction in ctx, as a change here would; actor names who made
// it in the audit trail.
func (s *Service) StatusChanged(ctx context.Context, actor string, c Card) error {
	return s.tokensFollow(ctx, actor, c)
}

// tokensFollow moves c's tokens after a change of its status: frozen
// suspends the active ones, active again resumes those its freeze
// suspended, a terminal status deletes them all.
func (s *Service) tokensFollow(ctx context.Context, actor string, c Card) error {
	ts, err := s.store.Tokens(ctx, c.PartnerID, c.ID)
	if err != nil {
		return err
	}
	for _, t := range ts {
		to := t.Status
		switch {
		case c.Status.Terminal() && t.Status != TokenDeleted:
			to = TokenDeleted
		case c.Status == StatusFrozen && t.Status == TokenActive:
			to = TokenSuspended
		case c.Status == StatusActive && t.Status == TokenSuspended && t.SuspendedBy == SuspendedByCard:
			to = TokenActive
		}
		if to == t.Status {
			continue
		}
		if _, err := s.moveToken(ctx, actor, c, t, to, SuspendedByCard); err != nil {
			return err
		}
	}
	return nil
}
