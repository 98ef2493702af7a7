package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/vaultpage/vaultpage/audit"
	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/consent"
	"github.com/vaultpage/vaultpage/partner"
	"github.com/vaultpage/vaultpage/vault"
	"github.com/vaultpage/vaultpage/views"
)

// CardVault is what the hosted action pages need of the vault.
type CardVault interface {
	LoadPAN(ctx context.Context, o vault.Owner) (vault.PAN, error)
	CVV(ctx context.Context, o vault.Owner, e vault.Expiry, serviceCode string) (vault.Secret, error)
	SetPIN(ctx context.Context, o vault.Owner, pin vault.Secret) error
	RevealPIN(ctx context.Context, o vault.Owner) (vault.Secret, error)
}

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

func owner(cd card.Card) vault.Owner {
	return vault.Owner{PartnerID: cd.PartnerID.String(), Table: "cards", RecordID: cd.ID.String()}
}

func (s *Server) record(ctx context.Context, cs consent.Consent, action string) error {
	return s.deps.Audit.Append(ctx, audit.Entry{Actor: "cardholder:" + cs.IndividualID.String(), Action: action,
		Target: "card:" + cs.CardID.String(), Details: map[string]string{"consent_id": cs.ID.String()}})
}

// errRevealOver: the consent's card secrets were shown for as long as they
// may be (consent.RevealFor from SCA); the page is not served again.
var errRevealOver = errors.New("web: the time to show card secrets is over")

// errNoPIN: the card whose PIN the cardholder came to see has none; the
// view says so.
var errNoPIN = errors.New("web: the card has no PIN")

// actionView builds the page for the consent's action; reveal fills in the
// card details (and the CVV when asked).
func (s *Server) actionView(c echo.Context, cs consent.Consent, cd card.Card, showCVV bool) (views.Action, error) {
	ctx := c.Request().Context()
	t := texts[localeOf(c, cs.Locale)]
	p, err := s.deps.Partners.Partner(ctx, cs.PartnerID)
	if err != nil {
		return views.Action{}, err
	}
	v := views.Action{CSRF: csrfToken(c), PartnerName: p.Name, Heading: t[string(cs.Action)]}
	switch cs.Action {
	case consent.ActionActivate, consent.ActionPINChange:
		v.PINForm, v.PINLabel, v.RepeatLabel, v.Submit = true, t["pin.choose"], t["pin.repeat"], t["submit."+string(cs.Action)]
	case consent.ActionUnfreeze, consent.ActionApplePay:
		v.Explain, v.Submit = t["confirm."+string(cs.Action)], t["submit."+string(cs.Action)]
	case consent.ActionReveal:
		left := s.deps.Consents.RevealLeft(cs)
		if left <= 0 {
			return v, errRevealOver
		}
		pan, err := s.deps.Vault.LoadPAN(ctx, owner(cd))
		if err != nil {
			return v, err
		}
		defer pan.Wipe()
		v.PAN, v.PANLabel, v.ExpiryLabel, v.CVVLabel, v.ShowCVV = pan.Grouped(), t["pan"], t["expiry"], t["cvv"], t["cvv.show"]
		v.Expiry = fmt.Sprintf("%02d/%02d", cd.ExpMonth, cd.ExpYear%100)
		v.HideAfter, v.Submit, v.Copy, v.Copied = int(left.Seconds()), t["done"], t["copy"], t["copied"]
		if showCVV {
			cvv, err := s.deps.Vault.CVV(ctx, owner(cd), vault.Expiry{Year: cd.ExpYear, Month: cd.ExpMonth}, vault.ServiceCodeCVV2)
			if err != nil {
				return v, err
			}
			v.CVV = string(cvv.Reveal())
			cvv.Wipe()
		}
	case consent.ActionPINView:
		left := s.deps.Consents.RevealLeft(cs)
		if left <= 0 {
			return v, errRevealOver
		}
		pin, err := s.deps.Vault.RevealPIN(ctx, owner(cd))
		if errors.Is(err, vault.ErrNotFound) { // no PIN was ever set
			v.Explain, v.Submit = t["pin.none"], t["done"]
			return v, errNoPIN
		}
		if err != nil {
			return v, err
		}
		v.PIN = string(pin.Reveal())
		pin.Wipe()
		v.HideAfter, v.Submit = int(left.Seconds()), t["done"]
	}
	return v, nil
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
	v, err := s.actionView(c, cs, cd, false)
	switch {
	case errors.Is(err, errRevealOver):
		return s.gone(c, localeOf(c, cs.Locale))
	case errors.Is(err, errNoPIN):
		return render(c, http.StatusOK, views.ActionPage(s.page(c, localeOf(c, cs.Locale), v.Heading), v))
	case err != nil:
		return err
	}
	switch cs.Action {
	case consent.ActionReveal:
		err = s.record(c.Request().Context(), cs, "card.revealed")
	case consent.ActionPINView:
		err = s.record(c.Request().Context(), cs, "card.pin_viewed")
	}
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.ActionPage(s.page(c, localeOf(c, cs.Locale), v.Heading), v))
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
			v, err := s.actionView(c, cs, cd, true)
			if errors.Is(err, errRevealOver) {
				return s.gone(c, lang)
			}
			if err != nil {
				return err
			}
			if err := s.record(ctx, cs, "card.cvv_revealed"); err != nil {
				return err
			}
			return render(c, http.StatusOK, views.ActionPage(s.page(c, lang, v.Heading), v))
		}
	case consent.ActionActivate, consent.ActionPINChange:
		pin, pin2 := c.Request().PostFormValue("pin"), c.Request().PostFormValue("pin2")
		if reason := s.pinProblem(ctx, cd, pin, pin2, lang); reason != "" {
			v, err := s.actionView(c, cs, cd, false)
			if err != nil {
				return err
			}
			v.Error = reason
			return render(c, http.StatusUnprocessableEntity, views.ActionPage(s.page(c, lang, v.Heading), v))
		}
		work = func(ctx context.Context) error {
			secret := vault.SecretString(pin)
			defer secret.Wipe()
			if err := s.deps.Vault.SetPIN(ctx, owner(cd), secret); err != nil {
				return err
			}
			action := "card.pin_set"
			if cs.Action == consent.ActionPINChange {
				action = "card.pin_changed"
			}
			return s.record(ctx, cs, action)
		}
	}
	done, err := s.deps.Consents.Finish(ctx, cs, work)
	if err != nil {
		return err
	}
	return s.complete(c, done)
}

// pinProblem checks two PIN entries against the policy and the card; the
// reason is shown to the cardholder, in their language.
func (s *Server) pinProblem(ctx context.Context, cd card.Card, pin, pin2, lang string) string {
	t := texts[lang]
	if pin != pin2 {
		return t["pin.mismatch"]
	}
	pan, err := s.deps.Vault.LoadPAN(ctx, owner(cd))
	if err != nil {
		return t["error.explain"]
	}
	defer pan.Wipe()
	err = vault.DefaultPINPolicy().Check(vault.SecretString(pin), pan)
	var ie *vault.InputError
	if errors.As(err, &ie) {
		if errors.Is(err, vault.ErrWeakPIN) {
			return t["pin.weak"]
		}
		return t["pin.form"]
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
