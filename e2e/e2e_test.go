// Package e2e drives the real vaultpage binary with headless Chromium: a
// partner orders a card over the API, and the cardholder activates it on
// the hosted pages in a 360 px wide browser. Screenshots of every page are
// kept in E2E_ARTIFACTS (default: a temporary directory). The tests skip
// where Chromium is missing, unless E2E_REQUIRED=1.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/vaultpage/vaultpage/internal/luhn"
	"github.com/vaultpage/vaultpage/internal/panscan"
	"github.com/vaultpage/vaultpage/internal/testkit"
)

const chromium = "/usr/bin/chromium"

type server struct {
	base    string
	client  *http.Client
	token   string
	dataDir string
	logs    *testkit.SyncBuffer // the service's stdout and stderr

	mu      sync.Mutex
	secrets map[string]bool // every secret the flows saw, value → short and numeric
}

// keep records secrets the flows saw (codes, passcodes, PINs, CVVs,
// tokens), for the scan when the test ends.
func (s *server) keep(secrets ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range secrets {
		if v != "" {
			s.secrets[v] = len(v) <= 8 && strings.Trim(v, "0123456789") == ""
		}
	}
}

// scan fails the test when the database's files, the service's logs or
// (while it runs) /metrics hold a card number or any secret the flows saw.
// Short numeric secrets (a CVV, a PIN, a code) count only as words of their
// own, in the logs and the database; /metrics is full of numbers, so there
// only the long ones are looked for.
func (s *server) scan(t *testing.T, when string, metrics bool) {
	t.Helper()
	places := map[string][]byte{"logs": []byte(s.logs.String())}
	files, _ := filepath.Glob(filepath.Join(s.dataDir, "vaultpage.db*"))
	if len(files) == 0 {
		t.Fatalf("%s: no database files to scan in %s", when, s.dataDir)
	}
	for _, f := range files {
		b, err := os.ReadFile(f) //nolint:gosec // The test's own data directory.
		if err != nil {
			t.Fatal(err)
		}
		places[filepath.Base(f)] = b
	}
	if metrics {
		res, err := s.client.Get(s.base + "/metrics") //nolint:noctx // Test.
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		places["/metrics"] = b
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.secrets) < 5 {
		t.Fatalf("%s: only %d secrets recorded; the flows should have seen more", when, len(s.secrets))
	}
	for place, b := range places {
		if pans := panscan.Find(b, "489537"); len(pans) > 0 {
			t.Errorf("%s: %s holds %d card numbers", when, place, len(pans))
		}
		for secret, short := range s.secrets {
			switch {
			case short && place == "/metrics":
			case short && testkit.HoldsWord(b, secret, "-.:"):
				t.Errorf("%s: %s holds a %d-digit secret the flows saw", when, place, len(secret))
			case !short && bytes.Contains(b, []byte(secret)):
				t.Errorf("%s: %s holds a %d-character secret the flows saw", when, place, len(secret))
			}
		}
	}
}

// start builds and runs vaultpage on loopback, reached as localhost (WebAuthn
// needs a domain), and registers a partner whose return URL is returnURL.
func start(t *testing.T, returnURL string) *server {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "vaultpage")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/vaultpage").CombinedOutput(); err != nil {
		t.Fatalf("build: %v %s", err, out)
	}
	addr := testkit.FreeAddr(t)
	port := addr[strings.LastIndex(addr, ":")+1:]
	base := "http://localhost:" + port
	data := filepath.Join(dir, "data")
	env := append(os.Environ(), "VAULTPAGE_DATA_DIR="+data, "VAULTPAGE_ADDR="+addr, "VAULTPAGE_PUBLIC_URL="+base)
	create := exec.Command(bin, "partners", "create", "--name", "Demo Fintech", "--return-url", returnURL)
	create.Env = env
	out, err := create.Output()
	if err != nil {
		t.Fatalf("partners create: %v", err)
	}
	var creds map[string]string
	if err := json.Unmarshal(out, &creds); err != nil {
		t.Fatal(err)
	}
	s := &server{base: base, client: &http.Client{Timeout: 10 * time.Second}, dataDir: data, logs: &testkit.SyncBuffer{},
		secrets: map[string]bool{}}
	s.keep(creds["client_secret"])
	serve := exec.Command(bin, "serve")
	serve.Env = env
	serve.Stdout, serve.Stderr = s.logs, s.logs
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	// Cleanups run last first: scan while the service runs, stop it, scan
	// again what it left behind.
	t.Cleanup(func() { s.scan(t, "after shutdown", false) })
	t.Cleanup(func() {
		_ = serve.Process.Signal(syscall.SIGTERM)
		_ = serve.Wait()
	})
	t.Cleanup(func() { s.scan(t, "while running", true) })
	testkit.WaitHealthy(t, base)
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {creds["client_id"]}, "client_secret": {creds["client_secret"]}}
	var tok map[string]any
	s.json(t, http.MethodPost, "/v3/oauth/token", "application/x-www-form-urlencoded", []byte(form.Encode()), 200, &tok)
	s.token = tok["access_token"].(string)
	s.keep(s.token)
	return s
}

func (s *server) json(t *testing.T, method, path, ct string, body []byte, want int, out any) {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), method, s.base+path, bytes.NewReader(body))
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	res, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatal(err)
		}
	}
}

// shipTo is where the browser tests' physical cards ship.
var shipTo = map[string]string{"line1": "Drottninggatan 1", "city": "Stockholm", "postal_code": "111 51", "country": "SE"}

func (s *server) api(t *testing.T, method, path string, body any, want int) map[string]any {
	t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	var out map[string]any
	s.json(t, method, path, "application/json", b, want, &out)
	if m, ok := out["method"].(map[string]any); ok { // a consent token
		tok, _ := m["token"].(string)
		s.keep(tok)
	}
	return out
}

var code = regexp.MustCompile(`\b[0-9]{6}\b`)

func (s *server) outbox(t *testing.T) []string {
	t.Helper()
	var box struct {
		Messages []struct{ Body string } `json:"messages"`
	}
	s.json(t, http.MethodGet, "/dev/outbox", "", nil, 200, &box)
	bodies := make([]string, 0, len(box.Messages))
	for _, m := range box.Messages {
		bodies = append(bodies, m.Body)
	}
	return bodies
}

func (s *server) lastCode(t *testing.T) string {
	t.Helper()
	box := s.outbox(t)
	if len(box) == 0 {
		t.Fatal("no code in the outbox")
	}
	c := code.FindString(box[len(box)-1])
	s.keep(c)
	return c
}

func (s *server) codesSent(t *testing.T) int { return len(s.outbox(t)) }

// virtualAuthenticator gives the tab a passkey-capable authenticator. Every
// option is set explicitly: fields left out go as false, and a ceremony
// without presence or verification then waits forever.
func virtualAuthenticator(ctx context.Context, t *testing.T) webauthn.AuthenticatorID {
	t.Helper()
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn domain: %v", err)
	}
	res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21, Transport: webauthn.AuthenticatorTransportInternal,
		HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		DefaultBackupEligibility: true, DefaultBackupState: true,
	}})
	if err != nil {
		t.Fatalf("virtual authenticator: %v", err)
	}
	return res.AuthenticatorID
}

// browser starts headless Chromium at 360 px wide with the flags that work
// as root on a closed network.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("E2E_REQUIRED") == "1" {
			t.Fatal("E2E_REQUIRED=1 but Chromium is not installed (apt-get install chromium)")
		}
		t.Skip("Chromium not installed (apt-get install chromium); browser tests skipped")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(360, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		closeWithin(10*time.Second, func() { _ = chromedp.Cancel(ctx) })
		cancel()
		cancelAlloc() // ends the browser process, whatever state it is in
	})
	// Start the browser now, so that tabs opened from ctx share it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// closeWithin runs a close step that can block on a browser that stopped
// answering, and gives up on it after d.
func closeWithin(d time.Duration, step func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		step()
	}()
	select {
	case <-done:
	case <-time.After(d):
	}
}

func artifacts(t *testing.T) string {
	dir := os.Getenv("E2E_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// axeSource is axe-core from npm (e2e/package.json; `npm ci --prefix e2e`).
func axeSource(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("node_modules/axe-core/axe.min.js")
	if err != nil {
		if os.Getenv("E2E_REQUIRED") == "1" {
			t.Fatal("E2E_REQUIRED=1 but axe-core is not installed: npm ci --prefix e2e")
		}
		t.Skip("axe-core not installed (npm ci --prefix e2e); browser tests skipped")
	}
	return string(b)
}

// checkAccessibility runs axe-core on the page and fails on any violation
// of WCAG 2.1 A/AA or axe's best practices.
func checkAccessibility(ctx context.Context, t *testing.T, axe, page string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](axe)); err != nil {
		t.Fatalf("inject axe on %s: %v", page, err)
	}
	violations, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']})
			.then(r => r.violations.map(v => v.id + ' (' + v.nodes.length + '): ' + v.help))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("axe on %s: %v", page, err)
	}
	if len(violations) > 0 {
		t.Errorf("%s has accessibility violations:\n%s", page, strings.Join(violations, "\n"))
	}
}

// screenshot checks the page with axe-core and photographs it on a 360 px
// phone and on a 1280 px desktop screen, where nothing may be wider than
// the screen and the page's column stays centred; then it puts the phone
// back. Card secrets are masked in the page before (see mask).
func screenshot(ctx context.Context, t *testing.T, dir, name string) {
	t.Helper()
	for _, screen := range []struct {
		suffix        string
		width, height int64
		mobile        bool
	}{{"", 360, 740, true}, {"-1280", 1280, 800, false}} {
		opts := []chromedp.EmulateViewportOption{}
		if screen.mobile {
			opts = append(opts, chromedp.EmulateMobile)
		}
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(screen.width, screen.height, opts...)); err != nil {
			t.Fatalf("%s at %d px: %v", name, screen.width, err)
		}
		checkAccessibility(ctx, t, axeSrc, fmt.Sprintf("%s at %d px", name, screen.width))
		layout, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(function () {
			var m = document.querySelector("main").getBoundingClientRect();
			return [document.documentElement.scrollWidth, m.left, window.innerWidth - m.right];
		})()`))
		if err != nil {
			t.Fatalf("layout of %s: %v", name, err)
		}
		if layout[0] > float64(screen.width) || math.Abs(layout[1]-layout[2]) > 1 {
			t.Errorf("%s at %d px: %v px wide, margins %v and %v", name, screen.width, layout[0], layout[1], layout[2])
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+screen.suffix+".png"), png, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// holdTimers keeps the tab's next pages from acting on their timers (the
// outcome page's return, a details page's countdown), so that a test can
// photograph them and press their buttons itself: the pages' scripts count
// down with setInterval, which then does nothing.
func holdTimers(ctx context.Context, t *testing.T) {
	t.Helper()
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.setInterval = function () { return 0; };`}); err != nil {
		t.Fatal(err)
	}
}

// mask hides a card number's digits but the last four, and a CVV, in the
// page, before a screenshot is taken.
var mask = chromedp.Evaluate[any](`document.querySelectorAll('[data-testid="pan"],[data-testid="cvv"]').forEach(e => e.textContent = e.textContent.replace(/[0-9](?=(?:[0-9 ]*[0-9]){4})/g, '•').replace(/^[0-9]{3}$/, '•••'))`)

// axeSrc is loaded once per test run.
var axeSrc string

func TestActivationInTheBrowser(t *testing.T) {
	ctx := browser(t)
	axeSrc = axeSource(t)
	// The partner's app, where the cardholder comes back to.
	returned := make(chan string, 1)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/return" { // the browser asks the app for its favicon too
			http.NotFound(w, r)
			return
		}
		select {
		case returned <- r.URL.RequestURI():
		default:
		}
		_, _ = io.WriteString(w, "<!DOCTYPE html><title>Demo app</title><p>Back in the app.</p>")
	}))
	defer app.Close()
	returnURL := "http://localhost:" + app.URL[strings.LastIndex(app.URL, ":")+1:] + "/return"
	s := start(t, returnURL)
	dir := artifacts(t)
	ind := s.api(t, http.MethodPost, "/v3/individuals", map[string]string{"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "locale": "en"}, 201)
	acc := s.api(t, http.MethodPost, "/v3/accounts", map[string]string{"individual_id": ind["id"].(string), "currency": "EUR"}, 201)
	card := s.api(t, http.MethodPost, "/v3/cards", map[string]any{"individual_id": ind["id"].(string), "account_id": acc["id"].(string), "display_name": "Expenses",
		"type": "physical", "shipping_address": shipTo}, 201)
	cs := s.api(t, http.MethodPost, "/v3/cards/"+card["id"].(string)+"/activate", nil, 412)["consent"].(map[string]any)
	cid := cs["id"].(string)
	method := s.api(t, http.MethodPost, "/v3/consents/"+cid, map[string]string{"return_url": returnURL}, 200)["method"].(map[string]any)

	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	location := func() string {
		u, _ := chromedp.Run(ctx, chromedp.Location())
		return u
	}
	do(chromedp.EmulateViewport(360, 740, chromedp.EmulateMobile),
		chromedp.Navigate(method["redirect_url"].(string)), chromedp.WaitVisible(`[data-testid="send-code"]`))
	// Nothing is wider than the 360 px screen.
	if w, err := chromedp.Run(ctx, chromedp.Evaluate[int64](`document.documentElement.scrollWidth`)); err != nil || w > 360 {
		t.Fatalf("the page is %d px wide on a 360 px screen (%v)", w, err)
	}
	if loc := location(); strings.Contains(loc, "vpk_") {
		t.Fatalf("the token stayed in the URL: %s", loc)
	}
	if name, l4 := text(`[data-testid="partner-name"]`), text(`[data-testid="card-last4"]`); name != "Demo Fintech" || l4 != "•••• "+card["last4"].(string) {
		t.Fatalf("landing shows %q %q", name, l4)
	}
	screenshot(ctx, t, dir, "1-landing")
	do(chromedp.Click(`[data-testid="send-code"]`), chromedp.WaitVisible(`[data-testid="code"]`))
	screenshot(ctx, t, dir, "2-verify")
	do(chromedp.SendKeys(`[data-testid="code"]`, s.lastCode(t)),
		chromedp.SendKeys(`[data-testid="passcode"]`, "correct horse battery"),
		chromedp.Click(`[data-testid="verify"]`),
		chromedp.WaitVisible(`[data-testid="passkey-register"]`))
	screenshot(ctx, t, dir, "3-passkey-offer")
	// The cardholder's phone: Chromium's virtual authenticator (CTAP2,
	// built in, resident keys, user verification that succeeds).
	authID := virtualAuthenticator(ctx, t)
	do(chromedp.Click(`[data-testid="passkey-register"]`), chromedp.WaitVisible(`[data-testid="pin-input"]`))
	creds, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: authID})
	if err != nil || len(creds.Credentials) != 1 || !creds.Credentials[0].IsResidentCredential || creds.Credentials[0].RpID != "localhost" {
		t.Fatalf("the authenticator holds %d passkeys (%v), want one discoverable passkey for localhost", len(creds.Credentials), err)
	}
	screenshot(ctx, t, dir, "4-set-pin")
	do(chromedp.SendKeys(`[data-testid="pin-input"]`, "1234"),
		chromedp.SendKeys(`[data-testid="pin-repeat"]`, "1234"),
		chromedp.Click(`[data-testid="submit"]`),
		chromedp.WaitVisible(`[data-testid="error"]`))
	screenshot(ctx, t, dir, "5-weak-pin")
	do(chromedp.SendKeys(`[data-testid="pin-input"]`, "8203"),
		chromedp.SendKeys(`[data-testid="pin-repeat"]`, "8203"),
		chromedp.Click(`[data-testid="submit"]`), chromedp.WaitVisible(`[data-testid="outcome-heading"]`))
	// The outcome page says what happened, then takes the browser back to
	// the partner's app by itself, with the outcome.
	if h, err := chromedp.Run(ctx, chromedp.Text(`[data-testid="outcome-heading"]`)); err != nil || h != "Your card is active" {
		t.Fatalf("the outcome page says %q (%v)", h, err)
	}
	select {
	case got := <-returned:
		if want := "/return?consent_id=" + cid + "&status=approved"; got != want {
			t.Fatalf("returned to %q, want %q", got, want)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("never returned to the app; the browser is at %q", location())
	}
	if got := s.api(t, http.MethodGet, "/v3/consents/"+cid, nil, 200)["status"]; got != "approved" {
		t.Fatalf("consent %v", got)
	}
	if got := s.api(t, http.MethodGet, "/v3/cards/"+card["id"].(string), nil, 200)["status"]; got != "active" {
		t.Fatalf("card %v", got)
	}

	// The same link again: the 410 page.
	do(chromedp.Navigate(method["redirect_url"].(string)), chromedp.WaitVisible(`[data-testid="gone"]`))
	screenshot(ctx, t, dir, "6-link-used")

	// Reveal with the enrolled passkey (no code this time): a Luhn-valid
	// number ending in the API's last4, the CVV only after a tap.
	codes := s.codesSent(t)
	rc := s.api(t, http.MethodGet, "/v3/cards/"+card["id"].(string)+"/credentials", nil, 412)["consent"].(map[string]any)
	rm := s.api(t, http.MethodPost, "/v3/consents/"+rc["id"].(string), map[string]string{"return_url": returnURL}, 200)["method"].(map[string]any)
	do(chromedp.Navigate(rm["redirect_url"].(string)), chromedp.WaitVisible(`[data-testid="passkey-login"]`))
	screenshot(ctx, t, dir, "7-passkey-landing")
	do(chromedp.Click(`[data-testid="passkey-login"]`), chromedp.WaitVisible(`[data-testid="pan"]`))
	if s.codesSent(t) != codes {
		t.Fatal("a one-time code was sent although the passkey was used")
	}
	// The page states the time left, and counts it down.
	clock := func() string {
		t.Helper()
		return text(`[data-clock]`)
	}
	first := clock()
	time.Sleep(1500 * time.Millisecond)
	if later := clock(); !strings.HasPrefix(first, "4:5") || later >= first {
		t.Fatalf("the time left went from %q to %q", first, later)
	}
	pan := strings.ReplaceAll(text(`[data-testid="pan"]`), " ", "")
	if len(pan) != 16 || !luhn.Valid([]byte(pan)) || pan[12:] != card["last4"].(string) {
		t.Fatalf("revealed a number that is not the card's (last4 %s)", card["last4"])
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int64](`document.querySelectorAll('[data-testid="cvv"]').length`)); n != 0 {
		t.Fatal("the CVV shows before the tap")
	}
	// Screenshots never hold a card number or CVV: they are masked in the
	// page before the picture is taken.
	if _, err := chromedp.Run(ctx, mask); err != nil {
		t.Fatal(err)
	}
	screenshot(ctx, t, dir, "8-reveal")
	do(chromedp.Click(`[data-testid="show-cvv"]`), chromedp.WaitVisible(`[data-testid="cvv"]`))
	cvv := text(`[data-testid="cvv"]`)
	if len(cvv) != 3 {
		t.Fatalf("cvv %q", cvv)
	}
	s.keep(cvv, "8203", "correct horse battery")
	expiry := text(`[data-testid="expiry"]`) // "MM/YY"
	// What the cardholder read off the page, typed into a shop's checkout,
	// pays; one wrong CVV digit declines; the PIN set on the hosted page
	// pays at a chip terminal.
	s.api(t, http.MethodPost, "/v3/accounts/"+acc["id"].(string)+"/fundings", map[string]string{"amount": "100.00"}, 201)
	pay := func(extra map[string]any) map[string]any {
		body := map[string]any{"pan": pan, "exp_month": expiry[:2], "exp_year": "20" + expiry[3:], "entry_mode": "ecommerce", "cvv": cvv,
			"amount": "12.50", "currency": "EUR", "merchant": map[string]string{"name": "Web Shop", "mcc": "5732", "country": "SE", "id": "shop-1"}}
		for k, v := range extra {
			body[k] = v
		}
		return s.api(t, http.MethodPost, "/v3/simulations/authorizations", body, 201)
	}
	if a := pay(nil); a["status"] != "approved" || a["verification"].(map[string]any)["cvv"] != "match" {
		t.Fatalf("the details off the page: %v %v", a["status"], a["decline_reason"])
	}
	wrong := []byte(cvv)
	wrong[2] = '0' + (wrong[2]-'0'+1)%10
	if a := pay(map[string]any{"cvv": string(wrong)}); a["decline_reason"] != "incorrect_cvv" {
		t.Fatalf("one wrong CVV digit: %v %v", a["status"], a["decline_reason"])
	}
	if a := pay(map[string]any{"entry_mode": "chip", "cvv": nil, "pin": "8203"}); a["status"] != "approved" || a["verification"].(map[string]any)["pin"] != "match" {
		t.Fatalf("the PIN chosen on the hosted page: %v %v", a["status"], a["decline_reason"])
	}
	if _, err := chromedp.Run(ctx, mask); err != nil {
		t.Fatal(err)
	}
	screenshot(ctx, t, dir, "9-reveal-cvv")
	// Done: the details are hidden again, and Back goes to the app now.
	holdTimers(ctx, t)
	do(chromedp.Click(`[data-testid="submit"]`), chromedp.WaitVisible(`[data-testid="outcome-heading"]`))
	if h := text(`[data-testid="outcome-heading"]`); h != "Your card details are hidden again" {
		t.Fatalf("after Done: %q", h)
	}
	screenshot(ctx, t, dir, "10-reveal-done")
	do(chromedp.Click(`[data-testid="back"]`))
	select {
	case got := <-returned:
		if want := "/return?consent_id=" + rc["id"].(string) + "&status=approved"; got != want {
			t.Fatalf("Back went to %q, want %q", got, want)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("Back never went to the app; the browser is at %q", location())
	}
	t.Logf("screenshots in %s", dir)
}
