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
	Explain     string
	Submit      string
}

// Reveal is the card-details page. Number and CVV are the secrets as bytes
// (see Digits); CVV is empty until the cardholder asks for it.
type Reveal struct {
	CSRF        string
	PartnerName string
	Heading     string
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
	Copy      string // the copy buttons' label
	Copied    string // what a copy button says once it copied
	Submit    string
}

// PINView is the page that shows the PIN (as bytes, see Digits), or NoPIN
// when the card has none.
type PINView struct {
	CSRF        string
	PartnerName string
	Heading     string
	PIN         []byte
	NoPIN       string
	HideAfter   int // as Reveal's
	Submit      string
}

// Complete ends the hosted flow for an SDK or a popup: the page tells the
// native bridges or the opener window the outcome, then navigates to the
// custom-scheme URL (SDK) or closes (popup).
type Complete struct {
	Heading string
	Explain string
	// Result is what the script reads: consent_id, status, mode,
	// target_origin and scheme_url.
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
	Cardholder  string
	Outcome     string // what the last consent ended as, confirmed with the API
	Cards       []DemoCard
}

// DemoCard is a card on the demo page with what can be done to it.
type DemoCard struct {
	ID, Last4, Status string
	Actions           []DemoAction
}

// DemoAction is a button on a demo card.
type DemoAction struct {
	Name, Label string
	Secondary   bool
}
