package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/vaultpage/vaultpage/audit"
	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/consent"
	"github.com/vaultpage/vaultpage/decision"
	"github.com/vaultpage/vaultpage/docs"
	"github.com/vaultpage/vaultpage/events"
	"github.com/vaultpage/vaultpage/idempotency"
	"github.com/vaultpage/vaultpage/internal/logmask"
	"github.com/vaultpage/vaultpage/internal/panscan"
	"github.com/vaultpage/vaultpage/internal/testkit"
	"github.com/vaultpage/vaultpage/partner"
	"github.com/vaultpage/vaultpage/spend"
	"github.com/vaultpage/vaultpage/store"
	"github.com/vaultpage/vaultpage/vault"
	"github.com/vaultpage/vaultpage/web"
	"github.com/vaultpage/vaultpage/webhook"
)

type syncBuffer = testkit.SyncBuffer

type env struct {
	t      *testing.T
	srv    *httptest.Server
	db     *store.DB
	ring   *vault.Keyring
	a, b   partner.Credentials
	tokA   string
	tokB   string
	logs   *syncBuffer
	router routers.Router
	outbox *web.DevOutbox
	hooks  *webhook.Service
	web    *web.Server
	// dataDir holds the SQLite database and its WAL ("" for another store).
	dataDir string
}

type options struct {
	db         *store.DB
	rateLimit  float64
	production bool
	now        func() time.Time
	demo       bool
	sends      consent.SendLimits // zero: consent.DefaultSendLimits
	publicURL  string             // http://localhost:8080 unless set
	proxies    []*net.IPNet
	// metricsToken guards /metrics; privateMetrics keeps it off the
	// partner listener.
	metricsToken   string
	privateMetrics bool
	// feed, when set, wraps the event feed the server reads.
	feed func(events.Feed) events.Feed
	// idem, when set, wraps the idempotency store.
	idem func(idempotency.Store) idempotency.Store
	// programme names the card programme on the hosted pages.
	programme string
}

func newEnv(t *testing.T, opts ...func(*options)) *env {
	t.Helper()
	o := options{rateLimit: 10_000, publicURL: "http://localhost:8080"}
	for _, f := range opts {
		f(&o)
	}
	dataDir := ""
	if o.db == nil {
		dataDir = t.TempDir()
		db, err := store.Open(context.Background(), "", dataDir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		o.db = db
	}
	ctx := context.Background()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	kek, _ := vault.NewSoftwareKEK(key)
	logs := &syncBuffer{}
	logger := slog.New(logmask.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	ring, err := vault.Open(ctx, vault.Options{Store: o.db.Vault(), KEKs: vault.NewKEKSet(kek), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ring.Close)
	partners := partner.NewService(o.db.Partners(), partner.Config{Audit: audit.NewLog(o.db.Audit(), nil)}, nil)
	cards := card.NewService(o.db.Cards(), ring, audit.NewLog(o.db.Audit(), nil), card.Config{BIN: vault.BINRange{Prefix: "489537", Length: 16}, Outbox: o.db.Consents(), Sandbox: !o.production}, nil)
	if o.now == nil {
		o.now = time.Now
	}
	consents := consent.NewService(o.db.Consents(), o.db.Consents(), cards, consent.Config{PublicURL: o.publicURL, Sandbox: !o.production}, o.now)
	cards.EndConsentsWith(consents)
	sk := web.SessionKeys{Hash: make([]byte, 32), Block: make([]byte, 32)}
	_, _ = rand.Read(sk.Hash)
	_, _ = rand.Read(sk.Block)
	outbox := &web.DevOutbox{}
	auditLog := audit.NewLog(o.db.Audit(), nil)
	sca := consent.NewSCA(o.db.SCA(), consents, outbox, auditLog, consent.SCAConfig{CodeKey: sk.Hash, Sends: o.sends})
	if err := sca.UsePasskeys(o.db.SCA(), consent.PasskeyConfig{RPID: "localhost", RPName: "vaultpage", Origins: []string{"http://localhost:8080"}}); err != nil {
		t.Fatal(err)
	}
	var demo *web.Demo
	if o.demo {
		demo = newDemo(t, partners, cards)
	}
	decisions := decision.NewService(o.db.Decisions(), ring, decision.Config{AllowPrivate: !o.production, AllowHTTP: !o.production}, logger, o.now)
	spends := spend.NewService(o.db.Spend(), o.db.Consents(), auditLog, spend.Config{Sandbox: !o.production, Consents: consents, Cards: cards, Vault: ring, ZonePINKey: zonePINKey(t),
		RealTime: decisions, Challenges: consents}, o.now)
	consents.UsePayments(spends)
	hooks := webhook.NewService(o.db.Webhooks(), ring, webhook.Config{AllowPrivate: true, AllowHTTP: true, Timeout: 2 * time.Second}, logger, o.now)
	var feed events.Feed = o.db.Consents()
	if o.feed != nil {
		feed = o.feed(feed)
	}
	var idem idempotency.Store = o.db.Idempotency()
	if o.idem != nil {
		idem = o.idem(idem)
	}
	h := web.New(web.Deps{Logger: logger, Demo: demo, Spend: spends, Decisions: decisions, Events: feed, Webhooks: hooks, Version: "test", Partners: partners, Cards: cards, Consents: consents, Idempotency: idem,
		Ready: o.db.Ready, RateLimit: o.rateLimit, Burst: int(o.rateLimit), Now: o.now, SessionKeys: sk, PublicURL: o.publicURL,
		SCA: sca, DevOutbox: outbox, TrustedProxies: o.proxies,
		PublicMetrics: !o.privateMetrics, MetricsToken: o.metricsToken, Programme: o.programme})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e := &env{t: t, srv: srv, db: o.db, ring: ring, logs: logs, outbox: outbox, hooks: hooks, web: h, dataDir: dataDir}
	if e.a, err = partners.Create(ctx, "Alpha Pay", []string{"https://alpha.example/return"}); err != nil {
		t.Fatal(err)
	}
	if e.b, err = partners.Create(ctx, "Beta Bank", nil); err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(docs.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(ctx); err != nil {
		t.Fatalf("docs/openapi.yaml is not valid OpenAPI: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: srv.URL}}
	if e.router, err = gorillamux.NewRouter(doc); err != nil {
		t.Fatal(err)
	}
	e.tokA = e.token(e.a)
	e.tokB = e.token(e.b)
	return e
}

// zonePINKey is testZonePINKey as the service takes it.
func zonePINKey(t *testing.T) *vault.ZonePINKey {
	t.Helper()
	k, err := vault.NewZonePINKey(testZonePINKey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testZonePINKey is the zone PIN key the test network enciphers PIN blocks
// under (isosim's vector key).
var testZonePINKey = []byte{0xAB, 0x92, 0x92, 0x28, 0x82, 0x27, 0x27, 0x72, 0x26, 0x25, 0x25, 0x25, 0x22, 0x46, 0x65, 0xFE}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %s", r.body)
	}
	return m
}

// do sends a request and holds the response to docs/openapi.yaml.
func (e *env) do(method, path, token, contentType string, body []byte, headers ...string) response {
	e.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	e.validate(req, res, b)
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// validate checks a response against the OpenAPI document, when the route is
// part of the partner API.
func (e *env) validate(req *http.Request, res *http.Response, body []byte) {
	e.t.Helper()
	if !strings.HasPrefix(req.URL.Path, "/v3/") || req.URL.Path == "/v3/openapi.yaml" {
		return
	}
	route, params, err := e.router.FindRoute(req)
	if err != nil {
		if res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusMethodNotAllowed {
			e.t.Fatalf("%s %s is not in docs/openapi.yaml: %v", req.Method, req.URL.Path, err)
		}
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}},
		Status: res.StatusCode, Header: res.Header, Body: io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		e.t.Fatalf("%s %s → %d does not match docs/openapi.yaml: %v\n%s", req.Method, req.URL.Path, res.StatusCode, err, body)
	}
}

func (e *env) post(path, token string, body any, headers ...string) response {
	e.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.do(http.MethodPost, path, token, "application/json", b, headers...)
}

func (e *env) patch(path, token string, body any) response {
	e.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.do(http.MethodPatch, path, token, "application/json", b)
}

func (e *env) token(c partner.Credentials) string {
	e.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}, "client_secret": {c.ClientSecret}}
	r := e.do(http.MethodPost, "/v3/oauth/token", "", "application/x-www-form-urlencoded", []byte(form.Encode()))
	if r.status != http.StatusOK {
		e.t.Fatalf("token: %d %s", r.status, r.body)
	}
	return r.json(e.t)["access_token"].(string)
}

func expectProblem(t *testing.T, r response, status int, code, field string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q", ct)
	}
	m := r.json(t)
	if m["code"] != code || (field != "" && m["field"] != field) {
		t.Fatalf("problem %s, want code %s field %s", r.body, code, field)
	}
}

// card creates an individual, an account and a physical card for the
// token's partner: a card that waits for its activation.
func (e *env) card(token string) map[string]any {
	e.t.Helper()
	return e.order(token, map[string]any{"type": "physical", "shipping_address": shipTo})
}

// virtualCard is card for a virtual card, active from the start.
func (e *env) virtualCard(token string) map[string]any {
	e.t.Helper()
	return e.order(token, map[string]any{"type": "virtual"})
}

// shipTo is where test cards ship.
var shipTo = map[string]string{"line1": "Drottninggatan 1", "city": "Stockholm", "postal_code": "111 51", "country": "SE"}

// order creates an individual, an account and a card with the fields of
// order for the token's partner.
func (e *env) order(token string, order map[string]any) map[string]any {
	e.t.Helper()
	ind := e.post("/v3/individuals", token, map[string]string{"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"})
	if ind.status != http.StatusCreated {
		e.t.Fatalf("individual: %d %s", ind.status, ind.body)
	}
	iid := ind.json(e.t)["id"].(string)
	acc := e.post("/v3/accounts", token, map[string]string{"individual_id": iid, "currency": "EUR"})
	if acc.status != http.StatusCreated {
		e.t.Fatalf("account: %d %s", acc.status, acc.body)
	}
	body := map[string]any{"individual_id": iid, "account_id": acc.json(e.t)["id"].(string), "display_name": "Expenses",
		"exp_month": "12", "exp_year": "2029"}
	for k, v := range order {
		body[k] = v
	}
	c := e.post("/v3/cards", token, body)
	if c.status != http.StatusCreated {
		e.t.Fatalf("card: %d %s", c.status, c.body)
	}
	return c.json(e.t)
}

func TestTokenEndpoint(t *testing.T) {
	e := newEnv(t)
	basic := e.do(http.MethodPost, "/v3/oauth/token", "", "application/x-www-form-urlencoded", []byte("grant_type=client_credentials"),
		"Authorization", "Basic "+basicAuth(e.a.ClientID, e.a.ClientSecret))
	if basic.status != http.StatusOK {
		t.Fatalf("basic auth: %d %s", basic.status, basic.body)
	}
	m := basic.json(t)
	if m["token_type"] != "Bearer" || m["expires_in"] != float64(3600) || len(m["access_token"].(string)) < 40 {
		t.Fatalf("token response %v", m)
	}
	wrong := e.do(http.MethodPost, "/v3/oauth/token", "", "application/x-www-form-urlencoded",
		[]byte(url.Values{"grant_type": {"client_credentials"}, "client_id": {e.a.ClientID}, "client_secret": {"vps_wrong"}}.Encode()))
	expectOAuthError(t, wrong, http.StatusUnauthorized, "invalid_client")
	if wrong.header.Get("WWW-Authenticate") == "" {
		t.Fatalf("no WWW-Authenticate: %v", wrong.header)
	}
	expectOAuthError(t, e.do(http.MethodPost, "/v3/oauth/token", "", "application/x-www-form-urlencoded", []byte("grant_type=password")),
		http.StatusBadRequest, "unsupported_grant_type")
	if strings.Contains(e.logs.String(), e.a.ClientSecret) || strings.Contains(e.logs.String(), m["access_token"].(string)) {
		t.Fatal("a secret reached the logs")
	}
}

func basicAuth(user, pass string) string {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(user, pass)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

func TestEveryAPICallNeedsAValidToken(t *testing.T) {
	e := newEnv(t)
	for _, tok := range []string{"", "vpt_not-a-real-token", "garbage"} {
		r := e.do(http.MethodGet, "/v3/cards", tok, "", nil)
		expectProblem(t, r, http.StatusUnauthorized, "invalid_token", "")
		if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
		}
	}
}

func TestSeedCardOrderAnswersLikeTheSeed(t *testing.T) {
	e := newEnv(t)
	c := e.virtualCard(e.tokA)
	// Seed 000 shows a new virtual card not_activated; vaultpage's virtual
	// cards work at once (physical ones wait for activation).
	for k, want := range map[string]any{"display_name": "Expenses", "type": "virtual", "brand": "visa", "region": "europe",
		"exp_month": "12", "exp_year": "2029", "currency": "EUR", "status": "active"} {
		if c[k] != want {
			t.Errorf("%s = %v, want %v", k, c[k], want)
		}
	}
	last4 := c["last4"].(string)
	got := e.do(http.MethodGet, "/v3/cards/"+c["id"].(string), e.tokA, "", nil)
	if got.status != http.StatusOK || got.json(t)["last4"] != last4 {
		t.Fatalf("get: %d %s", got.status, got.body)
	}
	if got.header.Get("Cache-Control") != "no-store" {
		t.Fatal("API responses must not be cached")
	}
	// The seed's own expiry (12/2024) is in the past now.
	ind := e.post("/v3/individuals", e.tokA, map[string]string{"first_name": "A", "last_name": "B", "phone": "+46701234567"}).json(t)
	acc := e.post("/v3/accounts", e.tokA, map[string]string{"individual_id": ind["id"].(string), "currency": "EUR"}).json(t)
	past := e.post("/v3/cards", e.tokA, map[string]string{"individual_id": ind["id"].(string), "account_id": acc["id"].(string),
		"display_name": "Expenses", "exp_month": "12", "exp_year": "2024", "type": "virtual"})
	expectProblem(t, past, http.StatusUnprocessableEntity, "invalid_field", "exp_year")
}

func TestBadInputGetsAClearProblemNamingTheField(t *testing.T) {
	e := newEnv(t)
	c := e.card(e.tokA)
	ind := c["individual_id"].(string)
	testCases := []struct {
		name        string
		path        string
		contentType string
		body        string
		status      int
		code, field string
	}{
		{"unknown field", "/v3/individuals", "application/json", `{"first_name":"A","last_name":"B","email":"a@b.co","pan":"4111"}`, 422, "unknown_field", "pan"},
		{"wrong type", "/v3/individuals", "application/json", `{"first_name":7,"last_name":"B"}`, 422, "invalid_type", "first_name"},
		{"malformed json", "/v3/individuals", "application/json", `{"first_name":`, 400, "malformed_json", ""},
		{"two objects", "/v3/individuals", "application/json", `{} {}`, 400, "malformed_json", ""},
		{"array body", "/v3/individuals", "application/json", `[]`, 400, "malformed_json", ""},
		{"wrong content type", "/v3/individuals", "text/plain", `{}`, 415, "unsupported_media_type", ""},
		{"no content type", "/v3/individuals", "", `{}`, 415, "unsupported_media_type", ""},
		{"bad email", "/v3/individuals", "application/json", `{"first_name":"A","last_name":"B","email":"nope"}`, 422, "invalid_field", "email"},
		{"bad phone", "/v3/individuals", "application/json", `{"first_name":"A","last_name":"B","phone":"0701234567"}`, 422, "invalid_field", "phone"},
		{"no contact", "/v3/individuals", "application/json", `{"first_name":"A","last_name":"B"}`, 422, "invalid_field", "email"},
		{"bad uuid", "/v3/accounts", "application/json", `{"individual_id":"123","currency":"EUR"}`, 422, "invalid_field", "individual_id"},
		{"bad currency", "/v3/accounts", "application/json", `{"individual_id":"` + ind + `","currency":"XXX"}`, 422, "invalid_field", "currency"},
		{"missing account", "/v3/cards", "application/json", `{"individual_id":"` + ind + `"}`, 422, "invalid_field", "account_id"},
		{"bad spend limit", "/v3/cards/" + c["id"].(string) + "/restrictions", "application/json", `{"restriction_type":"amount","max_amount":"175.001"}`, 422, "invalid_field", "max_amount"},
		{"restriction too high", "/v3/cards/" + c["id"].(string) + "/restrictions", "application/json", `{"restriction_type":"amount","max_amount":"100000.01"}`, 422, "invalid_field", "max_amount"},
		{"bad reissue type", "/v3/cards/" + c["id"].(string) + "/reissue", "application/json", `{"reissue_type":"gold"}`, 422, "invalid_field", "reissue_type"},
		{"oversized", "/v3/individuals", "application/json", `{"first_name":"` + strings.Repeat("a", 70_000) + `"}`, 413, "body_too_large", ""},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(http.MethodPost, tc.path, e.tokA, tc.contentType, []byte(tc.body))
			expectProblem(t, r, tc.status, tc.code, tc.field)
		})
	}
	for _, q := range []string{"limit=0", "limit=abc", "cursor=zzz", "status=gold", "account_id=1", "created_after=yesterday"} {
		expectProblem(t, e.do(http.MethodGet, "/v3/cards?"+q, e.tokA, "", nil), http.StatusBadRequest, "invalid_query", "")
	}
	expectProblem(t, e.do(http.MethodGet, "/v3/cards/not-a-uuid", e.tokA, "", nil), http.StatusNotFound, "not_found", "")
	expectProblem(t, e.do(http.MethodGet, "/v3/nowhere", e.tokA, "", nil), http.StatusNotFound, "not_found", "")
	if strings.Contains(e.logs.String(), `"level":"ERROR"`) {
		t.Fatalf("a client mistake was logged as a server error:\n%s", e.logs.String())
	}
}

func TestCardLifecycleOverTheAPI(t *testing.T) {
	e := newEnv(t)
	c := e.card(e.tokA)
	id := c["id"].(string)
	patch := func(body string) response {
		return e.do(http.MethodPatch, "/v3/cards/"+id, e.tokA, "application/json", []byte(body))
	}
	expectProblem(t, patch(`{"status":"frozen"}`), http.StatusConflict, "invalid_state", "")
	r := patch(`{"display_name":"Travel","spend_limit":"500.00","spend_limit_duration":"MONTHLY"}`)
	if r.status != http.StatusOK || r.json(t)["display_name"] != "Travel" || r.json(t)["spend_limit"] != "500.00" {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	expectProblem(t, patch(`{"spend_limit_duration":"WEEKLY"}`), http.StatusUnprocessableEntity, "invalid_field", "spend_limit_duration")
	expectProblem(t, patch(`{"status":"active"}`), http.StatusConflict, "invalid_state", "")
	re := e.post("/v3/cards/"+id+"/reissue", e.tokA, map[string]string{"reissue_type": "same_card_number"})
	if re.status != http.StatusCreated || re.json(t)["last4"] != c["last4"] || re.json(t)["status"] != "not_activated" || re.json(t)["replaces_id"] != id {
		t.Fatalf("reissue: %d %s", re.status, re.body)
	}
	old := e.do(http.MethodGet, "/v3/cards/"+id, e.tokA, "", nil).json(t)
	if old["status"] != "closed" || old["replaced_by_id"] != re.json(t)["id"] {
		t.Fatalf("old card %v", old)
	}
	nid := re.json(t)["id"].(string)
	del := e.do(http.MethodDelete, "/v3/cards/"+nid, e.tokA, "", nil)
	if del.status != http.StatusOK || del.json(t)["status"] != "closed" {
		t.Fatalf("delete: %d %s", del.status, del.body)
	}
	// DELETE is idempotent: a closed card stays closed.
	if again := e.do(http.MethodDelete, "/v3/cards/"+nid, e.tokA, "", nil); again.status != http.StatusOK || again.json(t)["status"] != "closed" {
		t.Fatalf("second delete: %d %s", again.status, again.body)
	}
	stolen := e.card(e.tokA)["id"].(string)
	e.do(http.MethodPatch, "/v3/cards/"+stolen, e.tokA, "application/json", []byte(`{"status":"stolen"}`))
	expectProblem(t, e.do(http.MethodDelete, "/v3/cards/"+stolen, e.tokA, "", nil), http.StatusConflict, "invalid_state", "")
	rep, err := audit.Verify(context.Background(), e.db.Audit())
	if err != nil || rep.Entries < 4 {
		t.Fatalf("audit: %+v %v", rep, err)
	}
}

func TestRestrictionsOverTheAPI(t *testing.T) {
	e := newEnv(t)
	id := e.card(e.tokA)["id"].(string)
	r1 := e.post("/v3/cards/"+id+"/restrictions", e.tokA, map[string]string{"restriction_type": "amount", "max_amount": "175.00"})
	if r1.status != http.StatusOK {
		t.Fatalf("%d %s", r1.status, r1.body)
	}
	r2 := e.post("/v3/cards/"+id+"/restrictions", e.tokA, map[string]string{"restriction_type": "amount", "max_amount": "100"})
	list := e.do(http.MethodGet, "/v3/cards/"+id+"/restrictions", e.tokA, "", nil).json(t)["restrictions"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["max_amount"] != "100.00" {
		t.Fatalf("one restriction per card, the newest: %v", list)
	}
	rid := r2.json(t)["id"].(string)
	up := e.do(http.MethodPatch, "/v3/cards/"+id+"/restrictions/"+rid, e.tokA, "application/json", []byte(`{"restriction_type":"amount","max_amount":"250.50"}`))
	if up.status != http.StatusOK || up.json(t)["max_amount"] != "250.50" {
		t.Fatalf("update: %d %s", up.status, up.body)
	}
	if g := e.do(http.MethodGet, "/v3/cards/"+id+"/restrictions/"+rid, e.tokA, "", nil); g.status != http.StatusOK {
		t.Fatalf("get: %d", g.status)
	}
	if d := e.do(http.MethodDelete, "/v3/cards/"+id+"/restrictions/"+rid, e.tokA, "", nil); d.status != http.StatusOK {
		t.Fatalf("delete: %d", d.status)
	}
	expectProblem(t, e.do(http.MethodGet, "/v3/cards/"+id+"/restrictions/"+rid, e.tokA, "", nil), http.StatusNotFound, "not_found", "")
}

// TestTenantIsolation walks every partner route as the wrong partner.
func TestTenantIsolation(t *testing.T) {
	e := newEnv(t)
	c := e.card(e.tokA)
	id, acc, ind := c["id"].(string), c["account_id"].(string), c["individual_id"].(string)
	rid := e.post("/v3/cards/"+id+"/restrictions", e.tokA, map[string]string{"restriction_type": "amount", "max_amount": "10.00"}).json(t)["id"].(string)
	json := "application/json"
	routes := []struct{ method, path, body string }{
		{http.MethodGet, "/v3/individuals/" + ind, ""},
		{http.MethodGet, "/v3/accounts/" + acc, ""},
		{http.MethodGet, "/v3/cards/" + id, ""},
		{http.MethodPatch, "/v3/cards/" + id, `{"status":"stolen"}`},
		{http.MethodDelete, "/v3/cards/" + id, ""},
		{http.MethodPost, "/v3/cards/" + id + "/reissue", `{"reissue_type":"new_card_number"}`},
		{http.MethodPost, "/v3/cards/" + id + "/restrictions", `{"restriction_type":"amount","max_amount":"1.00"}`},
		{http.MethodGet, "/v3/cards/" + id + "/restrictions", ""},
		{http.MethodGet, "/v3/cards/" + id + "/restrictions/" + rid, ""},
		{http.MethodPatch, "/v3/cards/" + id + "/restrictions/" + rid, `{"restriction_type":"amount","max_amount":"1.00"}`},
		{http.MethodDelete, "/v3/cards/" + id + "/restrictions/" + rid, ""},
	}
	for _, r := range routes {
		ct := ""
		if r.body != "" {
			ct = json
		}
		expectProblem(t, e.do(r.method, r.path, e.tokB, ct, []byte(r.body)), http.StatusNotFound, "not_found", "")
	}
	for _, list := range []string{"/v3/cards", "/v3/accounts", "/v3/individuals", "/v3/cards?account_id=" + acc} {
		r := e.do(http.MethodGet, list, e.tokB, "", nil)
		if r.status != http.StatusOK || len(r.json(t)["data"].([]any)) != 0 {
			t.Fatalf("%s as the other partner: %s", list, r.body)
		}
	}
	// Ordering on another partner's cardholder is a field error, not a leak.
	expectProblem(t, e.post("/v3/accounts", e.tokB, map[string]string{"individual_id": ind, "currency": "EUR"}), http.StatusUnprocessableEntity, "invalid_field", "individual_id")
	// And partner A's card is untouched.
	after := e.do(http.MethodGet, "/v3/cards/"+id, e.tokA, "", nil).json(t)
	if after["status"] != "not_activated" {
		t.Fatalf("the other partner changed the card: %v", after)
	}
}

func TestIdempotencyKeys(t *testing.T) {
	e := newEnv(t)
	c := e.card(e.tokA)
	body := map[string]string{"individual_id": c["individual_id"].(string), "account_id": c["account_id"].(string), "display_name": "Once"}
	first := e.post("/v3/cards", e.tokA, body, "Idempotency-Key", "order-1")
	again := e.post("/v3/cards", e.tokA, body, "Idempotency-Key", "order-1")
	if first.status != http.StatusCreated || again.status != http.StatusCreated || !bytes.Equal(first.body, again.body) {
		t.Fatalf("replay differs:\n%s\n%s", first.body, again.body)
	}
	if again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatal("replay not marked")
	}
	body["display_name"] = "Twice"
	expectProblem(t, e.post("/v3/cards", e.tokA, body, "Idempotency-Key", "order-1"), http.StatusUnprocessableEntity, "idempotency_key_reused", "")
	// Another partner's same key is another key.
	if r := e.post("/v3/individuals", e.tokB, map[string]string{"first_name": "A", "last_name": "B", "email": "a@b.co"}, "Idempotency-Key", "order-1"); r.status != http.StatusCreated {
		t.Fatalf("other partner: %d %s", r.status, r.body)
	}
	// A validation error is remembered too.
	bad := e.post("/v3/individuals", e.tokA, map[string]string{"first_name": "A"}, "Idempotency-Key", "bad-1")
	bad2 := e.post("/v3/individuals", e.tokA, map[string]string{"first_name": "A"}, "Idempotency-Key", "bad-1")
	if bad.status != 422 || !bytes.Equal(bad.body, bad2.body) {
		t.Fatalf("validation error not replayed: %s / %s", bad.body, bad2.body)
	}

	// Concurrent duplicates: exactly one card is created.
	body["display_name"] = "Race"
	var wg sync.WaitGroup
	results := make([]response, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.post("/v3/cards", e.tokA, body, "Idempotency-Key", "race-1")
		}()
	}
	wg.Wait()
	ids := map[string]bool{}
	for _, r := range results {
		switch r.status {
		case http.StatusCreated:
			ids[r.json(t)["id"].(string)] = true
		case http.StatusConflict:
			expectProblem(t, r, http.StatusConflict, "idempotency_key_in_use", "")
		default:
			t.Fatalf("concurrent duplicate: %d %s", r.status, r.body)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("%d cards created for one key", len(ids))
	}
	list := e.do(http.MethodGet, "/v3/cards?limit=100", e.tokA, "", nil).json(t)["data"].([]any)
	races := 0
	for _, x := range list {
		if x.(map[string]any)["display_name"] == "Race" {
			races++
		}
	}
	if races != 1 {
		t.Fatalf("%d Race cards stored", races)
	}
}

func TestRateLimitAnswers429WithRetryAfter(t *testing.T) {
	e := newEnv(t, func(o *options) { o.rateLimit = 2 })
	var limited response
	for i := 0; i < 10; i++ {
		r := e.do(http.MethodGet, "/v3/cards", e.tokA, "", nil)
		if r.status == http.StatusTooManyRequests {
			limited = r
			break
		}
	}
	expectProblem(t, limited, http.StatusTooManyRequests, "rate_limited", "")
	if limited.header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	// Another partner has its own budget.
	if r := e.do(http.MethodGet, "/v3/cards", e.tokB, "", nil); r.status != http.StatusOK {
		t.Fatalf("other partner limited too: %d", r.status)
	}
}

func TestListsPaginate(t *testing.T) {
	e := newEnv(t)
	c := e.card(e.tokA)
	for i := 0; i < 4; i++ {
		e.post("/v3/cards", e.tokA, map[string]string{"individual_id": c["individual_id"].(string), "account_id": c["account_id"].(string)})
	}
	seen := map[string]bool{}
	path := "/v3/cards?limit=2"
	for pages := 0; pages < 10; pages++ {
		r := e.do(http.MethodGet, path, e.tokA, "", nil).json(t)
		for _, x := range r["data"].([]any) {
			seen[x.(map[string]any)["id"].(string)] = true
		}
		next, ok := r["next_cursor"].(string)
		if !ok {
			break
		}
		path = "/v3/cards?limit=2&cursor=" + next
	}
	if len(seen) != 5 {
		t.Fatalf("saw %d cards, want 5", len(seen))
	}
}

func TestOperationsEndpoints(t *testing.T) {
	e := newEnv(t)
	if r := e.do(http.MethodGet, "/v3/openapi.yaml", "", "", nil); r.status != 200 || !bytes.Equal(r.body, docs.OpenAPI) {
		t.Fatalf("openapi: %d", r.status)
	}
	if r := e.do(http.MethodGet, "/readyz", "", "", nil); r.status != 200 {
		t.Fatalf("readyz: %d", r.status)
	}
	e.do(http.MethodGet, "/v3/cards", e.tokA, "", nil)
	m := e.do(http.MethodGet, "/metrics", "", "", nil)
	if !bytes.Contains(m.body, []byte(`vaultpage_http_requests_total{code="200",method="GET",route="/v3/cards"}`)) {
		t.Fatalf("metrics lack the request counter:\n%s", m.body)
	}
	r := e.do(http.MethodGet, "/healthz", "", "", nil, "X-Request-Id", "abc-123")
	if r.header.Get("X-Request-Id") != "abc-123" || !strings.Contains(e.logs.String(), `"request_id":"abc-123"`) {
		t.Fatal("request id not echoed and logged")
	}
}

func TestLogsAndDatabaseHoldNoPAN(t *testing.T) {
	if testing.Short() {
		t.Skip("creates a thousand cards")
	}
	e := newEnv(t)
	first := e.card(e.tokA)
	for i := 0; i < 1000; i++ {
		r := e.post("/v3/cards", e.tokA, map[string]string{"individual_id": first["individual_id"].(string), "account_id": first["account_id"].(string)})
		if r.status != http.StatusCreated {
			t.Fatalf("card %d: %d %s", i, r.status, r.body)
		}
		if found := panscan.Find(r.body, "489537"); len(found) != 0 {
			t.Fatal("a response carries a PAN")
		}
	}
	if found := panscan.Find([]byte(e.logs.String()), "489537"); len(found) != 0 {
		t.Fatalf("logs carry %d PAN-shaped numbers", len(found))
	}

}

// stored reports whether secret appears anywhere in the database's files
// (the database, its WAL and shared memory), as bytes.
func (e *env) stored(t *testing.T, secret string) bool {
	t.Helper()
	if e.dataDir == "" {
		t.Fatal("the test's store has no files to scan")
	}
	entries, err := os.ReadDir(e.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range entries {
		b, err := os.ReadFile(filepath.Join(e.dataDir, en.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(secret)) {
			return true
		}
	}
	return false
}
