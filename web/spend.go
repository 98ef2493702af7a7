package web

import (
	"net/http"
	"strconv"

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
	ID                     string        `json:"id"`
	DecidedBy              string        `json:"decided_by"`
	Decision               *decisionView `json:"decision,omitempty"`
	CardID                 *string       `json:"card_id"`
	AccountID              *string       `json:"account_id"`
	EntryMode              string        `json:"entry_mode,omitempty"`
	TokenID                *string       `json:"token_id,omitempty"`
	OutOfScope             *string       `json:"out_of_scope,omitempty"`
	InitialAuthorizationID *string       `json:"initial_authorization_id,omitempty"`
	Verification           *verification `json:"verification,omitempty"`
	Amount                 string        `json:"amount"`
	Currency               string        `json:"currency"`
	Merchant               merchantJSON  `json:"merchant"`
	Status                 string        `json:"status"`
	DeclineReason          *string       `json:"decline_reason"`
	HeldAmount             string        `json:"held_amount"`
	ClearedAmount          *string       `json:"cleared_amount"`
	CreatedAt              string        `json:"created_at"`
	UpdatedAt              string        `json:"updated_at"`
}

func viewAuthorization(a spend.Authorization) authorizationView {
	v := authorizationView{ID: a.ID.String(), CardID: optID(nonZero(a.CardID)), AccountID: optID(nonZero(a.AccountID)), Amount: a.Amount.String(),
		EntryMode: string(a.EntryMode),
		Currency:  a.Currency, Merchant: merchantJSON(a.Merchant), Status: string(a.Status), HeldAmount: a.Held.String(),
		CreatedAt: ts(a.CreatedAt), UpdatedAt: ts(a.UpdatedAt)}
	if a.DeclineReason != "" {
		r := a.DeclineReason
		v.DeclineReason = &r
	}
	v.TokenID, v.OutOfScope, v.InitialAuthorizationID = optID(nonZero(a.TokenID)), optString(a.OutOfScope), optID(nonZero(a.InitialAuthorizationID))
	if a.Verification != nil {
		v.Verification = &verification{CVV: string(a.Verification.CVV), Expiry: string(a.Verification.Expiry), PIN: string(a.Verification.PIN)}
	}
	if a.Cleared != nil {
		c := a.Cleared.String()
		v.ClearedAmount = &c
	}
	v.DecidedBy = string(spend.DecidedByVaultpage)
	if d := a.Decision; d != nil {
		v.DecidedBy = string(d.By)
		v.Decision = &decisionView{LatencyMS: float64(d.Latency.Microseconds()) / 1000, RequestedAmount: d.Requested.String()}
		if d.Cause != "" {
			v.Decision.StandInCause = &d.Cause
		}
		if d.Reason != "" {
			v.Decision.Reason = &d.Reason
		}
		if d.Funded > 0 {
			f := d.Funded.String()
			v.Decision.FundedAmount = &f
		}
	}
	return v
}

// decisionView is how the partner's real-time decision endpoint took part
// in an authorisation.
type decisionView struct {
	LatencyMS       float64 `json:"latency_ms"`
	StandInCause    *string `json:"stand_in_cause"`
	Reason          *string `json:"reason"`
	RequestedAmount string  `json:"requested_amount"`
	FundedAmount    *string `json:"funded_amount"`
}

// verification is what presented card data checked: each match, mismatch
// or not_provided.
type verification struct {
	CVV    string `json:"cvv"`
	Expiry string `json:"expiry"`
	PIN    string `json:"pin"`
}

// nonZero is id's address, nil for the zero id (an authorisation of card
// data no card carries has no card and no account).
func nonZero(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}

// payment is a payment as a terminal presents it: the fields the sandbox's
// and the network's authorisations share.
type payment struct {
	PAN       *string      `json:"pan"`
	ExpMonth  string       `json:"exp_month"`
	ExpYear   string       `json:"exp_year"`
	CVV       *string      `json:"cvv"`
	EntryMode string       `json:"entry_mode"`
	Amount    string       `json:"amount"`
	Currency  string       `json:"currency"`
	Merchant  merchantJSON `json:"merchant"`
	// AuthenticationID names the online payment's authentication
	// (POST /v3/simulations/authentications).
	AuthenticationID string `json:"authentication_id"`
	// OutOfScope says why an online payment is outside SCA's scope
	// (moto, merchant_initiated).
	OutOfScope string `json:"out_of_scope"`
	// InitialAuthorizationID names a merchant-initiated payment's
	// mandate: the cardholder's authenticated payment that set it up.
	InitialAuthorizationID string `json:"initial_authorization_id"`
}

// sca reads the payment's SCA fields: its authentication, or why it is
// outside SCA's scope. Errors: *Problem naming the field.
func (r payment) sca(sr *spend.Request) error {
	var err error
	if sr.AuthenticationID, err = authenticationOf(r.AuthenticationID); err != nil {
		return err
	}
	sr.OutOfScope = r.OutOfScope
	if r.InitialAuthorizationID != "" {
		if sr.InitialAuthorizationID, err = uuidField("initial_authorization_id", r.InitialAuthorizationID); err != nil {
			return err
		}
	}
	return nil
}

type authorizationRequest struct {
	CardID  string  `json:"card_id"`
	TokenID string  `json:"token_id"`
	PIN     *string `json:"pin"`
	payment
}

// cardData reads the card as the request presents it: card_id, or pan with
// its expiry and cvv or pin, never both. Errors: *Problem naming the field.
func (r authorizationRequest) cardData() (uuid.UUID, *spend.CardData, error) {
	if r.TokenID != "" {
		return uuid.Nil, nil, nil // read by tokenOf
	}
	if r.PAN == nil {
		for name, set := range map[string]bool{"exp_month": r.ExpMonth != "", "exp_year": r.ExpYear != "", "cvv": r.CVV != nil,
			"pin": r.PIN != nil, "entry_mode": r.EntryMode != ""} {
			if set {
				return uuid.Nil, nil, fieldProblem(http.StatusUnprocessableEntity, "invalid_field", name, "is given only with pan")
			}
		}
		id, err := uuidField("card_id", r.CardID)
		return id, nil, err
	}
	if r.CardID != "" {
		return uuid.Nil, nil, fieldProblem(http.StatusUnprocessableEntity, "invalid_field", "card_id", "give card_id or pan, not both")
	}
	d, err := r.cardFields()
	if err != nil {
		return uuid.Nil, nil, err
	}
	if r.PIN != nil {
		d.PIN = []byte(*r.PIN)
	}
	return uuid.Nil, d, nil
}

// cardFields reads pan, expiry, entry mode and cvv. Errors: *Problem
// naming the field.
func (r payment) cardFields() (*spend.CardData, error) {
	if r.PAN == nil {
		return nil, fieldProblem(http.StatusUnprocessableEntity, "invalid_field", "pan", "is required")
	}
	month, err := strconv.Atoi(r.ExpMonth)
	if err != nil || !digits(r.ExpMonth, 2) {
		return nil, fieldProblem(http.StatusUnprocessableEntity, "invalid_field", "exp_month", "must be two digits 01 to 12")
	}
	year, err := strconv.Atoi(r.ExpYear)
	if err != nil || !digits(r.ExpYear, 4) {
		return nil, fieldProblem(http.StatusUnprocessableEntity, "invalid_field", "exp_year", "must be four digits")
	}
	if r.EntryMode == "" {
		return nil, fieldProblem(http.StatusUnprocessableEntity, "invalid_field", "entry_mode", "is required with pan")
	}
	d := &spend.CardData{PAN: []byte(*r.PAN), ExpMonth: month, ExpYear: year, EntryMode: spend.EntryMode(r.EntryMode)}
	if r.CVV != nil {
		d.CVV = []byte(*r.CVV)
	}
	return d, nil
}

// digits tells whether s is n decimal digits (strconv.Atoi also takes a
// sign).
func digits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// simulateAuthorization is POST /v3/simulations/authorizations.
func (s *Server) simulateAuthorization(c echo.Context) error {
	var req authorizationRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	id, data, err := req.cardData()
	if err != nil {
		return err
	}
	sr := spend.Request{CardID: id, Card: data, Amount: req.Amount, Currency: req.Currency, Merchant: spend.Merchant(req.Merchant)}
	defer sr.Card.Wipe()
	if err := req.sca(&sr); err != nil {
		return err
	}
	if req.TokenID != "" {
		if req.CardID != "" || req.PAN != nil || req.CVV != nil || req.PIN != nil || req.ExpMonth != "" || req.ExpYear != "" {
			return fieldProblem(http.StatusUnprocessableEntity, "invalid_field", "token_id", "a payment comes by token_id alone, without card_id or card data")
		}
		if sr.TokenID, err = uuidField("token_id", req.TokenID); err != nil {
			return err
		}
		sr.TokenEntry = spend.EntryMode(req.EntryMode)
	}
	ctx, pid := c.Request().Context(), partnerOf(c).ID
	key := c.Request().Header.Get("Idempotency-Key")
	if key == "" {
		a, err := s.deps.Spend.Authorize(ctx, pid, sr)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, viewAuthorization(a))
	}
	// The partner may be asked in real time, which no transaction may wait
	// for: the request is prepared (checked, the partner asked) before its
	// Idempotency-Key is claimed, and decided, a decline of vaultpage's
	// checks recorded, in the keyed transaction. A key that holds a
	// response already is replayed without preparing; one this process is
	// preparing already is in use.
	if err := keyProblem(key); err != nil {
		return err
	}
	answered, err := s.keyAnswered(c)
	if err != nil {
		return err
	}
	var p *spend.Prepared
	if !answered {
		k := [2]string{pid.String(), key}
		if !s.preparing.enter(k) {
			return problem(http.StatusConflict, "idempotency_key_in_use", "a request with this Idempotency-Key is still running")
		}
		defer s.preparing.leave(k)
		if p, err = s.deps.Spend.Prepare(ctx, pid, sr); err != nil {
			return err
		}
	}
	return s.keyed(c, func(c echo.Context) error {
		if p == nil {
			// Answered when peeked at, yet claimed now: it expired in
			// between. Preparing here would ask the partner inside the
			// transaction; the partner retries instead.
			return problem(http.StatusConflict, "idempotency_key_in_use", "the Idempotency-Key changed meanwhile; retry")
		}
		a, err := p.Commit(c.Request().Context())
		if err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, viewAuthorization(a))
	})
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
