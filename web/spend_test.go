package web_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaultpage/vaultpage/idempotency"
	"github.com/vaultpage/vaultpage/vault"
)

// activeCard orders a card with extra fields and activates it through a
// simulated consent, as a partner's CI would.
func (e *env) activeCard(t *testing.T, extra map[string]any) map[string]any {
	t.Helper()
	r := e.orderCard(t, extra)
	if r.status != http.StatusCreated {
		t.Fatalf("order: %d %s", r.status, r.body)
	}
	c := r.json(t)
	if c["status"] == "active" { // a virtual card
		return c
	}
	cs := consentOf(t, e.post("/v3/cards/"+c["id"].(string)+"/activate", e.tokA, nil))
	if s := e.post("/v3/simulations/consents/"+cs["id"].(string), e.tokA, map[string]string{"outcome": "approved"}); s.status != http.StatusOK {
		t.Fatalf("simulated activation: %d %s", s.status, s.body)
	}
	return c
}

var shop = map[string]string{"name": "Corner Shop", "mcc": "5411", "country": "SE", "id": "m-1"}

func (e *env) authorize(t *testing.T, cardID, amount string) map[string]any {
	t.Helper()
	r := e.post("/v3/simulations/authorizations", e.tokA, map[string]any{"card_id": cardID, "amount": amount, "currency": "EUR", "merchant": shop})
	if r.status != http.StatusCreated {
		t.Fatalf("authorize: %d %s", r.status, r.body)
	}
	return r.json(t)
}

func TestAuthorizationsFundingsAndSpendLimitsOverTheAPI(t *testing.T) {
	e := newEnv(t)
	c := e.activeCard(t, map[string]any{"spend_limit": "100.00", "spend_limit_duration": "DAILY"})
	id, acct := c["id"].(string), c["account_id"].(string)

	if a := e.authorize(t, id, "10.00"); a["status"] != "declined" || a["decline_reason"] != "insufficient_funds" {
		t.Fatalf("unfunded: %v", a)
	}
	f := e.post("/v3/accounts/"+acct+"/fundings", e.tokA, map[string]string{"amount": "250.00"})
	if f.status != http.StatusCreated || f.json(t)["available"] != "250.00" {
		t.Fatalf("funding: %d %s", f.status, f.body)
	}
	a := e.authorize(t, id, "60.00")
	if a["status"] != "approved" || a["held_amount"] != "60.00" || a["decline_reason"] != nil {
		t.Fatalf("approve: %v", a)
	}
	if d := e.authorize(t, id, "40.01"); d["decline_reason"] != "spend_limit_exceeded" {
		t.Fatalf("over the daily limit: %v", d)
	}
	limits := e.do(http.MethodGet, "/v3/cards/"+id+"/spend_limits", e.tokA, "", nil)
	if limits.status != http.StatusOK {
		t.Fatalf("spend_limits: %d %s", limits.status, limits.body)
	}
	for _, w := range limits.json(t)["data"].([]any) {
		w := w.(map[string]any)
		if w["duration"] == "DAILY" && (w["used"] != "60.00" || w["configured"] != "100.00" || w["available"] != "40.00") {
			t.Fatalf("daily window: %v", w)
		}
	}
	cl := e.post("/v3/simulations/authorizations/"+a["id"].(string)+"/clear", e.tokA, map[string]string{"amount": "55.50"})
	if cl.status != http.StatusOK || cl.json(t)["status"] != "cleared" || cl.json(t)["cleared_amount"] != "55.50" {
		t.Fatalf("clear: %d %s", cl.status, cl.body)
	}
	expectProblem(t, e.post("/v3/simulations/authorizations/"+a["id"].(string)+"/reverse", e.tokA, nil), http.StatusConflict, "invalid_state", "")
	if got := e.do(http.MethodGet, "/v3/accounts/"+acct, e.tokA, "", nil).json(t); got["balance"] != "194.50" || got["available"] != "194.50" {
		t.Fatalf("account after clearing 55.50: %v", got)
	}
	b := e.authorize(t, id, "40.00")
	expectProblem(t, e.post("/v3/simulations/authorizations/"+b["id"].(string)+"/clear", e.tokA, map[string]string{"amount": "48.01"}),
		http.StatusUnprocessableEntity, "invalid_field", "amount")
	if r := e.post("/v3/simulations/authorizations/"+b["id"].(string)+"/expire", e.tokA, nil); r.status != http.StatusOK || r.json(t)["held_amount"] != "0.00" {
		t.Fatalf("expire: %d %s", r.status, r.body)
	}
	if r := e.do(http.MethodGet, "/v3/authorizations/"+b["id"].(string), e.tokA, "", nil); r.status != http.StatusOK || r.json(t)["status"] != "expired" {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	expectProblem(t, e.do(http.MethodGet, "/v3/authorizations/"+b["id"].(string), e.tokB, "", nil), http.StatusNotFound, "not_found", "")
	listed := e.do(http.MethodGet, "/v3/authorizations?card_id="+id+"&limit=2", e.tokA, "", nil).json(t)
	if l := listed["data"].([]any); len(l) != 2 || l[0].(map[string]any)["id"] != b["id"] || listed["next_cursor"] == nil {
		t.Fatalf("list, newest first: %v", listed)
	}
	rest := e.do(http.MethodGet, "/v3/authorizations?card_id="+id+"&cursor="+listed["next_cursor"].(string), e.tokA, "", nil).json(t)["data"].([]any)
	if len(rest) != 2 { // four requests on this card, declines included: 2 + 2
		t.Fatalf("second page: %d", len(rest))
	}
	if other := e.do(http.MethodGet, "/v3/authorizations", e.tokB, "", nil).json(t)["data"].([]any); len(other) != 0 {
		t.Fatal("another partner lists Alpha's authorisations")
	}
	expectProblem(t, e.post("/v3/simulations/authorizations/"+b["id"].(string)+"/settle", e.tokA, nil), http.StatusNotFound, "not_found", "")
	expectProblem(t, e.post("/v3/accounts/"+acct+"/fundings", e.tokB, map[string]string{"amount": "1.00"}), http.StatusNotFound, "not_found", "")
	expectProblem(t, e.post("/v3/accounts/"+acct+"/fundings", e.tokA, map[string]string{"amount": "-5"}), http.StatusUnprocessableEntity, "invalid_field", "amount")
	bad := map[string]string{"name": "x", "mcc": "54", "country": "SE", "id": "m"}
	expectProblem(t, e.post("/v3/simulations/authorizations", e.tokA, map[string]any{"card_id": id, "amount": "1.00", "currency": "EUR", "merchant": bad}),
		http.StatusUnprocessableEntity, "invalid_field", "merchant.mcc")
	expectProblem(t, e.post("/v3/simulations/authorizations", e.tokA, map[string]any{"card_id": "nope", "amount": "1.00", "currency": "EUR", "merchant": shop}),
		http.StatusUnprocessableEntity, "invalid_field", "card_id")
}

func TestProductionRefusesSimulatedAuthorizations(t *testing.T) {
	e := newEnv(t, func(o *options) { o.production = true })
	c := e.orderCard(t, nil).json(t)
	expectProblem(t, e.post("/v3/simulations/authorizations", e.tokA, map[string]any{"card_id": c["id"], "amount": "1.00", "currency": "EUR", "merchant": shop}),
		http.StatusForbidden, "sandbox_only", "")
	if f := e.post("/v3/accounts/"+c["account_id"].(string)+"/fundings", e.tokA, map[string]string{"amount": "1.00"}); f.status != http.StatusCreated {
		t.Fatalf("funding in production: %d %s", f.status, f.body)
	}
}

// A merchant's terminal presents the card's number, expiry and CVV2 or
// PIN: the answer says what checked out, never the values, and none of
// them reaches the logs or the database.
func TestAuthorizationsByCardDataOverTheAPI(t *testing.T) {
	e := newEnv(t)
	c := e.virtualCard(e.tokA)
	id := c["id"].(string)
	e.post("/v3/accounts/"+c["account_id"].(string)+"/fundings", e.tokA, map[string]string{"amount": "50.00"})
	ctx := context.Background()
	o := vault.Owner{PartnerID: e.a.PartnerID.String(), Table: "cards", RecordID: id}
	pan, err := e.ring.LoadPAN(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	cvv, err := e.ring.CVV(ctx, o, vault.Expiry{Year: 2029, Month: 12}, vault.ServiceCodeCVV2)
	if err != nil {
		t.Fatal(err)
	}
	number, code := string(pan.Reveal()), string(cvv.Reveal())
	online := func(extra map[string]any) response {
		body := map[string]any{"pan": number, "exp_month": "12", "exp_year": "2029", "cvv": code, "entry_mode": "ecommerce",
			"amount": "5.00", "currency": "EUR", "merchant": shop}
		for k, v := range extra {
			body[k] = v
		}
		return e.post("/v3/simulations/authorizations", e.tokA, body)
	}
	r := online(nil)
	a := r.json(t)
	v, _ := a["verification"].(map[string]any)
	if r.status != http.StatusCreated || a["status"] != "approved" || a["card_id"] != id || a["entry_mode"] != "ecommerce" ||
		v["cvv"] != "match" || v["expiry"] != "match" || v["pin"] != "not_provided" {
		t.Fatalf("the right card data: %d %s", r.status, r.body)
	}
	got := e.do(http.MethodGet, "/v3/authorizations/"+a["id"].(string), e.tokA, "", nil).json(t)
	if gv, _ := got["verification"].(map[string]any); gv["cvv"] != "match" {
		t.Fatalf("read back: %v", got)
	}
	wrong := []byte(code)
	wrong[0] = '0' + (wrong[0]-'0'+1)%10
	if d := online(map[string]any{"cvv": string(wrong)}).json(t); d["decline_reason"] != "incorrect_cvv" || d["verification"].(map[string]any)["cvv"] != "mismatch" {
		t.Fatalf("one wrong CVV digit: %v", d)
	}
	if d := online(map[string]any{"exp_year": "2030"}).json(t); d["decline_reason"] != "incorrect_expiry" {
		t.Fatalf("the wrong expiry: %v", d)
	}
	// Another partner's number is no card of this partner's.
	nf := e.post("/v3/simulations/authorizations", e.tokB, map[string]any{"pan": number, "exp_month": "12", "exp_year": "2029", "cvv": code,
		"entry_mode": "ecommerce", "amount": "5.00", "currency": "EUR", "merchant": shop})
	if m := nf.json(t); nf.status != http.StatusCreated || m["decline_reason"] != "card_not_found" || m["card_id"] != nil || m["account_id"] != nil {
		t.Fatalf("another partner's card: %d %s", nf.status, nf.body)
	}
	expectProblem(t, online(map[string]any{"card_id": id}), http.StatusUnprocessableEntity, "invalid_field", "card_id")
	expectProblem(t, online(map[string]any{"entry_mode": "atm", "cvv": nil}), http.StatusUnprocessableEntity, "invalid_field", "pin")
	expectProblem(t, online(map[string]any{"exp_month": "1"}), http.StatusUnprocessableEntity, "invalid_field", "exp_month")
	expectProblem(t, online(map[string]any{"pan": "4895"}), http.StatusUnprocessableEntity, "invalid_field", "pan")
	expectProblem(t, e.post("/v3/simulations/authorizations", e.tokA, map[string]any{"card_id": id, "cvv": code, "amount": "5.00", "currency": "EUR", "merchant": shop}),
		http.StatusUnprocessableEntity, "invalid_field", "cvv")
	// The number in any form; the CVV2 as a request field (three digits
	// alone occur anywhere).
	if strings.Contains(e.logs.String(), number) || e.stored(t, number) {
		t.Fatal("the card number reached the logs or the database in clear")
	}
	for _, field := range []string{`"cvv":"` + code + `"`, `"cvv": "` + code + `"`} {
		if strings.Contains(e.logs.String(), field) || e.stored(t, field) {
			t.Fatal("the CVV2 reached the logs or the database")
		}
	}
}

// claimSpy records the digests the idempotency middleware claims keys with.
type claimSpy struct {
	idempotency.Store
	mu     sync.Mutex
	hashes [][]byte
}

func (s *claimSpy) Claim(ctx context.Context, partnerID, key string, hash []byte, now, notBefore time.Time) (idempotency.Request, bool, error) {
	s.mu.Lock()
	s.hashes = append(s.hashes, append([]byte(nil), hash...))
	s.mu.Unlock()
	return s.Store.Claim(ctx, partnerID, key, hash, now, notBefore)
}

// An idempotent request's body may carry card data: what is kept to
// recognise its repeat is a keyed digest, not a plain hash of the body
// that a PAN could be brute-forced from.
func TestIdempotencyDigestsAreKeyed(t *testing.T) {
	spy := &claimSpy{}
	e := newEnv(t, func(o *options) { o.idem = func(s idempotency.Store) idempotency.Store { spy.Store = s; return spy } })
	c := e.virtualCard(e.tokA)
	o := vault.Owner{PartnerID: e.a.PartnerID.String(), Table: "cards", RecordID: c["id"].(string)}
	pan, err := e.ring.LoadPAN(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"pan": string(pan.Reveal()), "exp_month": "12", "exp_year": "2029", "entry_mode": "contactless",
		"amount": "5.00", "currency": "EUR", "merchant": shop})
	first := e.do(http.MethodPost, "/v3/simulations/authorizations", e.tokA, "application/json", body, "Idempotency-Key", "tap-1")
	again := e.do(http.MethodPost, "/v3/simulations/authorizations", e.tokA, "application/json", body, "Idempotency-Key", "tap-1")
	if first.status != http.StatusCreated || !bytes.Equal(first.body, again.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %d %s", first.status, again.status, again.header.Get("Idempotent-Replayed"))
	}
	plain := sha256.Sum256(append([]byte("POST /v3/simulations/authorizations\n"), body...))
	spy.mu.Lock()
	defer spy.mu.Unlock()
	if len(spy.hashes) == 0 {
		t.Fatal("no key was claimed")
	}
	for _, h := range spy.hashes {
		if bytes.Equal(h, plain[:]) {
			t.Fatal("the stored digest is a plain SHA-256 of a body that holds a card number")
		}
	}
}

// The real-time decision endpoint over the API: registered with its
// limits named, its secret shown once; an authorisation shows who decided;
// a keyed authorisation asks the partner once, however often it is sent.
func TestTheDecisionEndpointOverTheAPI(t *testing.T) {
	e := newEnv(t)
	var asked atomic.Int32
	partnerApp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"approved": true, "amount": "7.50", "reason": "within budget"}`)
	}))
	defer partnerApp.Close()
	put := func(body any) response {
		b, _ := json.Marshal(body)
		return e.do(http.MethodPut, "/v3/decision_endpoint", e.tokA, "application/json", b)
	}
	expectProblem(t, e.do(http.MethodGet, "/v3/decision_endpoint", e.tokA, "", nil), http.StatusNotFound, "not_found", "")
	expectProblem(t, put(map[string]any{"url": partnerApp.URL, "timeout_ms": 50, "fallback": "approve"}), http.StatusUnprocessableEntity, "invalid_field", "timeout_ms")
	expectProblem(t, put(map[string]any{"url": partnerApp.URL, "fallback": "sometimes"}), http.StatusUnprocessableEntity, "invalid_field", "fallback")
	expectProblem(t, put(map[string]any{"url": partnerApp.URL}), http.StatusUnprocessableEntity, "invalid_field", "fallback")
	expectProblem(t, put(map[string]any{"url": partnerApp.URL, "fallback": "approve", "retries": 3}), http.StatusUnprocessableEntity, "unknown_field", "retries")
	created := put(map[string]any{"url": partnerApp.URL, "timeout_ms": 1500, "fallback": "decline"})
	if created.status != http.StatusCreated || !strings.HasPrefix(created.json(t)["secret"].(string), "whsec_") {
		t.Fatalf("register: %d %s", created.status, created.body)
	}
	changed := put(map[string]any{"url": partnerApp.URL, "timeout_ms": 1000, "fallback": "decline"})
	if changed.status != http.StatusOK || changed.json(t)["secret"] != nil || changed.json(t)["timeout_ms"] != float64(1000) {
		t.Fatalf("change: %d %s", changed.status, changed.body)
	}
	rotated := put(map[string]any{"url": partnerApp.URL, "timeout_ms": 1000, "fallback": "decline", "rotate_secret": true})
	if m := rotated.json(t); rotated.status != http.StatusOK || m["secret"] == nil || m["secret"] == created.json(t)["secret"] || m["previous_secret_until"] == nil {
		t.Fatalf("rotate: %d %s", rotated.status, rotated.body)
	}
	if got := e.do(http.MethodGet, "/v3/decision_endpoint", e.tokB, "", nil); got.status != http.StatusNotFound {
		t.Fatalf("another partner's endpoint: %d", got.status)
	}

	c := e.virtualCard(e.tokA)
	e.post("/v3/accounts/"+c["account_id"].(string)+"/fundings", e.tokA, map[string]string{"amount": "100.00"})
	pay := map[string]any{"card_id": c["id"], "amount": "10.00", "currency": "EUR", "merchant": map[string]string{"name": "Shop", "mcc": "5411", "country": "SE", "id": "m-1"}}
	var first map[string]any
	for i := range 3 {
		r := e.post("/v3/simulations/authorizations", e.tokA, pay, "Idempotency-Key", "pay-once")
		if r.status != http.StatusCreated {
			t.Fatalf("keyed authorisation %d: %d %s", i, r.status, r.body)
		}
		m := r.json(t)
		d, _ := m["decision"].(map[string]any)
		if m["decided_by"] != "partner" || m["amount"] != "7.50" || d["requested_amount"] != "10.00" || d["reason"] != "within budget" {
			t.Fatalf("keyed authorisation %d: %s", i, r.body)
		}
		if first == nil {
			first = m
		} else if m["id"] != first["id"] {
			t.Fatalf("a replay answered another authorisation: %v against %v", m["id"], first["id"])
		}
	}
	if n := asked.Load(); n != 1 {
		t.Fatalf("the partner was asked %d times for one keyed authorisation", n)
	}
	if got := e.do(http.MethodGet, "/v3/accounts/"+c["account_id"].(string), e.tokA, "", nil).json(t); got["available"] != "92.50" {
		t.Fatalf("after a partial approval of 7.50: %v available", got["available"])
	}
	if r := e.do(http.MethodDelete, "/v3/decision_endpoint", e.tokA, "", nil); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if m := e.post("/v3/simulations/authorizations", e.tokA, pay).json(t); m["decided_by"] != "vaultpage" || m["decision"] != nil || m["amount"] != "10.00" {
		t.Fatalf("after the deletion: %v", m)
	}
}

// Two sendings of one keyed authorisation at once ask the partner once,
// and a decline of vaultpage's checks made while preparing is recorded
// once, with the key's response.
func TestAKeyedAuthorizationIsPreparedOnce(t *testing.T) {
	onEachStore(t, func(t *testing.T, e *env) {
		var asked atomic.Int32
		release := make(chan struct{})
		app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			asked.Add(1)
			<-release
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"approved": true, "fund": "10.00"}`)
		}))
		defer app.Close()
		e.decideWith(t, map[string]any{"url": app.URL, "timeout_ms": 3000, "fallback": "decline"})
		c := e.virtualCard(e.tokA)
		pay := map[string]any{"card_id": c["id"], "amount": "10.00", "currency": "EUR", "merchant": map[string]string{"name": "Shop", "mcc": "5411", "country": "SE", "id": "m-1"}}
		first := make(chan response, 1)
		go func() { first <- e.post("/v3/simulations/authorizations", e.tokA, pay, "Idempotency-Key", "k-1") }()
		for asked.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		// The first is with the partner: the second is refused at once.
		expectProblem(t, e.post("/v3/simulations/authorizations", e.tokA, pay, "Idempotency-Key", "k-1"), http.StatusConflict, "idempotency_key_in_use", "")
		close(release)
		if r := <-first; r.status != http.StatusCreated || r.json(t)["status"] != "approved" {
			t.Fatalf("the first: %d %s", r.status, r.body)
		}
		if r := e.post("/v3/simulations/authorizations", e.tokA, pay, "Idempotency-Key", "k-1"); r.status != http.StatusCreated || r.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("the replay: %d %s", r.status, r.body)
		}
		if n := asked.Load(); n != 1 {
			t.Fatalf("one keyed authorisation asked the partner %d times", n)
		}
		expectProblem(t, e.post("/v3/simulations/authorizations", e.tokA, pay, "Idempotency-Key", strings.Repeat("k", 256)), http.StatusBadRequest, "invalid_header", "Idempotency-Key")

		// A frozen card declines while preparing: recorded once, with the
		// key's response, however often the request is sent.
		if r := e.patch("/v3/cards/"+c["id"].(string), e.tokA, map[string]string{"status": "frozen"}); r.status != http.StatusOK {
			t.Fatalf("freeze: %d %s", r.status, r.body)
		}
		count := func() int {
			return len(e.do(http.MethodGet, "/v3/authorizations?card_id="+c["id"].(string), e.tokA, "", nil).json(t)["data"].([]any))
		}
		before := count()
		for range 3 {
			if r := e.post("/v3/simulations/authorizations", e.tokA, pay, "Idempotency-Key", "k-3"); r.status != http.StatusCreated || r.json(t)["decline_reason"] != "card_frozen" {
				t.Fatalf("a keyed payment on a frozen card: %d %s", r.status, r.body)
			}
		}
		if n := count() - before; n != 1 {
			t.Fatalf("one keyed decline was recorded %d times", n)
		}
	})
}
