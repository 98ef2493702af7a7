package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/google/uuid"
	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/consent"
	"github.com/vaultpage/vaultpage/partner"
	"github.com/vaultpage/vaultpage/static"
	"github.com/vaultpage/vaultpage/views"
)

// Hosted-page session settings.
const (
	// sessionIdle ends a hosted session after five minutes without a request.
	sessionIdle = 5 * time.Minute
	ctxNonce    = "vaultpage.nonce"
	ctxBrand    = "vaultpage.brand"
)

// SessionKeys sign and encrypt the hosted-page session cookie (gorilla
// securecookie: HMAC-SHA-256 and AES-256).
type SessionKeys struct {
	Hash, Block []byte
}

func newSessionStore(k SessionKeys, secure bool) *sessions.CookieStore {
	s := sessions.NewCookieStore(k.Hash, k.Block)
	s.Options = &sessions.Options{Path: "/", MaxAge: int((30 * time.Minute).Seconds()), HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode}
	s.MaxAge(s.Options.MaxAge)
	return s
}

// sessionCookie names the hosted session's cookie: with the __Host- prefix
// over https, so that browsers accept it only Secure, for this host alone
// and for every path; plain "vp_hosted" on a development http URL, where
// the prefix cannot be.
func sessionCookie(secure bool) string {
	if secure {
		return "__Host-vp_hosted"
	}
	return "vp_hosted"
}

// hostedHeaders hardens every hosted page: a strict CSP with a fresh nonce,
// no framing, no referrer, no caching, no sniffing, and HSTS over https.
func (s *Server) hostedHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		nonce := base64.RawStdEncoding.EncodeToString(b)
		c.Set(ctxNonce, nonce)
		c.Set(ctxRender, renderPage)
		h := c.Response().Header()
		h.Set("Content-Security-Policy", csp(nonce, nil))
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		if strings.HasPrefix(s.deps.PublicURL, "https://") {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		return next(c)
	}
}

// csp is the hosted pages' Content Security Policy. Forms post to vaultpage
// only: no form answers with a redirect to the partner (the outcome page
// links back), so form-action is 'self' alone. frameAncestors are the
// partner's registered origins that may embed the pages (validated origins,
// see partner.Branding); none means no framing.
func csp(nonce string, frameAncestors []string) string {
	ancestors := "'none'"
	if len(frameAncestors) > 0 {
		ancestors = strings.Join(frameAncestors, " ")
	}
	return "default-src 'none'; script-src 'nonce-" + nonce + "'; style-src 'self' 'nonce-" + nonce + "'; " +
		"img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors " + ancestors
}

// filesOnly serves the files of an fs.FS and nothing for its directories,
// so that /static/ lists nothing.
type filesOnly struct{ fsys fs.FS }

func (f filesOnly) Open(name string) (fs.File, error) {
	st, err := fs.Stat(f.fsys, name)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fs.ErrNotExist
	}
	return f.fsys.Open(name)
}

// favicon is GET /favicon.ico: the icon static/ holds, as PNG.
func (s *Server) favicon(c echo.Context) error {
	b, err := fs.ReadFile(static.Files, "favicon.png")
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=86400")
	return c.Blob(http.StatusOK, "image/png", b)
}

// logoURL is where the hosted pages load the partner's logo from; the
// digest changes with the logo, so browsers may cache it.
func logoURL(partnerID uuid.UUID, b partner.Branding) string {
	d := b.LogoDigest()
	if d == "" {
		return ""
	}
	return "/brand/" + partnerID.String() + "/logo.png?v=" + d
}

// logo is GET /brand/:partner/logo.png: the partner's logo, public.
func (s *Server) logo(c echo.Context) error {
	id, err := uuid.Parse(c.Param("partner"))
	if err != nil {
		return echo.ErrNotFound
	}
	b, err := s.deps.Partners.Branding(c.Request().Context(), id)
	if err != nil {
		return err
	}
	if len(b.Logo) == 0 {
		return echo.ErrNotFound
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("ETag", `"`+b.LogoDigest()+`"`)
	if c.Request().Header.Get("If-None-Match") == `"`+b.LogoDigest()+`"` {
		return c.NoContent(http.StatusNotModified)
	}
	return c.Blob(http.StatusOK, "image/png", b.Logo)
}

// render writes a templ component into a buffer first, so that a failure
// never leaves half a page. Rendering ignores the request's cancellation: the
// error handler renders after the request's timeout context has ended.
func render(c echo.Context, status int, comp templ.Component) error {
	var buf bytes.Buffer
	defer func() { clear(buf.Bytes()) }() // a page may hold card secrets
	if err := comp.Render(context.WithoutCancel(c.Request().Context()), &buf); err != nil {
		return err
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// texts are the hosted pages' strings, by locale.
//
//nolint:gosec // G101: user-facing labels that mention PINs and passcodes, not credentials.
var texts = map[string]map[string]string{
	"en": {
		"copy":                       "Copy",
		"copied":                     "Copied",
		"cancel":                     "Cancel",
		"pin.choose":                 "Choose a 4-digit PIN",
		"pin.repeat":                 "Repeat the PIN",
		"pin.mismatch":               "The two PINs are not the same.",
		"pin.weak":                   "That PIN is too easy to guess. Avoid repeated digits, runs like 1234, and your card number.",
		"pin.form":                   "A PIN is exactly 4 digits.",
		"pin.none":                   "This card has no PIN yet. Go back to the app to choose one.",
		"submit.activate":            "Activate card",
		"submit.pin_change":          "Change PIN",
		"submit.unfreeze":            "Unfreeze card",
		"submit.apple_pay":           "Add to Apple Pay",
		"confirm.unfreeze":           "Your card will work again right away.",
		"confirm.apple_pay":          "Your card will be added to Apple Pay on this device.",
		"pan":                        "Card number",
		"expiry":                     "Expires",
		"cvv":                        "Security code",
		"cvv.show":                   "Show security code",
		"done":                       "Done",
		"send":                       "Send me a code",
		"verify":                     "Confirm it is you",
		"sent":                       "We sent a six-digit code to",
		"code":                       "Code",
		"passcode":                   "Passcode",
		"passcode.new":               "Choose a passcode (at least 6 characters)",
		"passcode.rule":              "Choose a passcode of 6 to 64 characters.",
		"passcode.weak":              "That passcode is too easy to guess. Avoid repeated characters, runs like 123456, common passwords and your card number.",
		"continue":                   "Continue",
		"resend":                     "Send a new code",
		"code.limit":                 "We cannot send another code yet. Use the last code we sent, or ask for a new one in {minutes} min.",
		"failed":                     "That did not work. Check the code and your passcode, or send a new code.",
		"locked.heading":             "Too many attempts",
		"locked.explain":             "For your safety, confirming is blocked for 15 minutes. Go back to the app and try again later.",
		"gone.title":                 "This link has expired",
		"gone.heading":               "This link no longer works",
		"gone.explain":               "Links to this page work once and only for a few minutes. Go back to the app and start again.",
		"card":                       "Card",
		"error.heading":              "Something went wrong",
		"error.explain":              "Nothing was changed. Go back to the app and try again.",
		"explain":                    "Confirm it is you to continue.",
		"activate":                   "Activate your card",
		"reveal":                     "See your card details",
		"pin_view":                   "See your PIN",
		"pin_change":                 "Change your PIN",
		"unfreeze":                   "Unfreeze your card",
		"apple_pay":                  "Add your card to Apple Pay",
		"passkey.login":              "Use your passkey",
		"passkey.failed":             "That did not work. Try again, or send yourself a code instead.",
		"passkey.offer":              "Use a passkey next time?",
		"passkey.explain":            "With a passkey you confirm with your fingerprint, face or screen lock: no code, no passcode.",
		"passkey.create":             "Create a passkey",
		"passkey.skip":               "Not now",
		"passkey.notcreated":         "No passkey was created. You can go on without one.",
		"send.instead":               "Send me a code instead",
		"secured":                    "Secured by {programme}",
		"why":                        "{partner} sent you to this secure page so that only you see your card details and PIN.",
		"left.before":                "These details hide in ",
		"left.pin":                   "Your PIN hides in ",
		"left.after":                 ".",
		"left.minute":                "One minute left before this page hides what it shows.",
		"back":                       "Back to {partner}",
		"back.in":                    "Taking you back in | s.",
		"close.in":                   "This window closes in | s.",
		"nowhere":                    "You can close this page and go back to the app.",
		"outcome.activate":           "Your card is active",
		"outcome.activate.explain":   "Card •••• {last4} is ready to use with the PIN you chose.",
		"outcome.pin_change":         "Your PIN is changed",
		"outcome.pin_change.explain": "Use the new PIN for card •••• {last4} from now on.",
		"outcome.unfreeze":           "Your card works again",
		"outcome.unfreeze.explain":   "Card •••• {last4} can be used for payments right away.",
		"outcome.apple_pay":          "Card approved for Apple Pay",
		"outcome.apple_pay.explain":  "{partner} now adds card •••• {last4} to Apple Pay on your device.",
		"outcome.reveal":             "Your card details are hidden again",
		"outcome.reveal.explain":     "You can see them again from the app whenever you need them.",
		"outcome.reveal.time":        "For your safety, card details stay on screen for at most 5 minutes. You can see them again from the app.",
		"outcome.pin_view":           "Your PIN is hidden again",
		"outcome.pin_view.explain":   "You can see it again from the app whenever you need it.",
		"outcome.pin_view.time":      "For your safety, a PIN stays on screen for at most 5 minutes. You can see it again from the app.",
		"outcome.canceled":           "Nothing was changed",
		"outcome.canceled.explain":   "You canceled, and card •••• {last4} is as it was.",
		"outcome.ended":              "Nothing was changed",
		"outcome.ended.explain":      "This request has ended. Go back to the app to start again.",

		// Online payments' challenges (the window and the app).
		"authenticate_payment":                 "Confirm your payment",
		"payee":                                "to {payee}",
		"why.authenticate_payment":             "{partner} asks you to confirm a payment of {amount} to {payee}.",
		"confirm.authenticate_payment":         "Pay {amount} to {payee}.",
		"submit.authenticate_payment":          "Confirm payment",
		"outcome.authenticate_payment":         "Payment confirmed",
		"outcome.authenticate_payment.explain": "Go back to the shop to finish your purchase.",
		"challenge.passkey":                    "Confirm with your passkey",
		"challenge.cancel":                     "Cancel payment",
		"challenge.done.explain":               "The shop now finishes your purchase.",
		"challenge.failed":                     "Payment not confirmed",
		"challenge.failed.explain":             "The payment was not confirmed. Go back to the shop to try again or to pay another way.",
		"challenge.failed.try":                 "That did not work. Try again, or send yourself a new code.",
		"challenge.gone":                       "This confirmation has ended. Go back to the shop to start again.",
		"challenge.enrol":                      "Confirm this payment in your card's app: a code alone cannot confirm it.",
		"enrol.heading":                        "Set up your card first",
		"enrol.explain":                        "A payment is confirmed with your passkey, or with a code and your passcode. Set up your card in the app first, then try the payment again.",
	},
	"sv": {
		"copy":                       "Kopiera",
		"copied":                     "Kopierat",
		"cancel":                     "Avbryt",
		"pin.choose":                 "Välj en fyrsiffrig PIN-kod",
		"pin.repeat":                 "Upprepa PIN-koden",
		"pin.mismatch":               "De två PIN-koderna är inte likadana.",
		"pin.weak":                   "Den PIN-koden är för lätt att gissa. Undvik upprepade siffror, följder som 1234 och ditt kortnummer.",
		"pin.form":                   "En PIN-kod är exakt 4 siffror.",
		"pin.none":                   "Kortet har ingen PIN-kod än. Gå tillbaka till appen för att välja en.",
		"submit.activate":            "Aktivera kortet",
		"submit.pin_change":          "Byt PIN-kod",
		"submit.unfreeze":            "Lås upp kortet",
		"submit.apple_pay":           "Lägg till i Apple Pay",
		"confirm.unfreeze":           "Kortet fungerar igen direkt.",
		"confirm.apple_pay":          "Kortet läggs till i Apple Pay på den här enheten.",
		"pan":                        "Kortnummer",
		"expiry":                     "Giltigt till",
		"cvv":                        "Säkerhetskod",
		"cvv.show":                   "Visa säkerhetskoden",
		"done":                       "Klar",
		"send":                       "Skicka en kod till mig",
		"verify":                     "Bekräfta att det är du",
		"sent":                       "Vi skickade en sexsiffrig kod till",
		"code":                       "Kod",
		"passcode":                   "Lösenkod",
		"passcode.new":               "Välj en lösenkod (minst 6 tecken)",
		"passcode.rule":              "Välj en lösenkod på 6 till 64 tecken.",
		"passcode.weak":              "Den lösenkoden är för lätt att gissa. Undvik upprepade tecken, följder som 123456, vanliga lösenord och ditt kortnummer.",
		"continue":                   "Fortsätt",
		"resend":                     "Skicka en ny kod",
		"code.limit":                 "Vi kan inte skicka en ny kod än. Använd den senaste koden vi skickade, eller be om en ny om {minutes} min.",
		"failed":                     "Det gick inte. Kontrollera koden och din lösenkod, eller skicka en ny kod.",
		"locked.heading":             "För många försök",
		"locked.explain":             "För din säkerhet är bekräftelse spärrad i 15 minuter. Gå tillbaka till appen och försök igen senare.",
		"gone.title":                 "Länken har gått ut",
		"gone.heading":               "Den här länken fungerar inte längre",
		"gone.explain":               "Länkar hit fungerar en gång och bara i några minuter. Gå tillbaka till appen och börja om.",
		"card":                       "Kort",
		"error.heading":              "Något gick fel",
		"error.explain":              "Ingenting ändrades. Gå tillbaka till appen och försök igen.",
		"explain":                    "Bekräfta att det är du för att fortsätta.",
		"activate":                   "Aktivera ditt kort",
		"reveal":                     "Se dina kortuppgifter",
		"pin_view":                   "Se din PIN-kod",
		"pin_change":                 "Byt PIN-kod",
		"unfreeze":                   "Lås upp ditt kort",
		"apple_pay":                  "Lägg till kortet i Apple Pay",
		"passkey.login":              "Använd din nyckel",
		"passkey.failed":             "Det gick inte. Försök igen, eller skicka en kod till dig själv.",
		"passkey.offer":              "Vill du använda en nyckel nästa gång?",
		"passkey.explain":            "Med en nyckel bekräftar du med fingeravtryck, ansikte eller skärmlås: ingen kod, ingen lösenkod.",
		"passkey.create":             "Skapa en nyckel",
		"passkey.skip":               "Inte nu",
		"passkey.notcreated":         "Ingen nyckel skapades. Du kan fortsätta utan.",
		"send.instead":               "Skicka en kod till mig i stället",
		"secured":                    "Skyddas av {programme}",
		"why":                        "{partner} skickade dig till den här säkra sidan så att bara du ser dina kortuppgifter och din PIN-kod.",
		"left.before":                "Uppgifterna döljs om ",
		"left.pin":                   "PIN-koden döljs om ",
		"left.after":                 ".",
		"left.minute":                "En minut kvar innan sidan döljer det den visar.",
		"back":                       "Tillbaka till {partner}",
		"back.in":                    "Du skickas tillbaka om | s.",
		"close.in":                   "Fönstret stängs om | s.",
		"nowhere":                    "Du kan stänga sidan och gå tillbaka till appen.",
		"outcome.activate":           "Ditt kort är aktiverat",
		"outcome.activate.explain":   "Kort •••• {last4} är klart att använda med PIN-koden du valde.",
		"outcome.pin_change":         "Din PIN-kod är bytt",
		"outcome.pin_change.explain": "Använd den nya PIN-koden för kort •••• {last4} från och med nu.",
		"outcome.unfreeze":           "Ditt kort fungerar igen",
		"outcome.unfreeze.explain":   "Kort •••• {last4} kan användas för betalningar direkt.",
		"outcome.apple_pay":          "Kortet är godkänt för Apple Pay",
		"outcome.apple_pay.explain":  "{partner} lägger nu till kort •••• {last4} i Apple Pay på din enhet.",
		"outcome.reveal":             "Dina kortuppgifter är dolda igen",
		"outcome.reveal.explain":     "Du kan se dem igen i appen när du behöver dem.",
		"outcome.reveal.time":        "För din säkerhet visas kortuppgifter i högst 5 minuter. Du kan se dem igen i appen.",
		"outcome.pin_view":           "Din PIN-kod är dold igen",
		"outcome.pin_view.explain":   "Du kan se den igen i appen när du behöver den.",
		"outcome.pin_view.time":      "För din säkerhet visas en PIN-kod i högst 5 minuter. Du kan se den igen i appen.",
		"outcome.canceled":           "Ingenting ändrades",
		"outcome.canceled.explain":   "Du avbröt, och kort •••• {last4} är som förut.",
		"outcome.ended":              "Ingenting ändrades",
		"outcome.ended.explain":      "Den här begäran har avslutats. Gå tillbaka till appen för att börja om.",

		// Online payments' challenges (the window and the app).
		"authenticate_payment":                 "Bekräfta din betalning",
		"payee":                                "till {payee}",
		"why.authenticate_payment":             "{partner} ber dig bekräfta en betalning på {amount} till {payee}.",
		"confirm.authenticate_payment":         "Betala {amount} till {payee}.",
		"submit.authenticate_payment":          "Bekräfta betalningen",
		"outcome.authenticate_payment":         "Betalningen är bekräftad",
		"outcome.authenticate_payment.explain": "Gå tillbaka till butiken för att slutföra köpet.",
		"challenge.passkey":                    "Bekräfta med din nyckel",
		"challenge.cancel":                     "Avbryt betalningen",
		"challenge.done.explain":               "Butiken slutför nu ditt köp.",
		"challenge.failed":                     "Betalningen är inte bekräftad",
		"challenge.failed.explain":             "Betalningen bekräftades inte. Gå tillbaka till butiken för att försöka igen eller betala på annat sätt.",
		"challenge.failed.try":                 "Det gick inte. Försök igen, eller skicka en ny kod till dig själv.",
		"challenge.gone":                       "Den här bekräftelsen har avslutats. Gå tillbaka till butiken för att börja om.",
		"challenge.enrol":                      "Bekräfta betalningen i ditt korts app: enbart en kod kan inte bekräfta den.",
		"enrol.heading":                        "Konfigurera ditt kort först",
		"enrol.explain":                        "En betalning bekräftas med din nyckel, eller med en kod och din lösenkod. Konfigurera kortet i appen först och försök sedan betala igen.",
	},
}

// localeOf picks the consent's locale, else the browser's first supported
// language, else English.
func localeOf(c echo.Context, consentLocale string) string {
	if _, ok := texts[consentLocale]; ok && consentLocale != "" {
		return consentLocale
	}
	for _, part := range strings.Split(c.Request().Header.Get("Accept-Language"), ",") {
		tag, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		lang, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if _, ok := texts[lang]; ok {
			return lang
		}
	}
	return "en"
}

func (s *Server) page(c echo.Context, lang, title string) views.Page {
	nonce, _ := c.Get(ctxNonce).(string)
	brand, _ := c.Get(ctxBrand).(views.Brand)
	programme := s.deps.Programme
	if programme == "" {
		programme = DefaultProgramme
	}
	return views.Page{Lang: lang, Title: title, Nonce: nonce, Brand: brand, Integrity: s.integrity,
		SecuredBy: strings.ReplaceAll(texts[lang]["secured"], "{programme}", programme)}
}

// DefaultProgramme is the name the pages' "Secured by" line gives when the
// operator names no card programme.
const DefaultProgramme = "vaultpage"

// errorPage tells the cardholder something went wrong and to start again
// from the app.
func (s *Server) errorPage(c echo.Context, status int) error {
	lang := localeOf(c, "")
	if status == http.StatusGone {
		return s.gone(c, lang)
	}
	t := texts[lang]
	return render(c, status, views.GonePage(s.page(c, lang, t["error.heading"]), views.Gone{Heading: t["error.heading"], Explain: t["error.explain"]}))
}

func (s *Server) gone(c echo.Context, lang string) error {
	t := texts[lang]
	return render(c, http.StatusGone, views.GonePage(s.page(c, lang, t["gone.title"]), views.Gone{Heading: t["gone.heading"], Explain: t["gone.explain"]}))
}

func stringValue(v any) string {
	s, _ := v.(string)
	return s
}

// landingOf reads what a first page shows of the consent: its partner, its
// card, and whether the cardholder has a passkey to confirm with.
func (s *Server) landingOf(c echo.Context, cs consent.Consent) (partner.Partner, card.Card, bool, error) {
	ctx := c.Request().Context()
	p, err := s.deps.Partners.Partner(ctx, cs.PartnerID)
	if err != nil {
		return p, card.Card{}, false, err
	}
	cd, err := s.deps.Cards.Card(ctx, card.Actor{PartnerID: cs.PartnerID}, cs.CardID)
	if err != nil {
		return p, cd, false, err
	}
	hasPasskey, err := s.deps.SCA.HasPasskey(ctx, cs.IndividualID)
	return p, cd, hasPasskey, err
}

// landing is GET /consent: the partner, the action and the card.
func (s *Server) landing(c echo.Context) error {
	cs, ok, err := s.hostedConsent(c)
	if err != nil {
		return err
	}
	if !ok {
		return s.gone(c, localeOf(c, ""))
	}
	p, cd, hasPasskey, err := s.landingOf(c, cs)
	if err != nil {
		return err
	}
	lang := localeOf(c, cs.Locale)
	t := texts[lang]
	v := views.Landing{
		CSRF: csrfToken(c), SendCode: t["send"], Cancel: t["cancel"], PartnerName: p.Name, Heading: t[string(cs.Action)], CardLabel: t["card"], Last4: cd.Last4,
		Why: strings.ReplaceAll(t["why"], "{partner}", p.Name), Explain: t["explain"],
	}
	if cs.Action == consent.ActionAuthenticatePayment {
		// The payment, as the cardholder authenticates it (dynamic
		// linking): its amount and payee, before any factor.
		words, err := s.paymentWords(c, cs, lang, p.Name)
		if err != nil {
			return err
		}
		v.Why = words.Replace(t["why.authenticate_payment"])
	}
	if hasPasskey {
		v.Passkey, v.PasskeyLabel, v.PasskeyFailed, v.SendCode = true, t["passkey.login"], t["passkey.failed"], t["send.instead"]
	}
	return render(c, http.StatusOK, views.LandingPage(s.page(c, lang, t[string(cs.Action)]), v))
}
