package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/vaultpage/vaultpage/store/storetest"
)

// The card lifecycle as the seeds describe it: virtual cards work at once,
// the activate endpoint unfreezes, "block" blocks, lost and stolen cards are
// reissued with a new number, and old links stop working.
func TestCardLifecycleAsTheSeedsDescribeIt(t *testing.T) {
	onEachStore(t, func(t *testing.T, e *env) {
		t.Run("a virtual card is active at once and has nothing to activate", func(t *testing.T) {
			v := e.virtualCard(e.tokA)
			if v["status"] != "active" || v["shipping_address"] != nil {
				t.Fatalf("virtual card %v", v)
			}
			expectProblem(t, e.post("/v3/cards/"+v["id"].(string)+"/activate", e.tokA, nil), http.StatusConflict, "invalid_state", "")
		})
		t.Run("a physical card waits and ships to its address", func(t *testing.T) {
			p := e.card(e.tokA)
			ship, _ := p["shipping_address"].(map[string]any)
			if p["status"] != "not_activated" || ship["city"] != "Stockholm" || ship["country"] != "SE" {
				t.Fatalf("physical card %v", p)
			}
			if cs := consentOf(t, e.post("/v3/cards/"+p["id"].(string)+"/activate", e.tokA, nil)); cs["action"] != "activate" {
				t.Fatalf("consent %v", cs)
			}
		})
		t.Run("activate on a frozen card asks for an unfreeze", func(t *testing.T) {
			v := e.virtualCard(e.tokA)
			id := v["id"].(string)
			if r := e.patch("/v3/cards/"+id, e.tokA, map[string]string{"status": "frozen"}); r.status != http.StatusOK {
				t.Fatalf("freeze: %d %s", r.status, r.body)
			}
			cs := consentOf(t, e.post("/v3/cards/"+id+"/activate", e.tokA, nil))
			if cs["action"] != "unfreeze" {
				t.Fatalf("activate on a frozen card: %v", cs)
			}
			if r := e.post("/v3/simulations/consents/"+cs["id"].(string), e.tokA, map[string]string{"outcome": "approved"}); r.status != http.StatusOK {
				t.Fatalf("approve: %d %s", r.status, r.body)
			}
			if got := e.do(http.MethodGet, "/v3/cards/"+id, e.tokA, "", nil).json(t); got["status"] != "active" {
				t.Fatalf("after the unfreeze: %v", got["status"])
			}
		})
		t.Run("block is blocked", func(t *testing.T) {
			v := e.virtualCard(e.tokA)
			r := e.patch("/v3/cards/"+v["id"].(string), e.tokA, map[string]string{"status": "block"})
			if r.status != http.StatusOK || r.json(t)["status"] != "blocked" {
				t.Fatalf("block: %d %s", r.status, r.body)
			}
			expectProblem(t, e.patch("/v3/cards/"+e.virtualCard(e.tokA)["id"].(string), e.tokA, map[string]string{"status": "blok"}),
				http.StatusUnprocessableEntity, "invalid_field", "status")
		})
		t.Run("a lost card is reissued with a new number only", func(t *testing.T) {
			p := e.card(e.tokA)
			id := p["id"].(string)
			if r := e.patch("/v3/cards/"+id, e.tokA, map[string]any{"status": "lost", "spend_limit": "50.00", "spend_limit_duration": "MONTHLY"}); r.status != http.StatusOK {
				t.Fatalf("lost: %d %s", r.status, r.body)
			}
			expectProblem(t, e.post("/v3/cards/"+id+"/reissue", e.tokA, map[string]string{"reissue_type": "same_card_number"}),
				http.StatusUnprocessableEntity, "invalid_field", "reissue_type")
			home := map[string]string{"line1": "Kungsgatan 9", "city": "Göteborg", "postal_code": "411 19", "country": "SE"}
			r := e.post("/v3/cards/"+id+"/reissue", e.tokA, map[string]any{"reissue_type": "new_card_number", "shipping_address": home})
			if r.status != http.StatusCreated {
				t.Fatalf("reissue: %d %s", r.status, r.body)
			}
			n := r.json(t)
			if n["status"] != "not_activated" || n["replaces_id"] != id || n["spend_limit"] != "50.00" ||
				n["shipping_address"].(map[string]any)["city"] != "Göteborg" {
				t.Fatalf("new card %v", n)
			}
			old := e.do(http.MethodGet, "/v3/cards/"+id, e.tokA, "", nil).json(t)
			if old["status"] != "lost" || old["replaced_by_id"] != n["id"] {
				t.Fatalf("old card %v", old)
			}
			expectProblem(t, e.post("/v3/cards/"+id+"/reissue", e.tokA, map[string]string{"reissue_type": "new_card_number"}),
				http.StatusConflict, "invalid_state", "")
		})
		t.Run("an old activation link stops working", func(t *testing.T) {
			p := e.card(e.tokA)
			id := p["id"].(string)
			first := consentOf(t, e.post("/v3/cards/"+id+"/activate", e.tokA, nil))["id"].(string)
			link := e.post("/v3/consents/"+first, e.tokA, nil).json(t)["method"].(map[string]any)["redirect_url"].(string)
			second := consentOf(t, e.post("/v3/cards/"+id+"/activate", e.tokA, nil))["id"].(string)
			if got := e.do(http.MethodGet, "/v3/consents/"+first, e.tokA, "", nil).json(t); got["status"] != "canceled" {
				t.Fatalf("the superseded consent is %v", got["status"])
			}
			if got := e.do(http.MethodGet, "/v3/consents/"+second, e.tokA, "", nil).json(t); got["status"] != "pending" {
				t.Fatalf("the newest consent is %v", got["status"])
			}
			u := e.srv.URL + link[strings.Index(link, "/c/"):]
			if res, _ := get(t, browser(t), u); res.StatusCode != http.StatusGone {
				t.Fatalf("the superseded link: %d", res.StatusCode)
			}
		})
		t.Run("addresses are checked field by field", func(t *testing.T) {
			for _, tc := range []struct {
				order       map[string]any
				field, code string
			}{
				{map[string]any{"type": "physical"}, "shipping_address", "invalid_field"},
				{map[string]any{"type": "physical", "shipping_address": map[string]string{"line1": "1 Main St", "city": "X", "postal_code": "1", "country": "ZZ"}}, "shipping_address.country", "invalid_field"},
				{map[string]any{"type": "physical", "shipping_address": map[string]string{"city": "X", "postal_code": "1", "country": "SE"}}, "shipping_address.line1", "invalid_field"},
				{map[string]any{"type": "virtual", "billing_address": map[string]string{"line1": "1 Main St", "city": "X", "country": "SE"}}, "billing_address.postal_code", "invalid_field"},
				{map[string]any{"type": "physical", "shipping_address": map[string]any{"line1": "1 Main St", "city": "X", "postal_code": "1", "country": "SE", "state": "X"}}, "shipping_address.state", "unknown_field"},
			} {
				ind := e.post("/v3/individuals", e.tokA, map[string]string{"first_name": "A", "last_name": "B", "email": "a@example.com"}).json(t)["id"].(string)
				acc := e.post("/v3/accounts", e.tokA, map[string]string{"individual_id": ind, "currency": "EUR"}).json(t)["id"].(string)
				tc.order["individual_id"], tc.order["account_id"] = ind, acc
				expectProblem(t, e.post("/v3/cards", e.tokA, tc.order), http.StatusUnprocessableEntity, tc.code, tc.field)
			}
		})
	})
}

// Renaming, spend limits, controls and restrictions are card.updated
// events naming the fields that changed; a change that changes nothing is
// no event.
func TestEveryCardChangeIsAnEvent(t *testing.T) {
	onEachStore(t, func(t *testing.T, e *env) {
		id := e.virtualCard(e.tokA)["id"].(string)
		updates := func() []string {
			t.Helper()
			var out []string
			for _, ev := range e.do(http.MethodGet, "/v3/events?type=card.updated&limit=100", e.tokA, "", nil).json(t)["data"].([]any) {
				m := ev.(map[string]any)
				if m["resource_id"] != id {
					continue
				}
				out = append(out, m["data"].(map[string]any)["fields"].(string))
			}
			return out
		}
		steps := []struct {
			name string
			do   func() response
			want string
		}{
			{"rename", func() response { return e.patch("/v3/cards/"+id, e.tokA, map[string]string{"display_name": "Travel"}) }, "display_name"},
			{"the same name again", func() response { return e.patch("/v3/cards/"+id, e.tokA, map[string]string{"display_name": "Travel"}) }, ""},
			{"a spend limit", func() response {
				return e.patch("/v3/cards/"+id, e.tokA, map[string]string{"spend_limit": "200.00", "spend_limit_duration": "DAILY"})
			}, "spend_limit,spend_limit_duration"},
			{"controls", func() response {
				return e.patch("/v3/cards/"+id, e.tokA, map[string]any{"blocked_mccs": []string{"7995"}, "allowed_countries": []string{"SE", "NO"}})
			}, "blocked_mccs,allowed_countries"},
			{"a restriction", func() response {
				return e.post("/v3/cards/"+id+"/restrictions", e.tokA, map[string]string{"restriction_type": "amount", "max_amount": "75.00"})
			}, "restrictions"},
			{"a freeze alone", func() response { return e.patch("/v3/cards/"+id, e.tokA, map[string]string{"status": "frozen"}) }, ""},
		}
		var want []string
		for _, st := range steps {
			r := st.do()
			if r.status >= 300 {
				t.Fatalf("%s: %d %s", st.name, r.status, r.body)
			}
			if st.want != "" {
				want = append(want, st.want) // the feed lists oldest first
			}
			if got := updates(); strings.Join(got, "|") != strings.Join(want, "|") {
				t.Fatalf("after %s: card.updated %v, want %v", st.name, got, want)
			}
		}
	})
}

// A physical card's fulfilment moves along in the sandbox, step by step,
// each an event; a returned card is reissued to a new address.
func TestPhysicalCardsShipInTheSandbox(t *testing.T) {
	onEachStore(t, func(t *testing.T, e *env) {
		p := e.card(e.tokA)
		id := p["id"].(string)
		if f, _ := p["fulfilment"].(map[string]any); f["status"] != "pending" {
			t.Fatalf("a new physical card's fulfilment %v", p["fulfilment"])
		}
		if v := e.virtualCard(e.tokA); v["fulfilment"] != nil {
			t.Fatalf("a virtual card has a fulfilment: %v", v["fulfilment"])
		}
		step := func(body map[string]string) response {
			return e.post("/v3/simulations/cards/"+id+"/fulfilment", e.tokA, body)
		}
		expectProblem(t, step(map[string]string{"status": "shipped", "carrier": "PostNord", "tracking_number": "RR123456785SE"}), http.StatusConflict, "invalid_state", "")
		expectProblem(t, step(map[string]string{"status": "lost_in_post"}), http.StatusUnprocessableEntity, "invalid_field", "status")
		if r := step(map[string]string{"status": "sent_to_bureau"}); r.status != http.StatusOK {
			t.Fatalf("sent_to_bureau: %d %s", r.status, r.body)
		}
		expectProblem(t, step(map[string]string{"status": "shipped"}), http.StatusUnprocessableEntity, "invalid_field", "carrier")
		expectProblem(t, step(map[string]string{"status": "shipped", "carrier": "PostNord", "tracking_number": "RR 123"}), http.StatusUnprocessableEntity, "invalid_field", "tracking_number")
		r := step(map[string]string{"status": "shipped", "carrier": "PostNord", "tracking_number": "RR123456785SE"})
		f, _ := r.json(t)["fulfilment"].(map[string]any)
		if r.status != http.StatusOK || f["status"] != "shipped" || f["carrier"] != "PostNord" || f["tracking_number"] != "RR123456785SE" {
			t.Fatalf("shipped: %d %s", r.status, r.body)
		}
		if r := step(map[string]string{"status": "returned"}); r.status != http.StatusOK {
			t.Fatalf("returned: %d %s", r.status, r.body)
		}
		expectProblem(t, step(map[string]string{"status": "delivered"}), http.StatusConflict, "invalid_state", "")
		var got []string
		for _, ev := range e.do(http.MethodGet, "/v3/events?type=card.fulfilment_changed&limit=100", e.tokA, "", nil).json(t)["data"].([]any) {
			m := ev.(map[string]any)
			if m["resource_id"] == id {
				got = append(got, m["data"].(map[string]any)["fulfilment_status"].(string))
			}
		}
		if strings.Join(got, ",") != "sent_to_bureau,shipped,returned" {
			t.Fatalf("fulfilment events %v", got)
		}
		// Returned: reissued to where the cardholder lives now.
		home := map[string]string{"line1": "Kungsgatan 9", "city": "Göteborg", "postal_code": "411 19", "country": "SE"}
		n := e.post("/v3/cards/"+id+"/reissue", e.tokA, map[string]any{"reissue_type": "same_card_number", "shipping_address": home})
		if n.status != http.StatusCreated {
			t.Fatalf("reissue: %d %s", n.status, n.body)
		}
		nc := n.json(t)
		if nc["shipping_address"].(map[string]any)["city"] != "Göteborg" || nc["fulfilment"].(map[string]any)["status"] != "pending" {
			t.Fatalf("the reissued card %v", nc)
		}
		expectProblem(t, e.post("/v3/simulations/cards/"+id+"/fulfilment", e.tokB, map[string]string{"status": "delivered"}), http.StatusNotFound, "not_found", "")
		prod := newEnv(t, func(o *options) { o.production = true })
		pc := prod.card(prod.tokA)
		expectProblem(t, prod.post("/v3/simulations/cards/"+pc["id"].(string)+"/fulfilment", prod.tokA, map[string]string{"status": "sent_to_bureau"}),
			http.StatusForbidden, "sandbox_only", "")
	})
}

// onEachStore runs fn against a server on SQLite and one on PostgreSQL.
func onEachStore(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) { fn(t, newEnv(t, func(o *options) { o.db = b.Open(t) })) })
	}
}

// Of two unknown fields, the one named is the one encoding/json stopped at,
// by its path, every time.
func TestAnUnknownNestedFieldIsNamedTheSameEveryTime(t *testing.T) {
	e := newEnv(t)
	ind := e.post("/v3/individuals", e.tokA, map[string]string{"first_name": "A", "last_name": "B", "email": "a@example.com"}).json(t)["id"].(string)
	acc := e.post("/v3/accounts", e.tokA, map[string]string{"individual_id": ind, "currency": "EUR"}).json(t)["id"].(string)
	body := []byte(`{"individual_id":"` + ind + `","account_id":"` + acc + `","type":"physical","shipping_address":` +
		`{"line1":"1 Main St","city":"X","postal_code":"1","country":"SE","zz":"1","aa":"2"}}`)
	for range 20 {
		r := e.do(http.MethodPost, "/v3/cards", e.tokA, "application/json", body)
		expectProblem(t, r, http.StatusUnprocessableEntity, "unknown_field", "shipping_address.zz")
	}
}
