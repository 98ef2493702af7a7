package card

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/language"
)

// Address is a postal address: where a physical card ships, or the
// cardholder's billing address. Country is ISO 3166-1 alpha-2.
type Address struct {
	Line1, Line2 string
	City         string
	PostalCode   string
	// Region is the state, province or county where the country's
	// addresses name one; optional.
	Region  string
	Country string
}

// Address field limits.
const (
	maxAddressLine = 100
	maxPostalCode  = 16
)

var postalCodeRE = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9 -]*[A-Za-z0-9])?$`)

// withdrawn are the ISO 3166-1 alpha-2 codes ISO 3166-3 lists as formerly
// used and not assigned again (AN Netherlands Antilles, YU Yugoslavia, SU
// the USSR, …); x/text still knows some of them as countries.
var withdrawn = map[string]bool{
	"AN": true, "BU": true, "CS": true, "CT": true, "DD": true, "DY": true, "FQ": true, "FX": true, "HV": true, "JT": true,
	"MI": true, "NH": true, "NQ": true, "NT": true, "PC": true, "PU": true, "PZ": true, "RH": true, "SU": true, "TP": true,
	"VD": true, "WK": true, "YD": true, "YU": true, "ZR": true,
}

// ValidCountry reports whether c is a current ISO 3166-1 alpha-2 code of a
// country: not a macro-region, not a withdrawn or reserved code (UK is GB).
func ValidCountry(c string) bool {
	if len(c) != 2 || strings.ToUpper(c) != c || withdrawn[c] {
		return false
	}
	r, err := language.ParseRegion(c)
	return err == nil && r.IsCountry() && r.ISO3() != "ZZZ" && r.Canonicalize().String() == c
}

// normalise trims a's fields and checks them, naming the field under path
// ("shipping_address.city") when one is wrong.
func (a *Address) normalise(path string) error {
	for _, f := range []*string{&a.Line1, &a.Line2, &a.City, &a.PostalCode, &a.Region, &a.Country} {
		*f = strings.TrimSpace(*f)
	}
	a.Country = strings.ToUpper(a.Country)
	a.PostalCode = strings.ToUpper(a.PostalCode)
	for _, f := range []struct {
		name, value string
		required    bool
	}{{"line1", a.Line1, true}, {"line2", a.Line2, false}, {"city", a.City, true}, {"region", a.Region, false}} {
		switch {
		case f.required && f.value == "":
			return invalid(path+"."+f.name, "is required")
		case utf8.RuneCountInString(f.value) > maxAddressLine:
			return invalid(path+"."+f.name, "at most 100 characters")
		}
	}
	switch {
	case a.PostalCode == "":
		return invalid(path+".postal_code", "is required")
	case len(a.PostalCode) > maxPostalCode || !postalCodeRE.MatchString(a.PostalCode):
		return invalid(path+".postal_code", "at most 16 letters, digits, spaces and hyphens")
	case a.Country == "":
		return invalid(path+".country", "is required")
	case !ValidCountry(a.Country):
		return invalid(path+".country", "must be an ISO 3166-1 alpha-2 country code")
	}
	return nil
}
