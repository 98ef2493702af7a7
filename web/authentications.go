package web

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/vaultpage/vaultpage/spend"
)

// payeeJSON is the merchant an online payment goes to, as an
// authentication request names it: a payment's merchant and its site.
type payeeJSON struct {
	Name    string `json:"name"`
	URL     string `json:"url"`
	MCC     string `json:"mcc"`
	Country string `json:"country"`
	ID      string `json:"id"`
}

// authenticationRequest is a merchant's authentication request, in the
// sandbox and on the network listener: the card's number and expiry (no
// CVV2: the authorisation carries it), or a wallet token.
type authenticationRequest struct {
	PAN                 *string   `json:"pan"`
	ExpMonth            string    `json:"exp_month"`
	ExpYear             string    `json:"exp_year"`
	TokenID             string    `json:"token_id"`
	Amount              string    `json:"amount"`
	Currency            string    `json:"currency"`
	Merchant            payeeJSON `json:"merchant"`
	ChallengePreference string    `json:"challenge_preference"`
}

// read turns the request into the domain's. Errors: *Problem naming the
// field.
func (r authenticationRequest) read() (spend.AuthenticationRequest, error) {
	out := spend.AuthenticationRequest{Amount: r.Amount, Currency: r.Currency, Payee: spend.Payee(r.Merchant),
		Preference: spend.ChallengePreference(r.ChallengePreference)}
	if r.TokenID != "" {
		if r.PAN != nil || r.ExpMonth != "" || r.ExpYear != "" {
			return out, fieldProblem(http.StatusUnprocessableEntity, "invalid_field", "token_id", "an authentication names the card by token_id or by pan, not both")
		}
		id, err := uuidField("token_id", r.TokenID)
		if err != nil {
			return out, err
		}
		out.TokenID = id
		return out, nil
	}
	if r.PAN == nil {
		return out, fieldProblem(http.StatusUnprocessableEntity, "invalid_field", "pan", "give the card's pan with its expiry, or a token_id")
	}
	d, err := payment{PAN: r.PAN, ExpMonth: r.ExpMonth, ExpYear: r.ExpYear, EntryMode: string(spend.EntryEcommerce)}.cardFields()
	if err != nil {
		return out, err
	}
	out.Card = d
	return out, nil
}

// authenticationAnswer is what an authentication's answer says on both
// doors; authenticationView adds, for the partner, whose it is and how it
// went.
type authenticationAnswer struct {
	ID              string  `json:"id"`
	TransStatus     string  `json:"trans_status"`
	MessageVersion  string  `json:"message_version"`
	Exemption       *string `json:"exemption"`
	RejectionReason *string `json:"rejection_reason"`
	FailureReason   *string `json:"failure_reason"`
	ChallengeURL    *string `json:"challenge_url"`
	Amount          string  `json:"amount"`
	Currency        string  `json:"currency"`
	ExpiresAt       string  `json:"expires_at"`
	CreatedAt       string  `json:"created_at"`
}

// authenticationView is an authentication as the partner sees it.
type authenticationView struct {
	authenticationAnswer
	CardID              *string   `json:"card_id"`
	Status              string    `json:"status"`
	Method              *string   `json:"method"`
	ConsentID           *string   `json:"consent_id"`
	DecidedBy           string    `json:"decided_by"`
	Merchant            payeeJSON `json:"merchant"`
	ChallengePreference string    `json:"challenge_preference"`
	AuthorizationID     *string   `json:"authorization_id"`
	UpdatedAt           string    `json:"updated_at"`
}

// authenticationStatus names an answer in the partner API's words: a Y
// without the cardholder is frictionless, one after a challenge
// authenticated.
func authenticationStatus(a spend.Authentication) string {
	switch a.TransStatus {
	case spend.TransAuthenticated:
		if a.Method != "" {
			return "authenticated"
		}
		return "frictionless"
	case spend.TransChallenge:
		return "challenge_required"
	case spend.TransNotAuthenticated:
		return "failed"
	}
	return "rejected"
}

// optString is s's address, nil for "".
func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func viewAuthentication(a spend.Authentication) authenticationView {
	n := authenticationAnswer{ID: a.ID.String(), TransStatus: string(a.TransStatus), MessageVersion: spend.MessageVersion, Exemption: optString(a.Exemption),
		ChallengeURL: optString(a.ChallengeURL), Amount: a.Amount.String(), Currency: a.Currency, ExpiresAt: ts(a.ExpiresAt), CreatedAt: ts(a.CreatedAt)}
	if a.TransStatus == spend.TransNotAuthenticated {
		n.FailureReason = optString(a.Reason)
	} else {
		n.RejectionReason = optString(a.Reason)
	}
	return authenticationView{authenticationAnswer: n, CardID: optID(nonZero(a.CardID)), Status: authenticationStatus(a), Method: optString(a.Method),
		ConsentID: optID(nonZero(a.ConsentID)), DecidedBy: string(a.DecidedBy), Merchant: payeeJSON(a.Payee), ChallengePreference: string(a.Preference),
		AuthorizationID: optID(nonZero(a.AuthorizationID)), UpdatedAt: ts(a.UpdatedAt)}
}

// simulateAuthentication is POST /v3/simulations/authentications: a
// merchant's authentication request for one of the partner's cards.
func (s *Server) simulateAuthentication(c echo.Context) error {
	var req authenticationRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	r, err := req.read()
	if err != nil {
		return err
	}
	defer r.Card.Wipe()
	pid := partnerOf(c).ID
	a, err := s.deps.Spend.Authenticate(c.Request().Context(), &pid, r)
	if err != nil {
		return err
	}
	v := viewAuthentication(a)
	if v.ChallengeURL != nil {
		// The challenge URL carries a single-use token and is shown once:
		// an idempotent replay gets the answer without it, so that the
		// idempotency store never holds it.
		redacted := v
		redacted.ChallengeURL = nil
		b, err := json.Marshal(redacted)
		if err != nil {
			return err
		}
		c.Set(ctxReplayBody, append(b, '\n'))
	}
	return c.JSON(http.StatusCreated, v)
}

// getAuthentication is GET /v3/authentications/:id.
func (s *Server) getAuthentication(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	a, err := s.deps.Spend.Authentication(c.Request().Context(), partnerOf(c).ID, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewAuthentication(a))
}

// networkAuthenticate is POST /network/v1/authentications: a 3-D Secure
// server's authentication request, through the directory-server adapter.
func (s *Server) networkAuthenticate(c echo.Context) error {
	var req authenticationRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	r, err := req.read()
	if err != nil {
		return err
	}
	defer r.Card.Wipe()
	a, err := s.deps.Spend.Authenticate(c.Request().Context(), nil, r)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, viewAuthentication(a).authenticationAnswer)
}

// networkAuthentication is GET /network/v1/authentications/:id: a 3-D
// Secure server polls a challenged payment's outcome.
func (s *Server) networkAuthentication(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	a, err := s.deps.Spend.Network().Authentication(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewAuthentication(a).authenticationAnswer) // as the network hears it: no partner's or card's id
}

// authenticationOf reads an authorisation's authentication_id (uuid.Nil
// when it names none). Errors: *Problem naming the field.
func authenticationOf(id string) (uuid.UUID, error) {
	if id == "" {
		return uuid.Nil, nil
	}
	return uuidField("authentication_id", id)
}

type scaPolicyRequest struct {
	Policy string `json:"policy"`
}

type scaPolicyView struct {
	Policy    string  `json:"policy"`
	UpdatedAt *string `json:"updated_at"`
}

func viewSCAPolicy(p spend.SCAPolicy, at time.Time) scaPolicyView {
	v := scaPolicyView{Policy: string(p)}
	if !at.IsZero() {
		u := ts(at)
		v.UpdatedAt = &u
	}
	return v
}

// getSCAPolicy is GET /v3/sca_policy.
func (s *Server) getSCAPolicy(c echo.Context) error {
	p, at, err := s.deps.Spend.SCAPolicyOf(c.Request().Context(), partnerOf(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewSCAPolicy(p, at))
}

// putSCAPolicy is PUT /v3/sca_policy.
func (s *Server) putSCAPolicy(c echo.Context) error {
	var req scaPolicyRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	p := spend.SCAPolicy(req.Policy)
	at, err := s.deps.Spend.SetSCAPolicy(c.Request().Context(), partnerOf(c).ID, p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewSCAPolicy(p, at))
}
