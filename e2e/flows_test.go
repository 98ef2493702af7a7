package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// partnerApp is the partner's web app: where redirect mode returns, and a
// page that runs the hosted flow in a popup with static/vaultpage.js.
type partnerApp struct {
	srv       *httptest.Server
	returnURL string
	returned  chan string
}

func newPartnerApp(t *testing.T) *partnerApp {
	t.Helper()
	a := &partnerApp{returned: make(chan string, 8)}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/return":
			a.returned <- r.URL.RequestURI()
			_, _ = io.WriteString(w, "<!DOCTYPE html><title>Demo app</title><p>Back in the app.</p>")
		case "/popup":
			base, token := html.EscapeString(r.URL.Query().Get("base")), html.EscapeString(r.URL.Query().Get("token"))
			_, _ = fmt.Fprintf(w, `<!DOCTYPE html><html lang="en"><title>Demo app</title>
<script src="%[1]s/static/vaultpage.js"></script>
<button id="launch">Show my card</button><output id="result"></output>
<script>
document.getElementById("launch").addEventListener("click", function () {
  VaultPage.launch("%[2]s", { origin: "%[1]s", onComplete: function (r) {
    document.getElementById("result").textContent = r.status + " " + r.consentId;
  } });
});
</script>`, base, token)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(a.srv.Close)
	a.returnURL = "http://localhost:" + a.srv.URL[strings.LastIndex(a.srv.URL, ":")+1:] + "/return"
	return a
}

func (a *partnerApp) waitReturn(t *testing.T) string {
	t.Helper()
	select {
	case got := <-a.returned:
		return got
	case <-time.After(15 * time.Second):
		t.Fatal("the browser never came back to the app")
		return ""
	}
}

// logoPNG is a 48×48 partner logo: a green disc.
func logoPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 48, 48))
	for y := range 48 {
		for x := range 48 {
			if (x-24)*(x-24)+(y-24)*(y-24) < 22*22 {
				img.Set(x, y, color.NRGBA{R: 10, G: 92, B: 54, A: 255})
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tab opens a fresh tab with its own deadline, closed when the flow ends:
// one flow can never leave a tab behind that the next one depends on.
func tab(root context.Context, t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(root)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		closeWithin(10*time.Second, func() { _ = chromedp.Cancel(ctx) })
		cancel()
	})
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(360, 740, chromedp.EmulateMobile)); err != nil {
		t.Fatal(err)
	}
	return ctx
}

func run(ctx context.Context, t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

func textOf(ctx context.Context, t *testing.T, sel string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(v)
}

// codeAndPasscode passes SCA from the landing page with a fresh one-time
// code and the passcode, and declines the passkey offer.
func codeAndPasscode(ctx context.Context, t *testing.T, s *server, passcode string, shots func(string)) {
	t.Helper()
	s.keep(passcode)
	run(ctx, t, chromedp.WaitVisible(`[data-testid="send-code"]`))
	shots("landing")
	run(ctx, t, chromedp.Click(`[data-testid="send-code"]`), chromedp.WaitVisible(`[data-testid="code"]`))
	shots("verify")
	run(ctx, t, chromedp.SendKeys(`[data-testid="code"]`, s.lastCode(t)), chromedp.SendKeys(`[data-testid="passcode"]`, passcode),
		chromedp.Click(`[data-testid="verify"]`), chromedp.WaitVisible(`[data-testid="skip-passkey"]`))
	shots("passkey-offer")
	run(ctx, t, chromedp.Click(`[data-testid="skip-passkey"]`), chromedp.WaitVisible(`[data-testid="heading"]`))
}

// TestMoreFlowsInTheBrowser: a Swedish cardholder reached by SMS activates
// in an app's web view (SDK completion), changes the PIN and sees the new
// one, cancels in a popup, meets revoked and expired links, and locks
// herself out with five wrong passcodes. Each flow runs in its own tab.
func TestMoreFlowsInTheBrowser(t *testing.T) {
	root := browser(t)
	axeSrc = axeSource(t)
	app := newPartnerApp(t)
	s := start(t, app.returnURL)
	dir := artifacts(t)
	ind := s.api(t, http.MethodPost, "/v3/individuals", map[string]string{"first_name": "Bea", "last_name": "Berg", "phone": "+46701234567", "locale": "sv"}, 201)
	acc := s.api(t, http.MethodPost, "/v3/accounts", map[string]string{"individual_id": ind["id"].(string), "currency": "SEK"}, 201)
	card := s.api(t, http.MethodPost, "/v3/cards", map[string]any{"individual_id": ind["id"].(string), "account_id": acc["id"].(string),
		"type": "physical", "shipping_address": shipTo}, 201)
	cardID := card["id"].(string)
	// The partner's brand: a green that keeps white text readable, and a logo.
	s.api(t, http.MethodPut, "/v3/branding", map[string]any{"color": "#0a5c36", "logo_png": base64.StdEncoding.EncodeToString(logoPNG(t))}, 200)
	const passcode = "rätt häst batteri"
	consentFor := func(method, path string, body any) string {
		return s.api(t, method, path, body, 412)["consent"].(map[string]any)["id"].(string)
	}
	tokenFor := func(cid string, opts map[string]string) map[string]any {
		return s.api(t, http.MethodPost, "/v3/consents/"+cid, opts, 200)["method"].(map[string]any)
	}
	shooter := func(ctx context.Context, t *testing.T, prefix string) func(string) {
		return func(name string) { screenshot(ctx, t, dir, prefix+"-"+name) }
	}

	t.Run("activation in an app's web view ends at the SDK completion", func(t *testing.T) {
		ctx := tab(root, t)
		// The app's Android bridge, as a CDP binding: what the page tells
		// the app arrives here.
		told := make(chan string, 1)
		if _, err := chromedp.Call(ctx, runtime.AddBinding, runtime.AddBindingParams{Name: "vpNative"}); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `window.VaultPageAndroid = { onComplete: function (m) { vpNative(m); } };`}); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Listen(ctx, func(ev any) {
			if b, ok := ev.(*runtime.EventBindingCalled); ok && b.Name == "vpNative" {
				select {
				case told <- b.Payload:
				default:
				}
			}
		}); err != nil {
			t.Fatal(err)
		}
		cid := consentFor(http.MethodPost, "/v3/cards/"+cardID+"/activate", nil)
		m := tokenFor(cid, map[string]string{"mode": "sdk", "locale": "sv"})
		run(ctx, t, chromedp.Navigate(m["redirect_url"].(string)))
		run(ctx, t, chromedp.WaitVisible(`[data-testid="partner-logo"]`))
		// The logo loads from vaultpage's origin under the pages' CSP, and the colour applies.
		loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('[data-testid="partner-logo"]').complete && document.querySelector('[data-testid="partner-logo"]').naturalWidth === 48`))
		if err != nil || !loaded {
			t.Fatalf("the partner's logo did not load (%v)", err)
		}
		if bg, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('[data-testid="send-code"]')).backgroundColor`)); bg != "rgb(10, 92, 54)" {
			t.Fatalf("the button is %s, not the partner's colour", bg)
		}
		codeAndPasscode(ctx, t, s, passcode, shooter(ctx, t, "sv-1"))
		if h := textOf(ctx, t, `[data-testid="heading"]`); h != "Aktivera ditt kort" {
			t.Fatalf("heading %q, want Swedish", h)
		}
		screenshot(ctx, t, dir, "sv-1-set-pin")
		holdTimers(ctx, t)
		run(ctx, t, chromedp.SendKeys(`[data-testid="pin-input"]`, "8203"), chromedp.SendKeys(`[data-testid="pin-repeat"]`, "8203"),
			chromedp.Click(`[data-testid="submit"]`))
		select {
		case got := <-told:
			var msg map[string]string
			if err := json.Unmarshal([]byte(got), &msg); err != nil || msg["type"] != "vaultpage:complete" || msg["consent_id"] != cid || msg["status"] != "approved" {
				t.Fatalf("the app was told %q", got)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("the completion page never told the app")
		}
		// The app was told at once; the page says what happened meanwhile.
		run(ctx, t, chromedp.WaitVisible(`[data-testid="outcome-heading"]`))
		if h := textOf(ctx, t, `[data-testid="outcome-heading"]`); h != "Ditt kort är aktiverat" {
			t.Fatalf("the outcome page says %q", h)
		}
		screenshot(ctx, t, dir, "sv-1-outcome-active")
		if got := s.api(t, http.MethodGet, "/v3/cards/"+cardID, nil, 200)["status"]; got != "active" {
			t.Fatalf("card %v", got)
		}
	})

	t.Run("PIN change, then PIN view shows the new PIN", func(t *testing.T) {
		ctx := tab(root, t)
		cid := consentFor(http.MethodPost, "/v3/cards/"+cardID+"/pin", map[string]string{"operation": "change"})
		m := tokenFor(cid, map[string]string{"return_url": app.returnURL, "locale": "sv"})
		run(ctx, t, chromedp.Navigate(m["redirect_url"].(string)))
		codeAndPasscode(ctx, t, s, passcode, func(string) {})
		if h := textOf(ctx, t, `[data-testid="heading"]`); h != "Byt PIN-kod" {
			t.Fatalf("heading %q", h)
		}
		screenshot(ctx, t, dir, "sv-2-pin-change")
		holdTimers(ctx, t)
		run(ctx, t, chromedp.SendKeys(`[data-testid="pin-input"]`, "5831"), chromedp.SendKeys(`[data-testid="pin-repeat"]`, "5831"),
			chromedp.Click(`[data-testid="submit"]`), chromedp.WaitVisible(`[data-testid="outcome-heading"]`))
		if h := textOf(ctx, t, `[data-testid="outcome-heading"]`); h != "Din PIN-kod är bytt" {
			t.Fatalf("the outcome page says %q", h)
		}
		screenshot(ctx, t, dir, "sv-2-outcome-pin-changed")
		run(ctx, t, chromedp.Click(`[data-testid="back"]`))
		if got, want := app.waitReturn(t), "/return?consent_id="+cid+"&status=approved"; got != want {
			t.Fatalf("returned to %q, want %q", got, want)
		}

		view := tab(root, t)
		vid := consentFor(http.MethodPost, "/v3/cards/"+cardID+"/pin", map[string]string{"operation": "view"})
		vm := tokenFor(vid, map[string]string{"return_url": app.returnURL, "locale": "sv"})
		run(view, t, chromedp.Navigate(vm["redirect_url"].(string)))
		codeAndPasscode(view, t, s, passcode, func(string) {})
		s.keep("8203", "5831")
		if pin := textOf(view, t, `[data-testid="pin"]`); pin != "5831" {
			t.Fatalf("PIN view shows %d characters, not the new PIN", len(pin))
		}
		if _, err := chromedp.Run(view, chromedp.Evaluate[any](`document.querySelector('[data-testid="pin"]').textContent = '••••'`)); err != nil {
			t.Fatal(err)
		}
		screenshot(view, t, dir, "sv-3-pin-view")
		holdTimers(view, t)
		run(view, t, chromedp.Click(`[data-testid="submit"]`), chromedp.WaitVisible(`[data-testid="outcome-heading"]`))
		if h := textOf(view, t, `[data-testid="outcome-heading"]`); h != "Din PIN-kod är dold igen" {
			t.Fatalf("after the PIN view: %q", h)
		}
		screenshot(view, t, dir, "sv-3-outcome-pin-hidden")
		run(view, t, chromedp.Click(`[data-testid="back"]`))
		if got, want := app.waitReturn(t), "/return?consent_id="+vid+"&status=approved"; got != want {
			t.Fatalf("returned to %q, want %q", got, want)
		}
	})

	t.Run("unfreeze: the card, a confirmation, the outcome", func(t *testing.T) {
		ctx := tab(root, t)
		s.api(t, http.MethodPatch, "/v3/cards/"+cardID, map[string]string{"status": "frozen"}, 200)
		cid := consentFor(http.MethodPatch, "/v3/cards/"+cardID, map[string]string{"status": "active"})
		m := tokenFor(cid, map[string]string{"return_url": app.returnURL, "locale": "sv"})
		run(ctx, t, chromedp.Navigate(m["redirect_url"].(string)))
		codeAndPasscode(ctx, t, s, passcode, func(string) {})
		if h, last4 := textOf(ctx, t, `[data-testid="heading"]`), textOf(ctx, t, `[data-testid="card-last4"]`); h != "Lås upp ditt kort" || last4 != "•••• "+card["last4"].(string) {
			t.Fatalf("the confirmation says %q for %q", h, last4)
		}
		screenshot(ctx, t, dir, "sv-6-unfreeze")
		holdTimers(ctx, t)
		run(ctx, t, chromedp.Click(`[data-testid="submit"]`), chromedp.WaitVisible(`[data-testid="outcome-heading"]`))
		if h := textOf(ctx, t, `[data-testid="outcome-heading"]`); h != "Ditt kort fungerar igen" {
			t.Fatalf("after unfreezing: %q", h)
		}
		screenshot(ctx, t, dir, "sv-6-outcome-unfrozen")
		run(ctx, t, chromedp.Click(`[data-testid="back"]`))
		if got, want := app.waitReturn(t), "/return?consent_id="+cid+"&status=approved"; got != want {
			t.Fatalf("returned to %q, want %q", got, want)
		}
		if got := s.api(t, http.MethodGet, "/v3/cards/"+cardID, nil, 200)["status"]; got != "active" {
			t.Fatalf("card %v", got)
		}
	})

	t.Run("popup: the opener learns the cardholder canceled", func(t *testing.T) {
		ctx := tab(root, t)
		cid := consentFor(http.MethodGet, "/v3/cards/"+cardID+"/credentials", nil)
		m := tokenFor(cid, map[string]string{"mode": "popup", "return_url": app.returnURL})
		q := url.Values{"base": {s.base}, "token": {m["token"].(string)}}
		appURL := strings.TrimSuffix(app.returnURL, "/return") + "/popup?" + q.Encode()
		run(ctx, t, chromedp.Navigate(appURL), chromedp.WaitVisible(`#launch`))
		opened := chromedp.WaitNewTarget(ctx, func(*target.Info) bool { return true })
		run(ctx, t, chromedp.Click(`#launch`))
		var id target.ID
		select {
		case id = <-opened:
		case <-time.After(15 * time.Second):
			t.Fatal("no popup opened")
		}
		popup, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(id))
		defer cancel()
		run(popup, t, chromedp.WaitVisible(`[data-testid="cancel"]`))
		screenshot(popup, t, dir, "popup-landing")
		holdTimers(popup, t)
		run(popup, t, chromedp.Click(`[data-testid="cancel"]`), chromedp.WaitVisible(`[data-testid="outcome-heading"]`))
		deadline := time.Now().Add(15 * time.Second)
		var result string
		for time.Now().Before(deadline) {
			if result = textOf(ctx, t, `#result`); result != "" {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if result != "canceled "+cid {
			t.Fatalf("the opener got %q, want %q", result, "canceled "+cid)
		}
		if got := s.api(t, http.MethodGet, "/v3/consents/"+cid, nil, 200)["status"]; got != "canceled" {
			t.Fatalf("consent %v", got)
		}
		// The opener knew at once; the popup says so, and closes on Back.
		screenshot(popup, t, dir, "popup-outcome-canceled")
		_ = chromedp.Do(popup, chromedp.Click(`[data-testid="back"]`))
		deadline = time.Now().Add(10 * time.Second)
		for {
			targets, err := chromedp.Targets(ctx)
			if err != nil {
				t.Fatal(err)
			}
			open := false
			for _, ti := range targets {
				open = open || ti.TargetID == id
			}
			if !open {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("Back did not close the popup")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("revoked and expired links get the 410 page", func(t *testing.T) {
		ctx := tab(root, t)
		cid := consentFor(http.MethodGet, "/v3/cards/"+cardID+"/credentials", nil)
		first := tokenFor(cid, map[string]string{"locale": "sv"})
		tokenFor(cid, map[string]string{"locale": "sv"}) // a new token revokes the first
		run(ctx, t, chromedp.Navigate(first["redirect_url"].(string)), chromedp.WaitVisible(`[data-testid="gone"]`))
		screenshot(ctx, t, dir, "gone-revoked")

		eid := consentFor(http.MethodGet, "/v3/cards/"+cardID+"/credentials", nil)
		em := tokenFor(eid, nil)
		s.api(t, http.MethodPost, "/v3/simulations/consents/"+eid, map[string]string{"outcome": "expired"}, 200)
		run(ctx, t, chromedp.Navigate(em["redirect_url"].(string)), chromedp.WaitVisible(`[data-testid="gone"]`))
		if got := s.api(t, http.MethodGet, "/v3/consents/"+eid, nil, 200)["status"]; got != "expired" {
			t.Fatalf("consent %v", got)
		}
	})

	t.Run("the demo app: order, activate with a new passkey, reveal with it", func(t *testing.T) {
		ctx := tab(root, t)
		virtualAuthenticator(ctx, t)
		run(ctx, t, chromedp.Navigate(s.base+"/demo"), chromedp.WaitVisible(`[data-testid="order"]`))
		screenshot(ctx, t, dir, "demo-1-empty")
		run(ctx, t, chromedp.Click(`[data-testid="order"]`), chromedp.WaitVisible(`[data-testid="demo-activate"]`),
			chromedp.Click(`[data-testid="demo-activate"]`), chromedp.WaitVisible(`[data-testid="send-code"]`),
			chromedp.Click(`[data-testid="send-code"]`), chromedp.WaitVisible(`[data-testid="code"]`))
		s.keep("analytical engine")
		run(ctx, t, chromedp.SendKeys(`[data-testid="code"]`, s.lastCode(t)), chromedp.SendKeys(`[data-testid="passcode"]`, "analytical engine"),
			chromedp.Click(`[data-testid="verify"]`), chromedp.WaitVisible(`[data-testid="passkey-register"]`),
			chromedp.Click(`[data-testid="passkey-register"]`), chromedp.WaitVisible(`[data-testid="pin-input"]`),
			chromedp.SendKeys(`[data-testid="pin-input"]`, "8203"), chromedp.SendKeys(`[data-testid="pin-repeat"]`, "8203"),
			chromedp.Click(`[data-testid="submit"]`), chromedp.WaitVisible(`[data-testid="outcome"]`))
		if got := textOf(ctx, t, `[data-testid="outcome"]`); got != "Your card is active." {
			t.Fatalf("back in the demo: %q", got)
		}
		screenshot(ctx, t, dir, "demo-2-activated")
		run(ctx, t, chromedp.Click(`[data-testid="demo-reveal"]`), chromedp.WaitVisible(`[data-testid="passkey-login"]`),
			chromedp.Click(`[data-testid="passkey-login"]`), chromedp.WaitVisible(`[data-testid="pan"]`))
		if pan := strings.ReplaceAll(textOf(ctx, t, `[data-testid="pan"]`), " ", ""); len(pan) != 16 {
			t.Fatalf("revealed %d characters", len(pan))
		}
		run(ctx, t, chromedp.Click(`[data-testid="submit"]`), chromedp.WaitVisible(`[data-testid="outcome"]`))
		if got := textOf(ctx, t, `[data-testid="outcome"]`); got != "Your card details are hidden again." {
			t.Fatalf("after the reveal: %q", got)
		}
	})

	t.Run("five wrong passcodes lock the cardholder and fail the consent", func(t *testing.T) {
		ctx := tab(root, t)
		cid := consentFor(http.MethodGet, "/v3/cards/"+cardID+"/credentials", nil)
		m := tokenFor(cid, map[string]string{"return_url": app.returnURL, "locale": "sv"})
		run(ctx, t, chromedp.Navigate(m["redirect_url"].(string)), chromedp.WaitVisible(`[data-testid="send-code"]`),
			chromedp.Click(`[data-testid="send-code"]`), chromedp.WaitVisible(`[data-testid="code"]`))
		for i := 1; i <= 5; i++ {
			s.keep("fel häst")
			run(ctx, t, chromedp.SendKeys(`[data-testid="code"]`, s.lastCode(t)), chromedp.SendKeys(`[data-testid="passcode"]`, "fel häst"),
				chromedp.Click(`[data-testid="verify"]`))
			if i < 5 {
				run(ctx, t, chromedp.WaitVisible(`[data-testid="error"]`))
				if msg := textOf(ctx, t, `[data-testid="error"]`); !strings.Contains(msg, "koden och din lösenkod") {
					t.Fatalf("failure %d says %q", i, msg)
				}
				if i == 1 {
					screenshot(ctx, t, dir, "sv-4-wrong-passcode")
				}
				// The new verify page has no error: wait for it, not for the old page's code field.
				run(ctx, t, chromedp.Click(`[data-testid="resend"]`), chromedp.WaitNotPresent(`[data-testid="error"]`), chromedp.WaitVisible(`[data-testid="code"]`))
			}
		}
		run(ctx, t, chromedp.WaitVisible(`[data-testid="gone"]`))
		if h := textOf(ctx, t, `[data-testid="gone"] h1`); h != "För många försök" {
			t.Fatalf("after five failures: %q", h)
		}
		screenshot(ctx, t, dir, "sv-5-locked")
		if got := s.api(t, http.MethodGet, "/v3/consents/"+cid, nil, 200)["status"]; got != "failed" {
			t.Fatalf("consent %v", got)
		}
	})
}
