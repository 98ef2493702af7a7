// Package views is the only templ package: the hosted pages as components.
// Handlers in package web build the view models (already localised) and
// render into a buffer before writing, so that no half page is ever sent.
package views

// Page is what every hosted page's layout needs.
type Page struct {
	Lang  string // "en" or "sv"
	Title string
	Nonce string // the CSP nonce of this response
	Brand Brand
	// SecuredBy is the quiet line at the foot of the page that names the
	// card programme ("Secured by …"); "" for none (the demo app's pages).
	SecuredBy string
	// Integrity is each static asset's Subresource Integrity value, by
	// file name (static.Integrity).
	Integrity map[string]string
}

// Brand is the partner's look on the page.
type Brand struct {
	Color   string // "#rrggbb" (validated), "" for vaultpage's own
	LogoURL string // same-origin URL of the partner's logo, "" for none
}

// PasskeyOffer offers a passkey after a code and passcode.
type PasskeyOffer struct {
	CSRF        string
	PartnerName string
	Heading     string
	Explain     string
	Create      string // the button that creates the passkey
	Skip        string // the link that goes on without one
	Failed      string // said when creating it did not work
}

// Landing is the first page the cardholder sees after the token exchange.
type Landing struct {
	CSRF        string
	SendCode    string // the button that sends the one-time code
	Cancel      string // the button that declines
	PartnerName string
	Heading     string // what they are about to approve
	CardLabel   string // "Card"
	Last4       string
	Why         string // one sentence: why the cardholder is on this page
	Explain     string
	// Passkey offers the cardholder's passkey first (the code stays as the
	// fallback); PasskeyLabel is its button, PasskeyFailed what a failed
	// or dismissed ceremony says.
	Passkey       bool
	PasskeyLabel  string
	PasskeyFailed string
}

// Gone is the page for a token or session that is no longer valid.
type Gone struct {
	Heading string
	Explain string
}

// Verify is the one-time code and passcode form.
type Verify struct {
	CSRF        string
	Heading     string
	SentTo      string // the masked contact the code went to
	CodeLabel   string
	PassLabel   string
	Enrolling   bool // the passcode is being chosen now
	Submit      string
	Resend      string
	Error       string // the same message whatever failed
	PartnerName string
	// DevOutbox, in development, points to where codes go instead.
	DevOutbox bool
}

// PINForm is the PIN page: a new PIN, twice.
type PINForm struct {
	CSRF        string
	PartnerName string
	Heading     string
	CardLabel   string // "Card"
	Last4       string
	Error       string
	PINLabel    string
	RepeatLabel string
	Submit      string
}

// Confirm is the page that confirms an action showing nothing (unfreeze,
// Apple Pay).
type Confirm struct {
	CSRF        string
	PartnerName string
	Heading     string
	CardLabel   string // "Card"
	Last4       string
	Explain     string
	Submit      string
}

// Reveal is the card-details page. Number and CVV are the secrets as bytes
// (see Digits); CVV is empty until the cardholder asks for it.
type Reveal struct {
	CSRF        string
	PartnerName string
	Heading     string
	CardLabel   string // "Card"
	Last4       string
	Number      []byte // grouped in fours
	Expiry      string
	CVV         []byte
	PANLabel    string
	ExpiryLabel string
	CVVLabel    string
	ShowCVV     string // the button that shows the CVV
	// HideAfter is how long the details stay on screen, in seconds;
	// static/reveal.js then blanks them and submits the page's done form
	// (marked data-leave), which ends the consent.
	HideAfter int
	TimeLeft  TimeLeft
	Copy      string // the copy buttons' label
	Copied    string // what a copy button says once it copied
	Submit    string
}

// TimeLeft states how long a secret stays on the page: the words around
// the clock (m:ss, counted down by static/reveal.js), and what a screen
// reader hears when one minute is left.
type TimeLeft struct {
	Before, After string
	LastMinute    string
}

// PINView is the page that shows the PIN (as bytes, see Digits), or NoPIN
// when the card has none.
type PINView struct {
	CSRF        string
	PartnerName string
	Heading     string
	CardLabel   string // "Card"
	Last4       string
	PIN         []byte
	NoPIN       string
	HideAfter   int // as Reveal's
	TimeLeft    TimeLeft
	Submit      string
}

// Outcome is the page every hosted flow ends on: what happened, in the
// cardholder's words, and the way back. static/complete.js tells an SDK's
// native bridge or a popup's opener the result at once, counts ReturnAfter
// seconds down, then goes back by itself: to the partner's return URL, to
// the SDK's scheme URL, or closes the popup. The Back button goes now.
type Outcome struct {
	PartnerName string
	Heading     string
	Explain     string
	Done        bool // the action took place; otherwise nothing changed
	// Back is the button's label and BackURL where it goes (the return URL
	// or the SDK's scheme URL); a popup's button closes it instead (no
	// BackURL, Close set). With neither, there is nowhere to go back to.
	Back        string
	BackURL     string
	Close       bool
	ReturnAfter int       // seconds
	Countdown   [2]string // the words around the seconds left
	// Result is what the script reads: consent_id, status, mode,
	// return_after and, by mode, target_origin, scheme_url or return_url.
	Result map[string]string
}

// Outbox is the development outbox page.
type Outbox struct {
	Messages []OutboxMessage // newest first
}

// OutboxMessage is one message of the development outbox.
type OutboxMessage struct {
	To, Subject, Body string
}

// Demo is the development-only demo partner app.
type Demo struct {
	CSRF        string
	PartnerName string
	FirstName   string
	Email       string // where the demo cardholder's codes go (the outbox)
	Outcome     string // how the last consent ended, confirmed with the API
	Cards       []DemoCard
}

// DemoCard is a card on the demo page with what can be done to it.
type DemoCard struct {
	ID, Name, Last4 string
	Status          string // in a cardholder's words
	Actions         []DemoAction
}

// DemoAction is a button on a demo card.
type DemoAction struct {
	Name, Label string
	Secondary   bool
}

// Challenge is a merchant's challenge window: the payment, and the
// cardholder's ways to authenticate it.
type Challenge struct {
	// Session is the page's hosted session, sealed (signed and encrypted);
	// the page sends it back with each request instead of a cookie.
	Session          string
	CSRF             string
	Origin           string // the merchant's origin, which the outcome is posted to
	AuthenticationID string
	PartnerName      string
	Heading          string
	Amount           string // "42.00 EUR", as the cardholder reads amounts
	Payee            string // "to Web Shop"
	CardLabel        string
	Last4            string
	Passkey          bool
	PasskeyLabel     string
	SendCode         string
	SentTo           string // "We sent a six-digit code to"
	CodeLabel        string
	PassLabel        string
	Submit           string
	Cancel           string
}
