package spend

import (
	"context"
	"errors"
	"regexp"
	"time"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/card"
)

// Network is the card network's door to the engine, for an ISO 8583
// adapter on the network listener: production as much as the sandbox, no
// partner credential; the presented card names its partner. The decision is
// the sandbox's, made by the same engine.
//
// Every authorisation request names itself with a network reference (the
// adapter's, unique among its requests: its acquirer, retrieval reference
// number, STAN and transmission time, say). A resend with the reference
// decides nothing again: it answers the authorisation the first one made,
// as it is now, so a request repeated after a timeout never holds twice.
// Follow-ups name the authorisation by its id or by its reference, and a
// repeated follow-up answers what the first one did.
type Network struct{ s *Service }

// Network returns the engine's network door.
func (s *Service) Network() *Network { return &Network{s: s} }

// referenceRE is what a network reference may be: what an adapter makes
// of ISO 8583 fields, never card data.
var referenceRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9:._/-]{0,63}$`)

// longDigitsRE is a run of digits a card number could hide in.
var longDigitsRE = regexp.MustCompile(`[0-9]{13,}`)

func validReference(ref string) error {
	if !referenceRE.MatchString(ref) {
		return &FieldError{Field: "network_reference", Reason: "must be 1 to 64 letters, digits and : . _ / -"}
	}
	if longDigitsRE.MatchString(ref) {
		// It is stored and answered in clear: it must not be able to
		// carry a card number.
		return &FieldError{Field: "network_reference", Reason: "must not hold 13 or more digits in a row; separate its parts"}
	}
	return nil
}

// Authorize decides an authorisation presented with card data (r.Card) or
// by a wallet token (r.TokenID), one of the two; r.CardID is not taken.
// replayed is true when r.NetworkReference named an authorisation already,
// which is answered as it is now. Errors: *FieldError, ErrReferenceReused
// (the reference names an authorisation of another card, amount, currency
// or merchant). The card data is wiped when it returns.
func (n *Network) Authorize(ctx context.Context, r Request) (a Authorization, replayed bool, err error) {
	defer r.Card.Wipe()
	// A decision once begun is made, whether or not the adapter still
	// waits: its resend then finds it, instead of a reservation left for
	// the lease.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), decideWithin)
	defer cancel()
	if r.CardID != uuid.Nil || (r.Card == nil) == (r.TokenID == uuid.Nil) {
		return Authorization{}, false, &FieldError{Field: "pan", Reason: "give the card's data or a token_id, one of the two"}
	}
	if err := validReference(r.NetworkReference); err != nil {
		return Authorization{}, false, err
	}
	if r.Card != nil && r.Card.EntryMode == EntryATM && r.Card.PINBlock == nil {
		return Authorization{}, false, &FieldError{Field: "pin_block", Reason: "is required at an ATM"}
	}
	first, err := n.s.store.ReferencedAuthorization(ctx, r.NetworkReference)
	if err == nil {
		a, err := n.resent(ctx, first, r)
		return a, err == nil, err
	}
	if !errors.Is(err, ErrNotFound) {
		return Authorization{}, false, err
	}
	a, err = n.s.authorizeFor(ctx, nil, r)
	for errors.Is(err, errReferenceInFlight) {
		// The first sending is being decided, its partner asked: wait for
		// its answer, or for its reservation to go stale.
		if first, err = n.await(ctx, r.NetworkReference); err == nil {
			a, err := n.resent(ctx, first, r)
			return a, err == nil, err
		}
		if !errors.Is(err, ErrNotFound) {
			return Authorization{}, false, err
		}
		a, err = n.s.authorizeFor(ctx, nil, r)
	}
	if errors.Is(err, ErrReferenceTaken) {
		// A resend of a request still being decided, which won: its
		// record may not be visible yet (on SQLite the two may share a
		// group commit), so it is waited for.
		if first, err = n.await(ctx, r.NetworkReference); err != nil {
			return Authorization{}, false, err
		}
		a, err := n.resent(ctx, first, r)
		return a, err == nil, err
	}
	return a, false, err
}

// decideWithin bounds a decision on the network's door, the partner's
// longest timeout and the transactions around it included.
const decideWithin = 30 * time.Second

// await waits, a lease at most, for the authorisation the reference will
// name; ErrNotFound when none came (the reservation went stale).
func (n *Network) await(ctx context.Context, reference string) (Authorization, error) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(ReservationLease)
	for {
		a, err := n.s.store.ReferencedAuthorization(ctx, reference)
		if !errors.Is(err, ErrNotFound) || !time.Now().Before(deadline) {
			return a, err
		}
		select {
		case <-ctx.Done():
			return Authorization{}, ctx.Err()
		case <-tick.C:
		}
	}
}

// resent answers r, a resend of the request that made first: first, if r
// asks for what first was asked. The card data is not checked again (the
// decision was made on the first sending); only which card it names.
func (n *Network) resent(ctx context.Context, first Authorization, r Request) (Authorization, error) {
	amt, err := r.validate()
	if err != nil {
		return Authorization{}, err
	}
	asked := first.Amount
	if first.Decision != nil {
		asked = first.Decision.Requested // the amount approved may be less
	}
	same := amt == asked && r.Currency == first.Currency && r.Merchant == first.Merchant
	if same && r.TokenID != uuid.Nil {
		same = r.TokenID == first.TokenID
	} else if same {
		if err := r.Card.validate(); err != nil {
			return Authorization{}, err
		}
		_, id, ok, err := n.s.findCard(ctx, nil, r.Card)
		if err != nil {
			return Authorization{}, err
		}
		same = ok && id == first.CardID && first.TokenID == uuid.Nil
	}
	if !same {
		return Authorization{}, ErrReferenceReused
	}
	return first, nil
}

// Ref names an authorisation on the network's door: by its id or by the
// network reference of its request, one of the two.
type Ref struct {
	ID               uuid.UUID
	NetworkReference string
}

// find reads the authorisation ref names. Errors: *FieldError,
// ErrNotFound.
func (n *Network) find(ctx context.Context, ref Ref) (Authorization, error) {
	if (ref.ID == uuid.Nil) == (ref.NetworkReference == "") {
		return Authorization{}, &FieldError{Field: "authorization_id", Reason: "give the authorization_id or the network_reference, one of the two"}
	}
	if ref.NetworkReference != "" {
		if err := validReference(ref.NetworkReference); err != nil {
			return Authorization{}, err
		}
		return n.s.store.ReferencedAuthorization(ctx, ref.NetworkReference)
	}
	pid, err := n.s.store.AuthorizationPartner(ctx, ref.ID)
	if err != nil {
		return Authorization{}, err
	}
	return n.s.store.Authorization(ctx, pid, ref.ID)
}

// Reverse releases an approved authorisation's hold; a reversed one is
// answered as it is. Errors: *FieldError, ErrNotFound, *StateError.
func (n *Network) Reverse(ctx context.Context, ref Ref) (Authorization, error) {
	a, err := n.find(ctx, ref)
	if err != nil {
		return Authorization{}, err
	}
	out, err := n.s.followUp(ctx, a.PartnerID, a.ID, StatusReversed, n.s.release)
	return n.repeated(ctx, a, out, err, func(now Authorization) bool { return now.Status == StatusReversed })
}

// Clear settles an approved authorisation, as Service.Clear; one cleared
// for the same amount is answered as it is. Errors: *FieldError,
// ErrNotFound, *StateError, ErrInsufficientFunds.
func (n *Network) Clear(ctx context.Context, ref Ref, amount string) (Authorization, error) {
	a, err := n.find(ctx, ref)
	if err != nil {
		return Authorization{}, err
	}
	out, err := n.s.clear(ctx, a.PartnerID, a.ID, amount, n.s.followUp)
	return n.repeated(ctx, a, out, err, func(now Authorization) bool {
		if now.Status != StatusCleared || now.Cleared == nil {
			return false
		}
		amt, err := card.ParseAmount(amount)
		return amount == "" || (err == nil && amt == *now.Cleared)
	})
}

// repeated answers a follow-up of a: out, or, when the follow-up failed
// because a had already moved on to what same recognises (a resend of the
// follow-up), a as it is now.
func (n *Network) repeated(ctx context.Context, a, out Authorization, err error, same func(Authorization) bool) (Authorization, error) {
	var se *StateError
	if !errors.As(err, &se) {
		return out, err
	}
	now, rerr := n.s.store.Authorization(ctx, a.PartnerID, a.ID)
	if rerr != nil {
		return Authorization{}, rerr
	}
	if same(now) {
		return now, nil
	}
	return Authorization{}, err
}
