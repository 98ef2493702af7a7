package spend

import (
	"context"

	"github.com/google/uuid"
)

// Network is the card network's door to the engine, for an ISO 8583
// adapter on the network listener: production as much as the sandbox, no
// partner credential; the presented card names its partner. The decision is
// the sandbox's, made by the same engine.
type Network struct{ s *Service }

// Network returns the engine's network door.
func (s *Service) Network() *Network { return &Network{s: s} }

// Authorize decides an authorisation presented with card data (r.Card) or
// by a wallet token (r.TokenID), one of the two; r.CardID is not taken.
// Errors: *FieldError.
func (n *Network) Authorize(ctx context.Context, r Request) (Authorization, error) {
	if r.CardID != uuid.Nil || (r.Card == nil) == (r.TokenID == uuid.Nil) {
		return Authorization{}, &FieldError{Field: "pan", Reason: "give the card's data or a token_id, one of the two"}
	}
	return n.s.authorizeFor(ctx, nil, r)
}

// Reverse releases an approved authorisation's hold. Errors: ErrNotFound,
// *StateError.
func (n *Network) Reverse(ctx context.Context, id uuid.UUID) (Authorization, error) {
	pid, err := n.s.store.AuthorizationPartner(ctx, id)
	if err != nil {
		return Authorization{}, err
	}
	return n.s.followUp(ctx, pid, id, StatusReversed, n.s.release)
}

// Clear settles an approved authorisation, as Service.Clear. Errors:
// *FieldError, ErrNotFound, *StateError, ErrInsufficientFunds.
func (n *Network) Clear(ctx context.Context, id uuid.UUID, amount string) (Authorization, error) {
	pid, err := n.s.store.AuthorizationPartner(ctx, id)
	if err != nil {
		return Authorization{}, err
	}
	return n.s.clear(ctx, pid, id, amount, n.s.followUp)
}
