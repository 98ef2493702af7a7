package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func consentOf(t *testing.T, r response) map[string]any {
	t.Helper()
	if r.status != http.StatusPreconditionFailed {
		t.Fatalf("want 412, got %d %s", r.status, r.body)
	}
	m := r.json(t)
	if len(m) != 1 {
		t.Fatalf("the 412 body must hold only the consent: %s", r.body)
	}
	c := m["consent"].(map[string]any)
	if len(c) != 4 || c["status"] != "pending" || c["id"] == "" || c["expires_at"] == "" {
		t.Fatalf("412 consent %v", c)
	}
	return c
}

func TestSensitiveActionsAnswer412WithAPendingConsent(t *testing.T) {
	e := newEnv(t)
	c := e.card(e.tokA)
	id := c["id"].(string)
	act := consentOf(t, e.post("/v3/cards/"+id+"/activate", e.tokA, nil))
	if act["action"] != "activate" {
		t.Fatalf("action %v", act["action"])
	}
	reveal := consentOf(t, e.do(http.MethodGet, "/v3/cards/"+id+"/credentials", e.tokA, "", nil))
	if reveal["action"] != "reveal" {
		t.Fatalf("action %v", reveal["action"])
	}
	// PIN and Apple Pay need an active card: a 409, not a consent.
	expectProblem(t, e.post("/v3/cards/"+id+"/pin", e.tokA, map[string]string{"operation": "view"}), http.StatusConflict, "invalid_state", "")
	expectProblem(t, e.post("/v3/cards/"+id+"/apple_pay/tokenize", e.tokA, nil), http.StatusConflict, "invalid_state", "")

	// The sandbox approves the activation without a browser: the card is active.
	sim := e.post("/v3/simulations/consents/"+act["id"].(string), e.tokA, map[string]string{"outcome": "approved"})
	if sim.status != http.StatusOK || sim.json(t)["status"] != "approved" {
		t.Fatalf("simulate: %d %s", sim.status, sim.body)
	}
	if got := e.do(http.MethodGet, "/v3/cards/"+id, e.tokA, "", nil).json(t)["status"]; got != "active" {
		t.Fatalf("card after an approved activation: %v", got)
	}
	// Final is final.
	expectProblem(t, e.post("/v3/consents/"+act["id"].(string)+"/cancel", e.tokA, nil), http.StatusConflict, "invalid_state", "")
	expectProblem(t, e.post("/v3/cards/"+id+"/activate", e.tokA, nil), http.StatusConflict, "invalid_state", "")

	pin := consentOf(t, e.post("/v3/cards/"+id+"/pin", e.tokA, map[string]string{"operation": "change"}))
	if pin["action"] != "pin_change" {
		t.Fatalf("action %v", pin["action"])
	}
	expectProblem(t, e.post("/v3/cards/"+id+"/pin", e.tokA, map[string]string{"operation": "guess"}), http.StatusUnprocessableEntity, "invalid_field", "operation")
	if ap := consentOf(t, e.post("/v3/cards/"+id+"/apple_pay/tokenize", e.tokA, nil)); ap["action"] != "apple_pay" {
		t.Fatalf("action %v", ap["action"])
	}

	// Freeze, then unfreezing through PATCH needs the cardholder.
	if r := e.do(http.MethodPatch, "/v3/cards/"+id, e.tokA, "application/json", []byte(`{"status":"frozen"}`)); r.status != http.StatusOK {
		t.Fatalf("freeze: %d %s", r.status, r.body)
	}
	un := consentOf(t, e.do(http.MethodPatch, "/v3/cards/"+id, e.tokA, "application/json", []byte(`{"status":"active"}`)))
	if un["action"] != "unfreeze" {
		t.Fatalf("action %v", un["action"])
	}
	if r := e.post("/v3/simulations/consents/"+un["id"].(string), e.tokA, map[string]string{"outcome": "declined"}); r.json(t)["status"] != "declined" {
		t.Fatalf("decline: %s", r.body)
	}
	if got := e.do(http.MethodGet, "/v3/cards/"+id, e.tokA, "", nil).json(t)["status"]; got != "frozen" {
		t.Fatalf("card after a declined unfreeze: %v", got)
	}

	types, err := e.db.Consents().EventTypes(context.Background(), uuid.MustParse(act["id"].(string)))
	if err != nil || strings.Join(types, ",") != "consent.pending,consent.approved" {
		t.Fatalf("events %v %v", types, err)
	}
}

func TestConsentTokens(t *testing.T) {
	e := newEnv(t)
	id := e.card(e.tokA)["id"].(string)
	cs := consentOf(t, e.post("/v3/cards/"+id+"/activate", e.tokA, nil))
	cid := cs["id"].(string)
	r := e.post("/v3/consents/"+cid, e.tokA, map[string]string{"return_url": "https://alpha.example/return", "locale": "sv", "mode": "sdk"})
	if r.status != http.StatusOK {
		t.Fatalf("token: %d %s", r.status, r.body)
	}
	m := r.json(t)["method"].(map[string]any)
	tok := m["token"].(string)
	if len(tok) < 40 || !strings.HasSuffix(m["redirect_url"].(string), "/c/"+tok) {
		t.Fatalf("method %v", m)
	}
	// Only the token's digest is stored.
	if strings.Contains(e.logs.String(), tok) {
		t.Fatal("the token reached the logs")
	}
	for _, bad := range []struct{ body, field string }{
		{`{"return_url":"https://alpha.example/return/"}`, "return_url"},
		{`{"return_url":"https://evil.example/return"}`, "return_url"},
		{`{"return_url":"javascript:alert(1)"}`, "return_url"},
		{`{"return_url":"data:text/html,hi"}`, "return_url"},
		{`{"locale":"de"}`, "locale"},
		{`{"mode":"fax"}`, "mode"},
	} {
		expectProblem(t, e.do(http.MethodPost, "/v3/consents/"+cid, e.tokA, "application/json", []byte(bad.body)), http.StatusUnprocessableEntity, "invalid_field", bad.field)
	}
	// No body is fine: redirect mode, English.
	if r := e.do(http.MethodPost, "/v3/consents/"+cid, e.tokA, "", nil); r.status != http.StatusOK {
		t.Fatalf("token without a body: %d %s", r.status, r.body)
	}
	// Another partner sees nothing.
	expectProblem(t, e.do(http.MethodGet, "/v3/consents/"+cid, e.tokB, "", nil), http.StatusNotFound, "not_found", "")
	expectProblem(t, e.post("/v3/consents/"+cid, e.tokB, nil), http.StatusNotFound, "not_found", "")
	expectProblem(t, e.post("/v3/consents/"+cid+"/cancel", e.tokB, nil), http.StatusNotFound, "not_found", "")
	expectProblem(t, e.post("/v3/simulations/consents/"+cid, e.tokB, map[string]string{"outcome": "approved"}), http.StatusNotFound, "not_found", "")
	// Polling and listing.
	if got := e.do(http.MethodGet, "/v3/consents/"+cid, e.tokA, "", nil).json(t); got["status"] != "pending" || got["action"] != "activate" {
		t.Fatalf("poll %v", got)
	}
	c := e.post("/v3/consents/"+cid+"/cancel", e.tokA, nil)
	if c.status != http.StatusOK || c.json(t)["status"] != "canceled" {
		t.Fatalf("cancel: %d %s", c.status, c.body)
	}
	list := e.do(http.MethodGet, "/v3/consents?status=canceled", e.tokA, "", nil).json(t)["data"].([]any)
	if len(list) != 1 {
		t.Fatalf("canceled consents: %d", len(list))
	}
	expectProblem(t, e.post("/v3/consents/"+cid, e.tokA, nil), http.StatusConflict, "invalid_state", "")
}

func TestSimulationsAreRefusedInProduction(t *testing.T) {
	e := newEnv(t, func(o *options) { o.production = true })
	id := e.card(e.tokA)["id"].(string)
	cs := consentOf(t, e.post("/v3/cards/"+id+"/activate", e.tokA, nil))
	expectProblem(t, e.post("/v3/simulations/consents/"+cs["id"].(string), e.tokA, map[string]string{"outcome": "approved"}),
		http.StatusForbidden, "sandbox_only", "")
}
