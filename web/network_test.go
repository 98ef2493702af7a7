package web_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/vaultpage/vaultpage/docs"
	"github.com/vaultpage/vaultpage/internal/testkit"
	"github.com/vaultpage/vaultpage/vault"
)

// networkServer serves the env's network door over mutual TLS against ca,
// as serve does on VAULTPAGE_NETWORK_ADDR.
func (e *env) networkServer(t *testing.T, ca *testkit.CA) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(e.web.NetworkHandler())
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS12, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool(),
		Certificates: []tls.Certificate{ca.Issue(t, "vaultpage", true, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func networkClient(ca *testkit.CA, cert *tls.Certificate) *http.Client {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: ca.Pool()}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

// networkContract holds the network listener's answers to docs/network.yaml.
func networkContract(t *testing.T, base string) routers.Router {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(docs.NetworkOpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("docs/network.yaml is not valid OpenAPI: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: base}}
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var contract routers.Router

// networkAdapter is a network listener on its own CA and an adapter's
// client with a certificate from it; the listener's answers are held to
// docs/network.yaml.
func (e *env) networkAdapter(t *testing.T) (*httptest.Server, *http.Client) {
	t.Helper()
	ca := testkit.NewCA(t, "card network CA")
	srv := e.networkServer(t, ca)
	contract = networkContract(t, srv.URL)
	cert := ca.Issue(t, "iso8583-adapter", false, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	return srv, networkClient(ca, &cert)
}

// decideWith registers partner A's real-time decision endpoint.
func (e *env) decideWith(t *testing.T, endpoint map[string]any) {
	t.Helper()
	b, _ := json.Marshal(endpoint)
	if r := e.do(http.MethodPut, "/v3/decision_endpoint", e.tokA, "application/json", b); r.status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
}

// panOf reads partner A's card's number, as the card carries it.
func (e *env) panOf(t *testing.T, c map[string]any) vault.PAN {
	t.Helper()
	pan, err := e.ring.LoadPAN(context.Background(), vault.Owner{PartnerID: e.a.PartnerID.String(), Table: "cards", RecordID: c["id"].(string)})
	if err != nil {
		t.Fatal(err)
	}
	return pan
}

var references atomic.Int64

// nextReference is a network reference no request of the test run has.
func nextReference() string { return fmt.Sprintf("acq1:%012d", references.Add(1)) }

func networkPost(t *testing.T, hc *http.Client, url string, body any, headers ...string) (int, map[string]any, error) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = res.Body.Close() }()
	raw, _ := io.ReadAll(res.Body)
	if route, params, err := contract.FindRoute(req); err == nil {
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
			Status:                 res.StatusCode, Header: res.Header, Body: io.NopCloser(bytes.NewReader(raw)),
			Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
		}
		if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
			t.Fatalf("%s → %d does not match docs/network.yaml: %v\n%s", url, res.StatusCode, err, raw)
		}
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return res.StatusCode, m, nil
}

// The network listener takes only clients with a certificate from the
// network's CA, takes no partner credential, and decides what a card
// network sends: card data with a PIN block under the zone PIN key.
func TestTheNetworkListenerTakesMutualTLSAndCardData(t *testing.T) {
	e := newEnv(t)
	ca, other := testkit.NewCA(t, "card network CA"), testkit.NewCA(t, "someone else's CA")
	srv := e.networkServer(t, ca)
	contract = networkContract(t, srv.URL)
	good := ca.Issue(t, "iso8583-adapter", false, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	expired := ca.Issue(t, "iso8583-adapter", false, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	foreign := other.Issue(t, "iso8583-adapter", false, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))

	c := e.card(e.tokA) // physical: activate it with a PIN, as the cardholder would
	cs := consentOf(t, e.post("/v3/cards/"+c["id"].(string)+"/activate", e.tokA, nil))
	e.post("/v3/simulations/consents/"+cs["id"].(string), e.tokA, map[string]string{"outcome": "approved"})
	e.post("/v3/accounts/"+c["account_id"].(string)+"/fundings", e.tokA, map[string]string{"amount": "100.00"})
	ctx := context.Background()
	o := vault.Owner{PartnerID: e.a.PartnerID.String(), Table: "cards", RecordID: c["id"].(string)}
	if err := e.ring.SetPIN(ctx, o, vault.SecretString("8203")); err != nil {
		t.Fatal(err)
	}
	pan, err := e.ring.LoadPAN(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	block := func(pin string) string {
		b, err := vault.EncipherISO0(testZonePINKey, vault.SecretString(pin), pan)
		if err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(b)
	}
	chip := func(pinBlock string) map[string]any {
		return map[string]any{"network_reference": nextReference(), "pan": string(pan.Reveal()), "exp_month": "12", "exp_year": "2029", "pin_block": pinBlock, "entry_mode": "chip",
			"amount": "20.00", "currency": "EUR", "merchant": shop}
	}
	url := srv.URL + "/network/v1/authorizations"

	t.Run("refused without a certificate, with another CA's, with an expired one", func(t *testing.T) {
		for name, cert := range map[string]*tls.Certificate{"none": nil, "another CA": &foreign, "expired": &expired} {
			if _, _, err := networkPost(t, networkClient(ca, cert), url, chip(block("8203")), "Authorization", "Bearer "+e.tokA); err == nil {
				t.Fatalf("%s: the handshake succeeded", name)
			}
		}
	})
	hc := networkClient(ca, &good)
	t.Run("a partner token is refused there", func(t *testing.T) {
		status, m, err := networkPost(t, hc, url, chip(block("8203")), "Authorization", "Bearer "+e.tokA)
		if err != nil || status != http.StatusUnauthorized || m["code"] != "partner_credentials_refused" {
			t.Fatalf("%d %v %v", status, m, err)
		}
		status, _, err = networkPost(t, hc, srv.URL+"/v3/cards", map[string]any{}, "Authorization", "Bearer "+e.tokA)
		if err != nil || status != http.StatusNotFound {
			t.Fatalf("the partner API on the network listener: %d %v", status, err)
		}
	})
	var approved map[string]any
	t.Run("a chip payment with the right PIN block", func(t *testing.T) {
		status, m, err := networkPost(t, hc, url, chip(block("8203")))
		v, _ := m["verification"].(map[string]any)
		if err != nil || status != http.StatusCreated || m["status"] != "approved" || v["pin"] != "match" || m["card_id"] != nil {
			t.Fatalf("%d %v %v", status, m, err)
		}
		approved = m
	})
	t.Run("a wrong PIN, another key, a malformed block", func(t *testing.T) {
		if _, m, _ := networkPost(t, hc, url, chip(block("1111"))); m["decline_reason"] != "incorrect_pin" {
			t.Fatalf("a wrong PIN: %v", m)
		}
		other, _ := vault.EncipherISO0(bytes.Repeat([]byte{0x13}, 16), vault.SecretString("8203"), pan)
		if status, m, _ := networkPost(t, hc, url, chip(hex.EncodeToString(other))); status != http.StatusUnprocessableEntity || m["field"] != "pin_block" {
			t.Fatalf("a block under another key: %d %v", status, m)
		}
		if status, m, _ := networkPost(t, hc, url, chip("zz")); status != http.StatusUnprocessableEntity || m["field"] != "pin_block" {
			t.Fatalf("a malformed block: %d %v", status, m)
		}
	})
	t.Run("an unknown card", func(t *testing.T) {
		body := chip(block("8203"))
		body["pan"] = "4000000000000002"
		if status, m, _ := networkPost(t, hc, url, body); status != http.StatusCreated || m["decline_reason"] != "card_not_found" {
			t.Fatalf("%d %v", status, m)
		}
	})
	t.Run("a wallet token", func(t *testing.T) {
		ap := consentOf(t, e.post("/v3/cards/"+c["id"].(string)+"/apple_pay/tokenize", e.tokA, nil))
		e.post("/v3/simulations/consents/"+ap["id"].(string), e.tokA, map[string]string{"outcome": "approved"})
		tokens := e.do(http.MethodGet, "/v3/cards/"+c["id"].(string)+"/tokens", e.tokA, "", nil).json(t)["data"].([]any)
		tid := tokens[0].(map[string]any)["id"].(string)
		pay := map[string]any{"network_reference": nextReference(), "token_id": tid, "amount": "1.00", "currency": "EUR", "merchant": shop}
		if status, m, err := networkPost(t, hc, url, pay); err != nil || status != http.StatusCreated || m["status"] != "approved" || m["token_id"] != tid {
			t.Fatalf("a token payment: %d %v %v", status, m, err)
		}
		e.post("/v3/cards/"+c["id"].(string)+"/tokens/"+tid+"/suspend", e.tokA, nil)
		pay["network_reference"] = nextReference()
		if _, m, _ := networkPost(t, hc, url, pay); m["decline_reason"] != "token_suspended" {
			t.Fatalf("a suspended token: %v", m)
		}
		pay["pan"] = string(pan.Reveal())
		if status, m, _ := networkPost(t, hc, url, pay); status != http.StatusUnprocessableEntity || m["field"] != "token_id" {
			t.Fatalf("a token with card data: %d %v", status, m)
		}
	})
	t.Run("clearing and reversal", func(t *testing.T) {
		status, m, err := networkPost(t, hc, srv.URL+"/network/v1/clearings", map[string]string{"authorization_id": approved["id"].(string), "amount": "18.00"})
		if err != nil || status != http.StatusOK || m["status"] != "cleared" || m["cleared_amount"] != "18.00" {
			t.Fatalf("clearing: %d %v %v", status, m, err)
		}
		if status, m, _ := networkPost(t, hc, srv.URL+"/network/v1/reversals", map[string]string{"authorization_id": approved["id"].(string)}); status != http.StatusConflict {
			t.Fatalf("reversing a cleared authorisation: %d %v", status, m)
		}
		got := e.do(http.MethodGet, "/v3/accounts/"+c["account_id"].(string), e.tokA, "", nil).json(t)
		if got["balance"] != "82.00" {
			t.Fatalf("the partner sees balance %v", got["balance"])
		}
	})
	if bytes.Contains([]byte(e.logs.String()), pan.Reveal()) {
		t.Fatal("the card number reached the logs")
	}
}

// A resend on the network listener decides nothing again: however many
// sendings of one request, at once or after one another, there is one
// authorisation and one hold. Follow-ups name it by its reference too, and
// a follow-up resent answers what the first did.
func TestANetworkResendHoldsOnce(t *testing.T) {
	onEachStore(t, func(t *testing.T, e *env) {
		srv, hc := e.networkAdapter(t)
		c := e.virtualCard(e.tokA)
		e.post("/v3/accounts/"+c["account_id"].(string)+"/fundings", e.tokA, map[string]string{"amount": "100.00"})
		pan := e.panOf(t, c)
		url := srv.URL + "/network/v1/authorizations"
		contactless := func(ref, amount string) map[string]any {
			return map[string]any{"network_reference": ref, "pan": string(pan.Reveal()), "exp_month": c["exp_month"], "exp_year": c["exp_year"],
				"entry_mode": "contactless", "amount": amount, "currency": "EUR", "merchant": shop}
		}
		available := func() string {
			t.Helper()
			return e.do(http.MethodGet, "/v3/accounts/"+c["account_id"].(string), e.tokA, "", nil).json(t)["available"].(string)
		}

		// Twenty sendings of one request at once: one decision.
		ref := nextReference()
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			statuses = map[int]int{}
			ids      = map[any]int{}
		)
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				status, m, err := networkPost(t, hc, url, contactless(ref, "10.00"))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				statuses[status]++
				ids[m["id"]]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if statuses[http.StatusCreated] != 1 || statuses[http.StatusOK] != 19 || len(ids) != 1 {
			t.Fatalf("answers %v for authorisations %v", statuses, ids)
		}
		if got := available(); got != "90.00" {
			t.Fatalf("after twenty sendings of a 10.00 payment, %s available", got)
		}
		list := e.do(http.MethodGet, "/v3/authorizations?card_id="+c["id"].(string), e.tokA, "", nil).json(t)["data"].([]any)
		if len(list) != 1 {
			t.Fatalf("%d authorisations recorded", len(list))
		}

		// The reference taken for another amount, or another card.
		if status, m, _ := networkPost(t, hc, url, contactless(ref, "11.00")); status != http.StatusConflict || m["code"] != "network_reference_reused" {
			t.Fatalf("the reference for another amount: %d %v", status, m)
		}
		other := contactless(ref, "10.00")
		other["pan"] = "4000000000000002"
		if status, m, _ := networkPost(t, hc, url, other); status != http.StatusConflict || m["code"] != "network_reference_reused" {
			t.Fatalf("the reference for another card: %d %v", status, m)
		}
		if status, m, _ := networkPost(t, hc, url, contactless("", "10.00")); status != http.StatusUnprocessableEntity || m["field"] != "network_reference" {
			t.Fatalf("no reference: %d %v", status, m)
		}
		if status, m, _ := networkPost(t, hc, url, contactless("acq1 4000000000000002", "10.00")); status != http.StatusUnprocessableEntity || m["field"] != "network_reference" {
			t.Fatalf("a reference with a space: %d %v", status, m)
		}
		if status, m, _ := networkPost(t, hc, url, contactless("acq1:"+string(pan.Reveal()), "10.00")); status != http.StatusUnprocessableEntity || m["field"] != "network_reference" {
			t.Fatalf("a reference holding a card number: %d %v", status, m)
		}

		// Reversed by its reference, twice: released once.
		for range 2 {
			status, m, err := networkPost(t, hc, srv.URL+"/network/v1/reversals", map[string]string{"network_reference": ref})
			if err != nil || status != http.StatusOK || m["status"] != "reversed" || m["network_reference"] != ref {
				t.Fatalf("reversal by reference: %d %v %v", status, m, err)
			}
		}
		if got := available(); got != "100.00" {
			t.Fatalf("after the reversal and its resend, %s available", got)
		}
		// A resend of the authorisation after its reversal answers the
		// authorisation as it is, and holds nothing.
		if status, m, _ := networkPost(t, hc, url, contactless(ref, "10.00")); status != http.StatusOK || m["status"] != "reversed" {
			t.Fatalf("a resend after the reversal: %d %v", status, m)
		}
		if got := available(); got != "100.00" {
			t.Fatalf("after a resend of a reversed authorisation, %s available", got)
		}

		// A clearing resent for the same amount is the same clearing; for
		// another, a conflict; more than 20% above, the amount named.
		ref2 := nextReference()
		if status, m, _ := networkPost(t, hc, url, contactless(ref2, "40.00")); status != http.StatusCreated || m["status"] != "approved" {
			t.Fatalf("a second payment: %d %v", status, m)
		}
		clear := func(amount string) (int, map[string]any) {
			status, m, err := networkPost(t, hc, srv.URL+"/network/v1/clearings", map[string]string{"network_reference": ref2, "amount": amount})
			if err != nil {
				t.Fatal(err)
			}
			return status, m
		}
		if status, m := clear("48.01"); status != http.StatusUnprocessableEntity || m["field"] != "amount" {
			t.Fatalf("clearing 48.01 of 40.00: %d %v", status, m)
		}
		for range 2 {
			if status, m := clear("48.00"); status != http.StatusOK || m["cleared_amount"] != "48.00" {
				t.Fatalf("clearing 48.00 of 40.00: %d %v", status, m)
			}
		}
		if status, m := clear("47.00"); status != http.StatusConflict || m["code"] != "invalid_state" {
			t.Fatalf("clearing a cleared authorisation for another amount: %d %v", status, m)
		}
		got := e.do(http.MethodGet, "/v3/accounts/"+c["account_id"].(string), e.tokA, "", nil).json(t)
		if got["balance"] != "52.00" || got["available"] != "52.00" {
			t.Fatalf("after one clearing of 48.00: %v", got)
		}
		for name, body := range map[string]map[string]string{
			"neither":   {},
			"both":      {"network_reference": ref2, "authorization_id": list[0].(map[string]any)["id"].(string)},
			"unknown":   {"network_reference": nextReference()},
			"malformed": {"network_reference": "a b"},
		} {
			status, m, _ := networkPost(t, hc, srv.URL+"/network/v1/reversals", body)
			want := http.StatusUnprocessableEntity
			if name == "unknown" {
				want = http.StatusNotFound
			}
			if status != want {
				t.Fatalf("a reversal naming %s: %d %v", name, status, m)
			}
		}
	})
}

// Field errors on the network listener name its own fields.
func TestNetworkFieldErrorsNameTheField(t *testing.T) {
	e := newEnv(t)
	srv, hc := e.networkAdapter(t)
	url := srv.URL + "/network/v1/authorizations"
	base := func() map[string]any {
		return map[string]any{"network_reference": nextReference(), "pan": "4000000000000002", "exp_month": "12", "exp_year": "2029",
			"entry_mode": "chip", "amount": "1.00", "currency": "EUR", "merchant": shop}
	}
	testCases := []struct {
		name  string
		edit  func(m map[string]any)
		field string
	}{
		{"an ATM without a PIN block", func(m map[string]any) { m["entry_mode"] = "atm" }, "pin_block"},
		{"a number for the card number", func(m map[string]any) { m["pan"] = 4000000000000002 }, "pan"},
		{"a number for the merchant's name", func(m map[string]any) { m["merchant"] = map[string]any{"name": 5} }, "merchant.name"},
		{"a signed month", func(m map[string]any) { m["exp_month"] = "+1" }, "exp_month"},
		{"a signed year", func(m map[string]any) { m["exp_year"] = "+202" }, "exp_year"},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			m := base()
			tc.edit(m)
			status, got, err := networkPost(t, hc, url, m)
			if err != nil || status != http.StatusUnprocessableEntity || got["field"] != tc.field {
				t.Fatalf("%d %v %v, want 422 on %s", status, got, err, tc.field)
			}
		})
	}
}

// The card's partner decides network authorisations in real time too, and
// a resend is not asked about again.
func TestTheNetworkAsksThePartner(t *testing.T) {
	e := newEnv(t)
	srv, hc := e.networkAdapter(t)
	var asked atomic.Int32
	partnerApp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		asked.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"approved": false, "reason": "merchant not allowed by the app"}`)
	}))
	defer partnerApp.Close()
	e.decideWith(t, map[string]any{"url": partnerApp.URL, "fallback": "approve"})
	c := e.virtualCard(e.tokA)
	e.post("/v3/accounts/"+c["account_id"].(string)+"/fundings", e.tokA, map[string]string{"amount": "100.00"})
	pan := e.panOf(t, c)
	body := map[string]any{"network_reference": nextReference(), "pan": string(pan.Reveal()), "exp_month": c["exp_month"], "exp_year": c["exp_year"],
		"entry_mode": "contactless", "amount": "10.00", "currency": "EUR", "merchant": shop}
	for i, want := range []int{http.StatusCreated, http.StatusOK} {
		status, m, err := networkPost(t, hc, srv.URL+"/network/v1/authorizations", body)
		if err != nil || status != want || m["decline_reason"] != "partner_declined" || m["decided_by"] != "partner" {
			t.Fatalf("sending %d: %d %v %v", i+1, status, m, err)
		}
	}
	if n := asked.Load(); n != 1 {
		t.Fatalf("the partner was asked %d times for one request sent twice", n)
	}
}

// A flood of resends of one request, some arriving while the first sending
// is deciding after the partner's answer, asks the partner once: none
// reserves the reference again once it is decided.
func TestAFloodOfResendsAsksThePartnerOnce(t *testing.T) {
	onEachStore(t, func(t *testing.T, e *env) {
		srv, hc := e.networkAdapter(t)
		var asked atomic.Int32
		partnerApp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			asked.Add(1)
			time.Sleep(100 * time.Millisecond)
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"approved": true}`)
		}))
		defer partnerApp.Close()
		e.decideWith(t, map[string]any{"url": partnerApp.URL, "fallback": "approve", "timeout_ms": 2000})
		c := e.virtualCard(e.tokA)
		e.post("/v3/accounts/"+c["account_id"].(string)+"/fundings", e.tokA, map[string]string{"amount": "100.00"})
		pan := e.panOf(t, c)
		for round := range 3 {
			asked.Store(0)
			body := map[string]any{"network_reference": nextReference(), "pan": string(pan.Reveal()), "exp_month": c["exp_month"], "exp_year": c["exp_year"],
				"entry_mode": "contactless", "amount": "1.00", "currency": "EUR", "merchant": shop}
			var (
				wg  sync.WaitGroup
				mu  sync.Mutex
				ids = map[any]int{}
			)
			for range 100 { // one every 3 ms, through the question and the decision after it
				wg.Add(1)
				go func() {
					defer wg.Done()
					status, m, err := networkPost(t, hc, srv.URL+"/network/v1/authorizations", body)
					if err != nil || (status != http.StatusCreated && status != http.StatusOK) {
						t.Errorf("%d %v %v", status, m, err)
						return
					}
					mu.Lock()
					ids[m["id"]]++
					mu.Unlock()
				}()
				time.Sleep(3 * time.Millisecond)
			}
			wg.Wait()
			if n := asked.Load(); n != 1 || len(ids) != 1 {
				t.Fatalf("round %d: the partner was asked %d times, %d authorisations answered", round, n, len(ids))
			}
		}
		if got := e.do(http.MethodGet, "/v3/accounts/"+c["account_id"].(string), e.tokA, "", nil).json(t); got["available"] != "97.00" {
			t.Fatalf("after three payments of 1.00: %v available", got["available"])
		}
	})
}
