package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/consent"
	"github.com/vaultpage/vaultpage/views"
)

// Demo is the development-only demo partner: /demo acts as its app for one
// demo cardholder, calling the same services the partner API calls. It is
// never set outside development.
type Demo struct {
	PartnerID    uuid.UUID
	IndividualID uuid.UUID
	AccountID    uuid.UUID
}

// demoReturnPath is where the hosted pages send the demo cardholder back
// to; the demo partner registers PublicURL + demoReturnPath.
const demoReturnPath = "/demo"

// DemoReturnURL is the return URL the demo partner must register.
func DemoReturnURL(publicURL string) string {
	return strings.TrimRight(publicURL, "/") + demoReturnPath
}

// demoActions are the buttons each card status offers.
var demoActions = map[card.Status][]views.DemoAction{
	card.StatusNotActivated: {{Name: "activate", Label: "Activate card"}, {Name: "reveal", Label: "Show card details", Secondary: true}},
	card.StatusActive: {{Name: "reveal", Label: "Show card details"}, {Name: "pin_view", Label: "Show PIN", Secondary: true},
		{Name: "pin_change", Label: "Change PIN", Secondary: true}, {Name: "freeze", Label: "Freeze card", Secondary: true}},
	card.StatusFrozen: {{Name: "unfreeze", Label: "Unfreeze card"}, {Name: "reveal", Label: "Show card details", Secondary: true}},
}

// demoStatus is a card's status in the words a cardholder uses.
var demoStatus = map[card.Status]string{
	card.StatusNotActivated: "Not activated", card.StatusActive: "Active", card.StatusFrozen: "Frozen",
	card.StatusBlocked: "Blocked", card.StatusLost: "Lost", card.StatusStolen: "Stolen", card.StatusClosed: "Closed", card.StatusExpired: "Expired",
}

func (s *Server) demoActor() card.Actor {
	return card.Actor{PartnerID: s.deps.Demo.PartnerID, Source: "demo"}
}

// demo is GET /demo: the demo app, with the outcome of the consent the
// hosted pages returned from (confirmed by reading the consent, as a
// partner's server must).
func (s *Server) demo(c echo.Context) error {
	ctx := c.Request().Context()
	d := s.deps.Demo
	p, err := s.deps.Partners.Partner(ctx, d.PartnerID)
	if err != nil {
		return err
	}
	ind, err := s.deps.Cards.Individual(ctx, s.demoActor(), d.IndividualID)
	if err != nil {
		return err
	}
	v := views.Demo{CSRF: csrfToken(c), PartnerName: p.Name, FirstName: ind.FirstName, Email: ind.Email}
	if id, err := uuid.Parse(c.QueryParam("consent_id")); err == nil {
		cs, err := s.deps.Consents.Get(ctx, d.PartnerID, id)
		if err == nil {
			v.Outcome = texts["en"][outcomeKey(cs)] + "."
		}
	}
	cards, err := s.deps.Cards.ListCards(ctx, s.demoActor(), card.Filter{IndividualID: &d.IndividualID}, card.Page{Limit: 20})
	if err != nil {
		return err
	}
	for _, cd := range cards {
		v.Cards = append(v.Cards, views.DemoCard{ID: cd.ID.String(), Name: cd.DisplayName, Last4: cd.Last4, Status: demoStatus[cd.Status],
			Actions: demoActions[cd.Status]})
	}
	page := s.page(c, "en", p.Name)
	page.SecuredBy = "" // the demo is the partner's app, not a vaultpage page
	return render(c, http.StatusOK, views.DemoPage(page, v))
}

// demoAddress is where the demo's cards ship.
func demoAddress() *card.Address {
	return &card.Address{Line1: "12 St James's Square", City: "London", PostalCode: "SW1Y 4JH", Country: "GB"}
}

// demoOrder is POST /demo/cards.
func (s *Server) demoOrder(c echo.Context) error {
	d := s.deps.Demo
	// A physical card, so that the demo shows its activation; it ships to
	// the demo cardholder's address.
	if _, err := s.deps.Cards.CreateCard(c.Request().Context(), s.demoActor(), card.Input{IndividualID: d.IndividualID, AccountID: d.AccountID,
		DisplayName: "Demo card", Type: card.TypePhysical, ShippingAddress: demoAddress()}); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, demoReturnPath)
}

// demoAction is POST /demo/cards/:id/:action: what the partner's app does
// for a sensitive action — call the API, get the 412's consent, ask for a
// token, send the browser to its URL.
func (s *Server) demoAction(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	cd, err := s.deps.Cards.Card(ctx, s.demoActor(), id)
	if err != nil {
		return err
	}
	var action consent.Action
	switch c.Param("action") {
	case "freeze":
		frozen := card.StatusFrozen
		if _, err := s.deps.Cards.UpdateCard(ctx, s.demoActor(), id, card.Patch{Status: &frozen}); err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, demoReturnPath)
	case "unfreeze":
		active := card.StatusActive
		_, err := s.deps.Cards.UpdateCard(ctx, s.demoActor(), id, card.Patch{Status: &active})
		var sca *card.SCARequiredError
		if !errors.As(err, &sca) {
			return problem(http.StatusConflict, "invalid_state", "the card is "+string(cd.Status)+"; it cannot be unfrozen")
		}
		action = consent.ActionUnfreeze
	case "activate", "reveal", "pin_view", "pin_change":
		action = consent.Action(c.Param("action"))
	default:
		return echo.ErrNotFound
	}
	allowed := false
	for _, a := range demoActions[cd.Status] {
		allowed = allowed || a.Name == c.Param("action")
	}
	if !allowed {
		return problem(http.StatusConflict, "invalid_state", "the card is "+string(cd.Status)+"; that action is not possible")
	}
	cs, err := s.deps.Consents.Require(ctx, cd.PartnerID, cd.ID, cd.IndividualID, action)
	if err != nil {
		return err
	}
	ret := DemoReturnURL(s.deps.PublicURL)
	tok, err := s.deps.Consents.IssueToken(ctx, cd.PartnerID, cs.ID, consent.TokenOptions{ReturnURL: ret}, []string{ret})
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, tok.RedirectURL)
}
