package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/vaultpage/vaultpage/vault"
)

var webshop = map[string]string{"name": "Web Shop", "url": "https://shop.example/checkout", "mcc": "5732", "country": "SE", "id": "m-web-1"}

// onlineCard is partner A's virtual card, funded, with its number and CVV2.
func (e *env) onlineCard(t *testing.T) (card map[string]any, pan, cvv string) {
	t.Helper()
	c := e.virtualCard(e.tokA)
	e.post("/v3/accounts/"+c["account_id"].(string)+"/fundings", e.tokA, map[string]string{"amount": "500.00"})
	o := vault.Owner{PartnerID: e.a.PartnerID.String(), Table: "cards", RecordID: c["id"].(string)}
	p, err := e.ring.LoadPAN(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.ring.CVV(context.Background(), o, vault.Expiry{Year: 2029, Month: 12}, vault.ServiceCodeCVV2)
	if err != nil {
		t.Fatal(err)
	}
	return c, string(p.Reveal()), string(v.Reveal())
}

// A merchant's authentication request in the sandbox answers in 3-D
// Secure's vocabulary, and the payment's authorisation is approved with the
// answer once, for its card, amount and merchant only.
func TestAuthenticationsOverTheAPI(t *testing.T) {
	e := newEnv(t)
	c, pan, cvv := e.onlineCard(t)
	authenticate := func(extra map[string]any) response {
		body := map[string]any{"pan": pan, "exp_month": "12", "exp_year": "2029", "amount": "12.00", "currency": "EUR", "merchant": webshop}
		for k, v := range extra {
			body[k] = v
		}
		return e.post("/v3/simulations/authentications", e.tokA, body)
	}
	pay := func(authentication string, extra map[string]any) map[string]any {
		body := map[string]any{"pan": pan, "exp_month": "12", "exp_year": "2029", "cvv": cvv, "entry_mode": "ecommerce", "amount": "12.00",
			"currency": "EUR", "merchant": shop, "authentication_id": authentication}
		for k, v := range extra {
			body[k] = v
		}
		r := e.post("/v3/simulations/authorizations", e.tokA, body)
		if r.status != http.StatusCreated {
			t.Fatalf("authorize: %d %s", r.status, r.body)
		}
		return r.json(t)
	}
	webMerchant := map[string]string{"name": webshop["name"], "mcc": webshop["mcc"], "country": webshop["country"], "id": webshop["id"]}

	r := authenticate(nil)
	y := r.json(t)
	if r.status != http.StatusCreated || y["status"] != "frictionless" || y["trans_status"] != "Y" || y["exemption"] != "low_value" ||
		y["card_id"] != c["id"] || y["message_version"] != "2.2.0" || y["authorization_id"] != nil {
		t.Fatalf("a low-value payment: %d %s", r.status, r.body)
	}
	id := y["id"].(string)
	if a := pay(id, map[string]any{"merchant": shop}); a["decline_reason"] != "authentication_mismatch" {
		t.Fatalf("another merchant: %v", a)
	}
	if a := pay(id, map[string]any{"merchant": webMerchant, "amount": "12.01"}); a["decline_reason"] != "authentication_mismatch" {
		t.Fatalf("more than authenticated: %v", a)
	}
	approved := pay(id, map[string]any{"merchant": webMerchant})
	if approved["status"] != "approved" {
		t.Fatalf("the authenticated payment: %v", approved)
	}
	if a := pay(id, map[string]any{"merchant": webMerchant}); a["decline_reason"] != "authentication_used" {
		t.Fatalf("a replay: %v", a)
	}
	got := e.do(http.MethodGet, "/v3/authentications/"+id, e.tokA, "", nil)
	if m := got.json(t); got.status != http.StatusOK || m["authorization_id"] != approved["id"] {
		t.Fatalf("read back: %d %s", got.status, got.body)
	}
	if r := e.do(http.MethodGet, "/v3/authentications/"+id, e.tokB, "", nil); r.status != http.StatusNotFound {
		t.Fatalf("another partner reads it: %d", r.status)
	}

	t.Run("past the exemption, a challenge; its id does not pay", func(t *testing.T) {
		r := authenticate(map[string]any{"amount": "30.01"})
		ch := r.json(t)
		if r.status != http.StatusCreated || ch["status"] != "challenge_required" || ch["trans_status"] != "C" || ch["exemption"] != nil {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if a := pay(ch["id"].(string), map[string]any{"merchant": webMerchant, "amount": "30.01"}); a["decline_reason"] != "authentication_incomplete" {
			t.Fatalf("a challenge not taken: %v", a)
		}
		if m := authenticate(map[string]any{"challenge_preference": "challenge_requested"}).json(t); m["trans_status"] != "C" {
			t.Fatalf("the merchant asks for a challenge: %v", m)
		}
		if m := authenticate(map[string]any{"currency": "SEK"}).json(t); m["trans_status"] != "R" || m["rejection_reason"] != "currency_not_supported" {
			t.Fatalf("another currency than the card's: %v", m)
		}
	})
	t.Run("rejections name the reason", func(t *testing.T) {
		if m := authenticate(map[string]any{"exp_year": "2030"}).json(t); m["trans_status"] != "R" || m["rejection_reason"] != "incorrect_expiry" {
			t.Fatalf("the wrong expiry: %v", m)
		}
		nf := e.post("/v3/simulations/authentications", e.tokB, map[string]any{"pan": pan, "exp_month": "12", "exp_year": "2029", "amount": "1.00",
			"currency": "EUR", "merchant": webshop})
		m := nf.json(t)
		if nf.status != http.StatusCreated || m["rejection_reason"] != "card_not_found" || m["card_id"] != nil {
			t.Fatalf("another partner's card: %d %s", nf.status, nf.body)
		}
		if r := e.do(http.MethodGet, "/v3/authentications/"+m["id"].(string), e.tokB, "", nil); r.status != http.StatusNotFound {
			t.Fatalf("a card_not_found answer is recorded: %d", r.status)
		}
	})
	t.Run("bad input names the field", func(t *testing.T) {
		expectProblem(t, authenticate(map[string]any{"cvv": cvv}), http.StatusUnprocessableEntity, "unknown_field", "cvv")
		expectProblem(t, authenticate(map[string]any{"merchant": map[string]string{"name": "x", "url": "http://shop.example", "mcc": "5732", "country": "SE", "id": "m"}}),
			http.StatusUnprocessableEntity, "invalid_field", "merchant.url")
		// The payee's origin goes into the challenge window's CSP and
		// postMessage target: nothing but a DNS name and a port.
		for _, u := range []string{"https://shop.example;script-src *", "https://shop.example%3B/", "https://[::1]/", "http://localhost.example/"} {
			expectProblem(t, authenticate(map[string]any{"merchant": map[string]string{"name": "x", "url": u, "mcc": "5732", "country": "SE", "id": "m"}}),
				http.StatusUnprocessableEntity, "invalid_field", "merchant.url")
		}
		expectProblem(t, authenticate(map[string]any{"challenge_preference": "sometimes"}), http.StatusUnprocessableEntity, "invalid_field", "challenge_preference")
		expectProblem(t, authenticate(map[string]any{"token_id": c["id"]}), http.StatusUnprocessableEntity, "invalid_field", "token_id")
		expectProblem(t, authenticate(map[string]any{"pan": nil}), http.StatusUnprocessableEntity, "invalid_field", "pan")
		expectProblem(t, e.post("/v3/simulations/authorizations", e.tokA, map[string]any{"card_id": c["id"], "amount": "1.00", "currency": "EUR",
			"merchant": shop, "authentication_id": "nope"}), http.StatusUnprocessableEntity, "invalid_field", "authentication_id")
		expectProblem(t, e.post("/v3/simulations/authorizations", e.tokA, map[string]any{"card_id": c["id"], "amount": "1.00", "currency": "EUR",
			"merchant": shop, "authentication_id": c["id"]}), http.StatusUnprocessableEntity, "invalid_field", "authentication_id")
	})
	if strings.Contains(e.logs.String(), pan) || e.stored(t, pan) {
		t.Fatal("the card number reached the logs or the database in clear")
	}
}

// The network listener answers a 3-D Secure server's authentication
// request without saying whose card it is, and its authorisation names it.
func TestTheNetworkAuthenticatesOnlinePayments(t *testing.T) {
	e := newEnv(t)
	srv, hc := e.networkAdapter(t)
	_, pan, cvv := e.onlineCard(t)
	status, y, err := networkPost(t, hc, srv.URL+"/network/v1/authentications", map[string]any{"pan": pan, "exp_month": "12", "exp_year": "2029",
		"amount": "9.00", "currency": "EUR", "merchant": webshop})
	if err != nil || status != http.StatusCreated || y["trans_status"] != "Y" || y["exemption"] != "low_value" || y["card_id"] != nil {
		t.Fatalf("%d %v %v", status, y, err)
	}
	send := func(amount string, extra map[string]any) map[string]any {
		body := map[string]any{"network_reference": nextReference(), "pan": pan,
			"exp_month": "12", "exp_year": "2029", "cvv": cvv, "entry_mode": "ecommerce", "amount": amount, "currency": "EUR",
			"merchant": map[string]string{"name": webshop["name"], "mcc": webshop["mcc"], "country": webshop["country"], "id": webshop["id"]}}
		for k, v := range extra {
			body[k] = v
		}
		_, m, err := networkPost(t, hc, srv.URL+"/network/v1/authorizations", body)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	authorize := func(amount string) map[string]any { return send(amount, map[string]any{"authentication_id": y["id"]}) }
	if m := send("31.00", nil); m["decline_reason"] != "authentication_required" {
		t.Fatalf("an online payment past the exemption without an authentication: %v", m)
	}
	if m := send("31.00", map[string]any{"out_of_scope": "moto"}); m["status"] != "approved" || m["out_of_scope"] != "moto" {
		t.Fatalf("a telephone order: %v", m)
	}
	if status, m, _ := networkPost(t, hc, srv.URL+"/network/v1/authorizations", map[string]any{"network_reference": nextReference(), "pan": pan,
		"exp_month": "12", "exp_year": "2029", "entry_mode": "chip", "amount": "1.00", "currency": "EUR", "out_of_scope": "moto",
		"merchant": map[string]string{"name": "x", "mcc": "5411", "country": "SE", "id": "m"}}); status != http.StatusUnprocessableEntity || m["field"] != "out_of_scope" {
		t.Fatalf("out_of_scope at a chip terminal: %d %v", status, m)
	}
	if m := authorize("9.50"); m["decline_reason"] != "authentication_mismatch" {
		t.Fatalf("more than authenticated: %v", m)
	}
	if m := authorize("9.00"); m["status"] != "approved" {
		t.Fatalf("the authenticated payment: %v", m)
	}
	if m := authorize("9.00"); m["decline_reason"] != "authentication_used" {
		t.Fatalf("a replay: %v", m)
	}
	status, m, err := networkPost(t, hc, srv.URL+"/network/v1/authentications", map[string]any{"pan": pan, "exp_month": "12", "exp_year": "2029",
		"cvv": cvv, "amount": "9.00", "currency": "EUR", "merchant": webshop})
	if err != nil || status != http.StatusUnprocessableEntity || m["field"] != "cvv" {
		t.Fatalf("a CVV2 in an authentication request: %d %v %v", status, m, err)
	}
}

// Production refuses the sandbox's authentication requests.
func TestProductionRefusesSimulatedAuthentications(t *testing.T) {
	e := newEnv(t, func(o *options) { o.production = true })
	r := e.post("/v3/simulations/authentications", e.tokA, map[string]any{"pan": "4000000000000002", "exp_month": "12", "exp_year": "2029",
		"amount": "1.00", "currency": "EUR", "merchant": webshop})
	expectProblem(t, r, http.StatusForbidden, "sandbox_only", "")
}

// A partner sets its SCA policy over the API; "always" challenges the
// payment the exemption let through before, for that partner alone.
func TestTheSCAPolicyOverTheAPI(t *testing.T) {
	e := newEnv(t)
	_, pan, _ := e.onlineCard(t)
	ask := func() map[string]any {
		return e.post("/v3/simulations/authentications", e.tokA, map[string]any{"pan": pan, "exp_month": "12", "exp_year": "2029", "amount": "5.00",
			"currency": "EUR", "merchant": webshop}).json(t)
	}
	if got := e.do(http.MethodGet, "/v3/sca_policy", e.tokA, "", nil).json(t); got["policy"] != "exemptions" || got["updated_at"] != nil {
		t.Fatalf("the default: %v", got)
	}
	if m := ask(); m["trans_status"] != "Y" {
		t.Fatalf("under exemptions: %v", m)
	}
	b, _ := json.Marshal(map[string]string{"policy": "always"})
	r := e.do(http.MethodPut, "/v3/sca_policy", e.tokA, "application/json", b)
	if m := r.json(t); r.status != http.StatusOK || m["policy"] != "always" || m["updated_at"] == nil {
		t.Fatalf("set: %d %s", r.status, r.body)
	}
	if m := ask(); m["trans_status"] != "C" {
		t.Fatalf("under always: %v", m)
	}
	if got := e.do(http.MethodGet, "/v3/sca_policy", e.tokB, "", nil).json(t); got["policy"] != "exemptions" {
		t.Fatalf("another partner's policy changed: %v", got)
	}
	b, _ = json.Marshal(map[string]string{"policy": "never"})
	expectProblem(t, e.do(http.MethodPut, "/v3/sca_policy", e.tokA, "application/json", b), http.StatusUnprocessableEntity, "invalid_field", "policy")
}
