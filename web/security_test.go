package web_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/idempotency"
	"github.com/vaultpage/vaultpage/internal/testkit"
	"github.com/vaultpage/vaultpage/store"
	"github.com/vaultpage/vaultpage/store/storetest"
	"github.com/vaultpage/vaultpage/vault"
)

func TestAskingForCodesTooOftenShowsWhenToAskAgain(t *testing.T) {
	e := newEnv(t)
	_, _, tok := e.startConsent(t, nil)
	b, csrf := e.landing(t, tok)
	res, verify := post(t, b, e.srv.URL+"/consent/code", csrf)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("first code: %d", res.StatusCode)
	}
	sent := len(e.outbox.Messages())
	res, again := post(t, b, e.srv.URL+"/consent/code", csrfOf(t, verify))
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "30" {
		t.Fatalf("a second code at once: %d, Retry-After %q", res.StatusCode, res.Header.Get("Retry-After"))
	}
	if msg := again.Find(`[data-testid="error"]`).Text(); !strings.Contains(msg, "last code we sent") {
		t.Fatalf("the page says %q", msg)
	}
	if again.Find(`[data-testid="code"]`).Length() != 1 {
		t.Fatal("the page no longer takes the code already sent")
	}
	if n := len(e.outbox.Messages()); n != sent {
		t.Fatalf("%d more codes went out", n-sent)
	}
}

// rawPost posts body with a content type from browser b.
func rawPost(t *testing.T, b *http.Client, u, contentType string, body []byte, headers ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, u, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	return res
}

func TestHostedPostsTakeOnlyTheirContentTypeAndSpoolNothing(t *testing.T) {
	spool := t.TempDir()
	t.Setenv("TMPDIR", spool) // where mime/multipart would spool file parts
	e := newEnv(t, func(o *options) { o.demo = true })
	_, _, tok := e.startConsent(t, nil)
	b, csrf := e.landing(t, tok)

	// A multipart upload of 40 MB, with and without a session: refused
	// before anything reads it, so no part reaches the disk.
	var mp bytes.Buffer
	w := multipart.NewWriter(&mp)
	_ = w.WriteField("_csrf", csrf)
	part, _ := w.CreateFormFile("file", "big.bin")
	_, _ = part.Write(bytes.Repeat([]byte{'x'}, 40<<20))
	_ = w.Close()
	var small bytes.Buffer
	sw := multipart.NewWriter(&small)
	_ = sw.WriteField("_csrf", csrf)
	part, _ = sw.CreateFormFile("file", "small.bin")
	_, _ = part.Write(bytes.Repeat([]byte{'x'}, 2000))
	_ = sw.Close()
	for _, path := range []string{"/consent/code", "/consent/verify", "/consent/action", "/demo/cards"} {
		for _, client := range []*http.Client{b, browser(t)} {
			if res := rawPost(t, client, e.srv.URL+path, w.FormDataContentType(), mp.Bytes()); res.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("40 MB of multipart to %s: %d", path, res.StatusCode)
			}
			// Chunked, with no length for a body limit to see first.
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, e.srv.URL+path, io.MultiReader(bytes.NewReader(mp.Bytes())))
			req.Header.Set("Content-Type", w.FormDataContentType())
			res, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = res.Body.Close()
			if res.StatusCode != http.StatusUnsupportedMediaType && res.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("40 MB of chunked multipart to %s: %d", path, res.StatusCode)
			}
			if res := rawPost(t, client, e.srv.URL+path, sw.FormDataContentType(), small.Bytes()); res.StatusCode != http.StatusUnsupportedMediaType {
				t.Fatalf("a small multipart form to %s: %d", path, res.StatusCode)
			}
		}
	}
	if left, _ := os.ReadDir(spool); len(left) != 0 {
		t.Fatalf("%d files left in the temporary directory", len(left))
	}
	// A form larger than a form needs is refused.
	big := url.Values{"_csrf": {csrf}, "code": {strings.Repeat("1", 20<<10)}}
	if res := rawPost(t, b, e.srv.URL+"/consent/verify", "application/x-www-form-urlencoded", []byte(big.Encode())); res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("a 20 KiB form: %d", res.StatusCode)
	}
	// The passkey endpoints take JSON only, and forms are not JSON.
	if res := rawPost(t, b, e.srv.URL+"/consent/passkey/login", "application/x-www-form-urlencoded", []byte("_csrf="+csrf), "X-CSRF-Token", csrf); res.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("a form to a passkey endpoint: %d", res.StatusCode)
	}
	if res := rawPost(t, b, e.srv.URL+"/consent/code", "text/plain", []byte("_csrf="+csrf)); res.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain to a form: %d", res.StatusCode)
	}
	if len(e.outbox.Messages()) != 0 {
		t.Fatal("a refused post sent a code")
	}
}

func TestTheCSRFTokenIsBoundToItsSession(t *testing.T) {
	e := newEnv(t)
	_, _, tokA := e.startConsent(t, nil)
	_, _, tokB := e.startConsent(t, nil)
	a, csrfA := e.landing(t, tokA)
	_, csrfB := e.landing(t, tokB)
	if csrfA == csrfB {
		t.Fatal("two sessions share a CSRF token")
	}
	// The attacker's own, valid token does not work in the victim's session.
	if res, _ := post(t, a, e.srv.URL+"/consent/code", csrfB); res.StatusCode != http.StatusForbidden {
		t.Fatalf("B's token in A's session: %d", res.StatusCode)
	}
	// Without a session no token is valid.
	if res, _ := post(t, browser(t), e.srv.URL+"/consent/code", csrfA); res.StatusCode != http.StatusForbidden {
		t.Fatalf("a token without its session: %d", res.StatusCode)
	}
	if len(e.outbox.Messages()) != 0 {
		t.Fatal("a code went out on a forged form")
	}
	if res, _ := post(t, a, e.srv.URL+"/consent/code", csrfA); res.StatusCode != http.StatusOK {
		t.Fatalf("A's own token: %d", res.StatusCode)
	}
	// A new session in the same browser has a token of its own: the earlier
	// session's pages cannot post into it.
	_, _, tokC := e.startConsent(t, nil)
	get(t, a, e.srv.URL+"/c/"+tokC)
	if res, _ := post(t, a, e.srv.URL+"/consent/cancel", csrfA); res.StatusCode != http.StatusForbidden {
		t.Fatalf("the earlier session's token in the new session: %d", res.StatusCode)
	}
}

func TestOverHTTPSTheSessionCookieIsAHostCookie(t *testing.T) {
	e := newEnv(t, func(o *options) { o.publicURL = "https://cards.example" })
	_, _, tok := e.startConsent(t, nil)
	res, _ := get(t, browser(t), e.srv.URL+"/c/"+tok)
	var got *http.Cookie
	for _, ck := range res.Cookies() {
		got = ck
	}
	if got == nil || got.Name != "__Host-vp_hosted" || !got.Secure || got.Path != "/" || got.Domain != "" || !got.HttpOnly {
		t.Fatalf("session cookie %+v", got)
	}
	if hsts := res.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(hsts, "max-age=") {
		t.Fatalf("HSTS %q", hsts)
	}
}

func TestStaticFilesListNoDirectory(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/static/", "/static", "/static/."} {
		res, doc := get(t, browser(t), e.srv.URL+path)
		if res.StatusCode != http.StatusNotFound || doc.Find("a").Length() != 0 {
			t.Fatalf("%s: %d, %d links", path, res.StatusCode, doc.Find("a").Length())
		}
	}
	if res, _ := get(t, browser(t), e.srv.URL+"/static/passkey.js"); res.StatusCode != http.StatusOK {
		t.Fatalf("a file: %d", res.StatusCode)
	}
}

func TestHostedPostsAreRateLimitedPerSession(t *testing.T) {
	e := newEnv(t)
	_, _, tok := e.startConsent(t, nil)
	b, csrf := e.landing(t, tok)
	limited := 0
	for range 40 {
		// Beginning a passkey login (none is registered: 409) costs nothing
		// but the request.
		res := rawPost(t, b, e.srv.URL+"/consent/passkey/login", "application/json", []byte("{}"), "X-CSRF-Token", csrf)
		if res.StatusCode == http.StatusTooManyRequests {
			limited++
			if res.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		}
	}
	if limited < 15 {
		t.Fatalf("%d of 40 posts in a burst were limited", limited)
	}
	// Another cardholder's session is not held back.
	_, _, tok2 := e.startConsent(t, nil)
	b2, csrf2 := e.landing(t, tok2)
	if res, _ := post(t, b2, e.srv.URL+"/consent/code", csrf2); res.StatusCode != http.StatusOK {
		t.Fatalf("another session: %d", res.StatusCode)
	}
}

func TestANewTokenEndsTheSessionsOfEarlierOnes(t *testing.T) {
	e := newEnv(t)
	_, cid, tok := e.startConsent(t, nil)
	first := browser(t)
	get(t, first, e.srv.URL+"/c/"+tok)
	if res, _ := get(t, first, e.srv.URL+"/consent"); res.StatusCode != http.StatusOK {
		t.Fatalf("first session: %d", res.StatusCode)
	}
	tok2 := e.post("/v3/consents/"+cid, e.tokA, nil).json(t)["method"].(map[string]any)["token"].(string)
	if res, _ := get(t, first, e.srv.URL+"/consent"); res.StatusCode != http.StatusGone {
		t.Fatalf("the first session after a new token: %d", res.StatusCode)
	}
	second := browser(t)
	get(t, second, e.srv.URL+"/c/"+tok2)
	if res, _ := get(t, second, e.srv.URL+"/consent"); res.StatusCode != http.StatusOK {
		t.Fatalf("the new token's session: %d", res.StatusCode)
	}
}

// clock is a settable clock for the server and its services.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// revealPage authenticates a fresh browser on a reveal consent for a new
// card and returns it on the action page.
func (e *env) revealPage(t *testing.T) (*http.Client, *goquery.Document, map[string]any, string) {
	t.Helper()
	card := e.card(e.tokA)
	cs := consentOf(t, e.do(http.MethodGet, "/v3/cards/"+card["id"].(string)+"/credentials", e.tokA, "", nil))
	tok := e.post("/v3/consents/"+cs["id"].(string), e.tokA, nil).json(t)["method"].(map[string]any)["token"].(string)
	b := browser(t)
	return b, e.authenticate(t, b, tok, "correct horse battery"), card, cs["id"].(string)
}

func TestTheServerStopsShowingCardDetailsFiveMinutesAfterSCA(t *testing.T) {
	c := &clock{t: time.Now()}
	e := newEnv(t, func(o *options) { o.now = c.now })
	b, page, _, cid := e.revealPage(t)
	if page.Find(`[data-testid="pan"]`).Length() != 1 {
		t.Fatal("no card number after SCA")
	}
	csrf := csrfOf(t, page)
	// The page states the time left, and leaves 2 s before the five
	// minutes are up, while its session (idle for as long) still holds.
	timeLeft := func(doc *goquery.Document) string {
		return strings.Join(strings.Fields(doc.Find(`[data-testid="time-left"]`).Text()), " ")
	}
	if got := timeLeft(page); got != "These details hide in 4:58." {
		t.Fatalf("right after SCA the page says %q", got)
	}
	// Requests every two minutes keep the session alive; the details are
	// served with the time left, and not after five minutes.
	for _, want := range []struct{ hide, says string }{{"178", "These details hide in 2:58."}, {"58", "These details hide in 0:58."}} {
		c.add(2 * time.Minute)
		res, doc := get(t, b, e.srv.URL+"/consent/action")
		if hide, _ := doc.Find(`[data-hide-after]`).Attr("data-hide-after"); res.StatusCode != http.StatusOK || hide != want.hide || timeLeft(doc) != want.says {
			t.Fatalf("%d, hides after %q and says %q; want %s and %q", res.StatusCode, hide, timeLeft(doc), want.hide, want.says)
		}
	}
	// Past the time, the server shows no details: the consent ends
	// approved (they were shown), and the page says why they went.
	c.add(59 * time.Second)
	res, doc := get(t, b, e.srv.URL+"/consent/action")
	if doc.Find(`[data-testid="pan"]`).Length() != 0 {
		t.Fatal("the card number five minutes after SCA")
	}
	if o := outcomeOf(t, res, doc); o.heading != "Your card details are hidden again" || !strings.Contains(o.explain, "at most 5 minutes") {
		t.Fatalf("five minutes after SCA: %q %q", o.heading, o.explain)
	}
	if st := e.do(http.MethodGet, "/v3/consents/"+cid, e.tokA, "", nil).json(t)["status"]; st != "approved" {
		t.Fatalf("consent %v", st)
	}
	// The session ended with the consent, and its CSRF token with it.
	res, doc = post(t, b, e.srv.URL+"/consent/action", csrf, "show", "cvv")
	if res.StatusCode != http.StatusForbidden || doc.Find(`[data-testid="cvv"]`).Length() != 0 {
		t.Fatalf("the CVV five minutes after SCA: %d", res.StatusCode)
	}
}

func TestADetailsPageThatRanOutSaysWhy(t *testing.T) {
	e := newEnv(t)
	b, page, _, _ := e.revealPage(t)
	// static/reveal.js posts the done form with why=time when the time is up.
	res, doc := post(t, b, e.srv.URL+"/consent/action", csrfOf(t, page), "why", "time")
	if o := outcomeOf(t, res, doc); o.heading != "Your card details are hidden again" || !strings.Contains(o.explain, "at most 5 minutes") {
		t.Fatalf("after the time ran out: %q %q", o.heading, o.explain)
	}
}

func TestACardReportedStolenShowsNothingAndEndsItsConsents(t *testing.T) {
	e := newEnv(t)
	b, page, card, cid := e.revealPage(t)
	csrf := csrfOf(t, page)
	id := card["id"].(string)
	// A second consent, pending, for the same card.
	pending := consentOf(t, e.do(http.MethodGet, "/v3/cards/"+id+"/credentials", e.tokA, "", nil))["id"].(string)
	if r := e.do(http.MethodPatch, "/v3/cards/"+id, e.tokA, "application/json", []byte(`{"status":"stolen"}`)); r.status != http.StatusOK {
		t.Fatalf("report stolen: %d %s", r.status, r.body)
	}
	for _, c := range []string{cid, pending} {
		if st := e.do(http.MethodGet, "/v3/consents/"+c, e.tokA, "", nil).json(t)["status"]; st != "canceled" {
			t.Fatalf("consent %s after the card was stolen: %v", c, st)
		}
	}
	if res, doc := get(t, b, e.srv.URL+"/consent/action"); res.StatusCode != http.StatusGone || doc.Find(`[data-testid="pan"]`).Length() != 0 {
		t.Fatalf("the reveal page of a stolen card: %d", res.StatusCode)
	}
	if res, doc := post(t, b, e.srv.URL+"/consent/action", csrf, "show", "cvv"); res.StatusCode != http.StatusGone || doc.Find(`[data-testid="cvv"]`).Length() != 0 {
		t.Fatalf("the CVV of a stolen card: %d", res.StatusCode)
	}
}

func TestAPINCannotBeChangedOnACardClosedMeanwhile(t *testing.T) {
	e := newEnv(t)
	card, _, tok := e.startConsent(t, nil)
	b := browser(t)
	action := e.authenticate(t, b, tok, "correct horse battery")
	if res, _ := post(t, b, e.srv.URL+"/consent/action", csrfOf(t, action), "pin", "8203", "pin2", "8203"); res.StatusCode != http.StatusOK && res.StatusCode != http.StatusSeeOther {
		t.Fatalf("activation: %d", res.StatusCode)
	}
	id := card["id"].(string)
	cs := consentOf(t, e.post("/v3/cards/"+id+"/pin", e.tokA, map[string]string{"operation": "change"}))
	tok2 := e.post("/v3/consents/"+cs["id"].(string), e.tokA, nil).json(t)["method"].(map[string]any)["token"].(string)
	b2 := browser(t)
	page := e.authenticate(t, b2, tok2, "correct horse battery")
	if r := e.do(http.MethodDelete, "/v3/cards/"+id, e.tokA, "", nil); r.status != http.StatusOK {
		t.Fatalf("close: %d %s", r.status, r.body)
	}
	if res, _ := post(t, b2, e.srv.URL+"/consent/action", csrfOf(t, page), "pin", "5820", "pin2", "5820"); res.StatusCode != http.StatusGone {
		t.Fatalf("a PIN change on a closed card: %d", res.StatusCode)
	}
	o := vault.Owner{PartnerID: e.a.PartnerID.String(), Table: "cards", RecordID: id}
	if ok, err := e.ring.VerifyPIN(context.Background(), o, vault.SecretString("8203")); err != nil || !ok {
		t.Fatalf("the PIN changed: %v", err)
	}
}

func TestFreezingACardCancelsItsOpenConsents(t *testing.T) {
	e := newEnv(t)
	card, _, tok := e.startConsent(t, nil)
	b := browser(t)
	action := e.authenticate(t, b, tok, "correct horse battery")
	post(t, b, e.srv.URL+"/consent/action", csrfOf(t, action), "pin", "8203", "pin2", "8203")
	id := card["id"].(string)
	cs := consentOf(t, e.post("/v3/cards/"+id+"/pin", e.tokA, map[string]string{"operation": "view"}))["id"].(string)
	if r := e.do(http.MethodPatch, "/v3/cards/"+id, e.tokA, "application/json", []byte(`{"status":"frozen"}`)); r.status != http.StatusOK {
		t.Fatalf("freeze: %d %s", r.status, r.body)
	}
	if st := e.do(http.MethodGet, "/v3/consents/"+cs, e.tokA, "", nil).json(t)["status"]; st != "canceled" {
		t.Fatalf("a pending PIN view after the card froze: %v", st)
	}
	types, err := e.db.Consents().EventTypes(context.Background(), uuidOf(t, cs))
	if err != nil || types[len(types)-1] != "consent.canceled" {
		t.Fatalf("events %v %v", types, err)
	}
}

func uuidOf(t *testing.T, s string) uuid.UUID {
	t.Helper()
	id, err := uuid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestXForwardedForIsBelievedOnlyFromATrustedProxy(t *testing.T) {
	sourceOf := func(t *testing.T, e *env, forwarded string) string {
		t.Helper()
		card := e.card(e.tokA)
		r := e.do(http.MethodPatch, "/v3/cards/"+card["id"].(string), e.tokA, "application/json", []byte(`{"status":"blocked"}`),
			"X-Forwarded-For", forwarded)
		if r.status != http.StatusOK {
			t.Fatalf("block: %d %s", r.status, r.body)
		}
		entries, err := e.db.Audit().AuditEntries(context.Background(), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for i := len(entries) - 1; i >= 0; i-- {
			if en := entries[i]; en.Action == "card.status_changed" && en.Target == "card:"+card["id"].(string) {
				return en.Source
			}
		}
		t.Fatal("no status change in the audit trail")
		return ""
	}
	t.Run("from anyone, the connection's address counts", func(t *testing.T) {
		if got := sourceOf(t, newEnv(t), "203.0.113.9"); got != "127.0.0.1" {
			t.Fatalf("the audit trail records %q", got)
		}
		e := newEnv(t, func(o *options) { o.rateLimit = 2 })
		// A rotating header does not buy a fresh token-endpoint budget.
		limited := 0
		for i := range 10 {
			r := e.do(http.MethodPost, "/v3/oauth/token", "", "application/x-www-form-urlencoded",
				[]byte("grant_type=client_credentials&client_id=x&client_secret=y"), "X-Forwarded-For", "198.51.100."+strconv.Itoa(i))
			if r.status == http.StatusTooManyRequests {
				limited++
			}
		}
		if limited < 7 {
			t.Fatalf("%d of 10 token requests with a rotating X-Forwarded-For were limited", limited)
		}
	})
	t.Run("from a trusted proxy, the address it names counts", func(t *testing.T) {
		_, loopback, _ := net.ParseCIDR("127.0.0.1/32")
		e := newEnv(t, func(o *options) { o.proxies = []*net.IPNet{loopback} })
		if got := sourceOf(t, e, "198.51.100.7, 203.0.113.9"); got != "203.0.113.9" {
			t.Fatalf("the audit trail records %q", got)
		}
	})
}

func TestMetricsAreForOperatorsOnly(t *testing.T) {
	e := newEnv(t, func(o *options) { o.privateMetrics, o.metricsToken = true, "metrics-secret-1" })
	if r := e.do(http.MethodGet, "/metrics", "", "", nil); r.status != http.StatusNotFound {
		t.Fatalf("/metrics on the partner listener: %d", r.status)
	}
	op := httptest.NewServer(e.web.OperatorHandler())
	t.Cleanup(op.Close)
	get := func(auth string) (int, string) {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, op.URL+"/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := op.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = res.Body.Close() }()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	for _, auth := range []string{"", "Bearer wrong", "Basic bWV0cmljcy1zZWNyZXQtMQ=="} {
		if status, body := get(auth); status != http.StatusUnauthorized || strings.Contains(body, "vaultpage_http") {
			t.Fatalf("metrics with %q: %d", auth, status)
		}
	}
	if status, body := get("Bearer metrics-secret-1"); status != http.StatusOK || !strings.Contains(body, "vaultpage_http_requests_total") {
		t.Fatalf("metrics with the token: %d", status)
	}
	if res, err := op.Client().Get(op.URL + "/healthz"); err != nil || res.StatusCode != http.StatusOK { //nolint:noctx // Test.
		t.Fatalf("operator healthz: %v", err)
	} else {
		_ = res.Body.Close()
	}
}

func TestAReplayedTokenRequestHandsOutNoToken(t *testing.T) {
	e := newEnv(t)
	card := e.card(e.tokA)
	cid := consentOf(t, e.do(http.MethodGet, "/v3/cards/"+card["id"].(string)+"/credentials", e.tokA, "", nil))["id"].(string)
	first := e.post("/v3/consents/"+cid, e.tokA, map[string]string{"locale": "sv"}, "Idempotency-Key", "token-1")
	method := first.json(t)["method"].(map[string]any)
	tok := method["token"].(string)
	again := e.post("/v3/consents/"+cid, e.tokA, map[string]string{"locale": "sv"}, "Idempotency-Key", "token-1")
	if again.status != http.StatusOK || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %v", again.status, again.header)
	}
	replayed := again.json(t)["method"].(map[string]any)
	if _, ok := replayed["token"]; ok || replayed["redirect_url"] != nil || replayed["expires_at"] != method["expires_at"] {
		t.Fatalf("the replay: %s", again.body)
	}
	if !e.stored(t, cid) {
		t.Fatal("the scan does not find what the database holds")
	}
	if e.stored(t, tok) {
		t.Fatal("the token is in the database's files")
	}
	// The token still works, once.
	if res, _ := get(t, browser(t), e.srv.URL+"/c/"+tok); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("the token after the replay: %d", res.StatusCode)
	}
}

func TestControlCharactersAreRefusedWithTheFieldNamed(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, func(o *options) { o.db = b.Open(t) })
			ind := e.post("/v3/individuals", e.tokA, map[string]string{"first_name": "Ada", "last_name": "L", "email": "ada@example.com"}).json(t)
			testCases := []struct {
				name, method, path string
				body               string
				status             int
				field              string
			}{
				{"a NUL in a name", http.MethodPost, "/v3/individuals", `{"first_name":"A\u0000da","last_name":"L","email":"a@example.com"}`, 422, "first_name"},
				{"a line break in an email", http.MethodPost, "/v3/individuals", `{"first_name":"Ada","last_name":"L","email":"a@example.com\r\nBcc: x@y.z"}`, 422, "email"},
				{"a NUL in a display name", http.MethodPost, "/v3/accounts", `{"individual_id":"` + ind["id"].(string) + `\u0000","currency":"EUR"}`, 422, "individual_id"},
				{"a NUL in a list", http.MethodPut, "/v3/branding", `{"frame_ancestors":["https://a.example","https://b\u0000.example"]}`, 422, "frame_ancestors[1]"},
				{"a NUL in a URL", http.MethodPost, "/v3/webhook_endpoints", `{"url":"https://hooks.example/\u0000"}`, 422, "url"},
				{"a NUL in a query", http.MethodGet, "/v3/events?type=card.created%00", "", 400, "type"},
				{"a NUL in a filter", http.MethodGet, "/v3/cards?status=active%00", "", 400, "status"},
			}
			for _, tc := range testCases {
				t.Run(tc.name, func(t *testing.T) {
					ct := ""
					var body []byte
					if tc.body != "" {
						ct, body = "application/json", []byte(tc.body)
					}
					expectProblem(t, e.do(tc.method, tc.path, e.tokA, ct, body), tc.status, map[int]string{422: "invalid_field", 400: "invalid_query"}[tc.status], tc.field)
				})
			}
			t.Run("a NUL in client credentials", func(t *testing.T) {
				for _, form := range []string{"grant_type=client_credentials&client_id=vpc_%00&client_secret=x", "grant_type=client_credentials%00"} {
					r := e.do(http.MethodPost, "/v3/oauth/token", "", "application/x-www-form-urlencoded", []byte(form))
					if r.status != http.StatusBadRequest {
						t.Fatalf("%s: %d %s", form, r.status, r.body)
					}
				}
				req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, e.srv.URL+"/v3/oauth/token", strings.NewReader("grant_type=client_credentials"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth("vpc_\x00", "secret")
				res, err := e.srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_ = res.Body.Close()
				if res.StatusCode != http.StatusUnauthorized {
					t.Fatalf("a NUL in Basic credentials: %d", res.StatusCode)
				}
			})
			t.Run("a NUL in a hosted form", func(t *testing.T) {
				_, _, tok := e.startConsent(t, nil)
				br, csrf := e.landing(t, tok)
				if res, _ := post(t, br, e.srv.URL+"/consent/verify", csrf, "code", "12\x003456", "passcode", "x"); res.StatusCode != http.StatusBadRequest {
					t.Fatalf("verify: %d", res.StatusCode)
				}
			})
		})
	}
}

func TestAPINViewOfACardWithoutAPINSaysSoAndAReissuedCardReveals(t *testing.T) {
	e := newEnv(t)
	card := e.card(e.tokA)
	id := card["id"].(string)
	// The sandbox activates without a PIN.
	act := consentOf(t, e.post("/v3/cards/"+id+"/activate", e.tokA, nil))["id"].(string)
	if r := e.post("/v3/simulations/consents/"+act, e.tokA, map[string]string{"outcome": "approved"}); r.status != http.StatusOK {
		t.Fatalf("simulate: %d %s", r.status, r.body)
	}
	expectProblem(t, e.post("/v3/cards/"+id+"/pin", e.tokA, map[string]string{"operation": "view"}), http.StatusConflict, "no_pin", "")
	// Changing it is how the cardholder gets one.
	cs := consentOf(t, e.post("/v3/cards/"+id+"/pin", e.tokA, map[string]string{"operation": "change"}))["id"].(string)
	tok := e.post("/v3/consents/"+cs, e.tokA, nil).json(t)["method"].(map[string]any)["token"].(string)
	b := browser(t)
	page := e.authenticate(t, b, tok, "correct horse battery")
	if res, _ := post(t, b, e.srv.URL+"/consent/action", csrfOf(t, page), "pin", "8203", "pin2", "8203"); res.StatusCode != http.StatusOK {
		t.Fatalf("setting the PIN: %d", res.StatusCode)
	}
	if r := e.post("/v3/cards/"+id+"/pin", e.tokA, map[string]string{"operation": "view"}); r.status != http.StatusPreconditionFailed {
		t.Fatalf("a PIN view once it has one: %d %s", r.status, r.body)
	}
	// A reveal asked for before the card is reissued: its number moves to
	// the new card, and the old card's consent ends.
	before := consentOf(t, e.do(http.MethodGet, "/v3/cards/"+id+"/credentials", e.tokA, "", nil))["id"].(string)
	beforeTok := e.post("/v3/consents/"+before, e.tokA, nil).json(t)["method"].(map[string]any)["token"].(string)
	for _, reissue := range []string{"same_card_number", "same_card_number_updated_expiry", "new_card_number"} {
		r := e.post("/v3/cards/"+id+"/reissue", e.tokA, map[string]string{"reissue_type": reissue})
		if r.status != http.StatusCreated && r.status != http.StatusOK {
			t.Fatalf("reissue %s: %d %s", reissue, r.status, r.body)
		}
		id = r.json(t)["id"].(string)
		cs := consentOf(t, e.do(http.MethodGet, "/v3/cards/"+id+"/credentials", e.tokA, "", nil))["id"].(string)
		tok := e.post("/v3/consents/"+cs, e.tokA, nil).json(t)["method"].(map[string]any)["token"].(string)
		b := browser(t)
		page := e.authenticate(t, b, tok, "correct horse battery")
		if page.Find(`[data-testid="pan"]`).Length() != 1 {
			t.Fatalf("no card number after a %s reissue", reissue)
		}
		res, withCVV := post(t, b, e.srv.URL+"/consent/action", csrfOf(t, page), "show", "cvv")
		if res.StatusCode != http.StatusOK || len(withCVV.Find(`[data-testid="cvv"]`).Text()) != 3 {
			t.Fatalf("the CVV after a %s reissue: %d", reissue, res.StatusCode)
		}
	}
	if st := e.do(http.MethodGet, "/v3/consents/"+before, e.tokA, "", nil).json(t)["status"]; st != "canceled" {
		t.Fatalf("the replaced card's reveal: %v", st)
	}
	if res, _ := get(t, browser(t), e.srv.URL+"/c/"+beforeTok); res.StatusCode != http.StatusGone {
		t.Fatalf("the replaced card's reveal link: %d", res.StatusCode)
	}
}

// failingKeep is an idempotency store whose Complete fails while fail is
// set, as when the database goes away between the work and the keeping of
// its response.
type failingKeep struct {
	idempotency.Store
	fail atomic.Bool
}

func (f *failingKeep) Complete(ctx context.Context, partnerID, key string, status int, contentType string, body []byte) error {
	if f.fail.Load() {
		return errors.New("connection reset by peer")
	}
	return f.Store.Complete(ctx, partnerID, key, status, contentType, body)
}

func TestAResponseThatCannotBeKeptUndoesItsWork(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			var keep *failingKeep
			e := newEnv(t, func(o *options) {
				o.db = b.Open(t)
				o.idem = func(s idempotency.Store) idempotency.Store { keep = &failingKeep{Store: s}; return keep }
			})
			ind := e.post("/v3/individuals", e.tokA, map[string]string{"first_name": "Ada", "last_name": "L", "email": "ada@example.com"}).json(t)
			body := map[string]string{"individual_id": ind["id"].(string), "currency": "EUR"}
			keep.fail.Store(true)
			r := e.post("/v3/accounts", e.tokA, body, "Idempotency-Key", "acct-1")
			if r.status < 500 || strings.Contains(string(r.body), `"id"`) {
				t.Fatalf("a request whose response could not be kept: %d %s", r.status, r.body)
			}
			if n := len(e.do(http.MethodGet, "/v3/accounts", e.tokA, "", nil).json(t)["data"].([]any)); n != 0 {
				t.Fatalf("%d accounts exist after the failed request", n)
			}
			keep.fail.Store(false)
			first := e.post("/v3/accounts", e.tokA, body, "Idempotency-Key", "acct-1")
			again := e.post("/v3/accounts", e.tokA, body, "Idempotency-Key", "acct-1")
			if first.status != http.StatusCreated || again.status != http.StatusCreated || !bytes.Equal(first.body, again.body) {
				t.Fatalf("the retries: %d %s / %d %s", first.status, first.body, again.status, again.body)
			}
			if n := len(e.do(http.MethodGet, "/v3/accounts", e.tokA, "", nil).json(t)["data"].([]any)); n != 1 {
				t.Fatalf("%d accounts for one key", n)
			}
		})
	}
}

func TestADatabaseOutageIsAnsweredAsOne(t *testing.T) {
	base, err := url.Parse(storetest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := testkit.NewProxy(t, base.Host)
	base.Host = proxy.Addr
	db, err := store.Open(context.Background(), base.String(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	e := newEnv(t, func(o *options) { o.db = db })
	ind := map[string]string{"first_name": "Ada", "last_name": "L", "email": "ada@example.com"}
	if r := e.post("/v3/individuals", e.tokA, ind); r.status != http.StatusCreated {
		t.Fatalf("before the outage: %d %s", r.status, r.body)
	}
	proxy.Cut()
	for _, r := range []response{
		e.post("/v3/individuals", e.tokA, ind),
		e.post("/v3/individuals", e.tokA, ind, "Idempotency-Key", "during-outage"),
		e.do(http.MethodGet, "/v3/cards", e.tokA, "", nil),
	} {
		expectProblem(t, r, http.StatusServiceUnavailable, "service_unavailable", "")
		if r.header.Get("Retry-After") == "" {
			t.Fatal("503 without Retry-After")
		}
	}
	if r := e.do(http.MethodGet, "/readyz", "", "", nil); r.status != http.StatusServiceUnavailable {
		t.Fatalf("readyz during the outage: %d", r.status)
	}
	proxy.Restore()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := e.post("/v3/individuals", e.tokA, ind, "Idempotency-Key", "during-outage")
		if r.status == http.StatusCreated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the outage: %d %s", r.status, r.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r := e.do(http.MethodGet, "/readyz", "", "", nil); r.status != http.StatusOK {
		t.Fatalf("readyz after the outage: %d", r.status)
	}
}

func TestAUsedUpSingleUseCardEndsItsConsentsAndHostedAuditEntriesSayWhereFrom(t *testing.T) {
	e := newEnv(t)
	c := e.activeCard(t, map[string]any{"usage": "single_use"})
	id := c["id"].(string)
	e.post("/v3/accounts/"+c["account_id"].(string)+"/fundings", e.tokA, map[string]string{"amount": "50.00"})
	cs := consentOf(t, e.do(http.MethodGet, "/v3/cards/"+id+"/credentials", e.tokA, "", nil))["id"].(string)
	tok := e.post("/v3/consents/"+cs, e.tokA, nil).json(t)["method"].(map[string]any)["token"].(string)
	// A wrong attempt first, then the reveal: both in the audit trail with
	// the client's address.
	b, csrf := e.landing(t, tok)
	_, verify := post(t, b, e.srv.URL+"/consent/code", csrf)
	post(t, b, e.srv.URL+"/consent/verify", csrfOf(t, verify), "code", "000000", "passcode", "plum tree 1987")
	entries, _ := e.db.Audit().AuditEntries(context.Background(), 0, 1000)
	found := 0
	for _, en := range entries {
		if en.Action == "sca.failed" {
			found++
			if en.Source != "127.0.0.1" {
				t.Fatalf("%s has source %q", en.Action, en.Source)
			}
		}
	}
	if found == 0 {
		t.Fatal("no failed attempt in the audit trail")
	}
	if a := e.authorize(t, id, "5.00"); a["status"] != "approved" {
		t.Fatalf("the one payment: %v", a)
	}
	if st := e.do(http.MethodGet, "/v3/consents/"+cs, e.tokA, "", nil).json(t)["status"]; st != "canceled" {
		t.Fatalf("the used-up card's reveal: %v", st)
	}
}

func TestHostedFormsTakeTheirFieldsFromTheBodyOnly(t *testing.T) {
	e := newEnv(t)
	_, _, tok := e.startConsent(t, nil)
	b, csrf := e.landing(t, tok)
	// A passcode in the URL would reach proxies' logs: refused.
	if res := rawPost(t, b, e.srv.URL+"/consent/verify?code=123456&passcode=plum+tree+1987", "application/x-www-form-urlencoded",
		[]byte("_csrf="+csrf)); res.StatusCode != http.StatusBadRequest {
		t.Fatalf("fields in the query: %d", res.StatusCode)
	}
	// The CSRF header on a form route does not skip the form's checks.
	if res := rawPost(t, b, e.srv.URL+"/consent/verify", "application/x-www-form-urlencoded",
		[]byte("code=12%003456&passcode=x"), "X-CSRF-Token", csrf); res.StatusCode != http.StatusBadRequest {
		t.Fatalf("a NUL with the CSRF header: %d", res.StatusCode)
	}
	if n := countAuditOf(t, e, "sca.failed"); n != 0 {
		t.Fatalf("%d attempts counted for refused posts", n)
	}
}

func countAuditOf(t *testing.T, e *env, action string) int {
	t.Helper()
	entries, err := e.db.Audit().AuditEntries(context.Background(), 0, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, en := range entries {
		if en.Action == action {
			n++
		}
	}
	return n
}

func TestThereIsAFavicon(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/favicon.ico", "/static/favicon.png"} {
		res, err := e.srv.Client().Get(e.srv.URL + path) //nolint:noctx // Test.
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/png" || !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Fatalf("%s: %d %s", path, res.StatusCode, res.Header.Get("Content-Type"))
		}
	}
}

func TestTheDevOutboxIsAPageForABrowserAndJSONForTests(t *testing.T) {
	e := newEnv(t)
	_, _, tok := e.startConsent(t, nil)
	b, csrf := e.landing(t, tok)
	post(t, b, e.srv.URL+"/consent/code", csrf)
	res, doc := get(t, browser(t), e.srv.URL+"/dev/outbox", "Accept", "text/html,application/xhtml+xml")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") ||
		doc.Find(`[data-testid="outbox-message"]`).Length() != 1 || !strings.Contains(doc.Find(`[data-testid="outbox-message"]`).Text(), "ada@example.com") {
		t.Fatalf("the outbox page: %d %s, %d messages", res.StatusCode, res.Header.Get("Content-Type"), doc.Find(`[data-testid="outbox-message"]`).Length())
	}
	if !strings.Contains(res.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatal("the outbox page has no CSP")
	}
	if r := e.do(http.MethodGet, "/dev/outbox", "", "", nil); r.status != http.StatusOK || len(r.json(t)["messages"].([]any)) != 1 {
		t.Fatalf("the outbox as JSON: %d %s", r.status, r.body)
	}
}
