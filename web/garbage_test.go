package web_test

import (
	"net/http"
	"strings"
	"testing"
)

// Malformed and mistyped bodies on every route this issue added get a 4xx
// problem, never a 500.
func TestNewRoutesAnswerGarbageWithAProblem(t *testing.T) {
	e := newEnv(t)
	c := e.activeCard(t, nil)
	card, acct := c["id"].(string), c["account_id"].(string)
	hook := e.post("/v3/webhook_endpoints", e.tokA, map[string]any{"url": "http://127.0.0.1:9/hook"}).json(t)["id"].(string)
	bodies := []string{`{"amount":`, `[]`, `"x"`, `{"amount": 12}`, `{"merchant": "shop"}`, `{"url": 5}`, `{"event_types": "all"}`,
		`{"card_id": "` + card + `", "amount": "1.00", "currency": "EUR", "merchant": {"name": "` + strings.Repeat("n", 101) + `", "mcc": "5411", "country": "SE", "id": "m"}}`,
		`{"unknown": true}`, `{"disabled": "yes"}`, `{"color": 1}`, `{"logo_png": ["x"]}`, `{"frame_ancestors": "https://a.example"}`}
	routes := []struct{ method, path string }{
		{http.MethodPost, "/v3/accounts/" + acct + "/fundings"},
		{http.MethodPost, "/v3/simulations/authorizations"},
		{http.MethodPost, "/v3/simulations/authorizations/" + card + "/clear"},
		{http.MethodPost, "/v3/webhook_endpoints"},
		{http.MethodPatch, "/v3/webhook_endpoints/" + hook},
		{http.MethodPut, "/v3/branding"},
		{http.MethodPatch, "/v3/cards/" + card},
	}
	for _, r := range routes {
		for _, b := range bodies {
			res := e.do(r.method, r.path, e.tokA, "application/json", []byte(b))
			if res.status < 400 || res.status >= 500 {
				t.Errorf("%s %s %s: %d %s", r.method, r.path, b, res.status, res.body)
			}
		}
	}
	for _, q := range []string{"/v3/events?limit=0", "/v3/events?cursor=-1", "/v3/authorizations?card_id=nope", "/v3/authorizations?cursor=x",
		"/v3/webhook_endpoints/" + hook + "/deliveries?status=bogus", "/v3/cards/nope/spend_limits", "/v3/events/nope", "/v3/individuals/nope/passkeys"} {
		if res := e.do(http.MethodGet, q, e.tokA, "", nil); res.status < 400 || res.status >= 500 {
			t.Errorf("GET %s: %d %s", q, res.status, res.body)
		}
	}
}
