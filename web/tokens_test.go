package web_test

import (
	"net/http"
	"strings"
	"testing"
)

// An approved Apple Pay consent leaves a token on the card; the token
// follows the card's freezes and its end, the partner suspends, resumes
// and deletes it, and a payment by a token that is not active declines.
func TestApplePayLeavesATokenBehind(t *testing.T) {
	onEachStore(t, func(t *testing.T, e *env) {
		c := e.virtualCard(e.tokA)
		id := c["id"].(string)
		e.post("/v3/accounts/"+c["account_id"].(string)+"/fundings", e.tokA, map[string]string{"amount": "50.00"})
		tokens := func() []map[string]any {
			t.Helper()
			r := e.do(http.MethodGet, "/v3/cards/"+id+"/tokens", e.tokA, "", nil)
			if r.status != http.StatusOK {
				t.Fatalf("tokens: %d %s", r.status, r.body)
			}
			var out []map[string]any
			for _, x := range r.json(t)["data"].([]any) {
				out = append(out, x.(map[string]any))
			}
			return out
		}
		if len(tokens()) != 0 {
			t.Fatal("a new card has tokens")
		}
		cs := consentOf(t, e.post("/v3/cards/"+id+"/apple_pay/tokenize", e.tokA, nil))
		if r := e.post("/v3/simulations/consents/"+cs["id"].(string), e.tokA, map[string]string{"outcome": "approved"}); r.status != http.StatusOK {
			t.Fatalf("approve: %d %s", r.status, r.body)
		}
		ts := tokens()
		if len(ts) != 1 || ts[0]["wallet"] != "apple_pay" || ts[0]["status"] != "active" || len(ts[0]["token_last4"].(string)) != 4 {
			t.Fatalf("tokens after Apple Pay: %v", ts)
		}
		tid := ts[0]["id"].(string)
		pay := func() map[string]any {
			t.Helper()
			r := e.post("/v3/simulations/authorizations", e.tokA, map[string]any{"token_id": tid, "amount": "2.00", "currency": "EUR", "merchant": shop})
			if r.status != http.StatusCreated {
				t.Fatalf("pay by token: %d %s", r.status, r.body)
			}
			return r.json(t)
		}
		if a := pay(); a["status"] != "approved" || a["token_id"] != tid || a["card_id"] != id || a["entry_mode"] != "contactless" {
			t.Fatalf("an active token: %v", a)
		}
		status := func() string { t.Helper(); return tokens()[0]["status"].(string) }
		// The card's freeze suspends it and the unfreeze resumes it.
		e.patch("/v3/cards/"+id, e.tokA, map[string]string{"status": "frozen"})
		if status() != "suspended" {
			t.Fatalf("after a freeze: %s", status())
		}
		if a := pay(); a["decline_reason"] != "token_suspended" {
			t.Fatalf("a suspended token: %v", a["decline_reason"])
		}
		expectProblem(t, e.post("/v3/cards/"+id+"/tokens/"+tid+"/resume", e.tokA, nil), http.StatusConflict, "invalid_state", "")
		un := consentOf(t, e.post("/v3/cards/"+id+"/activate", e.tokA, nil))
		e.post("/v3/simulations/consents/"+un["id"].(string), e.tokA, map[string]string{"outcome": "approved"})
		if status() != "active" {
			t.Fatalf("after the unfreeze: %s", status())
		}
		// The partner's suspension outlives a freeze and its unfreeze.
		if r := e.post("/v3/cards/"+id+"/tokens/"+tid+"/suspend", e.tokA, nil); r.status != http.StatusOK || r.json(t)["status"] != "suspended" {
			t.Fatalf("suspend: %d %s", r.status, r.body)
		}
		e.patch("/v3/cards/"+id, e.tokA, map[string]string{"status": "frozen"})
		un = consentOf(t, e.post("/v3/cards/"+id+"/activate", e.tokA, nil))
		e.post("/v3/simulations/consents/"+un["id"].(string), e.tokA, map[string]string{"outcome": "approved"})
		if status() != "suspended" {
			t.Fatalf("the partner's suspension after a freeze and an unfreeze: %s", status())
		}
		if r := e.post("/v3/cards/"+id+"/tokens/"+tid+"/resume", e.tokA, nil); r.status != http.StatusOK || r.json(t)["status"] != "active" {
			t.Fatalf("resume: %d %s", r.status, r.body)
		}
		expectProblem(t, e.post("/v3/cards/"+id+"/tokens/"+tid+"/resume", e.tokA, nil), http.StatusConflict, "invalid_state", "")
		// Another partner sees no such token.
		expectProblem(t, e.post("/v3/cards/"+id+"/tokens/"+tid+"/suspend", e.tokB, nil), http.StatusNotFound, "not_found", "")
		expectProblem(t, e.post("/v3/simulations/authorizations", e.tokB, map[string]any{"token_id": tid, "amount": "2.00", "currency": "EUR", "merchant": shop}),
			http.StatusUnprocessableEntity, "invalid_field", "token_id")
		// Deleted by the partner, for good.
		if r := e.do(http.MethodDelete, "/v3/cards/"+id+"/tokens/"+tid, e.tokA, "", nil); r.status != http.StatusOK || r.json(t)["status"] != "deleted" {
			t.Fatalf("delete: %d %s", r.status, r.body)
		}
		if a := pay(); a["decline_reason"] != "token_deleted" {
			t.Fatalf("a deleted token: %v", a["decline_reason"])
		}
		expectProblem(t, e.post("/v3/cards/"+id+"/tokens/"+tid+"/resume", e.tokA, nil), http.StatusConflict, "invalid_state", "")
		// A second token, then the card ends: it is deleted too.
		cs = consentOf(t, e.post("/v3/cards/"+id+"/apple_pay/tokenize", e.tokA, nil))
		e.post("/v3/simulations/consents/"+cs["id"].(string), e.tokA, map[string]string{"outcome": "approved"})
		e.patch("/v3/cards/"+id, e.tokA, map[string]string{"status": "stolen"})
		for _, tk := range tokens() {
			if tk["status"] != "deleted" {
				t.Fatalf("a token of a stolen card is %s", tk["status"])
			}
		}
		var kinds []string
		for _, ev := range e.do(http.MethodGet, "/v3/events?limit=100", e.tokA, "", nil).json(t)["data"].([]any) {
			if typ := ev.(map[string]any)["type"].(string); strings.HasPrefix(typ, "card.token_") {
				kinds = append(kinds, typ)
			}
		}
		if len(kinds) < 8 || kinds[0] != "card.token_created" {
			t.Fatalf("token events %v", kinds)
		}
		expectProblem(t, e.post("/v3/simulations/authorizations", e.tokA, map[string]any{"token_id": tid, "card_id": id, "amount": "2.00", "currency": "EUR", "merchant": shop}),
			http.StatusUnprocessableEntity, "invalid_field", "token_id")
	})
}

// A single-use card its one payment closes loses its wallet tokens, as a
// card closed any other way does.
func TestASingleUseCardsPaymentDeletesItsTokens(t *testing.T) {
	e := newEnv(t)
	c := e.orderCard(t, map[string]any{"usage": "single_use"}).json(t)
	id := c["id"].(string)
	e.post("/v3/accounts/"+c["account_id"].(string)+"/fundings", e.tokA, map[string]string{"amount": "50.00"})
	cs := consentOf(t, e.post("/v3/cards/"+id+"/apple_pay/tokenize", e.tokA, nil))
	e.post("/v3/simulations/consents/"+cs["id"].(string), e.tokA, map[string]string{"outcome": "approved"})
	pay := map[string]any{"card_id": id, "amount": "5.00", "currency": "EUR", "merchant": map[string]string{"name": "Shop", "mcc": "5411", "country": "SE", "id": "m-1"}}
	if r := e.post("/v3/simulations/authorizations", e.tokA, pay); r.json(t)["status"] != "approved" {
		t.Fatalf("the one payment: %d %s", r.status, r.body)
	}
	for _, x := range e.do(http.MethodGet, "/v3/cards/"+id+"/tokens", e.tokA, "", nil).json(t)["data"].([]any) {
		if tk := x.(map[string]any); tk["status"] != "deleted" {
			t.Fatalf("a token of the closed single-use card is %s", tk["status"])
		}
	}
}
