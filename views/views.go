// Package views is the only templ package: the hosted pages as components.
// Handlers in package web build the view models (already localised) and
// render into a buffer before writing, so that no half page is ever sent.
package views

// Page is what every hosted page's layout needs.
type Page struct {
	Lang        string // "en" or "sv"
	Title       string
	Nonce       string // the CSP nonce of this response
	BrandColour string // the partner's colour, "#rrggbb", or "" for the default
}

// Landing is the first page the cardholder sees after the token exchange.
type Landing struct {
	PartnerName string
	Heading     string // what they are about to approve
	CardLabel   string // "Card"
	Last4       string
	Explain     string
}

// Gone is the page for a token or session that is no longer valid.
type Gone struct {
	Heading string
	Explain string
}
