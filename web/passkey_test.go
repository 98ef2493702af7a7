package web_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/vaultpage/vaultpage/internal/testkit"
)

// postJSON is what static/passkey.js does: a JSON body with the page's
// CSRF token in a header.
func postJSON(t *testing.T, c *http.Client, u, csrf, body string) (int, map[string]any, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, u, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return res.StatusCode, out, raw
}

func dataCSRF(t *testing.T, doc *goquery.Document, testid string) string {
	t.Helper()
	v, ok := doc.Find(`[data-testid="` + testid + `"]`).Attr("data-csrf")
	if !ok || v == "" {
		t.Fatalf("no %s button with a CSRF token", testid)
	}
	return v
}

// enrolPasskey activates a new card: code and passcode, then the phone's
// passkey, then the PIN. It returns the card.
func (e *env) enrolPasskey(t *testing.T, phone *testkit.Phone) map[string]any {
	t.Helper()
	card, _, tok := e.startConsent(t, nil)
	b := browser(t)
	get(t, b, e.srv.URL+"/c/"+tok)
	_, landing := get(t, b, e.srv.URL+"/consent")
	if landing.Find(`[data-testid="passkey-login"]`).Length() != 0 {
		t.Fatal("a passkey button before any passkey was registered")
	}
	_, verifyPage := post(t, b, e.srv.URL+"/consent/code", csrfOf(t, landing))
	post(t, b, e.srv.URL+"/consent/verify", csrfOf(t, verifyPage), "code", e.lastCode(t), "passcode", "correct horse battery")
	_, offer := get(t, b, e.srv.URL+"/consent/passkey")
	csrf := dataCSRF(t, offer, "passkey-register")
	status, _, opts := postJSON(t, b, e.srv.URL+"/consent/passkey/register", csrf, "{}")
	if status != http.StatusOK {
		t.Fatalf("begin registration: %d %s", status, opts)
	}
	status, out, raw := postJSON(t, b, e.srv.URL+"/consent/passkey/register/finish", csrf, phone.Register(t, opts))
	if status != http.StatusOK || out["next"] != "/consent/action" {
		t.Fatalf("finish registration: %d %s", status, raw)
	}
	_, action := get(t, b, e.srv.URL+"/consent/action")
	if res, doc := post(t, b, e.srv.URL+"/consent/action", csrfOf(t, action), "pin", "8203", "pin2", "8203"); res.StatusCode != http.StatusOK {
		t.Fatalf("activation: %d %q", res.StatusCode, doc.Find(`[data-testid="error"]`).Text())
	}
	return card
}

// revealLanding opens a reveal consent for the card and returns the browser
// on its landing page.
func (e *env) revealLanding(t *testing.T, card map[string]any) (*http.Client, *goquery.Document) {
	t.Helper()
	reveal := consentOf(t, e.do(http.MethodGet, "/v3/cards/"+card["id"].(string)+"/credentials", e.tokA, "", nil))
	tok := e.post("/v3/consents/"+reveal["id"].(string), e.tokA, nil).json(t)["method"].(map[string]any)["token"].(string)
	b := browser(t)
	get(t, b, e.srv.URL+"/c/"+tok)
	_, landing := get(t, b, e.srv.URL+"/consent")
	return b, landing
}

func TestPasskeyEnrolledAfterACodeReplacesTheCodeNextTime(t *testing.T) {
	e := newEnv(t)
	phone := testkit.NewPhone("localhost", "http://localhost:8080")
	card := e.enrolPasskey(t, phone)

	// Next time (to see the card's details): the passkey, and no code is sent.
	sent := len(e.outbox.Messages())
	b2, landing := e.revealLanding(t, card)
	button := landing.Find(`[data-testid="passkey-login"]`)
	if button.Length() != 1 || landing.Find(`script[src="/static/passkey.js"]`).Length() != 1 {
		t.Fatal("the landing page does not offer the cardholder's passkey")
	}
	if got := strings.TrimSpace(landing.Find(`[data-testid="send-code"]`).Text()); got != "Send me a code instead" {
		t.Fatalf("the code fallback reads %q", got)
	}
	csrf := dataCSRF(t, landing, "passkey-login")

	// Without the CSRF header the ceremony does not start.
	if status, out, raw := postJSON(t, b2, e.srv.URL+"/consent/passkey/login", "", "{}"); status != http.StatusForbidden || out["error"] == nil {
		t.Fatalf("begin without CSRF: %d %s", status, raw)
	}
	// Before SCA, the action page is closed.
	if res, doc := get(t, b2, e.srv.URL+"/consent/action"); res.StatusCode != http.StatusGone || doc.Find(`[data-testid="gone"]`).Length() != 1 {
		t.Fatalf("action before SCA: %d", res.StatusCode)
	}
	// A response that does not verify gets the same message as any failure.
	status, _, _ := postJSON(t, b2, e.srv.URL+"/consent/passkey/login", csrf, "{}")
	if status != http.StatusOK {
		t.Fatalf("begin login: %d", status)
	}
	status, out, _ := postJSON(t, b2, e.srv.URL+"/consent/passkey/login/finish", csrf, `{"id":"x"}`)
	if status != http.StatusUnprocessableEntity || out["error"] != "That did not work. Try again, or send yourself a code instead." {
		t.Fatalf("bad assertion: %d %v", status, out)
	}
	status, _, opts := postJSON(t, b2, e.srv.URL+"/consent/passkey/login", csrf, "{}")
	if status != http.StatusOK {
		t.Fatalf("begin login again: %d", status)
	}
	status, out, raw := postJSON(t, b2, e.srv.URL+"/consent/passkey/login/finish", csrf, phone.Sign(t, opts))
	if status != http.StatusOK || out["next"] != "/consent/action" {
		t.Fatalf("finish login: %d %s", status, raw)
	}
	if res, doc := get(t, b2, e.srv.URL+"/consent/action"); res.StatusCode != http.StatusOK || doc.Find(`[data-testid="pan"]`).Length() != 1 {
		t.Fatalf("action after the passkey: %d", res.StatusCode)
	}
	if len(e.outbox.Messages()) != sent {
		t.Fatal("a one-time code was sent although the passkey did")
	}
}

func TestPasskeyRegistrationNeedsAuthenticationFirst(t *testing.T) {
	e := newEnv(t)
	_, _, tok := e.startConsent(t, nil)
	b := browser(t)
	get(t, b, e.srv.URL+"/c/"+tok)
	_, landing := get(t, b, e.srv.URL+"/consent")
	csrf := csrfOf(t, landing)
	if status, out, _ := postJSON(t, b, e.srv.URL+"/consent/passkey/register", csrf, "{}"); status != http.StatusGone || out["error"] == nil {
		t.Fatalf("registration before SCA: %d %v", status, out)
	}
	if res, _ := get(t, b, e.srv.URL+"/consent/passkey"); res.StatusCode != http.StatusGone {
		t.Fatalf("passkey offer before SCA: %d", res.StatusCode)
	}
	// Nor can someone without a passkey log in with one.
	if status, _, _ := postJSON(t, b, e.srv.URL+"/consent/passkey/login", csrf, "{}"); status != http.StatusConflict {
		t.Fatalf("login without a passkey: %d", status)
	}
}

func TestPartnersCanRevokeACardholdersPasskey(t *testing.T) {
	e := newEnv(t)
	phone := testkit.NewPhone("localhost", "http://localhost:8080")
	card := e.enrolPasskey(t, phone)
	ind := card["individual_id"].(string)
	list := e.do(http.MethodGet, "/v3/individuals/"+ind+"/passkeys", e.tokA, "", nil)
	keys, _ := list.json(t)["data"].([]any)
	if list.status != http.StatusOK || len(keys) != 1 {
		t.Fatalf("passkeys: %d %s", list.status, list.body)
	}
	k := keys[0].(map[string]any)
	if k["backup_eligible"] != true || k["id"] != base64.RawURLEncoding.EncodeToString(phone.Cred.ID) {
		t.Fatalf("passkey: %v", k)
	}
	// Another partner sees nothing and revokes nothing.
	expectProblem(t, e.do(http.MethodGet, "/v3/individuals/"+ind+"/passkeys", e.tokB, "", nil), http.StatusNotFound, "not_found", "")
	expectProblem(t, e.do(http.MethodDelete, "/v3/individuals/"+ind+"/passkeys/"+k["id"].(string), e.tokB, "", nil), http.StatusNotFound, "not_found", "")
	expectProblem(t, e.do(http.MethodDelete, "/v3/individuals/"+ind+"/passkeys/not%20base64", e.tokA, "", nil), http.StatusUnprocessableEntity, "invalid_field", "passkey_id")
	if r := e.do(http.MethodDelete, "/v3/individuals/"+ind+"/passkeys/"+k["id"].(string), e.tokA, "", nil); r.status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	expectProblem(t, e.do(http.MethodDelete, "/v3/individuals/"+ind+"/passkeys/"+k["id"].(string), e.tokA, "", nil), http.StatusNotFound, "not_found", "")
	// The landing page no longer offers it, and the phone no longer works.
	b, landing := e.revealLanding(t, card)
	if landing.Find(`[data-testid="passkey-login"]`).Length() != 0 {
		t.Fatal("the revoked passkey is still offered")
	}
	if status, _, _ := postJSON(t, b, e.srv.URL+"/consent/passkey/login", csrfOf(t, landing), "{}"); status != http.StatusConflict {
		t.Fatalf("login with a revoked passkey: %d", status)
	}
	entries, _ := e.db.Audit().AuditEntries(context.Background(), 0, 1000)
	removed := false
	for _, en := range entries {
		removed = removed || (en.Action == "passkey.removed" && en.Actor == "partner:"+e.a.PartnerID.String())
	}
	if !removed {
		t.Fatal("the revocation is not in the audit trail")
	}
}
