package web

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"github.com/vaultpage/vaultpage/consent"
	"github.com/vaultpage/vaultpage/spend"
	"github.com/vaultpage/vaultpage/views"
)

// A merchant's challenge window (GET /a/{token}) is a page inside another
// site's checkout, where a cookie would be a third-party one: it keeps
// none. The token is redeemed once, as any consent token, and the page
// carries the hosted session sealed with the session keys (the cookie's
// own codecs: HMAC-SHA-256 and AES-256, with the cookie's maximum age).
// static/challenge.js sends it back in the X-Vaultpage-Session header with
// every request, and each answer renews it there. Everything the session
// may do is decided on the server, as for the cookie: the consent, its
// newest token, the time SCA passed. A partner that opens the payment's
// consent in its app (a new token) ends the window's session.

// sessionHeader carries a challenge window's sealed session, sealed under
// its own name (the MAC covers it), so that a window's session is no
// cookie's and a cookie is no window's.
const (
	sessionHeader = "X-Vaultpage-Session"
	windowSession = "vp_window"
)

// windowSessions is the sessions.Store of challenge windows: the session
// comes in sessionHeader and goes back in it.
type windowSessions struct {
	codecs  []securecookie.Codec
	options sessions.Options
}

// Get implements sessions.Store: the request's session, new when it
// carries none that opens.
func (w windowSessions) Get(r *http.Request, name string) (*sessions.Session, error) {
	sess, _ := w.New(r, name)
	v := r.Header.Get(sessionHeader)
	if v == "" {
		return sess, nil
	}
	if err := securecookie.DecodeMulti(name, v, &sess.Values, w.codecs...); err != nil {
		return sess, err
	}
	sess.IsNew = false
	return sess, nil
}

// New implements sessions.Store.
func (w windowSessions) New(_ *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(w, name)
	opts := w.options
	sess.Options, sess.IsNew = &opts, true
	return sess, nil
}

// Save implements sessions.Store: the sealed session goes back in the
// response's header (none once it ended).
func (w windowSessions) Save(_ *http.Request, rw http.ResponseWriter, sess *sessions.Session) error {
	if sess.Options.MaxAge < 0 {
		rw.Header().Del(sessionHeader)
		return nil
	}
	v, err := w.seal(sess)
	if err != nil {
		return err
	}
	rw.Header().Set(sessionHeader, v)
	return nil
}

func (w windowSessions) seal(sess *sessions.Session) (string, error) {
	return securecookie.EncodeMulti(sess.Name(), sess.Values, w.codecs...)
}

// windows is the server's challenge-window session store.
func (s *Server) windows() windowSessions {
	return windowSessions{codecs: s.sessions.Codecs, options: *s.sessions.Options}
}

// isWindowRoute tells whether a hosted route is a challenge window's call.
func isWindowRoute(path string) bool { return strings.HasPrefix(path, "/challenge/") }

// openSession fills a new hosted session for the consent a token opened.
func (s *Server) openSession(sess *sessions.Session, cs consent.Consent, binding []byte) error {
	csrf := make([]byte, 32)
	if _, err := rand.Read(csrf); err != nil {
		return err
	}
	sess.Values[sessConsent] = cs.ID.String()
	sess.Values[sessPartner] = cs.PartnerID.String()
	sess.Values[sessBinding] = base64.RawStdEncoding.EncodeToString(binding)
	sess.Values[sessCSRF] = base64.RawURLEncoding.EncodeToString(csrf)
	sess.Values[sessSeen] = s.deps.Now().Unix()
	return nil
}

// openChallenge is GET /a/:token: a merchant's challenge window. The
// token is redeemed once; the page shows the payment and carries its
// session. Only the merchant's own origin may frame it.
func (s *Server) openChallenge(c echo.Context) error {
	ctx := c.Request().Context()
	cs, binding, err := s.deps.Consents.RedeemWindow(ctx, c.Param("token"))
	if errors.Is(err, consent.ErrTokenInvalid) {
		return s.gone(c, localeOf(c, "")) // also a partner's token, which opens /c/
	}
	if err != nil {
		return err
	}
	pay, err := s.deps.Spend.Payment(ctx, cs)
	if errors.Is(err, consent.ErrSessionEnded) {
		return s.gone(c, localeOf(c, ""))
	}
	if err != nil {
		return err
	}
	w := s.windows()
	sess, _ := w.New(c.Request(), windowSession)
	if err := s.openSession(sess, cs, binding); err != nil {
		return err
	}
	sealed, err := w.seal(sess)
	if err != nil {
		return err
	}
	p, cd, hasPasskey, err := s.landingOf(c, cs)
	if err != nil {
		return err
	}
	b, err := s.deps.Partners.Branding(ctx, cs.PartnerID)
	if err != nil {
		return err
	}
	c.Set(ctxBrand, views.Brand{Color: b.Color, LogoURL: logoURL(cs.PartnerID, b)})
	nonce, _ := c.Get(ctxNonce).(string)
	h := c.Response().Header()
	h.Set("Content-Security-Policy", csp(nonce, []string{pay.Origin}))
	h.Del("X-Frame-Options") // frame-ancestors names the merchant
	lang := localeOf(c, cs.Locale)
	t := texts[lang]
	v := views.Challenge{Session: sealed, CSRF: stringValue(sess.Values[sessCSRF]), Origin: pay.Origin, AuthenticationID: pay.AuthenticationID.String(),
		PartnerName: p.Name, Heading: t["authenticate_payment"], Amount: money(lang, pay.Amount, pay.Currency), Payee: strings.ReplaceAll(t["payee"], "{payee}", pay.Payee),
		CardLabel: t["card"], Last4: cd.Last4, SendCode: t["send"], SentTo: t["sent"], CodeLabel: t["code"], PassLabel: t["passcode"],
		Submit: t["submit.authenticate_payment"], Cancel: t["challenge.cancel"]}
	if hasPasskey {
		v.Passkey, v.PasskeyLabel, v.SendCode = true, t["challenge.passkey"], t["send.instead"]
	}
	return render(c, http.StatusOK, views.ChallengePage(s.page(c, lang, t["authenticate_payment"]), v))
}

// money writes an amount as the cardholder reads amounts: 1234.50 EUR in
// English, 1234,50 EUR in Swedish.
func money(lang, amount, currency string) string {
	if lang == "sv" {
		amount = strings.Replace(amount, ".", ",", 1)
	}
	return amount + " " + currency
}

// challengeAnswer is what static/challenge.js reads: an error to show, the
// sealed session in the header, and once the payment's consent ended, the
// outcome.
type challengeAnswer struct {
	Error   string            `json:"error,omitempty"`
	SentTo  string            `json:"sent_to,omitempty"`
	Outcome *challengeOutcome `json:"outcome,omitempty"`
}

type challengeOutcome struct {
	TransStatus string `json:"trans_status"`
	Heading     string `json:"heading"`
	Explain     string `json:"explain"`
}

// windowConsent is the challenge window's consent, or ok=false when its
// session ended (answered already).
func (s *Server) windowConsent(c echo.Context) (consent.Consent, bool, error) {
	cs, ok, err := s.hostedConsent(c)
	if err != nil {
		return cs, false, err
	}
	if !ok || cs.Action != consent.ActionAuthenticatePayment {
		return cs, false, c.JSON(http.StatusGone, challengeAnswer{Error: texts[localeOf(c, "")]["challenge.gone"]})
	}
	return cs, true, nil
}

// challengePasskey is POST /challenge/passkey: the options of an assertion
// whose challenge commits to the payment.
func (s *Server) challengePasskey(c echo.Context) error {
	cs, ok, err := s.windowConsent(c)
	if !ok {
		return err
	}
	opts, err := s.deps.SCA.BeginPasskeyLogin(c.Request().Context(), cs)
	if err != nil {
		return s.challengeError(c, cs, err)
	}
	return c.JSONBlob(http.StatusOK, opts)
}

// finishChallengePasskey is POST /challenge/passkey/finish: the assertion;
// checked, it authenticates the payment.
func (s *Server) finishChallengePasskey(c echo.Context) error {
	cs, ok, err := s.windowConsent(c)
	if !ok {
		return err
	}
	if err := s.deps.SCA.FinishPasskeyLogin(c.Request().Context(), cs, c.Request().Body); err != nil {
		return s.challengeError(c, cs, err)
	}
	return s.approveChallenge(c, cs)
}

// challengeCode is POST /challenge/code: a one-time code whose message
// names the amount and the payee, to the cardholder's registered contact.
func (s *Server) challengeCode(c echo.Context) error {
	cs, ok, err := s.windowConsent(c)
	if !ok {
		return err
	}
	ctx := c.Request().Context()
	lang := localeOf(c, cs.Locale)
	to, err := s.deps.Cards.CodeContact(ctx, cs.PartnerID, cs.IndividualID)
	if err != nil {
		return err
	}
	err = s.deps.SCA.SendCode(ctx, cs, to, lang)
	var limit *consent.SendLimitError
	if errors.As(err, &limit) {
		wait := int(math.Ceil(limit.RetryAfter.Seconds()))
		c.Response().Header().Set("Retry-After", strconv.Itoa(wait))
		return c.JSON(http.StatusTooManyRequests, challengeAnswer{Error: strings.ReplaceAll(texts[lang]["code.limit"], "{minutes}",
			strconv.Itoa(int(math.Ceil(float64(wait)/60))))})
	}
	if err != nil {
		return s.challengeError(c, cs, err)
	}
	return c.JSON(http.StatusOK, challengeAnswer{SentTo: maskContact(to)})
}

type verifyRequest struct {
	Code     string `json:"code"`
	Passcode string `json:"passcode"`
}

// verifyChallenge is POST /challenge/verify: the code and the passcode;
// checked, they authenticate the payment.
func (s *Server) verifyChallenge(c echo.Context) error {
	cs, ok, err := s.windowConsent(c)
	if !ok {
		return err
	}
	var req verifyRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := s.deps.SCA.Authenticate(c.Request().Context(), cs, req.Code, req.Passcode); err != nil {
		return s.challengeError(c, cs, err)
	}
	return s.approveChallenge(c, cs)
}

// cancelChallenge is POST /challenge/cancel: the cardholder declines to
// authenticate the payment.
func (s *Server) cancelChallenge(c echo.Context) error {
	cs, ok, err := s.windowConsent(c)
	if !ok {
		return err
	}
	ended, err := s.deps.Consents.Decline(c.Request().Context(), cs.PartnerID, cs.ID)
	if err != nil {
		return err
	}
	return s.challengeOutcome(c, ended)
}

// approveChallenge ends the challenge the cardholder passed: the consent
// approved, which authenticates the payment in its transaction.
func (s *Server) approveChallenge(c echo.Context, cs consent.Consent) error {
	if err := s.markAuthenticated(c, cs); err != nil {
		return err
	}
	ctx := c.Request().Context()
	cs, err := s.deps.Consents.Get(ctx, cs.PartnerID, cs.ID)
	if err != nil {
		return err
	}
	done, err := s.deps.Consents.Finish(ctx, cs, nil)
	if errors.Is(err, consent.ErrSessionEnded) {
		return c.JSON(http.StatusGone, challengeAnswer{Error: texts[localeOf(c, cs.Locale)]["challenge.gone"]})
	}
	if err != nil {
		return err
	}
	return s.challengeOutcome(c, done)
}

// challengeOutcome answers the payment's consent's end: the window's
// session ends, and the page posts the outcome to the merchant.
func (s *Server) challengeOutcome(c echo.Context, cs consent.Consent) error {
	s.endSession(c)
	trans := spend.TransNotAuthenticated
	if cs.Status == consent.StatusApproved {
		trans = spend.TransAuthenticated
	}
	return c.JSON(http.StatusOK, challengeAnswer{Outcome: outcomeOf(texts[localeOf(c, cs.Locale)], trans)})
}

// outcomeOf is what the window says of an ended challenge, Y or N.
func outcomeOf(t map[string]string, trans spend.TransStatus) *challengeOutcome {
	if trans == spend.TransAuthenticated {
		return &challengeOutcome{TransStatus: string(trans), Heading: t["outcome.authenticate_payment"], Explain: t["challenge.done.explain"]}
	}
	return &challengeOutcome{TransStatus: string(trans), Heading: t["challenge.failed"], Explain: t["challenge.failed.explain"]}
}

// challengeError maps the SCA's errors to what the window shows; every
// failed attempt says the same. At the fifth the consent failed, and the
// outcome says so.
func (s *Server) challengeError(c echo.Context, cs consent.Consent, err error) error {
	t := texts[localeOf(c, cs.Locale)]
	var fe *consent.FieldError
	switch {
	case errors.Is(err, consent.ErrLocked):
		ended, gerr := s.deps.Consents.Get(c.Request().Context(), cs.PartnerID, cs.ID)
		if gerr != nil {
			return gerr
		}
		a := challengeAnswer{Error: t["locked.explain"]}
		if ended.Status.Final() {
			s.endSession(c)
			a.Outcome = &challengeOutcome{TransStatus: string(spend.TransNotAuthenticated), Heading: t["locked.heading"], Explain: t["locked.explain"]}
		}
		return c.JSON(http.StatusForbidden, a)
	case errors.Is(err, consent.ErrSCAFailed), errors.As(err, &fe):
		return c.JSON(http.StatusUnprocessableEntity, challengeAnswer{Error: t["challenge.failed.try"]})
	case errors.Is(err, consent.ErrNoPasskey):
		return c.JSON(http.StatusConflict, challengeAnswer{Error: t["passkey.failed"]})
	case errors.Is(err, consent.ErrNotEnrolled):
		return c.JSON(http.StatusConflict, challengeAnswer{Error: t["challenge.enrol"]})
	case errors.Is(err, consent.ErrSessionEnded):
		return c.JSON(http.StatusGone, challengeAnswer{Error: t["challenge.gone"]})
	}
	return err
}

// paymentWords fills the placeholders of a payment's texts: {partner}
// (partnerName), {amount} and {payee}. Errors: consent.ErrSessionEnded
// when the payment may no longer be authenticated.
func (s *Server) paymentWords(c echo.Context, cs consent.Consent, lang, partnerName string) (*strings.Replacer, error) {
	pay, err := s.deps.Spend.Payment(c.Request().Context(), cs)
	if err != nil {
		return nil, err
	}
	return strings.NewReplacer("{partner}", partnerName, "{amount}", money(lang, pay.Amount, pay.Currency), "{payee}", pay.Payee), nil
}

// challengeStatus is POST /challenge/status: how the window's payment
// stands, which its page asks every few seconds, so that it learns the
// outcome however the challenge ends, also in the partner's app (which
// ends the window's session for everything else). It answers the outcome
// once the authentication is Y or N, and nothing before: the outcome is
// no secret, and the sealed session (its MAC, its age) says which
// payment's it is.
func (s *Server) challengeStatus(c echo.Context) error {
	sess := sessionOf(c)
	if sess == nil {
		return c.JSON(http.StatusGone, challengeAnswer{Error: texts[localeOf(c, "")]["challenge.gone"]})
	}
	cid, err1 := uuid.Parse(stringValue(sess.Values[sessConsent]))
	pid, err2 := uuid.Parse(stringValue(sess.Values[sessPartner]))
	if err1 != nil || err2 != nil {
		return c.JSON(http.StatusGone, challengeAnswer{Error: texts[localeOf(c, "")]["challenge.gone"]})
	}
	a, err := s.deps.Spend.Challenged(c.Request().Context(), pid, cid)
	if errors.Is(err, spend.ErrNotFound) {
		return c.JSON(http.StatusGone, challengeAnswer{Error: texts[localeOf(c, "")]["challenge.gone"]})
	}
	if err != nil {
		return err
	}
	if a.TransStatus != spend.TransAuthenticated && a.TransStatus != spend.TransNotAuthenticated {
		return c.JSON(http.StatusOK, challengeAnswer{}) // the cardholder has not finished
	}
	return c.JSON(http.StatusOK, challengeAnswer{Outcome: outcomeOf(texts[localeOf(c, "")], a.TransStatus)})
}
