package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/partner"
	"github.com/vaultpage/vaultpage/web"
)

func newDemo(t *testing.T, partners *partner.Service, cards *card.Service) *web.Demo {
	t.Helper()
	ctx := context.Background()
	creds, err := partners.Create(ctx, "Demo Fintech", []string{web.DemoReturnURL("http://localhost:8080")})
	if err != nil {
		t.Fatal(err)
	}
	a := card.Actor{PartnerID: creds.PartnerID}
	ind, err := cards.CreateIndividual(ctx, a, card.IndividualInput{FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := cards.CreateAccount(ctx, a, ind.ID, "EUR")
	if err != nil {
		t.Fatal(err)
	}
	return &web.Demo{PartnerID: creds.PartnerID, IndividualID: ind.ID, AccountID: acc.ID}
}

func TestDemoOrdersACardAndSendsTheBrowserThroughAConsent(t *testing.T) {
	e := newEnv(t, func(o *options) { o.demo = true })
	b := browser(t)
	_, page := get(t, b, e.srv.URL+"/demo")
	if page.Find(`[data-testid="partner-name"]`).Text() != "Demo Fintech" || page.Find(`[data-testid="demo-card"]`).Length() != 0 {
		t.Fatal("the demo page does not start empty for Demo Fintech")
	}
	res, _ := post(t, b, e.srv.URL+"/demo/cards", csrfOf(t, page))
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/demo" {
		t.Fatalf("order: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	_, page = get(t, b, e.srv.URL+"/demo")
	if page.Find(`[data-testid="demo-card"]`).Length() != 1 || page.Find(`[data-testid="demo-activate"]`).Length() != 1 {
		t.Fatal("the new card is not on the demo page with its activate button")
	}
	action, _ := page.Find(`[data-testid="demo-activate"]`).Parent().Attr("action")
	// Only the action the card's status allows.
	freeze := strings.Replace(action, "/activate", "/freeze", 1)
	if res, _ := post(t, b, e.srv.URL+freeze, csrfOf(t, page)); res.StatusCode != http.StatusConflict {
		t.Fatalf("freezing a card that is not active: %d", res.StatusCode)
	}
	res, _ = post(t, b, e.srv.URL+action, csrfOf(t, page))
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "http://localhost:8080/c/vpk_") {
		t.Fatalf("activate: %d %q", res.StatusCode, loc)
	}
	// The hosted pages, then back to the demo with the outcome.
	token := loc[strings.LastIndex(loc, "/")+1:]
	get(t, b, e.srv.URL+"/c/"+token)
	_, landing := get(t, b, e.srv.URL+"/consent")
	res, doc := post(t, b, e.srv.URL+"/consent/cancel", csrfOf(t, landing))
	back := outcomeOf(t, res, doc).back
	if !strings.HasPrefix(back, "http://localhost:8080/demo?consent_id=") {
		t.Fatalf("after cancel the browser goes to %q", back)
	}
	_, page = get(t, b, e.srv.URL+back[len("http://localhost:8080"):])
	if got := page.Find(`[data-testid="outcome"]`).Text(); got != "Nothing was changed." {
		t.Fatalf("outcome %q", got)
	}
	// The app speaks as an app: the card's status in a cardholder's words.
	if got := page.Find(`[data-testid="demo-status"]`).Text(); got != "Not activated" {
		t.Fatalf("the card's status reads %q", got)
	}
}

func TestDemoExistsOnlyInDevelopment(t *testing.T) {
	e := newEnv(t)
	if res, _ := get(t, browser(t), e.srv.URL+"/demo"); res.StatusCode != http.StatusNotFound {
		t.Fatalf("/demo without a demo partner: %d", res.StatusCode)
	}
}
