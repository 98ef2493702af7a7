package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

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
	ctx := c.Request().Context()
	canceled, err := s.deps.Consents.Cancel(ctx, cs.PartnerID, cs.ID)
	if err != nil {
		return err
	}
	cd, err := s.deps.Cards.Card(ctx, card.Actor{PartnerID: cs.PartnerID}, cs.CardID)
	if err != nil {
		return err
	}
	return s.complete(c, canceled, cd, false)
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

// showMargin is how much sooner than consent.RevealFor ends a page showing
// secrets leaves by itself: the session's idle limit counts from the same
// moment in whole seconds, and the page's own done form must still find its
// session when it posts.
const showMargin = 2 * time.Second

// showFor is how long a page may show secrets, given the consent's time
// left (consent.Service.RevealLeft), in whole seconds; zero or less when
// it may not.
func showFor(left time.Duration) time.Duration {
	return (left - showMargin).Truncate(time.Second)
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
	case consent.ActionUnfreeze, consent.ActionApplePay, consent.ActionAuthenticatePayment:
		explain := t["confirm."+string(cs.Action)]
		if cs.Action == consent.ActionAuthenticatePayment {
			words, err := s.paymentWords(c, cs, lang, p.Name)
			if err != nil {
				return err
			}
			explain = words.Replace(explain)
		}
		return render(c, status, views.ConfirmPage(page, views.Confirm{CSRF: csrfToken(c), PartnerName: p.Name, Heading: heading,
			CardLabel: t["card"], Last4: cd.Last4, Explain: explain, Submit: t["submit."+string(cs.Action)]}))
	case consent.ActionReveal:
		left := showFor(s.deps.Consents.RevealLeft(cs))
		if left <= 0 {
			return errRevealOver
		}
		d, err := s.deps.Cards.RevealDetails(ctx, cs.PartnerID, cs.CardID, cardholder(cs), showCVV)
		if err != nil {
			return err
		}
		defer d.Wipe()
		return render(c, status, views.RevealPage(page, views.Reveal{CSRF: csrfToken(c), PartnerName: p.Name, Heading: heading,
			CardLabel: t["card"], Last4: cd.Last4, Number: d.Number, Expiry: d.Expiry, CVV: d.CVV, PANLabel: t["pan"],
			ExpiryLabel: t["expiry"], CVVLabel: t["cvv"], ShowCVV: t["cvv.show"], HideAfter: int(left.Seconds()),
			TimeLeft: views.TimeLeft{Before: t["left.before"], After: t["left.after"], LastMinute: t["left.minute"]},
			Copy:     t["copy"], Copied: t["copied"], Submit: t["done"]}))
	case consent.ActionPINView:
		left := showFor(s.deps.Consents.RevealLeft(cs))
		if left <= 0 {
			return errRevealOver
		}
		v := views.PINView{CSRF: csrfToken(c), PartnerName: p.Name, Heading: heading, CardLabel: t["card"], Last4: cd.Last4,
			HideAfter: int(left.Seconds()), TimeLeft: views.TimeLeft{Before: t["left.pin"], After: t["left.after"], LastMinute: t["left.minute"]},
			Submit: t["done"]}
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
		return s.revealOver(c, cs, cd)
	} else if err != nil {
		return err
	}
	return nil
}

// revealOver answers a request for secrets whose time is up (a reload, or
// a page whose script did not run): the consent ends approved, since the
// secrets were shown, and the outcome page says why they are gone.
func (s *Server) revealOver(c echo.Context, cs consent.Consent, cd card.Card) error {
	done, err := s.deps.Consents.Finish(c.Request().Context(), cs, nil)
	if err != nil {
		return err
	}
	return s.complete(c, done, cd, true)
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
				return s.revealOver(c, cs, cd)
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
	return s.complete(c, done, cd, c.Request().PostFormValue("why") == "time")
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

// returnAfter is how long the outcome page stays before it goes back to
// the partner by itself.
const returnAfter = 5

// complete ends the hosted session and shows the outcome: what happened to
// the card cd (as read before the consent ended), in the cardholder's words (timedOut: the secrets left the page
// because their time was up), and the way back, which the page takes by
// itself after returnAfter seconds: to the partner's return URL with
// consent_id and status, to the SDK's scheme URL, or closing the popup.
func (s *Server) complete(c echo.Context, cs consent.Consent, cd card.Card, timedOut bool) error {
	s.endSession(c)
	ctx := c.Request().Context()
	lang := localeOf(c, cs.Locale)
	t := texts[lang]
	p, err := s.deps.Partners.Partner(ctx, cs.PartnerID)
	if err != nil {
		return err
	}
	back := s.returnURL(ctx, cs, p)
	key := outcomeKey(cs)
	explain := t[key+".explain"]
	if timedOut && cs.Status == consent.StatusApproved {
		if why, ok := t[key+".time"]; ok {
			explain = why
		}
	}
	words := strings.NewReplacer("{partner}", p.Name, "{last4}", cd.Last4)
	v := views.Outcome{PartnerName: p.Name, Heading: t[key], Explain: words.Replace(explain), Done: cs.Status == consent.StatusApproved,
		Back: words.Replace(t["back"]), ReturnAfter: returnAfter}
	q := url.Values{"consent_id": {cs.ID.String()}, "status": {string(cs.Status)}}
	result := map[string]string{"consent_id": cs.ID.String(), "status": string(cs.Status), "mode": string(cs.Mode),
		"return_after": strconv.Itoa(returnAfter)}
	countdown := t["back.in"]
	switch {
	case cs.Mode == consent.ModeSDK:
		v.BackURL = SDKScheme + "://complete?" + q.Encode()
		result["scheme_url"] = v.BackURL
	case cs.Mode == consent.ModePopup:
		v.Close, countdown = true, t["close.in"]
		if back != nil {
			result["target_origin"] = back.Origin()
		}
	case back != nil:
		v.BackURL = back.With(map[string]string{"consent_id": cs.ID.String(), "status": string(cs.Status)})
		result["return_url"] = v.BackURL
	default:
		v.Explain += " " + t["nowhere"]
	}
	v.Countdown[0], v.Countdown[1], _ = strings.Cut(countdown, "|")
	v.Result = result
	return render(c, http.StatusOK, views.OutcomePage(s.page(c, lang, t[key]), v))
}

// outcomeKey names the texts that say how a consent ended: what its
// action did, that the cardholder canceled, or that it ended otherwise.
func outcomeKey(cs consent.Consent) string {
	switch cs.Status {
	case consent.StatusApproved:
		return "outcome." + string(cs.Action)
	case consent.StatusCanceled:
		return "outcome.canceled"
	}
	return "outcome.ended"
}

// returnURL is where the consent sends the cardholder back, matched again
// against the partner's registered return URLs (partner.MatchReturnURL);
// nil when it names none, or one the partner no longer has.
func (s *Server) returnURL(ctx context.Context, cs consent.Consent, p partner.Partner) *partner.ReturnURL {
	if cs.ReturnURL == "" {
		return nil
	}
	back, err := partner.MatchReturnURL(cs.ReturnURL, p.ReturnURLs)
	if err != nil {
		s.deps.Logger.WarnContext(ctx, "a consent's return url is no longer registered", "consent_id", cs.ID)
		return nil
	}
	return &back
}
