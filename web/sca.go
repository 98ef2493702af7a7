package web

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/vaultpage/vaultpage/consent"
	"github.com/vaultpage/vaultpage/views"
)

// DevOutbox is the development notifier: one-time codes land here instead
// of in an inbox or on a phone, and GET /dev/outbox shows them (development
// only).
type DevOutbox struct {
	mu   sync.Mutex
	msgs []consent.Message
}

// Send implements consent.Notifier.
func (o *DevOutbox) Send(_ context.Context, m consent.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.msgs = append(o.msgs, m)
	if len(o.msgs) > 100 {
		o.msgs = o.msgs[len(o.msgs)-100:]
	}
	return nil
}

// Messages returns what was sent, newest last.
func (o *DevOutbox) Messages() []consent.Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]consent.Message(nil), o.msgs...)
}

// devOutbox is GET /dev/outbox: a page for a browser, JSON for anything
// else (the tests read it).
func (s *Server) devOutbox(c echo.Context) error {
	type msg struct {
		To      string `json:"to"`
		Subject string `json:"subject"`
		Body    string `json:"body"`
	}
	out := []msg{}
	for _, m := range s.deps.DevOutbox.Messages() {
		out = append(out, msg(m))
	}
	if strings.Contains(c.Request().Header.Get("Accept"), "text/html") {
		var v views.Outbox
		for i := len(out) - 1; i >= 0; i-- {
			v.Messages = append(v.Messages, views.OutboxMessage(out[i]))
		}
		return render(c, http.StatusOK, views.OutboxPage(s.page(c, "en", "Development outbox"), v))
	}
	return c.JSON(http.StatusOK, map[string]any{"messages": out})
}

// maskContact shows enough of an address for the cardholder to recognise it.
func maskContact(to string) string {
	if user, domain, ok := strings.Cut(to, "@"); ok {
		if len(user) > 1 {
			user = user[:1]
		}
		return user + "•••@" + domain
	}
	if len(to) > 4 {
		return to[:3] + strings.Repeat("•", len(to)-5) + to[len(to)-2:]
	}
	return "•••"
}

func csrfToken(c echo.Context) string {
	t, _ := c.Get("csrf").(string)
	return t
}

// sendCode is POST /consent/code: a fresh one-time code to the cardholder's
// registered contact (card.Service.CodeContact).
func (s *Server) sendCode(c echo.Context) error {
	cs, ok, err := s.hostedConsent(c)
	if err != nil {
		return err
	}
	if !ok {
		return s.gone(c, localeOf(c, ""))
	}
	to, err := s.deps.Cards.CodeContact(c.Request().Context(), cs.PartnerID, cs.IndividualID)
	if err != nil {
		return err
	}
	lang := localeOf(c, cs.Locale)
	err = s.deps.SCA.SendCode(c.Request().Context(), cs, to, lang)
	var limit *consent.SendLimitError
	if errors.Is(err, consent.ErrLocked) {
		return s.lockedPage(c, lang)
	}
	if errors.Is(err, consent.ErrNotEnrolled) {
		t := texts[lang]
		return render(c, http.StatusConflict, views.GonePage(s.page(c, lang, t["enrol.heading"]), views.Gone{Heading: t["enrol.heading"], Explain: t["enrol.explain"]}))
	}
	if errors.As(err, &limit) {
		wait := int(math.Ceil(limit.RetryAfter.Seconds()))
		c.Response().Header().Set("Retry-After", strconv.Itoa(wait))
		msg := strings.ReplaceAll(texts[lang]["code.limit"], "{minutes}", strconv.Itoa(int(math.Ceil(float64(wait)/60))))
		return s.verifyPage(c, cs, "", msg, http.StatusTooManyRequests)
	}
	if err != nil {
		return err
	}
	return s.verifyPage(c, cs, maskContact(to), "", http.StatusOK)
}

func (s *Server) verifyPage(c echo.Context, cs consent.Consent, sentTo, errMsg string, status int) error {
	ctx := c.Request().Context()
	enrolled, err := s.deps.SCA.Enrolled(ctx, cs.IndividualID)
	if err != nil {
		return err
	}
	p, err := s.deps.Partners.Partner(ctx, cs.PartnerID)
	if err != nil {
		return err
	}
	lang := localeOf(c, cs.Locale)
	t := texts[lang]
	passLabel := t["passcode"]
	if !enrolled {
		passLabel = t["passcode.new"]
	}
	if sentTo != "" {
		sentTo = t["sent"] + " " + sentTo
	}
	return render(c, status, views.VerifyPage(s.page(c, lang, t["verify"]), views.Verify{
		CSRF: csrfToken(c), Heading: t["verify"], SentTo: sentTo, CodeLabel: t["code"], PassLabel: passLabel,
		Enrolling: !enrolled, Submit: t["continue"], Resend: t["resend"], Error: errMsg, PartnerName: p.Name, DevOutbox: s.deps.DevOutbox != nil,
	}))
}

// verify is POST /consent/verify: the code and the passcode, checked
// together; a failure never says which one was wrong.
func (s *Server) verify(c echo.Context) error {
	cs, ok, err := s.hostedConsent(c)
	if err != nil {
		return err
	}
	if !ok {
		return s.gone(c, localeOf(c, ""))
	}
	lang := localeOf(c, cs.Locale)
	err = s.deps.SCA.Authenticate(c.Request().Context(), cs, c.Request().PostFormValue("code"), c.Request().PostFormValue("passcode"))
	var fe *consent.FieldError
	switch {
	case errors.Is(err, consent.ErrSCAFailed):
		return s.verifyPage(c, cs, "", texts[lang]["failed"], http.StatusUnprocessableEntity)
	case errors.Is(err, consent.ErrLocked):
		return s.lockedPage(c, lang)
	case errors.Is(err, consent.ErrNotEnrolled):
		t := texts[lang]
		return render(c, http.StatusConflict, views.GonePage(s.page(c, lang, t["enrol.heading"]), views.Gone{Heading: t["enrol.heading"], Explain: t["enrol.explain"]}))
	case errors.Is(err, consent.ErrWeakPasscode):
		return s.verifyPage(c, cs, "", texts[lang]["passcode.weak"], http.StatusUnprocessableEntity)
	case errors.As(err, &fe):
		return s.verifyPage(c, cs, "", texts[lang]["passcode.rule"], http.StatusUnprocessableEntity)
	case err != nil:
		return err
	}
	if err := s.markAuthenticated(c, cs); err != nil {
		return err
	}
	if s.deps.SCA.PasskeysEnabled() {
		return c.Redirect(http.StatusSeeOther, "/consent/passkey")
	}
	return c.Redirect(http.StatusSeeOther, "/consent/action")
}

// lockedPage says confirming is blocked for a while.
func (s *Server) lockedPage(c echo.Context, lang string) error {
	t := texts[lang]
	return render(c, http.StatusForbidden, views.GonePage(s.page(c, lang, t["locked.heading"]), views.Gone{Heading: t["locked.heading"], Explain: t["locked.explain"]}))
}
