package e2e

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// checkoutPage is a merchant's checkout, on a site of its own: it frames
// the challenge URL, as a 3-D Secure SDK's page does, with the permission a
// passkey prompt in a cross-origin frame needs, and shows what the
// challenge window posts to it (from vaultpage's origin only).
const checkoutPage = `<!DOCTYPE html><html lang="en"><title>Web Shop checkout</title>
<h1>Pay 75.00 EUR</h1>
<iframe id="challenge" title="Confirm your payment" src="%s" width="400" height="600" allow="publickey-credentials-get *"></iframe>
<pre id="result"></pre>
<button type="button" id="popup">Confirm in a new window</button>
<pre id="popup-result"></pre>
<script>
var popupURL = "%s";
window.addEventListener("message", function (ev) {
  if (ev.origin !== "%s") return;
  var id = ev.source === window.frames[0] ? "result" : "popup-result";
  document.getElementById(id).textContent = JSON.stringify(ev.data);
});
document.getElementById("popup").addEventListener("click", function () {
  window.open(popupURL, "vaultpage-challenge", "popup,width=420,height=640");
});
</script></html>`

// TestACheckoutChallengeInTheBrowser: a cardholder who has a passkey pays
// at a merchant's checkout on another site (127.0.0.1 against vaultpage on
// localhost, so that third-party frame and cookie rules apply). The
// checkout frames the challenge window; the cardholder confirms with the
// passkey in the frame; the merchant's page gets Y by postMessage, and the
// authorisation with the authentication id is approved for that amount and
// payee only, once.
func TestACheckoutChallengeInTheBrowser(t *testing.T) {
	root := browser(t)
	axeSrc = axeSource(t)
	s := start(t, "https://app.example/return")
	dir := artifacts(t)

	// The cardholder's card, its details read off the hosted reveal page,
	// and a passkey made there.
	ind := s.api(t, http.MethodPost, "/v3/individuals", map[string]string{"first_name": "Greta", "last_name": "Garbo", "email": "greta@example.com", "locale": "en"}, 201)
	acc := s.api(t, http.MethodPost, "/v3/accounts", map[string]string{"individual_id": ind["id"].(string), "currency": "EUR"}, 201)
	s.api(t, http.MethodPost, "/v3/accounts/"+acc["id"].(string)+"/fundings", map[string]string{"amount": "500.00"}, 201)
	card := s.api(t, http.MethodPost, "/v3/cards", map[string]any{"individual_id": ind["id"].(string), "account_id": acc["id"].(string), "type": "virtual"}, 201)
	rc := s.api(t, http.MethodGet, "/v3/cards/"+card["id"].(string)+"/credentials", nil, 412)["consent"].(map[string]any)
	rm := s.api(t, http.MethodPost, "/v3/consents/"+rc["id"].(string), nil, 200)["method"].(map[string]any)
	ctx := tab(root, t)
	authID := virtualAuthenticator(ctx, t)
	run(ctx, t, chromedp.Navigate(rm["redirect_url"].(string)), chromedp.WaitVisible(`[data-testid="send-code"]`),
		chromedp.Click(`[data-testid="send-code"]`), chromedp.WaitVisible(`[data-testid="code"]`))
	run(ctx, t, chromedp.SendKeys(`[data-testid="code"]`, s.lastCode(t)), chromedp.SendKeys(`[data-testid="passcode"]`, "correct horse battery"),
		chromedp.Click(`[data-testid="verify"]`), chromedp.WaitVisible(`[data-testid="passkey-register"]`),
		chromedp.Click(`[data-testid="passkey-register"]`), chromedp.WaitVisible(`[data-testid="pan"]`),
		chromedp.Click(`[data-testid="show-cvv"]`), chromedp.WaitVisible(`[data-testid="cvv"]`))
	pan := strings.ReplaceAll(textOf(ctx, t, `[data-testid="pan"]`), " ", "")
	cvv, expiry := textOf(ctx, t, `[data-testid="cvv"]`), textOf(ctx, t, `[data-testid="expiry"]`)
	s.keep(pan, cvv, "correct horse battery")
	run(ctx, t, chromedp.Click(`[data-testid="submit"]`), chromedp.WaitVisible(`[data-testid="outcome-heading"]`))

	// The merchant's checkout, on 127.0.0.1: another site than localhost.
	var challengeURL, popupURL string
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/checkout" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		page := strings.Replace(checkoutPage, "%s", html.EscapeString(challengeURL), 1)
		page = strings.Replace(page, "%s", popupURL, 1) // a URL: no quote or backslash in it
		_, _ = io.WriteString(w, strings.Replace(page, "%s", s.base, 1))
	}))
	defer shop.Close()
	merchant := map[string]string{"name": "Web Shop", "url": shop.URL + "/checkout", "mcc": "5732", "country": "SE", "id": "shop-1"}
	network := map[string]string{"name": "Web Shop", "mcc": "5732", "country": "SE", "id": "shop-1"}
	ask := s.api(t, http.MethodPost, "/v3/simulations/authentications", map[string]any{"pan": pan, "exp_month": expiry[:2], "exp_year": "20" + expiry[3:],
		"amount": "75.00", "currency": "EUR", "merchant": merchant}, 201)
	if ask["trans_status"] != "C" || ask["challenge_url"] == nil {
		t.Fatalf("75.00 is past the low-value exemption: %v", ask)
	}
	challengeURL = ask["challenge_url"].(string)
	second := s.api(t, http.MethodPost, "/v3/simulations/authentications", map[string]any{"pan": pan, "exp_month": expiry[:2], "exp_year": "20" + expiry[3:],
		"amount": "60.00", "currency": "EUR", "merchant": merchant}, 201)
	popupURL = second["challenge_url"].(string)
	run(ctx, t, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(shop.URL+"/checkout"), chromedp.WaitReady(`#challenge`))

	// The challenge window runs in a process of its own (another site):
	// the test attaches to its target, as the cardholder's clicks reach it.
	frame := attachTo(ctx, t, "iframe", s.base+"/a/")
	run(frame, t, chromedp.WaitVisible(`[data-testid="passkey-login"]`))
	if loc, err := chromedp.Run(frame, chromedp.Evaluate[string](`location.href`)); err != nil || strings.Contains(loc, "vpk_") {
		t.Fatalf("the redeemed token stayed in the frame's URL: %q %v", loc, err)
	}
	if amount, payee := textOf(frame, t, `[data-testid="amount"]`), textOf(frame, t, `[data-testid="payee"]`); amount != "75.00 EUR" || payee != "to Web Shop" {
		t.Fatalf("the challenge names %q %q", amount, payee)
	}
	checkAccessibility(frame, t, axeSrc, "the challenge window")
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "checkout-challenge.png"), shot, 0o600); err != nil {
		t.Fatal(err)
	}
	codes := s.codesSent(t)
	run(frame, t, chromedp.Click(`[data-testid="passkey-login"]`), chromedp.WaitVisible(`[data-testid="outcome-heading"]`))
	if h := textOf(frame, t, `[data-testid="outcome-heading"]`); h != "Payment confirmed" {
		t.Fatalf("the window says %q; %s", h, textOf(frame, t, `[data-testid="challenge-error"]`))
	}
	if s.codesSent(t) != codes {
		t.Fatal("a code was sent although the passkey confirmed the payment")
	}
	// The merchant's page heard it, from vaultpage's origin.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("result").textContent !== ""`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("the checkout heard nothing: %v", err)
	}
	if got := textOf(ctx, t, `#result`); !strings.Contains(got, `"trans_status":"Y"`) || !strings.Contains(got, ask["id"].(string)) {
		t.Fatalf("the checkout heard %s", got)
	}
	if got := s.api(t, http.MethodGet, "/v3/authentications/"+ask["id"].(string), nil, 200); got["status"] != "authenticated" || got["method"] != "challenge_window" {
		t.Fatalf("the authentication after the challenge: %v", got)
	}

	// The merchant's authorisation with the authentication id: that
	// amount and payee only, once.
	pay := func(amount string, m map[string]string) map[string]any {
		return s.api(t, http.MethodPost, "/v3/simulations/authorizations", map[string]any{"pan": pan, "exp_month": expiry[:2], "exp_year": "20" + expiry[3:],
			"cvv": cvv, "entry_mode": "ecommerce", "amount": amount, "currency": "EUR", "merchant": m, "authentication_id": ask["id"]}, 201)
	}
	if a := pay("80.00", network); a["decline_reason"] != "authentication_mismatch" {
		t.Fatalf("another amount: %v", a["decline_reason"])
	}
	if a := pay("75.00", map[string]string{"name": "Other Shop", "mcc": "5732", "country": "SE", "id": "shop-2"}); a["decline_reason"] != "authentication_mismatch" {
		t.Fatalf("another payee: %v", a["decline_reason"])
	}
	if a := pay("75.00", network); a["status"] != "approved" {
		t.Fatalf("the authenticated payment: %v %v", a["status"], a["decline_reason"])
	}
	if a := pay("75.00", network); a["decline_reason"] != "authentication_used" {
		t.Fatalf("a replay: %v", a["decline_reason"])
	}

	// The same in a popup: the checkout opens the challenge in a window of
	// its own, where the cardholder's phone is the same passkey.
	creds, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: authID})
	if err != nil || len(creds.Credentials) != 1 {
		t.Fatalf("the passkey: %d %v", len(creds.Credentials), err)
	}
	run(ctx, t, chromedp.Click(`#popup`))
	popup := attachTo(ctx, t, "page", s.base+"/a/")
	popupAuth := virtualAuthenticator(popup, t)
	// Sent as the protocol has it, without the fields this cdproto adds
	// that Debian's Chromium refuses (its CMTG keys).
	k := creds.Credentials[0]
	addCredential := cdp.Command[map[string]any, cdp.Empty]{Method: webauthn.CommandAddCredential}
	if _, err := chromedp.Call(popup, addCredential, map[string]any{"authenticatorId": popupAuth, "credential": map[string]any{
		"credentialId": k.CredentialID, "isResidentCredential": true, "rpId": k.RpID, "privateKey": k.PrivateKey, "userHandle": k.UserHandle,
		"signCount": k.SignCount, "backupEligibility": k.BackupEligibility, "backupState": k.BackupState}}); err != nil {
		t.Fatal(err)
	}
	run(popup, t, chromedp.WaitVisible(`[data-testid="passkey-login"]`))
	if amount := textOf(popup, t, `[data-testid="amount"]`); amount != "60.00 EUR" {
		t.Fatalf("the popup names %q", amount)
	}
	run(popup, t, chromedp.Click(`[data-testid="passkey-login"]`), chromedp.WaitVisible(`[data-testid="outcome-heading"]`))
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("popup-result").textContent !== ""`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("the checkout heard nothing from the popup: %v", err)
	}
	if got := textOf(ctx, t, `#popup-result`); !strings.Contains(got, `"trans_status":"Y"`) || !strings.Contains(got, second["id"].(string)) {
		t.Fatalf("the checkout heard %s from the popup", got)
	}
	if a := s.api(t, http.MethodPost, "/v3/simulations/authorizations", map[string]any{"pan": pan, "exp_month": expiry[:2], "exp_year": "20" + expiry[3:],
		"cvv": cvv, "entry_mode": "ecommerce", "amount": "60.00", "currency": "EUR", "merchant": network, "authentication_id": second["id"]}, 201); a["status"] != "approved" {
		t.Fatalf("the payment confirmed in the popup: %v %v", a["status"], a["decline_reason"])
	}
}

// attachTo is a context on the browser's target of the type whose URL
// starts with prefix (a cross-site frame, a popup), once it is there.
func attachTo(ctx context.Context, t *testing.T, typ, prefix string) context.Context {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		infos, err := chromedp.Targets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, info := range infos {
			if info.Type == typ && strings.HasPrefix(info.URL, prefix) {
				tctx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(info.TargetID))
				t.Cleanup(cancel)
				return tctx
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no %s target at %s: is it on another site, or open?", typ, prefix)
	return nil
}
