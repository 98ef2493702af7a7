package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/consent"
	"github.com/vaultpage/vaultpage/partner"
	"github.com/vaultpage/vaultpage/views"
)

// SDKScheme is the custom URL scheme mobile SDKs intercept to learn the
// outcome: vaultpage://complete?consent_id=…&status=approved|canceled|…
const SDKScheme = "vaultpage"

// cancelHosted is POST /consent/cancel: the cardholder declines; the
// consent ends canceled and the cardholder goes back.
func (s *Server) cancelHosted(c echo.Context) error {
	cs, ok, err := s.hostedConsent(c)
	if err != nil {
		return err
	}
	if !ok {
		return s.gone(c, localeOf(c, ""))
	}
	canceled, err := s.deps.Consents.Cancel(c.Request().Context(), cs.PartnerID, cs.ID)
	if err != nil {
		return err
	}
	return s.complete(c, canceled)
}

// authenticated returns the session's consent once SCA passed for it: on
// the consent, on the server, and in this session.
func (s *Server) authenticated(c echo.Context) (consent.Consent, card.Card, bool, error) {
	cs, ok, err := s.hostedConsent(c)
	if err != nil || !ok {
		return cs, card.Card{}, false, err
	}
	if cs.AuthenticatedAt.IsZero() || stringValue(sessionOf(c).Values[sessSCA]) != cs.ID.String() {
		return cs, card.Card{}, false, nil
	}
	cd, err := s.deps.Cards.Card(c.Request().Context(), card.Actor{PartnerID: cs.PartnerID}, cs.CardID)
	return cs, cd, err == nil, err
}

// errRevealOver: the consent's card secrets were shown for as long as they
// may be (consent.RevealFor from SCA); the page is not served again.
var errRevealOver = errors.New("web: the time to show card secrets is over")

// cardholder names who acts, for the card service's audit entries.
func cardholder(cs consent.Consent) card.Cardholder {
	return card.Cardholder{IndividualID: cs.IndividualID, ConsentID: cs.ID}
}

// actionPage renders the page for the consent's action: the PIN form
// (with errMsg, when a PIN was refused), a confirmation, the card's
// details (and the CVV when asked), or the PIN. The card service reads the
// secrets and writes the audit entries; they reach the page as bytes and
// are wiped once it is rendered.
func (s *Server) actionPage(c echo.Context, status int, cs consent.Consent, cd card.Card, showCVV bool, errMsg string) error {
	ctx := c.Request().Context()
	lang := localeOf(c, cs.Locale)
	t := texts[lang]
	p, err := s.deps.Partners.Partner(ctx, cs.PartnerID)
	if err != nil {
		return err
	}
	heading := t[string(cs.Action)]
	page := s.page(c, lang, heading)
	switch cs.Action {
	case consent.ActionActivate, consent.ActionPINChange:
		return render(c, status, views.PINPage(page, views.PINForm{CSRF: csrfToken(c), PartnerName: p.Name, Heading: heading,
			CardLabel: t["card"], Last4: cd.Last4, Error: errMsg, PINLabel: t["pin.choose"], RepeatLabel: t["pin.repeat"],
			Submit: t["submit."+string(cs.Action)]}))
	case consent.ActionUnfreeze, consent.ActionApplePay:
		return render(c, status, views.ConfirmPage(page, views.Confirm{CSRF: csrfToken(c), PartnerName: p.Name, Heading: heading,
			Explain: t["confirm."+string(cs.Action)], Submit: t["submit."+string(cs.Action)]}))
	case consent.ActionReveal:
		left := s.deps.Consents.RevealLeft(cs)
		if left <= 0 {
			return errRevealOver
		}
		d, err := s.deps.Cards.RevealDetails(ctx, cs.PartnerID, cs.CardID, cardholder(cs), showCVV)
		if err != nil {
			return err
		}
		defer d.Wipe()
		return render(c, status, views.RevealPage(page, views.Reveal{CSRF: csrfToken(c), PartnerName: p.Name, Heading: heading,
			Number: d.Number, Expiry: d.Expiry, CVV: d.CVV, PANLabel: t["pan"], ExpiryLabel: t["expiry"], CVVLabel: t["cvv"],
			ShowCVV: t["cvv.show"], HideAfter: int(left.Seconds()), Copy: t["copy"], Copied: t["copied"], Submit: t["done"]}))
	case consent.ActionPINView:
		left := s.deps.Consents.RevealLeft(cs)
		if left <= 0 {
			return errRevealOver
		}
		v := views.PINView{CSRF: csrfToken(c), PartnerName: p.Name, Heading: heading, HideAfter: int(left.Seconds()), Submit: t["done"]}
		pin, err := s.deps.Cards.ShowPIN(ctx, cs.PartnerID, cs.CardID, cardholder(cs))
		switch {
		case errors.Is(err, card.ErrNoPIN): // the API refuses a PIN view of such a card; it may have lost it since
			v.NoPIN, v.HideAfter = t["pin.none"], 0
		case err != nil:
			return err
		}
		defer pin.Wipe()
		v.PIN = pin
		return render(c, status, views.PINViewPage(page, v))
	}
	return fmt.Errorf("web: no page for the action %q", cs.Action)
}

// action is GET /consent/action: the page for what the cardholder approves.
func (s *Server) action(c echo.Context) error {
	cs, cd, ok, err := s.authenticated(c)
	if err != nil {
		return err
	}
	if !ok {
		return s.gone(c, localeOf(c, ""))
	}
	if err := s.actionPage(c, http.StatusOK, cs, cd, false, ""); errors.Is(err, errRevealOver) {
		return s.gone(c, localeOf(c, cs.Locale))
	} else if err != nil {
		return err
	}
	return nil
}

// submitAction is POST /consent/action: set or change the PIN, confirm, show
// the CVV, or finish looking.
func (s *Server) submitAction(c echo.Context) error {
	cs, cd, ok, err := s.authenticated(c)
	if err != nil {
		return err
	}
	if !ok {
		return s.gone(c, localeOf(c, ""))
	}
	ctx := c.Request().Context()
	lang := localeOf(c, cs.Locale)
	var work func(ctx context.Context) error
	switch cs.Action {
	case consent.ActionReveal:
		if c.Request().PostFormValue("show") == "cvv" {
			if err := s.actionPage(c, http.StatusOK, cs, cd, true, ""); errors.Is(err, errRevealOver) {
				return s.gone(c, lang)
			} else if err != nil {
				return err
			}
			return nil
		}
	case consent.ActionActivate, consent.ActionPINChange:
		pin, pin2 := []byte(c.Request().PostFormValue("pin")), []byte(c.Request().PostFormValue("pin2"))
		if reason := s.pinProblem(ctx, cs, pin, pin2, lang); reason != "" {
			return s.actionPage(c, http.StatusUnprocessableEntity, cs, cd, false, reason)
		}
		work = func(ctx context.Context) error {
			return s.deps.Cards.ChoosePIN(ctx, cs.PartnerID, cs.CardID, cardholder(cs), pin, cs.Action == consent.ActionPINChange)
		}
	}
	done, err := s.deps.Consents.Finish(ctx, cs, work)
	if err != nil {
		return err
	}
	return s.complete(c, done)
}

// pinProblem checks two PIN entries against each other and the card's PIN
// policy; the reason is shown to the cardholder, in their language.
func (s *Server) pinProblem(ctx context.Context, cs consent.Consent, pin, pin2 []byte, lang string) string {
	t := texts[lang]
	if !bytes.Equal(pin, pin2) {
		return t["pin.mismatch"]
	}
	err := s.deps.Cards.CheckPIN(ctx, cs.PartnerID, cs.CardID, pin)
	var pe *card.PINError
	switch {
	case errors.As(err, &pe) && pe.Weak:
		return t["pin.weak"]
	case errors.As(err, &pe):
		return t["pin.form"]
	case err != nil:
		return t["error.explain"]
	}
	return ""
}

// complete ends the hosted session and sends the cardholder back: to the
// partner's return URL with consent_id and status, or to a page saying all
// is done.
func (s *Server) complete(c echo.Context, cs consent.Consent) error {
	s.endSession(c)
	lang := localeOf(c, cs.Locale)
	t := texts[lang]
	back, err := s.returnURL(c, cs)
	if err != nil {
		return err
	}
	if cs.Mode == consent.ModeSDK || cs.Mode == consent.ModePopup {
		q := url.Values{"consent_id": {cs.ID.String()}, "status": {string(cs.Status)}}
		result := map[string]string{"consent_id": cs.ID.String(), "status": string(cs.Status), "mode": string(cs.Mode),
			"scheme_url": SDKScheme + "://complete?" + q.Encode()}
		if back != nil {
			result["target_origin"] = back.Origin()
		}
		return render(c, http.StatusOK, views.CompletePage(s.page(c, lang, t["done.heading"]), views.Complete{
			Heading: t["done.heading"], Explain: t["done.explain"], Result: result}))
	}
	if back != nil {
		return c.Redirect(http.StatusSeeOther, back.With(map[string]string{"consent_id": cs.ID.String(), "status": string(cs.Status)}))
	}
	return render(c, http.StatusOK, views.GonePage(s.page(c, lang, t["done.heading"]), views.Gone{Heading: t["done.heading"], Explain: t["done.explain"]}))
}

// returnURL is where the consent sends the cardholder back, matched again
// against the partner's registered return URLs (partner.MatchReturnURL);
// nil when it names none, or one the partner no longer has.
func (s *Server) returnURL(c echo.Context, cs consent.Consent) (*partner.ReturnURL, error) {
	if cs.ReturnURL == "" {
		return nil, nil
	}
	p, err := s.deps.Partners.Partner(c.Request().Context(), cs.PartnerID)
	if err != nil {
		return nil, err
	}
	back, err := partner.MatchReturnURL(cs.ReturnURL, p.ReturnURLs)
	if err != nil {
		s.deps.Logger.WarnContext(c.Request().Context(), "a consent's return url is no longer registered", "consent_id", cs.ID)
		return nil, nil
	}
	return &back, nil
}
