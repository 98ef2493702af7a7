package web

import (
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/spend"
)

type merchantJSON struct {
	Name    string `json:"name"`
	MCC     string `json:"mcc"`
	Country string `json:"country"`
	ID      string `json:"id"`
}

type authorizationView struct {
	ID            string       `json:"id"`
	CardID        string       `json:"card_id"`
	AccountID     string       `json:"account_id"`
	Amount        string       `json:"amount"`
	Currency      string       `json:"currency"`
	Merchant      merchantJSON `json:"merchant"`
	Status        string       `json:"status"`
	DeclineReason *string      `json:"decline_reason"`
	HeldAmount    string       `json:"held_amount"`
	ClearedAmount *string      `json:"cleared_amount"`
	CreatedAt     string       `json:"created_at"`
	UpdatedAt     string       `json:"updated_at"`
}

func viewAuthorization(a spend.Authorization) authorizationView {
	v := authorizationView{ID: a.ID.String(), CardID: a.CardID.String(), AccountID: a.AccountID.String(), Amount: a.Amount.String(),
		Currency: a.Currency, Merchant: merchantJSON(a.Merchant), Status: string(a.Status), HeldAmount: a.Held.String(),
		CreatedAt: ts(a.CreatedAt), UpdatedAt: ts(a.UpdatedAt)}
	if a.DeclineReason != "" {
		r := a.DeclineReason
		v.DeclineReason = &r
	}
	if a.Cleared != nil {
		c := a.Cleared.String()
		v.ClearedAmount = &c
	}
	return v
}

type authorizationRequest struct {
	CardID   string       `json:"card_id"`
	Amount   string       `json:"amount"`
	Currency string       `json:"currency"`
	Merchant merchantJSON `json:"merchant"`
}

// simulateAuthorization is POST /v3/simulations/authorizations.
func (s *Server) simulateAuthorization(c echo.Context) error {
	var req authorizationRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	id, err := uuidField("card_id", req.CardID)
	if err != nil {
		return err
	}
	a, err := s.deps.Spend.Authorize(c.Request().Context(), partnerOf(c).ID, spend.Request{CardID: id, Amount: req.Amount, Currency: req.Currency,
		Merchant: spend.Merchant(req.Merchant)})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, viewAuthorization(a))
}

type clearRequest struct {
	Amount string `json:"amount"`
}

// followAuthorization is POST /v3/simulations/authorizations/:id/{reverse,clear,expire}.
func (s *Server) followAuthorization(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	ctx, pid := c.Request().Context(), partnerOf(c).ID
	var a spend.Authorization
	switch c.Param("step") {
	case "reverse":
		a, err = s.deps.Spend.Reverse(ctx, pid, id)
	case "expire":
		a, err = s.deps.Spend.Expire(ctx, pid, id)
	case "clear":
		var req clearRequest
		if c.Request().ContentLength != 0 {
			if err := decodeJSON(c, &req); err != nil {
				return err
			}
		}
		a, err = s.deps.Spend.Clear(ctx, pid, id, req.Amount)
	default:
		return echo.ErrNotFound
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewAuthorization(a))
}

// getAuthorization is GET /v3/authorizations/:id.
func (s *Server) getAuthorization(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	a, err := s.deps.Spend.Authorization(c.Request().Context(), partnerOf(c).ID, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewAuthorization(a))
}

// listAuthorizations is GET /v3/authorizations (?card_id=).
func (s *Server) listAuthorizations(c echo.Context) error {
	p, err := pageParams(c)
	if err != nil {
		return err
	}
	cardID, err := queryUUID(c, "card_id")
	if err != nil {
		return err
	}
	items, err := s.deps.Spend.Authorizations(c.Request().Context(), partnerOf(c).ID, cardID, p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page(items, p.Limit, func(a spend.Authorization) uuid.UUID { return a.ID }, viewAuthorization))
}

type fundingRequest struct {
	Amount string `json:"amount"`
}

// fundAccount is POST /v3/accounts/:id/fundings.
func (s *Server) fundAccount(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req fundingRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	f, acct, err := s.deps.Spend.Fund(c.Request().Context(), partnerOf(c).ID, id, req.Amount)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]string{"id": f.ID.String(), "account_id": f.AccountID.String(), "amount": f.Amount.String(),
		"balance": acct.Balance.String(), "available": acct.Available.String(), "created_at": ts(f.CreatedAt)})
}

type limitView struct {
	Duration   string  `json:"duration"`
	Since      *string `json:"since"`
	Used       *string `json:"used"`
	Configured *string `json:"configured"`
	Available  *string `json:"available"`
}

// spendLimits is GET /v3/cards/:id/spend_limits.
func (s *Server) spendLimits(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	limits, err := s.deps.Spend.Limits(c.Request().Context(), partnerOf(c).ID, id)
	if err != nil {
		return err
	}
	str := func(a card.Amount) *string { v := a.String(); return &v }
	out := make([]limitView, 0, len(limits))
	for _, l := range limits {
		v := limitView{Duration: string(l.Duration)}
		if l.Duration != card.DurationTransaction {
			v.Used = str(l.Used)
			if !l.Since.IsZero() {
				since := ts(l.Since)
				v.Since = &since
			}
		}
		if l.Configured != nil {
			v.Configured = str(*l.Configured)
			if l.Duration != card.DurationTransaction {
				v.Available = str(*l.Available)
			}
		}
		out = append(out, v)
	}
	return c.JSON(http.StatusOK, map[string]any{"data": out})
}
