package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/consent"
	"github.com/vaultpage/vaultpage/views"
)

// The passkey endpoints answer static/passkey.js in JSON: the options for
// the browser's WebAuthn call, then {"next": URL} on success or
// {"error": message} in the cardholder's language. Every failure of a
// login says the same thing.

type passkeyAnswer struct {
	Next  string `json:"next,omitempty"`
	Error string `json:"error,omitempty"`
}

// passkeyGone answers a request whose hosted session has ended.
func (s *Server) passkeyGone(c echo.Context) error {
	return c.JSON(http.StatusGone, passkeyAnswer{Error: texts[localeOf(c, "")]["gone.explain"]})
}

// beginPasskeyLogin is POST /consent/passkey/login.
func (s *Server) beginPasskeyLogin(c echo.Context) error {
	cs, ok, err := s.hostedConsent(c)
	if err != nil {
		return err
	}
	if !ok {
		return s.passkeyGone(c)
	}
	opts, err := s.deps.SCA.BeginPasskeyLogin(c.Request().Context(), cs)
	if err != nil {
		return s.passkeyError(c, cs, err)
	}
	return c.JSONBlob(http.StatusOK, opts)
}

// finishPasskeyLogin is POST /consent/passkey/login/finish: the assertion.
func (s *Server) finishPasskeyLogin(c echo.Context) error {
	cs, ok, err := s.hostedConsent(c)
	if err != nil {
		return err
	}
	if !ok {
		return s.passkeyGone(c)
	}
	if err := s.deps.SCA.FinishPasskeyLogin(c.Request().Context(), cs, c.Request().Body); err != nil {
		return s.passkeyError(c, cs, err)
	}
	if err := s.markAuthenticated(c, cs); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, passkeyAnswer{Next: "/consent/action"})
}

// passkeyError maps the SCA errors to what the script shows.
func (s *Server) passkeyError(c echo.Context, cs consent.Consent, err error) error {
	t := texts[localeOf(c, cs.Locale)]
	switch {
	case errors.Is(err, consent.ErrLocked):
		return c.JSON(http.StatusForbidden, passkeyAnswer{Error: t["locked.explain"]})
	case errors.Is(err, consent.ErrSCAFailed):
		return c.JSON(http.StatusUnprocessableEntity, passkeyAnswer{Error: t["passkey.failed"]})
	case errors.Is(err, consent.ErrNoPasskey):
		return c.JSON(http.StatusConflict, passkeyAnswer{Error: t["passkey.failed"]})
	}
	return err
}

// passkeyOffer is GET /consent/passkey: after a code and passcode, the
// offer to create a passkey for next time.
func (s *Server) passkeyOffer(c echo.Context) error {
	cs, _, ok, err := s.authenticated(c)
	if err != nil {
		return err
	}
	if !ok {
		return s.gone(c, localeOf(c, ""))
	}
	if !s.deps.SCA.PasskeysEnabled() {
		return c.Redirect(http.StatusSeeOther, "/consent/action")
	}
	p, err := s.deps.Partners.Partner(c.Request().Context(), cs.PartnerID)
	if err != nil {
		return err
	}
	lang := localeOf(c, cs.Locale)
	t := texts[lang]
	return render(c, http.StatusOK, views.PasskeyOfferPage(s.page(c, lang, t["passkey.offer"]), views.PasskeyOffer{
		CSRF: csrfToken(c), PartnerName: p.Name, Heading: t["passkey.offer"], Explain: t["passkey.explain"], Create: t["passkey.create"],
		Skip: t["passkey.skip"], Failed: t["passkey.notcreated"],
	}))
}

// beginPasskeyRegistration is POST /consent/passkey/register; only after
// SCA passed in this session.
func (s *Server) beginPasskeyRegistration(c echo.Context) error {
	cs, _, ok, err := s.authenticated(c)
	if err != nil {
		return err
	}
	if !ok {
		return s.passkeyGone(c)
	}
	ctx := c.Request().Context()
	ind, err := s.deps.Cards.Individual(ctx, card.Actor{PartnerID: cs.PartnerID}, cs.IndividualID)
	if err != nil {
		return err
	}
	name := ind.Email
	if name == "" {
		name = ind.Phone
	}
	opts, err := s.deps.SCA.BeginPasskeyRegistration(ctx, cs, consent.Cardholder{Name: name, DisplayName: strings.TrimSpace(ind.FirstName + " " + ind.LastName)})
	if err != nil {
		return s.passkeyError(c, cs, err)
	}
	return c.JSONBlob(http.StatusOK, opts)
}

// finishPasskeyRegistration is POST /consent/passkey/register/finish.
func (s *Server) finishPasskeyRegistration(c echo.Context) error {
	cs, _, ok, err := s.authenticated(c)
	if err != nil {
		return err
	}
	if !ok {
		return s.passkeyGone(c)
	}
	if err := s.deps.SCA.FinishPasskeyRegistration(c.Request().Context(), cs, c.Request().Body); err != nil {
		if errors.Is(err, consent.ErrSCAFailed) {
			return c.JSON(http.StatusUnprocessableEntity, passkeyAnswer{Error: texts[localeOf(c, cs.Locale)]["passkey.notcreated"]})
		}
		return s.passkeyError(c, cs, err)
	}
	return c.JSON(http.StatusOK, passkeyAnswer{Next: "/consent/action"})
}
