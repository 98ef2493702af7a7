package web_test

import (
	"context"
	"crypto/sha512"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// browser is a cookie-keeping client that does not follow redirects, so
// that each hop can be checked.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string, headers ...string) (*http.Response, *goquery.Document) {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, u, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	body, _ := io.ReadAll(res.Body)
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	return res, doc
}

// startConsent orders a card, asks to activate it and gets a token.
func (e *env) startConsent(t *testing.T, body map[string]string) (card map[string]any, consentID, token string) {
	t.Helper()
	card = e.card(e.tokA)
	cs := consentOf(t, e.post("/v3/cards/"+card["id"].(string)+"/activate", e.tokA, nil))
	consentID = cs["id"].(string)
	r := e.post("/v3/consents/"+consentID, e.tokA, body)
	if r.status != http.StatusOK {
		t.Fatalf("token: %d %s", r.status, r.body)
	}
	return card, consentID, r.json(t)["method"].(map[string]any)["token"].(string)
}

// landing opens a hosted session with the token in a fresh browser and
// returns the browser and the landing page's CSRF token.
func (e *env) landing(t *testing.T, token string) (*http.Client, string) {
	t.Helper()
	b := browser(t)
	get(t, b, e.srv.URL+"/c/"+token)
	_, landing := get(t, b, e.srv.URL+"/consent")
	return b, csrfOf(t, landing)
}

func TestTokenExchangeOpensAHostedSessionWithoutTheTokenInTheURL(t *testing.T) {
	e := newEnv(t)
	card, cid, tok := e.startConsent(t, map[string]string{"locale": "sv"})
	b := browser(t)
	res, _ := get(t, b, e.srv.URL+"/c/"+tok)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/consent" {
		t.Fatalf("exchange: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == "vp_hosted" {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || strings.Contains(session.Value, tok) {
		t.Fatalf("session cookie %+v", session)
	}
	csp := res.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "form-action 'self';") {
		t.Fatalf("the exchange's form-action: %s", csp)
	}
	if !strings.Contains(csp, "script-src 'nonce-") || !strings.Contains(csp, "frame-ancestors 'none'") || res.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("headers %v", res.Header)
	}

	res, doc := get(t, b, e.srv.URL+"/consent")
	if res.StatusCode != http.StatusOK || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("landing: %d %v", res.StatusCode, res.Header)
	}
	if got := doc.Find(`[data-testid="partner-name"]`).Text(); got != "Alpha Pay" {
		t.Fatalf("partner name %q", got)
	}
	if got := doc.Find(`[data-testid="card-last4"]`).Text(); got != "•••• "+card["last4"].(string) {
		t.Fatalf("card %q, want the API's last4 %s", got, card["last4"])
	}
	if got := doc.Find(`[data-testid="action"]`).Text(); got != "Aktivera ditt kort" {
		t.Fatalf("action %q", got)
	}
	if lang, _ := doc.Find("html").Attr("lang"); lang != "sv" {
		t.Fatalf("lang %q", lang)
	}
	if strings.Contains(e.logs.String(), tok) {
		t.Fatal("the token reached the logs")
	}
	if st := e.do(http.MethodGet, "/v3/consents/"+cid, e.tokA, "", nil).json(t)["status"]; st != "started" {
		t.Fatalf("consent after the exchange: %v", st)
	}

	// The token works once.
	res, doc = get(t, browser(t), e.srv.URL+"/c/"+tok)
	if res.StatusCode != http.StatusGone || doc.Find(`[data-testid="gone"]`).Length() != 1 {
		t.Fatalf("reused token: %d", res.StatusCode)
	}
	// A browser without the session gets the same page, in its language.
	res, doc = get(t, browser(t), e.srv.URL+"/consent", "Accept-Language", "sv-SE,sv;q=0.9,en;q=0.8")
	if res.StatusCode != http.StatusGone || !strings.Contains(doc.Find("h1").Text(), "länken") {
		t.Fatalf("no session: %d %q", res.StatusCode, doc.Find("h1").Text())
	}
}

func TestExpiredAndRevokedTokensGetTheGonePage(t *testing.T) {
	var (
		mu  sync.Mutex
		now = time.Now()
	)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := newEnv(t, func(o *options) { o.now = clock })
	_, cid, first := e.startConsent(t, nil)
	second := e.post("/v3/consents/"+cid, e.tokA, nil).json(t)["method"].(map[string]any)["token"].(string)
	if res, doc := get(t, browser(t), e.srv.URL+"/c/"+first); res.StatusCode != http.StatusGone || doc.Find(`[data-testid="gone"]`).Length() != 1 {
		t.Fatalf("revoked token: %d", res.StatusCode)
	}
	mu.Lock()
	now = now.Add(6 * time.Minute)
	mu.Unlock()
	if res, _ := get(t, browser(t), e.srv.URL+"/c/"+second); res.StatusCode != http.StatusGone {
		t.Fatalf("expired token: %d", res.StatusCode)
	}
	for _, junk := range []string{"nope", "vpk_" + strings.Repeat("A", 43), url.PathEscape("<script>")} {
		if res, _ := get(t, browser(t), e.srv.URL+"/c/"+junk); res.StatusCode != http.StatusGone {
			t.Fatalf("%s: %d", junk, res.StatusCode)
		}
	}
}

func TestHostedSessionEndsAfterFiveIdleMinutes(t *testing.T) {
	var (
		mu  sync.Mutex
		now = time.Now()
	)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := newEnv(t, func(o *options) { o.now = clock })
	_, _, tok := e.startConsent(t, nil)
	b := browser(t)
	get(t, b, e.srv.URL+"/c/"+tok)
	if res, _ := get(t, b, e.srv.URL+"/consent"); res.StatusCode != http.StatusOK {
		t.Fatalf("landing: %d", res.StatusCode)
	}
	mu.Lock()
	now = now.Add(4 * time.Minute)
	mu.Unlock()
	if res, _ := get(t, b, e.srv.URL+"/consent"); res.StatusCode != http.StatusOK {
		t.Fatalf("after 4 active minutes: %d", res.StatusCode)
	}
	mu.Lock()
	now = now.Add(5*time.Minute + time.Second)
	mu.Unlock()
	if res, _ := get(t, b, e.srv.URL+"/consent"); res.StatusCode != http.StatusGone {
		t.Fatalf("after 5 idle minutes: %d", res.StatusCode)
	}
}

// No form answers with a redirect to the partner (the outcome page links
// back), so forms post to vaultpage alone, also with a return URL.
func TestFormsPostOnlyToVaultpage(t *testing.T) {
	e := newEnv(t)
	_, _, tok := e.startConsent(t, map[string]string{"return_url": "https://alpha.example/return"})
	b := browser(t)
	get(t, b, e.srv.URL+"/c/"+tok)
	res, landing := get(t, b, e.srv.URL+"/consent")
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self';") || strings.Contains(csp, "alpha.example") {
		t.Fatalf("landing form-action: %s", csp)
	}
	res, _ = post(t, b, e.srv.URL+"/consent/cancel", csrfOf(t, landing))
	if res.StatusCode != http.StatusOK || res.Header.Get("Location") != "" {
		t.Fatalf("cancel: %d to %q; want the outcome page", res.StatusCode, res.Header.Get("Location"))
	}
}

func TestThePagesSayWhoseTheyAreAndWhyTheCardholderIsThere(t *testing.T) {
	testCases := []struct {
		name, programme, locale string
		why, securedBy          string
	}{
		{"default programme", "", "en", "Alpha Pay sent you to this secure page so that only you see your card details and PIN.", "Secured by vaultpage"},
		{"named programme, in Swedish", "Nordkort", "sv", "Alpha Pay skickade dig till den här säkra sidan så att bara du ser dina kortuppgifter och din PIN-kod.", "Skyddas av Nordkort"},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(o *options) { o.programme = tc.programme })
			_, _, tok := e.startConsent(t, map[string]string{"locale": tc.locale})
			b := browser(t)
			get(t, b, e.srv.URL+"/c/"+tok)
			_, doc := get(t, b, e.srv.URL+"/consent")
			if got := doc.Find(`[data-testid="why"]`).Text(); got != tc.why {
				t.Errorf("why: %q, want %q", got, tc.why)
			}
			if got := strings.Join(strings.Fields(doc.Find(`[data-testid="secured-by"]`).Text()), " "); got != tc.securedBy {
				t.Errorf("secured by: %q, want %q", got, tc.securedBy)
			}
			// Without a logo, the mark carries the partner's initial.
			if got := doc.Find(`header .mark`).Text(); got != "A" {
				t.Errorf("the mark says %q", got)
			}
		})
	}
}

// The hosted pages name the Subresource Integrity of every script and
// stylesheet they load, and it is that of the bytes vaultpage serves: a
// browser runs or applies nothing else from those URLs.
func TestTheHostedPagesLoadOnlyTheAssetsVaultpageShipped(t *testing.T) {
	e := newEnv(t)
	_, _, tok := e.startConsent(t, map[string]string{"return_url": "https://alpha.example/return"})
	b := browser(t)
	get(t, b, e.srv.URL+"/c/"+tok)
	_, landing := get(t, b, e.srv.URL+"/consent")
	assets := landing.Find(`script[src], link[rel="stylesheet"]`)
	if assets.Length() == 0 {
		t.Fatal("the landing page loads no script or stylesheet")
	}
	assets.Each(func(_ int, el *goquery.Selection) {
		src := el.AttrOr("src", el.AttrOr("href", ""))
		integrity, ok := el.Attr("integrity")
		if !ok || !strings.HasPrefix(integrity, "sha384-") {
			t.Errorf("%s: integrity %q", src, integrity)
			return
		}
		res, err := b.Get(e.srv.URL + src)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %v", src, res.StatusCode, err)
		}
		sum := sha512.Sum384(body)
		if want := "sha384-" + base64.StdEncoding.EncodeToString(sum[:]); integrity != want {
			t.Errorf("%s: integrity %s, the bytes served hash to %s", src, integrity, want)
		}
	})
}
