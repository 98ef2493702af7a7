package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/vaultpage/vaultpage/internal/luhn"
	"github.com/vaultpage/vaultpage/internal/testkit"
	"github.com/vaultpage/vaultpage/partner"
	"github.com/vaultpage/vaultpage/vault"
)

// post submits a hosted form with the page's CSRF token.
func post(t *testing.T, c *http.Client, u, csrf string, fields ...string) (*http.Response, *goquery.Document) {
	t.Helper()
	form := url.Values{"_csrf": {csrf}}
	for i := 0; i+1 < len(fields); i += 2 {
		form.Set(fields[i], fields[i+1])
	}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	body, _ := io.ReadAll(res.Body)
	doc, _ := goquery.NewDocumentFromReader(strings.NewReader(string(body)))
	return res, doc
}

// outcome is what an outcome page says, and where its Back button and its
// script go back to.
type outcome struct {
	heading, explain, countdown, back string
	result                            map[string]string
}

func outcomeOf(t *testing.T, res *http.Response, doc *goquery.Document) outcome {
	t.Helper()
	if res.StatusCode != http.StatusOK || doc.Find(`[data-testid="complete"]`).Length() != 1 {
		t.Fatalf("no outcome page: %d", res.StatusCode)
	}
	o := outcome{heading: doc.Find(`[data-testid="outcome-heading"]`).Text(), explain: doc.Find(`[data-testid="outcome-explain"]`).Text(),
		countdown: strings.Join(strings.Fields(doc.Find(`[data-testid="countdown"]`).Text()), " ")}
	o.back, _ = doc.Find(`a[data-testid="back"]`).Attr("href")
	if err := json.Unmarshal([]byte(doc.Find("#vaultpage-result").Text()), &o.result); err != nil {
		t.Fatalf("the outcome page's result: %v", err)
	}
	return o
}

func csrfOf(t *testing.T, doc *goquery.Document) string {
	t.Helper()
	v, ok := doc.Find(`input[name="_csrf"]`).First().Attr("value")
	if !ok || v == "" {
		t.Fatal("the page has no CSRF token")
	}
	return v
}

var codeRE = regexp.MustCompile(`\b[0-9]{6}\b`)

func (e *env) lastCode(t *testing.T) string {
	t.Helper()
	msgs := e.outbox.Messages()
	if len(msgs) == 0 {
		t.Fatal("no code sent")
	}
	return codeRE.FindString(msgs[len(msgs)-1].Body)
}

// authenticate walks landing → send code → verify and returns the browser
// on the action page.
func (e *env) authenticate(t *testing.T, b *http.Client, token, passcode string) *goquery.Document {
	t.Helper()
	get(t, b, e.srv.URL+"/c/"+token)
	_, landing := get(t, b, e.srv.URL+"/consent")
	res, verifyPage := post(t, b, e.srv.URL+"/consent/code", csrfOf(t, landing))
	if res.StatusCode != http.StatusOK || verifyPage.Find(`[data-testid="code"]`).Length() != 1 {
		t.Fatalf("send code: %d", res.StatusCode)
	}
	if !strings.Contains(verifyPage.Find(`[data-testid="sent-to"]`).Text(), "a•••@example.com") {
		t.Fatalf("sent to %q", verifyPage.Find(`[data-testid="sent-to"]`).Text())
	}
	res, _ = post(t, b, e.srv.URL+"/consent/verify", csrfOf(t, verifyPage), "code", e.lastCode(t), "passcode", passcode)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/consent/passkey" {
		t.Fatalf("verify: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	// The offer of a passkey comes next; the cardholder may skip it.
	_, offer := get(t, b, e.srv.URL+"/consent/passkey")
	skip, _ := offer.Find(`[data-testid="skip-passkey"]`).Attr("href")
	if offer.Find(`[data-testid="passkey-register"]`).Length() != 1 || skip != "/consent/action" {
		t.Fatalf("passkey offer: register button %d, skip to %q", offer.Find(`[data-testid="passkey-register"]`).Length(), skip)
	}
	_, action := get(t, b, e.srv.URL+skip)
	return action
}

func TestActivationWithEnrolmentSetsThePINAndReturnsToThePartner(t *testing.T) {
	e := newEnv(t)
	card, cid, tok := e.startConsent(t, map[string]string{"return_url": "https://alpha.example/return"})
	b := browser(t)
	action := e.authenticate(t, b, tok, "correct horse battery")
	if action.Find(`[data-testid="pin-input"]`).Length() != 1 {
		t.Fatal("no PIN form on the activation page")
	}
	for _, bad := range [][2]string{{"1234", "1234"}, {"8203", "8204"}, {"12a4", "12a4"}} {
		res, doc := post(t, b, e.srv.URL+"/consent/action", csrfOf(t, action), "pin", bad[0], "pin2", bad[1])
		if res.StatusCode != http.StatusUnprocessableEntity || doc.Find(`[data-testid="error"]`).Length() != 1 {
			t.Fatalf("PIN %v accepted: %d", bad, res.StatusCode)
		}
	}
	// The outcome page says the card is active, and goes back to the
	// partner by itself (the script) or on the Back button (a link).
	res, doc := post(t, b, e.srv.URL+"/consent/action", csrfOf(t, action), "pin", "8203", "pin2", "8203")
	o := outcomeOf(t, res, doc)
	want := "https://alpha.example/return?consent_id=" + cid + "&status=approved"
	if o.heading != "Your card is active" || !strings.Contains(o.explain, "•••• "+card["last4"].(string)) {
		t.Fatalf("outcome %q: %q", o.heading, o.explain)
	}
	if o.back != want || o.result["return_url"] != want || o.result["mode"] != "redirect" || o.result["return_after"] != "5" || o.countdown != "Taking you back in 5 s." {
		t.Fatalf("back to %q, script %v, countdown %q; want %q in 5 s", o.back, o.result, o.countdown, want)
	}
	if doc.Find(`[data-testid="back"]`).Text() != "Back to Alpha Pay" {
		t.Fatalf("the button says %q", doc.Find(`[data-testid="back"]`).Text())
	}
	if st := e.do(http.MethodGet, "/v3/cards/"+card["id"].(string), e.tokA, "", nil).json(t)["status"]; st != "active" {
		t.Fatalf("card %v", st)
	}
	if st := e.do(http.MethodGet, "/v3/consents/"+cid, e.tokA, "", nil).json(t)["status"]; st != "approved" {
		t.Fatalf("consent %v", st)
	}
	owner := vault.Owner{PartnerID: e.a.PartnerID.String(), Table: "cards", RecordID: card["id"].(string)}
	if ok, err := e.ring.VerifyPIN(context.Background(), owner, vault.SecretString("8203")); err != nil || !ok {
		t.Fatalf("PIN not stored: %v", err)
	}
	// The session is over.
	if res, _ := get(t, b, e.srv.URL+"/consent/action"); res.StatusCode != http.StatusGone {
		t.Fatalf("after completion: %d", res.StatusCode)
	}
	for _, secret := range []string{"8203", "correct horse battery", tok} {
		if loggedAlone(e.logs.String(), secret) {
			t.Fatalf("%q reached the logs", secret)
		}
	}
}

func TestRevealShowsTheCardNumberAndTheCVVOnlyAfterATap(t *testing.T) {
	e := newEnv(t)
	card, _, tok := e.startConsent(t, nil)
	b := browser(t)
	action := e.authenticate(t, b, tok, "correct horse battery")
	if res, doc := post(t, b, e.srv.URL+"/consent/action", csrfOf(t, action), "pin", "8203", "pin2", "8203"); res.StatusCode != http.StatusOK {
		t.Fatalf("activation: %d %q", res.StatusCode, doc.Find(`[data-testid="error"]`).Text())
	}
	id := card["id"].(string)
	reveal := consentOf(t, e.do(http.MethodGet, "/v3/cards/"+id+"/credentials", e.tokA, "", nil))
	tok2 := e.post("/v3/consents/"+reveal["id"].(string), e.tokA, nil).json(t)["method"].(map[string]any)["token"].(string)
	b2 := browser(t)
	page := e.authenticate(t, b2, tok2, "correct horse battery")
	pan := strings.ReplaceAll(page.Find(`[data-testid="pan"]`).Text(), " ", "")
	if len(pan) != 16 || !luhn.Valid([]byte(pan)) || pan[12:] != card["last4"].(string) {
		t.Fatalf("revealed number does not match the card (last4 %s)", card["last4"])
	}
	if page.Find(`[data-testid="cvv"]`).Length() != 0 || page.Find(`[data-testid="show-cvv"]`).Length() != 1 {
		t.Fatal("the CVV shows before the tap")
	}
	hide, _ := page.Find(`[data-hide-after]`).Attr("data-hide-after")
	leave, _ := page.Find(`form[data-leave]`).Attr("action")
	if secs, err := strconv.Atoi(hide); err != nil || secs > 300 || secs < 290 || leave != "/consent/action" || page.Find(`script[src="/static/reveal.js"]`).Length() != 1 {
		t.Fatalf("details are not hidden after 5 minutes: %q %q", hide, leave)
	}
	res, withCVV := post(t, b2, e.srv.URL+"/consent/action", csrfOf(t, page), "show", "cvv")
	cvv := withCVV.Find(`[data-testid="cvv"]`).Text()
	if res.StatusCode != http.StatusOK || len(cvv) != 3 || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("cvv: %d %q", res.StatusCode, cvv)
	}
	if strings.Contains(e.logs.String(), pan) {
		t.Fatal("the card number reached the logs")
	}
	res, done := post(t, b2, e.srv.URL+"/consent/action", csrfOf(t, withCVV), "why", "")
	if o := outcomeOf(t, res, done); o.heading != "Your card details are hidden again" || strings.Contains(o.explain, "5 minutes") {
		t.Fatalf("done: %q %q", o.heading, o.explain)
	}
	entries, _ := e.db.Audit().AuditEntries(context.Background(), 0, 1000)
	seen := map[string]bool{}
	for _, en := range entries {
		seen[en.Action] = true
	}
	for _, a := range []string{"card.pin_set", "card.revealed", "card.cvv_revealed"} {
		if !seen[a] {
			t.Fatalf("%s not in the audit trail", a)
		}
	}
}

func TestFormsNeedTheirCSRFToken(t *testing.T) {
	e := newEnv(t)
	_, _, tok := e.startConsent(t, nil)
	b := browser(t)
	get(t, b, e.srv.URL+"/c/"+tok)
	get(t, b, e.srv.URL+"/consent")
	res, _ := post(t, b, e.srv.URL+"/consent/code", "forged")
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("forged CSRF token: %d", res.StatusCode)
	}
	if len(e.outbox.Messages()) != 0 {
		t.Fatal("a code was sent on a forged form")
	}
}

func TestFiveWrongPasscodesLockAndFailTheConsent(t *testing.T) {
	e := newEnv(t)
	first, _, tok := e.startConsent(t, nil)
	b := browser(t)
	e.authenticate(t, b, tok, "correct horse battery") // enrols the cardholder
	// A second card of the same cardholder.
	card2 := e.post("/v3/cards", e.tokA, map[string]any{"individual_id": first["individual_id"].(string), "account_id": first["account_id"].(string),
		"type": "physical", "shipping_address": shipTo}).json(t)
	cs := consentOf(t, e.post("/v3/cards/"+card2["id"].(string)+"/activate", e.tokA, nil))
	tok2 := e.post("/v3/consents/"+cs["id"].(string), e.tokA, nil).json(t)["method"].(map[string]any)["token"].(string)
	b2 := browser(t)
	get(t, b2, e.srv.URL+"/c/"+tok2)
	_, page := get(t, b2, e.srv.URL+"/consent")
	var last *http.Response
	var lastDoc *goquery.Document
	for i := 0; i < 5; i++ {
		_, verifyPage := post(t, b2, e.srv.URL+"/consent/code", csrfOf(t, page))
		last, lastDoc = post(t, b2, e.srv.URL+"/consent/verify", csrfOf(t, verifyPage), "code", e.lastCode(t), "passcode", "wrong horse")
		if i < 4 {
			msg := lastDoc.Find(`[data-testid="error"]`).Text()
			if last.StatusCode != http.StatusUnprocessableEntity || strings.Contains(strings.ToLower(msg), "passcode is wrong") {
				t.Fatalf("attempt %d: %d %q", i+1, last.StatusCode, msg)
			}
			page = lastDoc
		}
	}
	if last.StatusCode != http.StatusForbidden {
		t.Fatalf("fifth failure: %d", last.StatusCode)
	}
	if st := e.do(http.MethodGet, "/v3/consents/"+cs["id"].(string), e.tokA, "", nil).json(t)["status"]; st != "failed" {
		t.Fatalf("consent %v", st)
	}
}

func TestSDKAndPopupCompletionsHandTheOutcomeToTheApp(t *testing.T) {
	testCases := []struct {
		mode, returnURL, targetOrigin string
	}{
		{"sdk", "", ""},
		{"popup", "https://alpha.example/return", "https://alpha.example"},
	}
	for _, tc := range testCases {
		t.Run(tc.mode, func(t *testing.T) {
			e := newEnv(t)
			body := map[string]string{"mode": tc.mode}
			if tc.returnURL != "" {
				body["return_url"] = tc.returnURL
			}
			_, cid, tok := e.startConsent(t, body)
			b := browser(t)
			action := e.authenticate(t, b, tok, "correct horse battery")
			res, doc := post(t, b, e.srv.URL+"/consent/action", csrfOf(t, action), "pin", "8203", "pin2", "8203")
			o := outcomeOf(t, res, doc)
			result := o.result
			want := map[string]string{"consent_id": cid, "status": "approved", "mode": tc.mode, "return_after": "5"}
			switch tc.mode {
			case "sdk":
				want["scheme_url"] = "vaultpage://complete?consent_id=" + cid + "&status=approved"
				if o.back != want["scheme_url"] || o.countdown != "Taking you back in 5 s." {
					t.Fatalf("the Back button goes to %q; countdown %q", o.back, o.countdown)
				}
			case "popup":
				want["target_origin"] = tc.targetOrigin
				if doc.Find(`button[data-testid="back"][data-go]`).Length() != 1 || o.countdown != "This window closes in 5 s." {
					t.Fatalf("no button that closes the popup; countdown %q", o.countdown)
				}
			}
			if len(result) != len(want) {
				t.Fatalf("result %v, want %v", result, want)
			}
			for k, v := range want {
				if result[k] != v {
					t.Fatalf("%s = %q, want %q", k, result[k], v)
				}
			}
			nonce, _ := doc.Find(`script[src="/static/complete.js"]`).Attr("nonce")
			if nonce == "" || !strings.Contains(res.Header.Get("Content-Security-Policy"), "'nonce-"+nonce+"'") {
				t.Fatal("the completion script does not carry the response's CSP nonce")
			}
		})
	}
	e := newEnv(t)
	card := e.card(e.tokA)
	cs := consentOf(t, e.post("/v3/cards/"+card["id"].(string)+"/activate", e.tokA, nil))
	expectProblem(t, e.post("/v3/consents/"+cs["id"].(string), e.tokA, map[string]string{"mode": "popup"}), http.StatusUnprocessableEntity, "invalid_field", "return_url")
}

func TestTheCardholderCanCancel(t *testing.T) {
	e := newEnv(t)
	_, cid, tok := e.startConsent(t, map[string]string{"return_url": "https://alpha.example/return"})
	b := browser(t)
	get(t, b, e.srv.URL+"/c/"+tok)
	_, landing := get(t, b, e.srv.URL+"/consent")
	res, doc := post(t, b, e.srv.URL+"/consent/cancel", csrfOf(t, landing))
	o := outcomeOf(t, res, doc)
	if want := "https://alpha.example/return?consent_id=" + cid + "&status=canceled"; o.back != want || o.result["return_url"] != want {
		t.Fatalf("cancel goes back to %q", o.back)
	}
	if o.heading != "Nothing was changed" || !strings.Contains(o.explain, "You canceled") {
		t.Fatalf("cancel says %q %q", o.heading, o.explain)
	}
	if st := e.do(http.MethodGet, "/v3/consents/"+cid, e.tokA, "", nil).json(t)["status"]; st != "canceled" {
		t.Fatalf("consent %v", st)
	}
}

func TestStaticScriptsAreServed(t *testing.T) {
	e := newEnv(t)
	for _, f := range []string{"vaultpage.js", "complete.js", "hosted.css"} {
		res, err := e.srv.Client().Get(e.srv.URL + "/static/" + f)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", f, res.StatusCode)
		}
	}
}

func TestDevOutboxShowsCodesInDevelopment(t *testing.T) {
	e := newEnv(t)
	_, _, tok := e.startConsent(t, nil)
	b := browser(t)
	get(t, b, e.srv.URL+"/c/"+tok)
	_, landing := get(t, b, e.srv.URL+"/consent")
	post(t, b, e.srv.URL+"/consent/code", csrfOf(t, landing))
	r := e.do(http.MethodGet, "/dev/outbox", "", "", nil)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), e.lastCode(t)) {
		t.Fatalf("outbox: %d %s", r.status, r.body)
	}
}

// The reveal page, with its stylesheet and every script it loads, stays
// under 60 KB: cardholders open it on phones, often on mobile data.
func TestRevealPageWeighsUnder60KB(t *testing.T) {
	e := newEnv(t)
	// With the largest logo a partner may set: the budget holds for every partner.
	logo := noisePNG(t, 76)
	if len(logo) > partner.MaxLogoBytes || len(logo) < partner.MaxLogoBytes*9/10 {
		t.Fatalf("test logo is %d bytes, want just under %d", len(logo), partner.MaxLogoBytes)
	}
	if r := e.put("/v3/branding", e.tokA, map[string]any{"color": "#0a5c36", "logo_png": base64.StdEncoding.EncodeToString(logo)}); r.status != http.StatusOK {
		t.Fatalf("branding: %d %s", r.status, r.body)
	}
	card, _, tok := e.startConsent(t, nil)
	b := browser(t)
	action := e.authenticate(t, b, tok, "correct horse battery")
	post(t, b, e.srv.URL+"/consent/action", csrfOf(t, action), "pin", "8203", "pin2", "8203")
	reveal := consentOf(t, e.do(http.MethodGet, "/v3/cards/"+card["id"].(string)+"/credentials", e.tokA, "", nil))
	tok2 := e.post("/v3/consents/"+reveal["id"].(string), e.tokA, nil).json(t)["method"].(map[string]any)["token"].(string)
	b2 := browser(t)
	get(t, b2, e.srv.URL+"/c/"+tok2)
	_, landing := get(t, b2, e.srv.URL+"/consent")
	_, verifyPage := post(t, b2, e.srv.URL+"/consent/code", csrfOf(t, landing))
	post(t, b2, e.srv.URL+"/consent/verify", csrfOf(t, verifyPage), "code", e.lastCode(t), "passcode", "correct horse battery")
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, e.srv.URL+"/consent/action", nil)
	res, err := b2.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	html, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	doc, _ := goquery.NewDocumentFromReader(strings.NewReader(string(html)))
	if doc.Find(`[data-testid="pan"]`).Length() != 1 {
		t.Fatal("not the reveal page")
	}
	total := len(html)
	var assets []string
	doc.Find(`link[rel="stylesheet"]`).Each(func(_ int, s *goquery.Selection) { v, _ := s.Attr("href"); assets = append(assets, v) })
	doc.Find(`script[src]`).Each(func(_ int, s *goquery.Selection) { v, _ := s.Attr("src"); assets = append(assets, v) })
	doc.Find(`img[src]`).Each(func(_ int, s *goquery.Selection) { v, _ := s.Attr("src"); assets = append(assets, v) })
	for _, a := range assets {
		r, err := b2.Get(e.srv.URL + a)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(r.Body)
		_ = r.Body.Close()
		total += len(body)
	}
	t.Logf("reveal page: %d bytes with %d assets", total, len(assets))
	if total > 60*1024 || len(assets) < 3 {
		t.Fatalf("reveal page weighs %d bytes with %d assets", total, len(assets))
	}
}

// noisePNG is a size×size PNG of random pixels, which PNG cannot compress:
// about size²×4 bytes.
func noisePNG(t *testing.T, size int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	_, _ = rand.Read(img.Pix)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// loggedAlone reports whether secret is in logs other than inside a longer
// run of letters and digits: a PIN of four digits turns up by chance inside
// a nanosecond timestamp, a duration or a request id, as "8203" did in
// "2026-11-30T23:19:13.848203232Z".
func loggedAlone(logs, secret string) bool { return testkit.HoldsWord([]byte(logs), secret, "") }

func TestLoggedAloneFindsASecretOnlyAsAWholeWord(t *testing.T) {
	for _, c := range []struct {
		logs string
		want bool
	}{
		{`{"time":"2026-11-30T23:19:13.848203232Z"}`, false},
		{`{"duration":582030,"request_id":"e8203b"}`, false},
		{`{"pin":"8203"}`, true},
		{`pin=8203`, true},
		{`8203`, true},
		{`x8203 and then "8203"`, true},
	} {
		if got := loggedAlone(c.logs, "8203"); got != c.want {
			t.Errorf("loggedAlone(%q) = %v, want %v", c.logs, got, c.want)
		}
	}
}
