package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/vaultpage/vaultpage/internal/testkit"
	"github.com/vaultpage/vaultpage/spend"
	"github.com/vaultpage/vaultpage/vault"
)

// challengeWindow is what static/challenge.js keeps: the page's sealed
// session and CSRF token, sent with every call; no cookie.
type challengeWindow struct {
	t             *testing.T
	base, session string
	csrf          string
	doc           *goquery.Document
}

// openWindow opens a challenge URL as a merchant's iframe would.
func (e *env) openWindow(t *testing.T, challengeURL string) *challengeWindow {
	t.Helper()
	u, err := url.Parse(challengeURL)
	if err != nil || !strings.HasPrefix(u.Path, "/a/vpk_") {
		t.Fatalf("challenge url %q", challengeURL)
	}
	res, doc := get(t, http.DefaultClient, e.srv.URL+u.Path, "Accept-Language", "sv-SE,sv;q=0.9")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("open: %d", res.StatusCode)
	}
	if len(res.Cookies()) != 0 {
		t.Fatalf("the challenge window set a cookie: %v", res.Cookies())
	}
	root := doc.Find(`[data-testid="challenge"]`)
	w := &challengeWindow{t: t, base: e.srv.URL, session: root.AttrOr("data-session", ""), csrf: root.AttrOr("data-csrf", ""), doc: doc}
	if w.session == "" || w.csrf == "" {
		t.Fatal("the challenge page carries no session")
	}
	return w
}

// call posts to the window's endpoint as static/challenge.js does.
func (w *challengeWindow) call(path, body string) (int, map[string]any, []byte) {
	w.t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, w.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", w.csrf)
	req.Header.Set("X-Vaultpage-Session", w.session)
	req.Header.Set("Accept-Language", "sv-SE,sv;q=0.9") // as the browser sends it
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	if s := res.Header.Get("X-Vaultpage-Session"); s != "" {
		w.session = s
	}
	if len(res.Cookies()) != 0 {
		w.t.Fatalf("%s set a cookie", path)
	}
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return res.StatusCode, out, raw
}

// wrongVerify has a code sent to the window's cardholder, so that an
// attempt is checked (and, wrong, counted), and returns the body of an
// attempt with another code and a wrong passcode.
func (w *challengeWindow) wrongVerify(e *env) string {
	w.t.Helper()
	if status, _, raw := w.call("/challenge/code", "{}"); status != http.StatusOK {
		w.t.Fatalf("send: %d %s", status, raw)
	}
	wrong := "000000"
	if e.lastCode(w.t) == wrong {
		wrong = "000001"
	}
	return `{"code": "` + wrong + `", "passcode": "wrong passcode"}`
}

// challenged is a payment of amount on the passkey-enrolled card that the
// sandbox answers C.
func (e *env) challenged(t *testing.T, c map[string]any, amount string) map[string]any {
	t.Helper()
	pan := e.panOf(t, c)
	r := e.post("/v3/simulations/authentications", e.tokA, map[string]any{"pan": string(pan.Reveal()), "exp_month": "12", "exp_year": "2029",
		"amount": amount, "currency": "EUR", "merchant": webshop})
	m := r.json(t)
	if r.status != http.StatusCreated || m["trans_status"] != "C" || m["challenge_url"] == nil || m["consent_id"] == nil {
		t.Fatalf("a challenge: %d %s", r.status, r.body)
	}
	return m
}

// payWith authorises the authenticated payment by card data.
func (e *env) payWith(t *testing.T, c map[string]any, authentication, amount string) map[string]any {
	t.Helper()
	o := vault.Owner{PartnerID: e.a.PartnerID.String(), Table: "cards", RecordID: c["id"].(string)}
	cvv, err := e.ring.CVV(context.Background(), o, vault.Expiry{Year: 2029, Month: 12}, vault.ServiceCodeCVV2)
	if err != nil {
		t.Fatal(err)
	}
	pan := e.panOf(t, c)
	r := e.post("/v3/simulations/authorizations", e.tokA, map[string]any{"pan": string(pan.Reveal()), "exp_month": "12", "exp_year": "2029",
		"cvv": string(cvv.Reveal()), "entry_mode": "ecommerce", "amount": amount, "currency": "EUR", "authentication_id": authentication,
		"merchant": map[string]string{"name": webshop["name"], "mcc": webshop["mcc"], "country": webshop["country"], "id": webshop["id"]}})
	if r.status != http.StatusCreated {
		t.Fatalf("authorize: %d %s", r.status, r.body)
	}
	return r.json(t)
}

// The merchant's challenge window names the payment in the cardholder's
// language, keeps no cookie, and takes the passkey whose assertion commits
// to the payment: the authentication is then Y, pays once, and the
// exemption counts again from nothing.
func TestAChallengeWindowAuthenticatesThePaymentWithThePasskey(t *testing.T) {
	e := newEnv(t)
	phone := testkit.NewPhone("localhost", "http://localhost:8080")
	c := e.enrolPasskey(t, phone)
	e.post("/v3/accounts/"+c["account_id"].(string)+"/fundings", e.tokA, map[string]string{"amount": "500.00"})
	pan := e.panOf(t, c)
	small := func() string {
		t.Helper()
		return e.post("/v3/simulations/authentications", e.tokA, map[string]any{"pan": string(pan.Reveal()), "exp_month": "12", "exp_year": "2029",
			"amount": "1.00", "currency": "EUR", "merchant": webshop}).json(t)["trans_status"].(string)
	}
	for i := range spend.LowValuePayments {
		if got := small(); got != "Y" {
			t.Fatalf("low-value payment %d: %s", i+1, got)
		}
	}
	if got := small(); got != "C" {
		t.Fatalf("a sixth low-value payment: %s", got)
	}
	ch := e.challenged(t, c, "42.50")
	w := e.openWindow(t, ch["challenge_url"].(string))

	if got := w.doc.Find(`[data-testid="amount"]`).Text(); got != "42,50 EUR" {
		t.Fatalf("the amount reads %q", got)
	}
	if got := w.doc.Find(`[data-testid="payee"]`).Text(); got != "till Web Shop" {
		t.Fatalf("the payee reads %q", got)
	}
	if w.doc.Find(`[data-testid="passkey-login"]`).Length() != 1 {
		t.Fatal("no passkey button")
	}
	if r := e.do(http.MethodGet, "/a/"+strings.TrimPrefix(ch["challenge_url"].(string), "http://localhost:8080/a/"), "", "", nil); r.status != http.StatusGone {
		t.Fatalf("the challenge URL opened twice: %d", r.status)
	}

	t.Run("only the merchant's origin may frame it", func(t *testing.T) {
		// Reopened through a fresh challenge, to read its headers.
		ch2 := e.challenged(t, c, "35.00")
		u, _ := url.Parse(ch2["challenge_url"].(string))
		res, _ := get(t, http.DefaultClient, e.srv.URL+u.Path)
		csp := res.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors https://shop.example;") && !strings.HasSuffix(csp, "frame-ancestors https://shop.example") {
			t.Fatalf("CSP %q", csp)
		}
		if res.Header.Get("X-Frame-Options") != "" {
			t.Fatal("X-Frame-Options still forbids the merchant's frame")
		}
	})
	t.Run("without the session or its CSRF token, nothing starts", func(t *testing.T) {
		saved := w.session
		w.session = ""
		if status, _, _ := w.call("/challenge/passkey", "{}"); status != http.StatusForbidden {
			t.Fatalf("no session: %d", status)
		}
		w.session = saved
		csrf := w.csrf
		w.csrf = "forged"
		if status, _, _ := w.call("/challenge/passkey", "{}"); status != http.StatusForbidden {
			t.Fatalf("a forged CSRF token: %d", status)
		}
		w.csrf = csrf
	})
	t.Run("an assertion for another amount fails", func(t *testing.T) {
		status, _, opts := w.call("/challenge/passkey", "{}")
		if status != http.StatusOK {
			t.Fatalf("begin: %d %s", status, opts)
		}
		// The payment changes after the cardholder saw it.
		if err := e.db.ExecForTest(context.Background(), `UPDATE authentications SET amount = 9999 WHERE id = '`+ch["id"].(string)+`'`); err != nil {
			t.Fatal(err)
		}
		status, out, raw := w.call("/challenge/passkey/finish", phone.Sign(t, opts))
		if status != http.StatusUnprocessableEntity || out["outcome"] != nil {
			t.Fatalf("an assertion for 42.50 taken for 99.99: %d %s", status, raw)
		}
		if err := e.db.ExecForTest(context.Background(), `UPDATE authentications SET amount = 4250 WHERE id = '`+ch["id"].(string)+`'`); err != nil {
			t.Fatal(err)
		}
	})
	status, _, opts := w.call("/challenge/passkey", "{}")
	if status != http.StatusOK {
		t.Fatalf("begin: %d %s", status, opts)
	}
	var options struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(opts, &options); err != nil || len(options.PublicKey.Challenge) < 80 {
		t.Fatalf("the challenge %q carries no commitment", options.PublicKey.Challenge)
	}
	status, out, raw := w.call("/challenge/passkey/finish", phone.Sign(t, opts))
	outcome, _ := out["outcome"].(map[string]any)
	if status != http.StatusOK || outcome["trans_status"] != "Y" || outcome["heading"] != "Betalningen är bekräftad" {
		t.Fatalf("finish: %d %s", status, raw)
	}
	got := e.do(http.MethodGet, "/v3/authentications/"+ch["id"].(string), e.tokA, "", nil).json(t)
	if got["status"] != "authenticated" || got["trans_status"] != "Y" || got["method"] != "challenge_window" || got["challenge_url"] != nil {
		t.Fatalf("after the challenge: %v", got)
	}
	if cs := e.do(http.MethodGet, "/v3/consents/"+ch["consent_id"].(string), e.tokA, "", nil).json(t); cs["status"] != "approved" {
		t.Fatalf("the consent: %v", cs)
	}
	if status, _, _ := w.call("/challenge/passkey", "{}"); status != http.StatusGone {
		t.Fatalf("the window after its outcome: %d", status)
	}
	if a := e.payWith(t, c, ch["id"].(string), "42.51"); a["decline_reason"] != "authentication_mismatch" {
		t.Fatalf("more than authenticated: %v", a)
	}
	if a := e.payWith(t, c, ch["id"].(string), "42.50"); a["status"] != "approved" {
		t.Fatalf("the authenticated payment: %v", a)
	}
	if a := e.payWith(t, c, ch["id"].(string), "42.50"); a["decline_reason"] != "authentication_used" {
		t.Fatalf("a replay: %v", a)
	}
	if got := small(); got != "Y" {
		t.Fatalf("after the cardholder's SCA, the exemption counts from nothing again: %s", got)
	}
	ev := e.do(http.MethodGet, "/v3/events?type=authentication.authenticated", e.tokA, "", nil).json(t)
	if data, _ := ev["data"].([]any); len(data) != 1 {
		t.Fatalf("authentication.authenticated events: %v", ev)
	}
}

// The one-time code in a challenge window is sent with the amount and the
// payee, and checks out for that payment only; five failures fail it, N.
func TestAChallengeWindowTakesACodeBoundToThePayment(t *testing.T) {
	e := newEnv(t)
	phone := testkit.NewPhone("localhost", "http://localhost:8080")
	c := e.enrolPasskey(t, phone)
	ch := e.challenged(t, c, "64.00")
	w := e.openWindow(t, ch["challenge_url"].(string))
	status, out, raw := w.call("/challenge/code", "{}")
	if status != http.StatusOK || out["sent_to"] == nil {
		t.Fatalf("send: %d %s", status, raw)
	}
	msgs := e.outbox.Messages()
	if body := msgs[len(msgs)-1].Body; !strings.Contains(body, "64.00 EUR") || !strings.Contains(body, "Web Shop") {
		t.Fatalf("the code's message does not name the payment: %q", body)
	}
	code := e.lastCode(t)
	// The payment changes after the code was sent: the code no longer
	// checks out (a failed attempt, as any).
	if err := e.db.ExecForTest(context.Background(), `UPDATE authentications SET merchant_name = 'Other Shop' WHERE id = '`+ch["id"].(string)+`'`); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"code": code, "passcode": "correct horse battery"})
	if status, out, raw := w.call("/challenge/verify", string(body)); status != http.StatusUnprocessableEntity || out["outcome"] != nil {
		t.Fatalf("a code for another payee: %d %s", status, raw)
	}
	if err := e.db.ExecForTest(context.Background(), `UPDATE authentications SET merchant_name = 'Web Shop' WHERE id = '`+ch["id"].(string)+`'`); err != nil {
		t.Fatal(err)
	}
	// Without a code to check, nothing is counted.
	for range 5 {
		if status, out, raw := w.call("/challenge/verify", `{"code": "000000", "passcode": "wrong passcode"}`); status != http.StatusUnprocessableEntity || out["outcome"] != nil {
			t.Fatalf("an attempt with no code sent: %d %s", status, raw)
		}
	}
	for i := 2; i <= 5; i++ {
		status, out, raw = w.call("/challenge/verify", w.wrongVerify(e))
		if i < 5 && status != http.StatusUnprocessableEntity {
			t.Fatalf("attempt %d: %d %s", i, status, raw)
		}
	}
	outcome, _ := out["outcome"].(map[string]any)
	if status != http.StatusForbidden || outcome["trans_status"] != "N" {
		t.Fatalf("the fifth failure: %d %s", status, raw)
	}
	got := e.do(http.MethodGet, "/v3/authentications/"+ch["id"].(string), e.tokA, "", nil).json(t)
	if got["status"] != "failed" || got["trans_status"] != "N" || got["failure_reason"] != "failed" {
		t.Fatalf("after five failures: %v", got)
	}
	if a := e.payWith(t, c, ch["id"].(string), "64.00"); a["decline_reason"] != "authentication_incomplete" {
		t.Fatalf("a payment whose authentication failed: %v", a)
	}
}

// The partner's app may take the challenge instead: the payment's consent
// opened as any consent, the payment named on its pages, approved there.
// The merchant's window then has no session any more.
func TestThePartnersAppTakesAChallengeOutOfBand(t *testing.T) {
	e := newEnv(t)
	phone := testkit.NewPhone("localhost", "http://localhost:8080")
	c := e.enrolPasskey(t, phone)
	ch := e.challenged(t, c, "80.00")
	w := e.openWindow(t, ch["challenge_url"].(string))
	tok := e.post("/v3/consents/"+ch["consent_id"].(string), e.tokA, nil).json(t)["method"].(map[string]any)["token"].(string)
	if status, _, _ := w.call("/challenge/passkey", "{}"); status != http.StatusGone {
		t.Fatalf("the window once the app took over: %d", status)
	}
	b := browser(t)
	get(t, b, e.srv.URL+"/c/"+tok)
	_, landing := get(t, b, e.srv.URL+"/consent")
	if why := landing.Find(`[data-testid="why"]`).Text(); !strings.Contains(why, "80.00 EUR") || !strings.Contains(why, "Web Shop") {
		t.Fatalf("the landing page says %q", why)
	}
	csrf := dataCSRF(t, landing, "passkey-login")
	_, _, opts := postJSON(t, b, e.srv.URL+"/consent/passkey/login", csrf, "{}")
	if status, out, raw := postJSON(t, b, e.srv.URL+"/consent/passkey/login/finish", csrf, phone.Sign(t, opts)); status != http.StatusOK || out["next"] != "/consent/action" {
		t.Fatalf("passkey: %d %s", status, raw)
	}
	_, confirm := get(t, b, e.srv.URL+"/consent/action")
	if explain := confirm.Find(`[data-testid="explain"]`).Text(); !strings.Contains(explain, "Pay 80.00 EUR to Web Shop") {
		t.Fatalf("the confirmation says %q", confirm.Text())
	}
	if res, _ := post(t, b, e.srv.URL+"/consent/action", csrfOf(t, confirm)); res.StatusCode != http.StatusOK {
		t.Fatalf("confirm: %d", res.StatusCode)
	}
	got := e.do(http.MethodGet, "/v3/authentications/"+ch["id"].(string), e.tokA, "", nil).json(t)
	if got["status"] != "authenticated" || got["method"] != "partner_app" {
		t.Fatalf("after the app: %v", got)
	}
}

// In the sandbox a simulated consent ends a challenge; an expired one
// leaves it N, expired, when it is next read.
func TestSimulatedChallengesEndTheAuthentication(t *testing.T) {
	e := newEnv(t)
	c, _, _ := e.onlineCard(t)
	for _, tc := range []struct{ outcome, status, trans, reason string }{
		{"approved", "authenticated", "Y", ""}, {"declined", "failed", "N", "declined"}, {"expired", "failed", "N", "expired"},
	} {
		ch := e.challenged(t, c, "50.00")
		if r := e.post("/v3/simulations/consents/"+ch["consent_id"].(string), e.tokA, map[string]string{"outcome": tc.outcome}); r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", tc.outcome, r.status, r.body)
		}
		got := e.do(http.MethodGet, "/v3/authentications/"+ch["id"].(string), e.tokA, "", nil).json(t)
		if got["status"] != tc.status || got["trans_status"] != tc.trans || (tc.reason != "" && got["failure_reason"] != tc.reason) {
			t.Fatalf("%s: %v", tc.outcome, got)
		}
		if tc.outcome == "approved" && got["method"] != "simulation" {
			t.Fatalf("the method: %v", got)
		}
	}
}

// A challenge window's token opens the window only, and a partner's token
// the cookie session only: the wrong door refuses either without using it
// up. A window's sealed session is no cookie, and a HEAD uses no token.
func TestAChallengeTokenOpensTheWindowOnly(t *testing.T) {
	e := newEnv(t)
	phone := testkit.NewPhone("localhost", "http://localhost:8080")
	c := e.enrolPasskey(t, phone)
	ch := e.challenged(t, c, "50.00")
	u, _ := url.Parse(ch["challenge_url"].(string))
	tok := strings.TrimPrefix(u.Path, "/a/")
	if res, _ := get(t, browser(t), e.srv.URL+"/c/"+tok); res.StatusCode != http.StatusGone {
		t.Fatalf("the window's token at /c/: %d", res.StatusCode)
	}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodHead, e.srv.URL+u.Path, nil)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode == http.StatusOK {
		t.Fatalf("HEAD of the challenge URL: %v %v", res.StatusCode, err)
	}
	w := e.openWindow(t, ch["challenge_url"].(string)) // still unused
	// The window's session presented as the hosted cookie opens nothing.
	jar := browser(t)
	r, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, e.srv.URL+"/consent", nil)
	r.AddCookie(&http.Cookie{Name: "vp_hosted", Value: w.session})
	if res, err := jar.Do(r); err != nil || res.StatusCode != http.StatusGone {
		t.Fatalf("the window's session as a cookie: %v %v", res.StatusCode, err)
	}
	// A partner's token for the payment's consent opens /c/, not /a/.
	ptok := e.post("/v3/consents/"+ch["consent_id"].(string), e.tokA, nil).json(t)["method"].(map[string]any)["token"].(string)
	if res, _ := get(t, http.DefaultClient, e.srv.URL+"/a/"+ptok); res.StatusCode != http.StatusGone {
		t.Fatalf("a partner's token at /a/: %d", res.StatusCode)
	}
	if res, _ := get(t, browser(t), e.srv.URL+"/c/"+ptok); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("the partner's token at /c/ after /a/ refused it: %d", res.StatusCode)
	}
}

// A payment is not authenticated by a code alone: a cardholder with no
// passcode yet gets no code for it and cannot choose one there, in the
// window or in the partner's app, and nothing is counted against them.
func TestAPaymentIsNotAuthenticatedByACodeAlone(t *testing.T) {
	e := newEnv(t)
	c, _, _ := e.onlineCard(t) // a cardholder who never authenticated
	ch := e.challenged(t, c, "50.00")
	w := e.openWindow(t, ch["challenge_url"].(string))
	sent := len(e.outbox.Messages())
	if status, _, raw := w.call("/challenge/code", "{}"); status != http.StatusConflict {
		t.Fatalf("a code for a cardholder with no passcode: %d %s", status, raw)
	}
	if status, _, raw := w.call("/challenge/verify", `{"code": "000000", "passcode": "a new passcode"}`); status != http.StatusConflict {
		t.Fatalf("enrolling in the window: %d %s", status, raw)
	}
	tok := e.post("/v3/consents/"+ch["consent_id"].(string), e.tokA, nil).json(t)["method"].(map[string]any)["token"].(string)
	b, csrf := e.landing(t, tok)
	if res, _ := post(t, b, e.srv.URL+"/consent/code", csrf); res.StatusCode != http.StatusConflict {
		t.Fatalf("a code in the partner's app: %d", res.StatusCode)
	}
	if res, _ := post(t, b, e.srv.URL+"/consent/verify", csrf, "code", "000000", "passcode", "a new passcode"); res.StatusCode != http.StatusConflict {
		t.Fatalf("enrolling in the partner's app: %d", res.StatusCode)
	}
	if len(e.outbox.Messages()) != sent {
		t.Fatal("a code was sent")
	}
	if got := e.do(http.MethodGet, "/v3/authentications/"+ch["id"].(string), e.tokA, "", nil).json(t); got["trans_status"] != "C" {
		t.Fatalf("the authentication: %v", got)
	}
}

// Failures in payments' challenges lock the cardholder's online payments,
// not the consents the partner opens for them: anyone with the card's
// number can open a challenge.
func TestChallengeFailuresLockPaymentsOnly(t *testing.T) {
	e := newEnv(t)
	phone := testkit.NewPhone("localhost", "http://localhost:8080")
	c := e.enrolPasskey(t, phone)
	ch := e.challenged(t, c, "50.00")
	w := e.openWindow(t, ch["challenge_url"].(string))
	// Garbage assertions are refused, not counted: a signature cannot be
	// guessed.
	for range 3 { // within the session's rate
		if status, _, raw := w.call("/challenge/passkey", "{}"); status != http.StatusOK {
			t.Fatalf("begin: %d %s", status, raw)
		}
		if status, _, raw := w.call("/challenge/passkey/finish", `{"id":"forged","type":"public-key"}`); status != http.StatusUnprocessableEntity {
			t.Fatalf("a forged assertion: %d %s", status, raw)
		}
	}
	for i := 1; i <= 5; i++ {
		status, _, raw := w.call("/challenge/verify", w.wrongVerify(e))
		if want := map[bool]int{true: http.StatusForbidden, false: http.StatusUnprocessableEntity}[i == 5]; status != want {
			t.Fatalf("wrong code %d: %d %s", i, status, raw)
		}
	}
	// The partner's consents still get codes: payments' sends are counted
	// apart too.
	next := e.openWindow(t, e.challenged(t, c, "51.00")["challenge_url"].(string))
	if status, _, raw := next.call("/challenge/passkey", "{}"); status != http.StatusForbidden {
		t.Fatalf("another payment's challenge after five failures: %d %s", status, raw)
	}
	b, landing := e.revealLanding(t, c)
	csrf := dataCSRF(t, landing, "passkey-login")
	if status, _, raw := postJSON(t, b, e.srv.URL+"/consent/passkey/login", csrf, "{}"); status != http.StatusOK {
		t.Fatalf("the partner's consent after the payments' lock: %d %s", status, raw)
	}
}

// The challenge URL is shown once: an idempotent replay of the answer
// leaves it out, and the idempotency store never holds its token.
func TestAChallengeURLIsNotReplayed(t *testing.T) {
	e := newEnv(t)
	_, pan, _ := e.onlineCard(t)
	body := map[string]any{"pan": pan, "exp_month": "12", "exp_year": "2029", "amount": "50.00", "currency": "EUR", "merchant": webshop}
	first := e.post("/v3/simulations/authentications", e.tokA, body, "Idempotency-Key", "authn-1").json(t)
	again := e.post("/v3/simulations/authentications", e.tokA, body, "Idempotency-Key", "authn-1").json(t)
	u, _ := first["challenge_url"].(string)
	if u == "" || again["id"] != first["id"] || again["challenge_url"] != nil {
		t.Fatalf("first %v, replay %v", first, again)
	}
	tok := u[strings.LastIndex(u, "/")+1:]
	if e.stored(t, tok) {
		t.Fatal("the challenge token is in the database in clear")
	}
}

// A merchant-initiated payment is outside SCA's scope only under a mandate
// the cardholder set up with SCA: its initial payment, to the same merchant
// with the same card, approved with an authentication they passed a
// challenge for. Otherwise it is an online payment like any.
func TestAMerchantInitiatedPaymentNeedsAnAuthenticatedMandate(t *testing.T) {
	e := newEnv(t)
	c, _, _ := e.onlineCard(t)
	ch := e.challenged(t, c, "40.00")
	if r := e.post("/v3/simulations/consents/"+ch["consent_id"].(string), e.tokA, map[string]string{"outcome": "approved"}); r.status != http.StatusOK {
		t.Fatalf("the challenge: %d %s", r.status, r.body)
	}
	initial := e.payWith(t, c, ch["id"].(string), "40.00")
	if initial["status"] != "approved" {
		t.Fatalf("the initial payment: %v", initial)
	}
	frictionless := e.payWith(t, c, "", "5.00") // under the exemption: no SCA
	mit := func(initialID string, m map[string]string) map[string]any {
		t.Helper()
		pan := e.panOf(t, c)
		o := vault.Owner{PartnerID: e.a.PartnerID.String(), Table: "cards", RecordID: c["id"].(string)}
		cvv, _ := e.ring.CVV(context.Background(), o, vault.Expiry{Year: 2029, Month: 12}, vault.ServiceCodeCVV2)
		r := e.post("/v3/simulations/authorizations", e.tokA, map[string]any{"pan": string(pan.Reveal()), "exp_month": "12", "exp_year": "2029",
			"cvv": string(cvv.Reveal()), "entry_mode": "ecommerce", "amount": "45.00", "currency": "EUR", "merchant": m,
			"out_of_scope": "merchant_initiated", "initial_authorization_id": initialID})
		if r.status != http.StatusCreated {
			t.Fatalf("authorize: %d %s", r.status, r.body)
		}
		return r.json(t)
	}
	web := map[string]string{"name": webshop["name"], "mcc": webshop["mcc"], "country": webshop["country"], "id": webshop["id"]}
	if a := mit(initial["id"].(string), web); a["status"] != "approved" || a["out_of_scope"] != "merchant_initiated" || a["initial_authorization_id"] != initial["id"] {
		t.Fatalf("under the mandate: %v", a)
	}
	if a := mit(initial["id"].(string), map[string]string{"name": "Other", "mcc": "5732", "country": "SE", "id": "m-other"}); a["decline_reason"] != "authentication_required" {
		t.Fatalf("another merchant's: %v", a)
	}
	if a := mit(frictionless["id"].(string), web); a["decline_reason"] != "authentication_required" {
		t.Fatalf("a mandate set up without SCA: %v", a)
	}
	expectProblem(t, e.post("/v3/simulations/authorizations", e.tokA, map[string]any{"card_id": c["id"], "amount": "1.00", "currency": "EUR", "merchant": web,
		"initial_authorization_id": initial["id"]}), http.StatusUnprocessableEntity, "invalid_field", "initial_authorization_id")
	pan := e.panOf(t, c)
	expectProblem(t, e.post("/v3/simulations/authorizations", e.tokA, map[string]any{"pan": string(pan.Reveal()), "exp_month": "12", "exp_year": "2029",
		"entry_mode": "ecommerce", "amount": "1.00", "currency": "EUR", "merchant": web, "out_of_scope": "merchant_initiated"}),
		http.StatusUnprocessableEntity, "invalid_field", "initial_authorization_id")
	if a := e.post("/v3/simulations/authorizations", e.tokB, map[string]any{"card_id": c["id"], "amount": "1.00", "currency": "EUR", "merchant": web}); a.status == http.StatusCreated {
		t.Fatal("partner B paid with partner A's card")
	}
}

// The merchant's window learns the outcome however the challenge ends:
// here in the partner's app, after which the window's session does
// nothing else.
func TestTheWindowLearnsAnOutcomeReachedInTheApp(t *testing.T) {
	e := newEnv(t)
	phone := testkit.NewPhone("localhost", "http://localhost:8080")
	c := e.enrolPasskey(t, phone)
	ch := e.challenged(t, c, "70.00")
	w := e.openWindow(t, ch["challenge_url"].(string))
	if status, out, raw := w.call("/challenge/status", "{}"); status != http.StatusOK || out["outcome"] != nil {
		t.Fatalf("while the cardholder has not finished: %d %s", status, raw)
	}
	tok := e.post("/v3/consents/"+ch["consent_id"].(string), e.tokA, nil).json(t)["method"].(map[string]any)["token"].(string)
	b := browser(t)
	get(t, b, e.srv.URL+"/c/"+tok)
	_, landing := get(t, b, e.srv.URL+"/consent")
	csrf := dataCSRF(t, landing, "passkey-login")
	_, _, opts := postJSON(t, b, e.srv.URL+"/consent/passkey/login", csrf, "{}")
	postJSON(t, b, e.srv.URL+"/consent/passkey/login/finish", csrf, phone.Sign(t, opts))
	_, confirm := get(t, b, e.srv.URL+"/consent/action")
	post(t, b, e.srv.URL+"/consent/action", csrfOf(t, confirm))
	status, out, raw := w.call("/challenge/status", "{}")
	outcome, _ := out["outcome"].(map[string]any)
	if status != http.StatusOK || outcome["trans_status"] != "Y" {
		t.Fatalf("after the app: %d %s", status, raw)
	}
	if status, _, _ := w.call("/challenge/passkey", "{}"); status != http.StatusGone {
		t.Fatalf("the window's session otherwise: %d", status)
	}
	w.csrf = "forged"
	if status, _, _ := w.call("/challenge/status", "{}"); status != http.StatusForbidden {
		t.Fatalf("the status without the window's CSRF token: %d", status)
	}
}

// Codes sent for payments' challenges, which anyone with the card's number
// can have sent, never use up the codes of the partner's consents.
func TestPaymentCodesAreCountedApart(t *testing.T) {
	e := newEnv(t)
	phone := testkit.NewPhone("localhost", "http://localhost:8080")
	c := e.enrolPasskey(t, phone)
	for i := range 10 { // one code for each of ten payments: the hour's count
		w := e.openWindow(t, e.challenged(t, c, "50.00")["challenge_url"].(string))
		if status, _, raw := w.call("/challenge/code", "{}"); status != http.StatusOK {
			t.Fatalf("payment code %d: %d %s", i+1, status, raw)
		}
	}
	w := e.openWindow(t, e.challenged(t, c, "50.00")["challenge_url"].(string))
	if status, _, raw := w.call("/challenge/code", "{}"); status != http.StatusTooManyRequests {
		t.Fatalf("an eleventh payment code within the hour: %d %s", status, raw)
	}
	b, landing := e.revealLanding(t, c)
	if res, _ := post(t, b, e.srv.URL+"/consent/code", csrfOf(t, landing)); res.StatusCode != http.StatusOK {
		t.Fatalf("a code for the partner's consent: %d", res.StatusCode)
	}
}

// In a payment's challenge, the cardholder's own key signing without user
// verification is a failed attempt, counted: five lock their payments.
func TestAnAssertionWithoutUserVerificationIsCounted(t *testing.T) {
	e := newEnv(t)
	phone := testkit.NewPhone("localhost", "http://localhost:8080")
	c := e.enrolPasskey(t, phone)
	w := e.openWindow(t, e.challenged(t, c, "50.00")["challenge_url"].(string))
	phone.Auth.Options.UserNotVerified = true
	for i := 1; i <= 5; i++ {
		status, _, opts := w.call("/challenge/passkey", "{}")
		if status != http.StatusOK {
			t.Fatalf("begin %d: %d %s", i, status, opts)
		}
		status, _, raw := w.call("/challenge/passkey/finish", phone.Sign(t, opts))
		if want := map[bool]int{true: http.StatusForbidden, false: http.StatusUnprocessableEntity}[i == 5]; status != want {
			t.Fatalf("assertion %d without user verification: %d %s", i, status, raw)
		}
	}
}
