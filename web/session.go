package web

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"github.com/vaultpage/vaultpage/consent"
	"github.com/vaultpage/vaultpage/views"
)

// The hosted session lives in a cookie signed and encrypted with the
// session keys (gorilla/sessions). It holds the consent and partner ids, the
// binding to the token that opened it (consent.Service.Hosted checks it
// against the consent's newest token on every request), the session's CSRF
// token, the time of the last request and whether SCA passed in it. What the
// session may do is decided on the server: the consent's status, its newest
// token, the time SCA passed and the card's status are read afresh on every
// request.

// Session value keys.
const (
	sessConsent = "consent"
	sessPartner = "partner"
	sessBinding = "binding"
	sessCSRF    = "csrf"
	sessSeen    = "seen"
	sessSCA     = "sca"
	ctxSession  = "vaultpage.session"
	ctxCSRF     = "csrf" // where views read the token (csrfToken)
)

// Hosted request limits.
const (
	// maxFormBody bounds a hosted form post; maxJSONBody a passkey post.
	maxFormBody = 16 << 10
	maxJSONBody = 64 << 10
	// A hosted session may post hostedSessionRate times a second (burst
	// hostedSessionBurst); one client address hostedAddrRate (burst
	// hostedAddrBurst), across all its sessions. A cardholder's whole flow
	// is about ten posts.
	hostedSessionRate  = 1
	hostedSessionBurst = 20
	hostedAddrRate     = 10
	hostedAddrBurst    = 100
)

// hostedRequest guards every hosted route. It reads the session. On a POST
// it refuses a content type the route does not take (forms are
// application/x-www-form-urlencoded, the passkey endpoints JSON), bounds the
// body, checks the CSRF token against the session's own (the form field
// _csrf, or the X-CSRF-Token header), and applies the per-session and
// per-address rates. A multipart body is never parsed: it is refused first.
func (s *Server) hostedRequest(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		var store sessions.Store = s.sessions
		name := s.cookie
		if isWindowRoute(c.Path()) {
			store, name = s.windows(), windowSession // a challenge window keeps no cookie
		}
		sess, err := store.Get(c.Request(), name)
		if err == nil && !sess.IsNew {
			c.Set(ctxSession, sess)
			if t := stringValue(sess.Values[sessCSRF]); t != "" {
				c.Set(ctxCSRF, t)
			}
		}
		r := c.Request()
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			return next(c)
		}
		jsonRoute := strings.HasPrefix(c.Path(), "/consent/passkey/") || isWindowRoute(c.Path())
		if jsonRoute {
			c.Set(ctxRender, renderPasskey)
		}
		want, limit := echo.MIMEApplicationForm, int64(maxFormBody)
		if jsonRoute {
			want, limit = echo.MIMEApplicationJSON, maxJSONBody
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType)); err != nil || mt != want {
			return problem(http.StatusUnsupportedMediaType, "unsupported_media_type", "this page takes "+want)
		}
		if r.ContentLength > limit {
			return problem(http.StatusRequestEntityTooLarge, "body_too_large", "the request body is larger than "+strconv.FormatInt(limit, 10)+" bytes")
		}
		if r.URL.RawQuery != "" {
			// Form fields come in the body only: a code, a passcode or a PIN
			// in a URL would reach proxies' logs.
			return problem(http.StatusBadRequest, "query_not_allowed", "this page takes its fields in the body, not the URL")
		}
		r.Body = http.MaxBytesReader(c.Response(), r.Body, limit)
		token := r.Header.Get("X-CSRF-Token")
		if !jsonRoute {
			if err := r.ParseForm(); err != nil {
				var tooLarge *http.MaxBytesError
				if errors.As(err, &tooLarge) {
					return problem(http.StatusRequestEntityTooLarge, "body_too_large", "the request body is larger than "+strconv.FormatInt(limit, 10)+" bytes")
				}
				return problem(http.StatusBadRequest, "malformed_form", "the form could not be read")
			}
			if token == "" {
				token = r.PostForm.Get("_csrf")
			}
			for _, values := range r.PostForm {
				for _, v := range values {
					if hasControl(v) {
						return problem(http.StatusBadRequest, "malformed_form", "the form holds a control character")
					}
				}
			}
		}
		want = csrfToken(c)
		if want == "" || subtle.ConstantTimeCompare([]byte(token), []byte(want)) != 1 {
			return problem(http.StatusForbidden, "csrf", "the form expired; go back to the app and start again")
		}
		for _, l := range []struct {
			lim *limiter
			key string
		}{{s.hostedSessions, stringValue(sess.Values[sessConsent])}, {s.hostedAddrs, addressKey(c.RealIP())}} {
			if ok, wait := l.lim.allow(l.key); !ok {
				p := problem(http.StatusTooManyRequests, "rate_limited", "too many requests; retry after "+strconv.Itoa(wait)+" seconds")
				p.retryAfter = wait
				return p
			}
		}
		return next(c)
	}
}

// session returns the request's hosted session, or nil.
func sessionOf(c echo.Context) *sessions.Session {
	sess, _ := c.Get(ctxSession).(*sessions.Session)
	return sess
}

// redeem is GET /c/:token: the token is exchanged once for a hosted session
// and the browser goes at once to a URL without it.
func (s *Server) redeem(c echo.Context) error {
	cs, binding, err := s.deps.Consents.Redeem(c.Request().Context(), c.Param("token"))
	if errors.Is(err, consent.ErrTokenInvalid) {
		return s.gone(c, localeOf(c, ""))
	}
	if err != nil {
		return err
	}
	sess, _ := s.sessions.New(c.Request(), s.cookie)
	if err := s.openSession(sess, cs, binding); err != nil {
		return err
	}
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/consent")
}

// hostedConsent returns the session's consent, or ok=false when the
// session is missing or idle too long, or the consent is no longer open to
// it (consent.Service.Hosted).
func (s *Server) hostedConsent(c echo.Context) (consent.Consent, bool, error) {
	sess := sessionOf(c)
	if sess == nil {
		return consent.Consent{}, false, nil
	}
	seen, _ := sess.Values[sessSeen].(int64)
	if s.deps.Now().Sub(time.Unix(seen, 0)) > sessionIdle {
		return consent.Consent{}, false, nil
	}
	cid, err1 := uuid.Parse(stringValue(sess.Values[sessConsent]))
	pid, err2 := uuid.Parse(stringValue(sess.Values[sessPartner]))
	binding, err3 := base64.RawStdEncoding.DecodeString(stringValue(sess.Values[sessBinding]))
	if err1 != nil || err2 != nil || err3 != nil {
		return consent.Consent{}, false, nil
	}
	cs, err := s.deps.Consents.Hosted(c.Request().Context(), pid, cid, binding)
	if errors.Is(err, consent.ErrSessionEnded) {
		return consent.Consent{}, false, nil
	}
	if err != nil {
		return consent.Consent{}, false, err
	}
	sess.Values[sessSeen] = s.deps.Now().Unix()
	b, err := s.deps.Partners.Branding(c.Request().Context(), cs.PartnerID)
	if err != nil {
		return consent.Consent{}, false, err
	}
	c.Set(ctxBrand, views.Brand{Color: b.Color, LogoURL: logoURL(cs.PartnerID, b)})
	nonce, _ := c.Get(ctxNonce).(string)
	h := c.Response().Header()
	h.Set("Content-Security-Policy", csp(nonce, b.FrameAncestors))
	if len(b.FrameAncestors) > 0 {
		h.Del("X-Frame-Options") // frame-ancestors decides; X-Frame-Options cannot name origins
	}
	return cs, true, sess.Save(c.Request(), c.Response())
}

// markAuthenticated records that SCA passed for the consent: on the
// consent, on the server, and in the session that passed it.
func (s *Server) markAuthenticated(c echo.Context, cs consent.Consent) error {
	if _, err := s.deps.Consents.MarkAuthenticated(c.Request().Context(), cs); err != nil {
		return err
	}
	sess := sessionOf(c)
	if sess == nil {
		return consent.ErrSessionEnded
	}
	sess.Values[sessSCA] = cs.ID.String()
	return sess.Save(c.Request(), c.Response())
}

// endSession deletes the hosted session's cookie.
func (s *Server) endSession(c echo.Context) {
	if sess := sessionOf(c); sess != nil {
		sess.Options.MaxAge = -1
		_ = sess.Save(c.Request(), c.Response())
	}
}

// formsOnly refuses a POST that is not application/x-www-form-urlencoded
// before anything reads it (so that no multipart body is ever parsed or
// spooled to disk).
func formsOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Request().Method == http.MethodPost {
			if mt, _, err := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType)); err != nil || mt != echo.MIMEApplicationForm {
				return problem(http.StatusUnsupportedMediaType, "unsupported_media_type", "this page takes "+echo.MIMEApplicationForm)
			}
		}
		return next(c)
	}
}
