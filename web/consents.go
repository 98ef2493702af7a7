package web

import (
	"encoding/json"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/consent"
)

// consentRequired is the 412 body: exactly the consent's id, status, action
// and expiry.
type consentRequired struct {
	Consent struct {
		ID        string `json:"id"`
		Status    string `json:"status"`
		Action    string `json:"action"`
		ExpiresAt string `json:"expires_at"`
	} `json:"consent"`
}

// requireConsent creates a pending consent for an action on a card and
// answers 412 with it.
func (s *Server) requireConsent(c echo.Context, cd card.Card, a consent.Action) error {
	cs, err := s.deps.Consents.Require(c.Request().Context(), cd.PartnerID, cd.ID, cd.IndividualID, a)
	if err != nil {
		return err
	}
	var body consentRequired
	body.Consent.ID, body.Consent.Status, body.Consent.Action, body.Consent.ExpiresAt = cs.ID.String(), string(cs.Status), string(cs.Action), ts(cs.ExpiresAt)
	return c.JSON(http.StatusPreconditionFailed, body)
}

// cardFor loads the path's card and checks its status allows the action
// (card.Status.Allows, the rule the hosted pages apply again at every step).
func (s *Server) cardFor(c echo.Context, a consent.Action) (card.Card, error) {
	id, err := pathID(c, "id")
	if err != nil {
		return card.Card{}, err
	}
	cd, err := s.deps.Cards.Card(c.Request().Context(), actorOf(c), id)
	if err != nil {
		return cd, err
	}
	if !cd.Status.Allows(string(a)) {
		return cd, problem(http.StatusConflict, "invalid_state", "the card is "+string(cd.Status)+"; that action is not possible")
	}
	return cd, nil
}

// activateCard is POST /v3/cards/{id}/activate: a new physical card's
// activation, or a frozen card's unfreezing (the seeds' one endpoint for
// both); each needs the cardholder.
func (s *Server) activateCard(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	cd, err := s.deps.Cards.Card(c.Request().Context(), actorOf(c), id)
	if err != nil {
		return err
	}
	action, ok := cd.Status.Activation()
	if !ok {
		return problem(http.StatusConflict, "invalid_state", "the card is "+string(cd.Status)+"; only a new physical card or a frozen one can be activated")
	}
	return s.requireConsent(c, cd, consent.Action(action))
}

func (s *Server) cardCredentials(c echo.Context) error {
	cd, err := s.cardFor(c, consent.ActionReveal)
	if err != nil {
		return err
	}
	return s.requireConsent(c, cd, consent.ActionReveal)
}

type pinRequest struct {
	Operation string `json:"operation"`
}

func (s *Server) cardPIN(c echo.Context) error {
	var req pinRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	a := map[string]consent.Action{"view": consent.ActionPINView, "change": consent.ActionPINChange}[req.Operation]
	if a == "" {
		return fieldProblem(http.StatusUnprocessableEntity, "invalid_field", "operation", "must be view or change")
	}
	cd, err := s.cardFor(c, a)
	if err != nil {
		return err
	}
	if a == consent.ActionPINView {
		has, err := s.deps.Cards.HasPIN(c.Request().Context(), actorOf(c), cd.ID)
		if err != nil {
			return err
		}
		if !has {
			return problem(http.StatusConflict, "no_pin", "the card has no PIN yet; ask for operation change to have the cardholder set one")
		}
	}
	return s.requireConsent(c, cd, a)
}

func (s *Server) applePay(c echo.Context) error {
	cd, err := s.cardFor(c, consent.ActionApplePay)
	if err != nil {
		return err
	}
	return s.requireConsent(c, cd, consent.ActionApplePay)
}

type consentView struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	Action    string `json:"action"`
	CardID    string `json:"card_id"`
	ExpiresAt string `json:"expires_at"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

func viewConsent(cs consent.Consent) consentView {
	return consentView{ID: cs.ID.String(), Status: string(cs.Status), Action: string(cs.Action), CardID: cs.CardID.String(),
		ExpiresAt: ts(cs.ExpiresAt), CreatedAt: ts(cs.CreatedAt), UpdatedAt: ts(cs.UpdatedAt)}
}

func (s *Server) getConsent(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	cs, err := s.deps.Consents.Poll(c.Request().Context(), partnerOf(c).ID, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewConsent(cs))
}

func (s *Server) listConsents(c echo.Context) error {
	p, err := pageParams(c)
	if err != nil {
		return err
	}
	var st *consent.Status
	if v := c.QueryParam("status"); v != "" {
		x := consent.Status(v)
		if !x.Valid() {
			return fieldProblem(http.StatusBadRequest, "invalid_query", "status", "is not a consent status")
		}
		st = &x
	}
	list, err := s.deps.Consents.List(c.Request().Context(), partnerOf(c).ID, st, consent.Page{After: p.After, Limit: p.Limit})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page(list, p.Limit, func(cs consent.Consent) uuid.UUID { return cs.ID }, viewConsent))
}

func (s *Server) cancelConsent(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	cs, err := s.deps.Consents.Cancel(c.Request().Context(), partnerOf(c).ID, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewConsent(cs))
}

type tokenRequest struct {
	ReturnURL string `json:"return_url"`
	Locale    string `json:"locale"`
	Mode      string `json:"mode"`
}

func (s *Server) consentToken(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req tokenRequest
	if c.Request().ContentLength != 0 {
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
	}
	p := partnerOf(c)
	tok, err := s.deps.Consents.IssueToken(c.Request().Context(), p.ID, id,
		consent.TokenOptions{ReturnURL: req.ReturnURL, Locale: req.Locale, Mode: consent.Mode(req.Mode)}, p.ReturnURLs)
	if err != nil {
		return err
	}
	// The token is shown once: an idempotent replay gets the response
	// without it (and without the URL that carries it), so that the
	// idempotency store never holds it.
	redacted, err := json.Marshal(map[string]any{"method": map[string]string{"expires_at": ts(tok.ExpiresAt)}})
	if err != nil {
		return err
	}
	c.Set(ctxReplayBody, append(redacted, '\n'))
	return c.JSON(http.StatusOK, map[string]any{"method": map[string]string{
		"redirect_url": tok.RedirectURL, "token": tok.Value, "expires_at": ts(tok.ExpiresAt),
	}})
}

type simulationRequest struct {
	Outcome string `json:"outcome"`
}

func (s *Server) simulateConsent(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req simulationRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	cs, err := s.deps.Consents.Simulate(c.Request().Context(), partnerOf(c).ID, id, req.Outcome)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewConsent(cs))
}
