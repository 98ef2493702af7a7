package web

import (
	"encoding/hex"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/vaultpage/vaultpage/spend"
)

// NetworkHandler serves the card network's door (/network/v1) for an ISO
// 8583 adapter, on a listener of its own that asks every client for a
// certificate from the network's CA (mutual TLS): no partner credential is
// valid there, and nothing else is served there. The contract is
// docs/network.md and docs/network.yaml.
func (s *Server) NetworkHandler() http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	s.networkRoutes(e)
	return e
}

// networkClient refuses a request that did not come over mutual TLS with
// a verified client certificate (the listener's TLS asks for one; this
// holds if it is ever served otherwise), or that carries a partner's
// credential.
func networkClient(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			return problem(http.StatusUnauthorized, "client_certificate_required", "the network listener takes clients with a certificate from the network's CA")
		}
		if r.Header.Get(echo.HeaderAuthorization) != "" {
			return problem(http.StatusUnauthorized, "partner_credentials_refused", "partner credentials are not taken on the network listener")
		}
		return next(c)
	}
}

type networkAuthorizationRequest struct {
	NetworkReference string  `json:"network_reference"`
	TokenID          string  `json:"token_id"`
	PINBlock         *string `json:"pin_block"`
	payment
}

// networkView is a decision as the network hears it: no partner's ids.
type networkView struct {
	ID               string        `json:"id"`
	NetworkReference string        `json:"network_reference,omitempty"`
	Status           string        `json:"status"`
	DecidedBy        string        `json:"decided_by"`
	DeclineReason    *string       `json:"decline_reason"`
	Amount           string        `json:"amount"`
	Currency         string        `json:"currency"`
	HeldAmount       string        `json:"held_amount"`
	ClearedAmount    *string       `json:"cleared_amount"`
	EntryMode        string        `json:"entry_mode,omitempty"`
	TokenID          *string       `json:"token_id,omitempty"`
	OutOfScope       *string       `json:"out_of_scope,omitempty"`
	Verification     *verification `json:"verification,omitempty"`
	CreatedAt        string        `json:"created_at"`
}

func viewNetwork(a spend.Authorization) networkView {
	v := viewAuthorization(a)
	return networkView{ID: v.ID, NetworkReference: a.NetworkReference, Status: v.Status, DecidedBy: v.DecidedBy, DeclineReason: v.DeclineReason, Amount: v.Amount, Currency: v.Currency,
		HeldAmount: v.HeldAmount, ClearedAmount: v.ClearedAmount, EntryMode: v.EntryMode, TokenID: v.TokenID, OutOfScope: v.OutOfScope, Verification: v.Verification, CreatedAt: v.CreatedAt}
}

// networkAuthorize is POST /network/v1/authorizations.
func (s *Server) networkAuthorize(c echo.Context) error {
	var req networkAuthorizationRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	r := spend.Request{NetworkReference: req.NetworkReference, Amount: req.Amount, Currency: req.Currency, Merchant: spend.Merchant(req.Merchant)}
	if err := req.sca(&r); err != nil {
		return err
	}
	if req.TokenID != "" {
		// A wallet payment: the token names the card.
		if req.PAN != nil || req.CVV != nil || req.PINBlock != nil || req.ExpMonth != "" || req.ExpYear != "" {
			return fieldProblem(http.StatusUnprocessableEntity, "invalid_field", "token_id", "a payment comes by token_id alone, without card data")
		}
		tid, err := uuidField("token_id", req.TokenID)
		if err != nil {
			return err
		}
		r.TokenID, r.TokenEntry = tid, spend.EntryMode(req.EntryMode)
		return s.networkDecision(c, r)
	}
	data, err := req.cardFields()
	if err != nil {
		return err
	}
	if req.PINBlock != nil {
		b, err := hex.DecodeString(*req.PINBlock)
		if err != nil || len(b) != 8 {
			return fieldProblem(http.StatusUnprocessableEntity, "invalid_field", "pin_block", "must be 16 hexadecimal digits (an ISO 9564 format 0 block)")
		}
		data.PINBlock = b
	}
	r.Card = data
	return s.networkDecision(c, r)
}

// networkDecision answers an authorisation request: 201 with its
// decision, or 200 with the authorisation a resend's reference names.
func (s *Server) networkDecision(c echo.Context, r spend.Request) error {
	a, replayed, err := s.deps.Spend.Network().Authorize(c.Request().Context(), r)
	if err != nil {
		return err
	}
	if replayed {
		return c.JSON(http.StatusOK, viewNetwork(a))
	}
	return c.JSON(http.StatusCreated, viewNetwork(a))
}

type networkFollowUp struct {
	AuthorizationID  string `json:"authorization_id"`
	NetworkReference string `json:"network_reference"`
	Amount           string `json:"amount"`
}

// networkReverse is POST /network/v1/reversals and networkClear POST
// /network/v1/clearings.
func (s *Server) networkReverse(c echo.Context) error { return s.networkFollow(c, false) }

func (s *Server) networkClear(c echo.Context) error { return s.networkFollow(c, true) }

func (s *Server) networkFollow(c echo.Context, clear bool) error {
	var req networkFollowUp
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	ref := spend.Ref{NetworkReference: req.NetworkReference}
	if req.AuthorizationID != "" {
		id, err := uuidField("authorization_id", req.AuthorizationID)
		if err != nil {
			return err
		}
		ref.ID = id
	}
	n := s.deps.Spend.Network()
	var (
		a   spend.Authorization
		err error
	)
	if clear {
		a, err = n.Clear(c.Request().Context(), ref, req.Amount)
	} else {
		if req.Amount != "" {
			return fieldProblem(http.StatusUnprocessableEntity, "invalid_field", "amount", "a reversal releases the whole hold")
		}
		a, err = n.Reverse(c.Request().Context(), ref)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewNetwork(a))
}
