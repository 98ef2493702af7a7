package web_test

import (
	"net/http"
	"testing"
)

// orderCard orders a card for a new cardholder with extra fields.
func (e *env) orderCard(t *testing.T, extra map[string]any) response {
	t.Helper()
	ind := e.post("/v3/individuals", e.tokA, map[string]string{"first_name": "A", "last_name": "B", "email": "a@example.com"}).json(t)
	acc := e.post("/v3/accounts", e.tokA, map[string]string{"individual_id": ind["id"].(string), "currency": "EUR"}).json(t)
	body := map[string]any{"individual_id": ind["id"], "account_id": acc["id"]}
	for k, v := range extra {
		body[k] = v
	}
	return e.post("/v3/cards", e.tokA, body)
}

func TestCardControlsOverTheAPI(t *testing.T) {
	e := newEnv(t)
	r := e.orderCard(t, map[string]any{"usage": "merchant_locked", "allowed_mccs": []string{"5411", " 5812 ", "5411"}, "blocked_countries": []string{"ru", "KP"}})
	if r.status != http.StatusCreated {
		t.Fatalf("order: %d %s", r.status, r.body)
	}
	c := r.json(t)
	if c["usage"] != "merchant_locked" || c["merchant_locked_to"] != nil || len(c["allowed_mccs"].([]any)) != 2 || c["blocked_countries"].([]any)[0] != "RU" {
		t.Fatalf("card controls: %s", r.body)
	}
	if d := e.orderCard(t, nil).json(t); d["usage"] != "multi_use" || len(d["allowed_mccs"].([]any)) != 0 {
		t.Fatalf("default controls: %v", d)
	}
	testCases := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"unknown usage", map[string]any{"usage": "twice"}, "usage"},
		{"a three-digit MCC", map[string]any{"allowed_mccs": []string{"5411", "541"}}, "allowed_mccs[1]"},
		{"a country name", map[string]any{"blocked_countries": []string{"Sweden"}}, "blocked_countries[0]"},
		{"allow and block MCCs together", map[string]any{"allowed_mccs": []string{"5411"}, "blocked_mccs": []string{"7995"}}, "blocked_mccs"},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			expectProblem(t, e.orderCard(t, tc.body), http.StatusUnprocessableEntity, "invalid_field", tc.field)
		})
	}
	id := c["id"].(string)
	p := e.do(http.MethodPatch, "/v3/cards/"+id, e.tokA, "application/json", []byte(`{"allowed_mccs": [], "blocked_mccs": ["7995"]}`))
	if p.status != http.StatusOK || len(p.json(t)["allowed_mccs"].([]any)) != 0 || p.json(t)["blocked_mccs"].([]any)[0] != "7995" {
		t.Fatalf("patch: %d %s", p.status, p.body)
	}
	expectProblem(t, e.do(http.MethodPatch, "/v3/cards/"+id, e.tokA, "application/json", []byte(`{"allowed_countries": ["SE"]}`)),
		http.StatusUnprocessableEntity, "invalid_field", "blocked_countries")
	// A reissue keeps the controls.
	n := e.post("/v3/cards/"+id+"/reissue", e.tokA, map[string]string{"reissue_type": "new_card_number"})
	if n.status != http.StatusCreated && n.status != http.StatusOK {
		t.Fatalf("reissue: %d %s", n.status, n.body)
	}
	if nc := n.json(t); nc["usage"] != "merchant_locked" || nc["blocked_mccs"].([]any)[0] != "7995" || len(nc["blocked_countries"].([]any)) != 2 {
		t.Fatalf("reissued card lost its controls: %s", n.body)
	}
}
