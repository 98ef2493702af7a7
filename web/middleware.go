package web

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/time/rate"

	"github.com/vaultpage/vaultpage/audit"
	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/internal/httpsig"
	"github.com/vaultpage/vaultpage/partner"
)

// Keys of values kept on echo.Context.
const (
	ctxRequestID = "vaultpage.request_id"
	ctxPartner   = "vaultpage.partner"
	ctxBody      = "vaultpage.body"
)

func requestID(c echo.Context) string {
	id, _ := c.Get(ctxRequestID).(string)
	return id
}

func validRequestID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
		if !ok {
			return false
		}
	}
	return true
}

// requestLog gives every request an id (the client's X-Request-Id when it is
// sane), recovers panics into a 500 problem, records metrics and logs one line
// per request. Nothing of the body or the query is logged.
func (s *Server) requestLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		start := s.deps.Now()
		id := c.Request().Header.Get(echo.HeaderXRequestID)
		if !validRequestID(id) {
			b := make([]byte, 12)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		c.Set(ctxRequestID, id)
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		// Audit entries written for this request say where it came from.
		c.SetRequest(c.Request().WithContext(audit.WithSource(c.Request().Context(), c.RealIP())))
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v", r)
			}
			if err != nil {
				c.Error(err)
				err = nil
			}
			route := c.Path()
			if route == "" {
				route = "unmatched"
			}
			status := c.Response().Status
			elapsed := s.deps.Now().Sub(start)
			s.metrics.observe(route, c.Request().Method, status, elapsed)
			level := slog.LevelInfo
			if status >= 500 {
				level = slog.LevelError
			}
			s.deps.Logger.LogAttrs(c.Request().Context(), level, "request",
				slog.String("request_id", id), slog.String("method", c.Request().Method), slog.String("route", route),
				slog.Int("status", status), slog.Duration("duration", elapsed), slog.String("remote", c.RealIP()))
		}()
		return next(c)
	}
}

// apiHeaders marks every API response as not to be cached or sniffed.
func apiHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		return next(c)
	}
}

// oauthErrors makes the token endpoint answer as RFC 6749 5.1 and 5.2 ask:
// errors as OAuth JSON, and every answer uncacheable (with Pragma for
// HTTP/1.0 caches; apiHeaders sets Cache-Control).
func oauthErrors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Set(ctxRender, renderOAuth)
		c.Response().Header().Set("Pragma", "no-cache")
		return next(c)
	}
}

// authenticate requires a bearer token and puts the partner on the context.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get(echo.HeaderAuthorization)
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			return problem(http.StatusUnauthorized, "invalid_token", "send an access token as Authorization: Bearer <token>")
		}
		p, err := s.deps.Partners.Authenticate(c.Request().Context(), strings.TrimSpace(token))
		if err != nil {
			return err
		}
		c.Set(ctxPartner, p)
		return next(c)
	}
}

// signatureMaxAge bounds how old a request signature's created time may be.
const signatureMaxAge = 5 * time.Minute

// verifySignature requires an RFC 9421 signature over the method, the target
// URI and the body's Content-Digest from partners that registered signing
// keys.
func (s *Server) verifySignature(next echo.HandlerFunc) echo.HandlerFunc {
	scheme, authority := "http", ""
	if u, err := url.Parse(s.deps.PublicURL); err == nil && u.Host != "" {
		scheme, authority = u.Scheme, u.Host
	}
	return func(c echo.Context) error {
		p := partnerOf(c)
		if len(p.SigningKeys) == 0 {
			return next(c)
		}
		body, err := bodyOf(c)
		if err != nil {
			return err
		}
		v := httpsig.Verifier{Scheme: scheme, Authority: authority, Now: s.deps.Now, MaxAge: signatureMaxAge,
			Required: []string{"@method", "@target-uri"}, RequireDigest: true}
		_, err = v.Verify(c.Request(), body, func(id string) (httpsig.Key, error) {
			for _, k := range p.SigningKeys {
				if k.KeyID == id {
					return httpsig.Key{ID: id, Alg: k.Alg, Public: k.Public}, nil
				}
			}
			return httpsig.Key{}, errors.New("unknown key")
		})
		if err != nil {
			detail := "sign the request (RFC 9421) over @method, @target-uri and content-digest with a registered key"
			if !errors.Is(err, httpsig.ErrMissing) {
				detail = strings.TrimPrefix(err.Error(), httpsig.ErrInvalid.Error()+": ")
			}
			return &Problem{Type: "https://vaultpage.dev/problems/invalid_signature", Title: http.StatusText(http.StatusUnauthorized),
				Status: http.StatusUnauthorized, Code: "invalid_signature", Detail: detail}
		}
		return next(c)
	}
}

func partnerOf(c echo.Context) partner.Partner {
	p, _ := c.Get(ctxPartner).(partner.Partner)
	return p
}

func actorOf(c echo.Context) card.Actor {
	return card.Actor{PartnerID: partnerOf(c).ID, Source: c.RealIP()}
}

// limiter is a token bucket per key (partner id, session, or client
// address).
type limiter struct {
	mu      sync.Mutex
	buckets map[string]*rate.Limiter
	rps     rate.Limit
	burst   int
	now     func() time.Time
	// overflow is the one bucket every new key shares while the map is
	// full of keys still drawing on theirs.
	overflow *rate.Limiter
}

// maxBuckets bounds a limiter's keys.
const maxBuckets = 100_000

func newLimiter(rps float64, burst int, now func() time.Time) *limiter {
	if burst < 1 {
		burst = int(math.Max(1, rps))
	}
	return &limiter{buckets: map[string]*rate.Limiter{}, rps: rate.Limit(rps), burst: burst, now: now,
		overflow: rate.NewLimiter(rate.Limit(rps), burst)}
}

// bucket returns key's bucket. At maxBuckets it first forgets the buckets
// that have refilled (a full bucket is what a new one would be, so nobody
// gains by it); if every bucket is still in use, the new key shares the
// overflow bucket rather than reset anyone's.
func (l *limiter) bucket(key string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.buckets[key]; ok {
		return b
	}
	if len(l.buckets) >= maxBuckets {
		now := l.now()
		for k, b := range l.buckets {
			if b.TokensAt(now) >= float64(l.burst) {
				delete(l.buckets, k)
			}
		}
		if len(l.buckets) >= maxBuckets {
			return l.overflow
		}
	}
	b := rate.NewLimiter(l.rps, l.burst)
	l.buckets[key] = b
	return b
}

// allow takes a token, or says how many seconds until one is free.
func (l *limiter) allow(key string) (bool, int) {
	b := l.bucket(key)
	r := b.ReserveN(l.now(), 1)
	if d := r.DelayFrom(l.now()); d > 0 {
		r.CancelAt(l.now())
		return false, int(math.Ceil(d.Seconds()))
	}
	return true, 0
}

// addressKey is the key a client address is limited by: the address, or
// for IPv6 its /64, which one subscriber usually has whole.
func addressKey(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil || ip.Is4() || ip.Is4In6() {
		return addr
	}
	p, err := ip.Prefix(64)
	if err != nil {
		return addr
	}
	return p.String()
}

// rateLimit answers 429 with Retry-After once a partner (or, before
// authentication, a client address) exceeds its rate.
func (s *Server) rateLimit(l *limiter, key func(echo.Context) string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if ok, wait := l.allow(key(c)); !ok {
				p := problem(http.StatusTooManyRequests, "rate_limited", "too many requests; retry after "+strconv.Itoa(wait)+" seconds")
				p.retryAfter = wait
				return p
			}
			return next(c)
		}
	}
}

// metrics are the server's Prometheus collectors, on a registry of its own.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(more ...prometheus.Collector) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vaultpage_http_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vaultpage_http_request_duration_seconds", Help: "HTTP request latency by route and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method"}),
	}
	m.registry.MustRegister(m.requests, m.duration, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.registry.MustRegister(more...)
	return m
}

func (m *metrics) observe(route, method string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route, method).Observe(d.Seconds())
}
