package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/consent"
	"github.com/vaultpage/vaultpage/partner"
)

// token is POST /v3/oauth/token: OAuth 2.0 client credentials (RFC 6749
// 4.4), the client authenticated by HTTP Basic (2.3.1, the id and secret
// form-urlencoded inside it) or by client_id and client_secret in the form,
// never both. Errors are RFC 6749 5.2 JSON (oauthErrors renders them).
func (s *Server) token(c echo.Context) error {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	if !strings.HasPrefix(ct, echo.MIMEApplicationForm) {
		return problem(http.StatusUnsupportedMediaType, "unsupported_media_type", "send the token request as application/x-www-form-urlencoded")
	}
	body, err := readBody(c)
	if err != nil {
		return err
	}
	c.Request().Body = http.NoBody
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return oauthProblem(http.StatusBadRequest, "invalid_request", "the form is malformed")
	}
	for name, values := range form {
		field := strings.Map(printable, name)
		for _, v := range values {
			if hasControl(name) || hasControl(v) {
				p := oauthProblem(http.StatusBadRequest, "invalid_request", "form fields must not contain control characters")
				p.Field = field
				return p
			}
		}
		if len(values) > 1 {
			// RFC 6749 3.2: parameters must not be included more than once.
			// The description is fixed text: RFC 6749 5.2 limits its
			// characters, and the name is the client's.
			p := oauthProblem(http.StatusBadRequest, "invalid_request", "a parameter is given more than once")
			p.Field = field
			return p
		}
	}
	switch form.Get("grant_type") {
	case "client_credentials":
	case "":
		p := oauthProblem(http.StatusBadRequest, "invalid_request", "grant_type is required")
		p.Field = "grant_type"
		return p
	default:
		p := oauthProblem(http.StatusBadRequest, "unsupported_grant_type", "grant_type must be client_credentials")
		p.Field = "grant_type"
		return p
	}
	id, secret, err := clientCredentials(c.Request(), form)
	if err != nil {
		return err
	}
	tok, err := s.deps.Partners.IssueToken(c.Request().Context(), id, secret)
	if errors.Is(err, partner.ErrInvalidClient) {
		return oauthProblem(http.StatusUnauthorized, "invalid_client", "the client credentials are not valid")
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{
		"access_token": tok.AccessToken,
		"token_type":   "Bearer",
		"expires_in":   int(tok.ExpiresIn.Seconds()),
	})
}

// clientCredentials reads the client's id and secret from the one method it
// used: an HTTP Basic Authorization header, whose user and password are
// form-urlencoded (RFC 6749 2.3.1), or the form's client_id and
// client_secret. A request that uses both, or an Authorization header of
// another scheme, is refused.
func clientCredentials(r *http.Request, form url.Values) (id, secret string, err error) {
	invalid := oauthProblem(http.StatusUnauthorized, "invalid_client", "the client credentials are not valid")
	if r.Header.Get(echo.HeaderAuthorization) == "" {
		id, secret = form.Get("client_id"), form.Get("client_secret")
		if id == "" || secret == "" {
			return "", "", oauthProblem(http.StatusUnauthorized, "invalid_client", "client credentials are required")
		}
		return id, secret, nil
	}
	if form.Has("client_id") || form.Has("client_secret") {
		return "", "", oauthProblem(http.StatusBadRequest, "invalid_request",
			"authenticate the client one way: the Authorization header or client_id and client_secret in the form, not both")
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return "", "", invalid
	}
	if id, err = url.QueryUnescape(user); err != nil {
		return "", "", invalid
	}
	if secret, err = url.QueryUnescape(pass); err != nil {
		return "", "", invalid
	}
	if id == "" || secret == "" || hasControl(id) || hasControl(secret) {
		return "", "", invalid
	}
	return id, secret, nil
}

// oauthProblem is an error of the token endpoint: code is the RFC 6749 5.2
// error code, detail its error_description.
func oauthProblem(status int, code, detail string) *Problem {
	p := problem(status, code, detail)
	p.OAuthError, p.OAuthDescription = code, detail
	return p
}

// individualView is an individual on the wire.
type individualView struct {
	ID        string `json:"id"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Email     string `json:"email,omitempty"`
	Phone     string `json:"phone,omitempty"`
	Locale    string `json:"locale"`
	CreatedAt string `json:"created_at"`
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func viewIndividual(i card.Individual) individualView {
	return individualView{ID: i.ID.String(), FirstName: i.FirstName, LastName: i.LastName, Email: i.Email, Phone: i.Phone, Locale: i.Locale, CreatedAt: ts(i.CreatedAt)}
}

type accountView struct {
	ID           string `json:"id"`
	IndividualID string `json:"individual_id"`
	Currency     string `json:"currency"`
	Balance      string `json:"balance"`
	Available    string `json:"available"`
	CreatedAt    string `json:"created_at"`
}

func viewAccount(a card.Account) accountView {
	return accountView{ID: a.ID.String(), IndividualID: a.IndividualID.String(), Currency: a.Currency,
		Balance: a.Balance.String(), Available: a.Available.String(), CreatedAt: ts(a.CreatedAt)}
}

type cardView struct {
	ID                  string          `json:"id"`
	DisplayName         string          `json:"display_name"`
	Type                string          `json:"type"`
	Brand               string          `json:"brand"`
	Region              string          `json:"region"`
	ExpMonth            string          `json:"exp_month"`
	ExpYear             string          `json:"exp_year"`
	Last4               string          `json:"last4"`
	Currency            string          `json:"currency"`
	AccountID           string          `json:"account_id"`
	IndividualID        string          `json:"individual_id"`
	Status              string          `json:"status"`
	SpendLimit          *string         `json:"spend_limit"`
	SpendLimitDuration  *string         `json:"spend_limit_duration"`
	ReplacesID          *string         `json:"replaces_id,omitempty"`
	ReplacedByID        *string         `json:"replaced_by_id,omitempty"`
	Usage               string          `json:"usage"`
	MerchantLockedTo    *string         `json:"merchant_locked_to"`
	AllowedMCCs         []string        `json:"allowed_mccs"`
	BlockedMCCs         []string        `json:"blocked_mccs"`
	AllowedCountries    []string        `json:"allowed_countries"`
	BlockedCountries    []string        `json:"blocked_countries"`
	ShippingAddress     *address        `json:"shipping_address,omitempty"`
	BillingAddress      *address        `json:"billing_address,omitempty"`
	Fulfilment          *fulfilmentView `json:"fulfilment,omitempty"`
	PINBlocked          bool            `json:"pin_blocked"`
	CardDataLockedUntil *string         `json:"card_data_locked_until"`
	CreatedAt           string          `json:"created_at"`
	UpdatedAt           string          `json:"updated_at"`
}

// fulfilmentView is a physical card's way to the cardholder.
type fulfilmentView struct {
	Status         string `json:"status"`
	Carrier        string `json:"carrier,omitempty"`
	TrackingNumber string `json:"tracking_number,omitempty"`
	UpdatedAt      string `json:"updated_at"`
}

func viewFulfilment(f *card.Fulfilment) *fulfilmentView {
	if f == nil {
		return nil
	}
	return &fulfilmentView{Status: string(f.Status), Carrier: f.Carrier, TrackingNumber: f.TrackingNumber, UpdatedAt: ts(f.UpdatedAt)}
}

// address is a postal address on the wire, in a request and a response.
type address struct {
	Line1      string `json:"line1"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city"`
	PostalCode string `json:"postal_code"`
	Region     string `json:"region,omitempty"`
	Country    string `json:"country"`
}

func (a *address) domain() *card.Address {
	if a == nil {
		return nil
	}
	return &card.Address{Line1: a.Line1, Line2: a.Line2, City: a.City, PostalCode: a.PostalCode, Region: a.Region, Country: a.Country}
}

func viewAddress(a *card.Address) *address {
	if a == nil {
		return nil
	}
	return &address{Line1: a.Line1, Line2: a.Line2, City: a.City, PostalCode: a.PostalCode, Region: a.Region, Country: a.Country}
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func optID(id *uuid.UUID) *string {
	if id == nil {
		return nil
	}
	s := id.String()
	return &s
}

func viewCard(c card.Card) cardView {
	v := cardView{
		ID: c.ID.String(), DisplayName: c.DisplayName, Type: string(c.Type), Brand: c.Brand, Region: c.Region,
		ExpMonth: twoDigits(c.ExpMonth), ExpYear: strconv.Itoa(c.ExpYear), Last4: c.Last4, Currency: c.Currency,
		AccountID: c.AccountID.String(), IndividualID: c.IndividualID.String(), Status: string(c.Status),
		ReplacesID: optID(c.ReplacesID), ReplacedByID: optID(c.ReplacedByID), CreatedAt: ts(c.CreatedAt), UpdatedAt: ts(c.UpdatedAt),
	}
	if c.SpendLimit != nil {
		l, d := c.SpendLimit.String(), string(c.SpendLimitDuration)
		v.SpendLimit, v.SpendLimitDuration = &l, &d
	}
	v.Usage = string(c.Usage)
	if c.LockedMerchant != "" {
		m := c.LockedMerchant
		v.MerchantLockedTo = &m
	}
	v.AllowedMCCs, v.BlockedMCCs, v.AllowedCountries, v.BlockedCountries = nonNil(c.AllowedMCCs), nonNil(c.BlockedMCCs), nonNil(c.AllowedCountries), nonNil(c.BlockedCountries)
	v.ShippingAddress, v.BillingAddress = viewAddress(c.ShippingAddress), viewAddress(c.BillingAddress)
	v.Fulfilment = viewFulfilment(c.Fulfilment)
	v.PINBlocked = c.PINBlocked
	if c.CardDataLockedUntil != nil {
		t := ts(*c.CardDataLockedUntil)
		v.CardDataLockedUntil = &t
	}
	return v
}

func twoDigits(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

type restrictionView struct {
	ID              string `json:"id"`
	CardID          string `json:"card_id"`
	RestrictionType string `json:"restriction_type"`
	MaxAmount       string `json:"max_amount"`
	CreatedAt       string `json:"created_at"`
	UpdatedAt       string `json:"updated_at"`
}

func viewRestriction(r card.Restriction) restrictionView {
	return restrictionView{ID: r.ID.String(), CardID: r.CardID.String(), RestrictionType: r.Type, MaxAmount: r.MaxAmount.String(),
		CreatedAt: ts(r.CreatedAt), UpdatedAt: ts(r.UpdatedAt)}
}

// listView is one page of a list.
type listView[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

func page[T, V any](items []T, limit int, id func(T) uuid.UUID, view func(T) V) listView[V] {
	out := listView[V]{Data: make([]V, 0, len(items))}
	for _, it := range items {
		out.Data = append(out.Data, view(it))
	}
	if len(items) == limit && limit > 0 {
		next := id(items[len(items)-1]).String()
		out.NextCursor = &next
	}
	return out
}

// pageParams reads limit (1 to 100, default 20) and cursor.
func pageParams(c echo.Context) (card.Page, error) {
	p := card.Page{Limit: 20}
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return p, fieldProblem(http.StatusBadRequest, "invalid_query", "limit", "must be a whole number from 1 to 100")
		}
		p.Limit = n
	}
	if v := c.QueryParam("cursor"); v != "" {
		u, err := uuid.Parse(v)
		if err != nil {
			return p, fieldProblem(http.StatusBadRequest, "invalid_query", "cursor", "is not a cursor this API gave")
		}
		p.After = u
	}
	return p, nil
}

func queryUUID(c echo.Context, name string) (*uuid.UUID, error) {
	v := c.QueryParam(name)
	if v == "" {
		return nil, nil
	}
	u, err := uuid.Parse(v)
	if err != nil || len(v) != 36 {
		return nil, fieldProblem(http.StatusBadRequest, "invalid_query", name, "must be a UUID")
	}
	return &u, nil
}

func queryTime(c echo.Context, name string) (*time.Time, error) {
	v := c.QueryParam(name)
	if v == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return nil, fieldProblem(http.StatusBadRequest, "invalid_query", name, "must be an RFC 3339 timestamp")
	}
	return &t, nil
}

type createIndividualRequest struct {
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Email     string `json:"email"`
	Phone     string `json:"phone"`
	Locale    string `json:"locale"`
}

func (s *Server) createIndividual(c echo.Context) error {
	var req createIndividualRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	i, err := s.deps.Cards.CreateIndividual(c.Request().Context(), actorOf(c), card.IndividualInput(req))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, viewIndividual(i))
}

func (s *Server) getIndividual(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	i, err := s.deps.Cards.Individual(c.Request().Context(), actorOf(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewIndividual(i))
}

func (s *Server) listIndividuals(c echo.Context) error {
	p, err := pageParams(c)
	if err != nil {
		return err
	}
	items, err := s.deps.Cards.ListIndividuals(c.Request().Context(), actorOf(c), p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page(items, p.Limit, func(i card.Individual) uuid.UUID { return i.ID }, viewIndividual))
}

type createAccountRequest struct {
	IndividualID string `json:"individual_id"`
	Currency     string `json:"currency"`
}

func (s *Server) createAccount(c echo.Context) error {
	var req createAccountRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	iid, err := uuidField("individual_id", req.IndividualID)
	if err != nil {
		return err
	}
	a, err := s.deps.Cards.CreateAccount(c.Request().Context(), actorOf(c), iid, req.Currency)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, viewAccount(a))
}

func (s *Server) getAccount(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	a, err := s.deps.Cards.Account(c.Request().Context(), actorOf(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewAccount(a))
}

func (s *Server) listAccounts(c echo.Context) error {
	p, err := pageParams(c)
	if err != nil {
		return err
	}
	iid, err := queryUUID(c, "individual_id")
	if err != nil {
		return err
	}
	items, err := s.deps.Cards.ListAccounts(c.Request().Context(), actorOf(c), iid, p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page(items, p.Limit, func(a card.Account) uuid.UUID { return a.ID }, viewAccount))
}

type createCardRequest struct {
	IndividualID       string   `json:"individual_id"`
	AccountID          string   `json:"account_id"`
	DisplayName        string   `json:"display_name"`
	Type               string   `json:"type"`
	ExpMonth           string   `json:"exp_month"`
	ExpYear            string   `json:"exp_year"`
	SpendLimit         string   `json:"spend_limit"`
	SpendLimitDuration string   `json:"spend_limit_duration"`
	Usage              string   `json:"usage"`
	ShippingAddress    *address `json:"shipping_address"`
	BillingAddress     *address `json:"billing_address"`
	controlsRequest
}

// controlsRequest are the control lists a card order or update may set.
type controlsRequest struct {
	AllowedMCCs      *[]string `json:"allowed_mccs"`
	BlockedMCCs      *[]string `json:"blocked_mccs"`
	AllowedCountries *[]string `json:"allowed_countries"`
	BlockedCountries *[]string `json:"blocked_countries"`
}

func (r controlsRequest) patch() card.ControlsPatch {
	return card.ControlsPatch{AllowedMCCs: r.AllowedMCCs, BlockedMCCs: r.BlockedMCCs, AllowedCountries: r.AllowedCountries, BlockedCountries: r.BlockedCountries}
}

func (s *Server) createCard(c echo.Context) error {
	var req createCardRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	iid, err := uuidField("individual_id", req.IndividualID)
	if err != nil {
		return err
	}
	aid, err := uuidField("account_id", req.AccountID)
	if err != nil {
		return err
	}
	cd, err := s.deps.Cards.CreateCard(c.Request().Context(), actorOf(c), card.Input{
		IndividualID: iid, AccountID: aid, DisplayName: req.DisplayName, Type: card.Type(req.Type),
		ExpMonth: req.ExpMonth, ExpYear: req.ExpYear, SpendLimit: req.SpendLimit, SpendLimitDuration: card.Duration(req.SpendLimitDuration),
		Usage: card.Usage(req.Usage), Controls: req.patch(),
		ShippingAddress: req.ShippingAddress.domain(), BillingAddress: req.BillingAddress.domain(),
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, viewCard(cd))
}

func (s *Server) getCard(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	cd, err := s.deps.Cards.Card(c.Request().Context(), actorOf(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewCard(cd))
}

func (s *Server) listCards(c echo.Context) error {
	p, err := pageParams(c)
	if err != nil {
		return err
	}
	var f card.Filter
	if f.AccountID, err = queryUUID(c, "account_id"); err != nil {
		return err
	}
	if f.IndividualID, err = queryUUID(c, "individual_id"); err != nil {
		return err
	}
	if v := c.QueryParam("status"); v != "" {
		st := card.Status(v)
		if !st.Valid() {
			return fieldProblem(http.StatusBadRequest, "invalid_query", "status", "is not a card status")
		}
		f.Status = &st
	}
	if f.CreatedAfter, err = queryTime(c, "created_after"); err != nil {
		return err
	}
	if f.CreatedBefore, err = queryTime(c, "created_before"); err != nil {
		return err
	}
	items, err := s.deps.Cards.ListCards(c.Request().Context(), actorOf(c), f, p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page(items, p.Limit, func(cd card.Card) uuid.UUID { return cd.ID }, viewCard))
}

type patchCardRequest struct {
	DisplayName        *string `json:"display_name"`
	Status             *string `json:"status"`
	SpendLimit         *string `json:"spend_limit"`
	SpendLimitDuration *string `json:"spend_limit_duration"`
	controlsRequest
}

func (s *Server) patchCard(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req patchCardRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	var p card.Patch
	p.DisplayName, p.SpendLimit, p.Controls = req.DisplayName, req.SpendLimit, req.patch()
	if req.Status != nil {
		st := card.ParseStatus(*req.Status)
		p.Status = &st
	}
	if req.SpendLimitDuration != nil {
		d := card.Duration(*req.SpendLimitDuration)
		p.SpendLimitDuration = &d
	}
	cd, err := s.deps.Cards.UpdateCard(c.Request().Context(), actorOf(c), id, p)
	var sca *card.SCARequiredError
	switch {
	case errors.As(err, &sca) && sca.Action == "unfreeze":
		return s.requireConsent(c, sca.Card, consent.ActionUnfreeze)
	case errors.As(err, &sca):
		return problem(http.StatusConflict, "invalid_state", "a new physical card is activated by the cardholder: POST /v3/cards/{id}/activate")
	case err != nil:
		return err
	}
	return c.JSON(http.StatusOK, viewCard(cd))
}

func (s *Server) deleteCard(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	cd, err := s.deps.Cards.Terminate(c.Request().Context(), actorOf(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewCard(cd))
}

type reissueRequest struct {
	ReissueType     string   `json:"reissue_type"`
	ShippingAddress *address `json:"shipping_address"`
}

func (s *Server) reissueCard(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req reissueRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	cd, err := s.deps.Cards.Reissue(c.Request().Context(), actorOf(c), id, card.ReissueType(req.ReissueType), req.ShippingAddress.domain())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, viewCard(cd))
}

type fulfilmentRequest struct {
	Status         string `json:"status"`
	Carrier        string `json:"carrier"`
	TrackingNumber string `json:"tracking_number"`
}

// simulateFulfilment is POST /v3/simulations/cards/{id}/fulfilment: the
// sandbox's card bureau and carrier.
func (s *Server) simulateFulfilment(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req fulfilmentRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	cd, err := s.deps.Cards.SimulateFulfilment(c.Request().Context(), actorOf(c), id, card.FulfilmentStatus(req.Status), req.Carrier, req.TrackingNumber)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewCard(cd))
}

type restrictionRequest struct {
	RestrictionType string `json:"restriction_type"`
	MaxAmount       string `json:"max_amount"`
}

func (s *Server) createRestriction(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req restrictionRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	r, err := s.deps.Cards.SetRestriction(c.Request().Context(), actorOf(c), id, req.RestrictionType, req.MaxAmount)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewRestriction(r))
}

func (s *Server) listRestrictions(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	rs, err := s.deps.Cards.Restrictions(c.Request().Context(), actorOf(c), id)
	if err != nil {
		return err
	}
	out := make([]restrictionView, 0, len(rs))
	for _, r := range rs {
		out = append(out, viewRestriction(r))
	}
	return c.JSON(http.StatusOK, map[string]any{"restrictions": out})
}

func (s *Server) restrictionIDs(c echo.Context) (uuid.UUID, uuid.UUID, error) {
	id, err := pathID(c, "id")
	if err != nil {
		return id, id, err
	}
	rid, err := pathID(c, "rid")
	return id, rid, err
}

func (s *Server) getRestriction(c echo.Context) error {
	id, rid, err := s.restrictionIDs(c)
	if err != nil {
		return err
	}
	r, err := s.deps.Cards.Restriction(c.Request().Context(), actorOf(c), id, rid)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewRestriction(r))
}

func (s *Server) updateRestriction(c echo.Context) error {
	id, rid, err := s.restrictionIDs(c)
	if err != nil {
		return err
	}
	var req restrictionRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	r, err := s.deps.Cards.UpdateRestriction(c.Request().Context(), actorOf(c), id, rid, req.RestrictionType, req.MaxAmount)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewRestriction(r))
}

func (s *Server) deleteRestriction(c echo.Context) error {
	id, rid, err := s.restrictionIDs(c)
	if err != nil {
		return err
	}
	r, err := s.deps.Cards.DeleteRestriction(c.Request().Context(), actorOf(c), id, rid)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewRestriction(r))
}
