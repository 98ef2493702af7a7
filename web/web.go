// Package web is vaultpage's HTTP edge and the only package that imports
// Echo: the partner API under /v3, the hosted cardholder pages, the SDK
// launch endpoints, the operational probes and the development-only routes.
// Handlers parse and validate, call one service method with the request's
// context, and render; echo.Context never leaves this package.
package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/consent"
	"github.com/vaultpage/vaultpage/decision"
	"github.com/vaultpage/vaultpage/events"
	"github.com/vaultpage/vaultpage/idempotency"
	"github.com/vaultpage/vaultpage/partner"
	"github.com/vaultpage/vaultpage/spend"
	"github.com/vaultpage/vaultpage/static"
	"github.com/vaultpage/vaultpage/webhook"
)

// Deps are the services the HTTP edge calls.
type Deps struct {
	Logger      *slog.Logger
	Version     string
	Partners    *partner.Service
	Cards       *card.Service
	Consents    *consent.Service
	Idempotency idempotency.Store
	// Ready reports whether the service can take traffic (the store answers).
	Ready func(ctx context.Context) error
	// RateLimit is the sustained requests per second allowed per partner
	// (and per client address on the token endpoint); Burst the bucket size.
	RateLimit float64
	Burst     int
	Now       func() time.Time
	// PublicURL is the base URL partners address; request signatures cover
	// its scheme and authority.
	PublicURL string
	// Programme names the card programme on the hosted pages ("Secured by
	// …"); empty is DefaultProgramme.
	Programme string
	// SessionKeys sign and encrypt the hosted-page session cookie.
	SessionKeys SessionKeys
	// SCA authenticates cardholders on the hosted pages.
	SCA *consent.SCA
	// DevOutbox, in development only, collects one-time codes and serves
	// them at /dev/outbox.
	DevOutbox *DevOutbox
	// Demo, in development only, is the partner /demo acts for.
	Demo *Demo
	// Spend decides simulated authorisations and funds accounts.
	Spend *spend.Service
	// Events is the event feed (the outbox, read in sequence).
	Events events.Feed
	// Webhooks manages partners' webhook endpoints.
	Webhooks *webhook.Service
	// Decisions manages partners' real-time decision endpoints.
	Decisions *decision.Service
	// Collectors are more Prometheus collectors for /metrics (the store's,
	// say).
	Collectors []prometheus.Collector
	// MetricsToken, when set, is the bearer token /metrics asks for.
	MetricsToken string
	// PublicMetrics serves /metrics on the partner listener too (the
	// operator handler always has it); production keeps it off.
	PublicMetrics bool
	// TrustedProxies are the addresses of the reverse proxies in front of
	// vaultpage. A request that comes from one of them is taken to be from
	// the address its X-Forwarded-For names; any other request is from the
	// address of its connection, whatever its headers say.
	TrustedProxies []*net.IPNet
}

// Server is the HTTP edge.
type Server struct {
	deps Deps
	// integrity is the static assets' Subresource Integrity values.
	integrity map[string]string
	echo      *echo.Echo
	metrics   *metrics
	limiter   *limiter // per partner
	// tokenLimits bound the token endpoint per client address.
	tokenLimits *limiter
	sessions    *sessions.CookieStore
	cookie      string // the hosted session cookie's name
	// hostedSessions and hostedAddrs bound hosted posts per session and per
	// client address.
	hostedSessions, hostedAddrs *limiter
	streams                     *streamHub
	ready                       readiness
	// query is the query parameters each partner API route takes.
	query queries
	// idemKey keys the digests of idempotent requests (derived from the
	// session keys' hash key).
	idemKey []byte
	// preparing is the Idempotency-Keys whose authorisations this process
	// is preparing (the partner asked) before claiming them.
	preparing keysInFlight
}

// keysInFlight is a set of partner and key pairs.
type keysInFlight struct {
	mu   sync.Mutex
	keys map[[2]string]bool
}

// enter adds k unless it is there already.
func (f *keysInFlight) enter(k [2]string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.keys[k] {
		return false
	}
	if f.keys == nil {
		f.keys = map[[2]string]bool{}
	}
	f.keys[k] = true
	return true
}

func (f *keysInFlight) leave(k [2]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.keys, k)
}

// New builds the HTTP edge with every route registered.
func New(d Deps) *Server {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.RateLimit <= 0 {
		d.RateLimit, d.Burst = 50, 100
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor = clientAddress(d.TrustedProxies)
	secure := strings.HasPrefix(d.PublicURL, "https://")
	s := &Server{deps: d, echo: e, metrics: newMetrics(d.Collectors...), limiter: newLimiter(d.RateLimit, d.Burst, d.Now),
		tokenLimits: newLimiter(d.RateLimit, d.Burst, d.Now),
		sessions:    newSessionStore(d.SessionKeys, secure), cookie: sessionCookie(secure),
		hostedSessions: newLimiter(hostedSessionRate, hostedSessionBurst, d.Now), hostedAddrs: newLimiter(hostedAddrRate, hostedAddrBurst, d.Now),
		streams: newStreamHub(d.Events), query: queries{}, idemKey: derivedKey(d.SessionKeys.Hash, "vaultpage/idempotency-digest/v1")}
	var err error
	if s.integrity, err = static.Integrity(); err != nil && d.Logger != nil {
		// The pages then name no integrity and the browser loads the
		// assets unchecked; only a broken build gets here.
		d.Logger.Error("hashing the static assets for Subresource Integrity failed", "err", err)
	}
	e.HTTPErrorHandler = s.handleError
	e.Pre(headAsGet)
	s.routes()
	return s
}

// headAsGet answers HEAD as GET without the body (RFC 9110, 9.3.2): the
// route sees a GET, and what it writes after the headers is dropped. Not
// for a hosted link's token (/c/…), which a HEAD, as a link preview sends,
// must not use up, nor for the live event feed, which never ends.
func headAsGet(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.Method != http.MethodHead || !headServes(r.URL.Path) {
			return next(c)
		}
		r.Method = http.MethodGet // as Echo's method override does: the router reads it
		c.Response().Writer = headWriter{c.Response().Writer}
		return next(c)
	}
}

// headServes tells whether HEAD is GET on path: not where a GET redeems
// a single-use token (a consent's, a challenge window's).
func headServes(path string) bool {
	return !strings.HasPrefix(path, "/c/") && !strings.HasPrefix(path, "/a/") && path != "/v3/events/stream"
}

// headWriter drops the body of a HEAD's answer.
type headWriter struct{ http.ResponseWriter }

func (w headWriter) Write(b []byte) (int, error) { return len(b), nil }

// clientAddress is where a request comes from: its connection's address,
// or, from a trusted proxy, the nearest address in X-Forwarded-For that is
// not itself a trusted proxy. Loopback and private addresses are trusted
// only when configured.
func clientAddress(trusted []*net.IPNet) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range trusted {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// EndStreams ends every open event stream at once and refuses new ones,
// for a shutdown: http.Server.Shutdown waits for requests in flight, and a
// stream is one for up to an hour. Register it with RegisterOnShutdown.
func (s *Server) EndStreams() { s.streams.shutdown() }

// OperatorHandler serves what operators scrape and probe, for a listener
// of their own: /metrics (behind MetricsToken when set), /healthz, /readyz.
func (s *Server) OperatorHandler() http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", s.metricsHandler())
	return e
}

// metricsHandler is /metrics: Prometheus text, behind the metrics token when
// one is configured.
func (s *Server) metricsHandler() echo.HandlerFunc {
	h := echo.WrapHandler(promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	if s.deps.MetricsToken == "" {
		return h
	}
	want := []byte("Bearer " + s.deps.MetricsToken)
	return func(c echo.Context) error {
		if subtle.ConstantTimeCompare([]byte(c.Request().Header.Get(echo.HeaderAuthorization)), want) != 1 {
			return problem(http.StatusUnauthorized, "invalid_token", "send the metrics token as Authorization: Bearer <token>")
		}
		return h(c)
	}
}

// Registry exposes the server's metrics registry (for /metrics and tests).
func (s *Server) Registry() *prometheus.Registry { return s.metrics.registry }

// How a route group answers errors, set by its middleware (problem+json
// when none is).
const (
	ctxRender     = "vaultpage.render"
	renderPage    = "page"    // the hosted pages and /demo: an HTML page
	renderPasskey = "passkey" // the passkey calls: JSON static/passkey.js reads
	renderOAuth   = "oauth"   // the token endpoint: RFC 6749 5.2 JSON
)

// handleError renders every error in its route group's way (ctxRender):
// problem+json for the API, a page for cardholders, JSON for the passkey
// script; and logs server faults with their cause.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	p := toProblem(err)
	p.RequestID = requestID(c)
	ctx := c.Request().Context()
	if p.Status == http.StatusInternalServerError && !s.ready.check(ctx, s.deps.Ready) {
		// The store cannot be reached or cannot write: an outage, which
		// partners' retries and load balancers should see as one.
		p = unavailable(err)
	}
	if p.Status >= 500 {
		s.deps.Logger.ErrorContext(ctx, "request failed", "err", err, "request_id", p.RequestID, "route", c.Path())
	}
	h := c.Response().Header()
	if p.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(p.retryAfter))
	}
	switch c.Get(ctxRender) {
	case renderPasskey:
		// static/passkey.js reads JSON, whatever went wrong.
		if werr := c.JSON(p.Status, passkeyAnswer{Error: texts[localeOf(c, "")]["error.explain"]}); werr != nil {
			s.deps.Logger.WarnContext(ctx, "writing an error response failed", "err", werr)
		}
		return
	case renderPage:
		// Cardholders get a page, never JSON or a stack trace.
		if rerr := s.errorPage(c, p.Status); rerr != nil {
			s.deps.Logger.WarnContext(ctx, "writing an error page failed", "err", rerr)
		}
		return
	}
	if p.Status == http.StatusUnauthorized {
		switch p.Code {
		case "invalid_client":
			h.Set("WWW-Authenticate", `Basic realm="vaultpage"`)
		case "invalid_signature":
			h.Set("WWW-Authenticate", `Signature realm="vaultpage"`)
		default:
			h.Set("WWW-Authenticate", `Bearer realm="vaultpage", error="invalid_token"`)
		}
	}
	contentType := "application/problem+json"
	if c.Get(ctxRender) == renderOAuth {
		// RFC 6749 5.2: application/json with error and error_description.
		// An error the token endpoint shares with the rest of the API (a body
		// too large, a rate) is the client's invalid_request; a failure of
		// vaultpage's takes the authorisation endpoint's codes (4.1.2.1).
		contentType = echo.MIMEApplicationJSON
		if p.OAuthError == "" {
			p.OAuthError = "invalid_request"
			switch {
			case p.Status == http.StatusServiceUnavailable:
				p.OAuthError = "temporarily_unavailable"
			case p.Status >= 500:
				p.OAuthError = "server_error"
			}
			p.OAuthDescription = p.Detail
		}
	}
	b, merr := json.Marshal(p)
	if merr != nil {
		b = []byte(`{"type":"about:blank","title":"Internal Server Error","status":500,"code":"internal_error"}`)
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(p.Status)
		return
	}
	if werr := c.Blob(p.Status, contentType, b); werr != nil {
		s.deps.Logger.WarnContext(ctx, "writing an error response failed", "err", werr)
	}
}

// derivedKey is a key for purpose, derived from key with HMAC-SHA-256.
func derivedKey(key []byte, purpose string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// unrouted answers a request no route took: 405 with Allow when a route
// serves its path under other methods, 404 otherwise.
func (s *Server) unrouted(c echo.Context) error {
	probe := s.echo.NewContext(c.Request(), nil)
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		s.echo.Router().Find(m, echo.GetPath(c.Request()), probe)
		if p := probe.Path(); p != "" && !strings.HasSuffix(p, "*") {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		return echo.ErrNotFound
	}
	if allow[0] == http.MethodGet && headServes(c.Request().URL.Path) {
		allow = append([]string{http.MethodGet, http.MethodHead}, allow[1:]...)
	}
	c.Response().Header().Set(echo.HeaderAllow, strings.Join(allow, ", "))
	return echo.ErrMethodNotAllowed
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok", "version": s.deps.Version})
}

func (s *Server) readyz(c echo.Context) error {
	err := s.deps.Ready(c.Request().Context())
	s.ready.set(err == nil)
	if err != nil {
		s.deps.Logger.WarnContext(c.Request().Context(), "not ready", "err", err)
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

// readiness remembers, for a second, whether the store was ready, and runs
// one probe at a time: a burst of failing requests during an outage asks the
// database once, the others wait for that probe's answer.
type readiness struct {
	mu      sync.Mutex
	ok      bool
	checked time.Time
	probing chan struct{} // closed when the probe in flight ends; nil when none
}

// readyFor is how long a readiness outcome is reused.
const readyFor = time.Second

func (r *readiness) check(ctx context.Context, ready func(context.Context) error) bool {
	r.mu.Lock()
	if time.Since(r.checked) < readyFor {
		ok := r.ok
		r.mu.Unlock()
		return ok
	}
	if wait := r.probing; wait != nil {
		r.mu.Unlock()
		<-wait
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.ok
	}
	done := make(chan struct{})
	r.probing = done
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	ok := ready(ctx) == nil
	r.mu.Lock()
	r.ok, r.checked, r.probing = ok, time.Now(), nil
	r.mu.Unlock()
	close(done)
	return ok
}

func (r *readiness) set(ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ok, r.checked = ok, time.Now()
}

// unavailable is the problem an outage gets: 503 with Retry-After, the
// cause logged.
func unavailable(cause error) *Problem {
	p := problem(http.StatusServiceUnavailable, "service_unavailable", "the service cannot reach its database right now; retry shortly")
	p.retryAfter, p.cause = 2, cause
	return p
}
