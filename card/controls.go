package card

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// Usage is how often a card may be used (stored; never renumber).
//
//	multi_use        any number of authorisations
//	single_use       closes after its first approved authorisation
//	merchant_locked  locks to the first merchant that authorises
type Usage string

// Usages.
const (
	UsageMultiUse       Usage = "multi_use"
	UsageSingleUse      Usage = "single_use"
	UsageMerchantLocked Usage = "merchant_locked"
)

// Valid reports whether u is a usage.
func (u Usage) Valid() bool {
	return u == UsageMultiUse || u == UsageSingleUse || u == UsageMerchantLocked
}

// Controls are a card's merchant controls, beyond its spend limit and
// amount restriction. They follow the card across reissues.
type Controls struct {
	Usage Usage
	// LockedMerchant is the merchant id a merchant_locked card authorised
	// with first; "" until then.
	LockedMerchant string
	// AllowedMCCs, when not empty, are the only merchant category codes
	// (ISO 18245, four digits) the card works at; BlockedMCCs never work.
	AllowedMCCs, BlockedMCCs []string
	// AllowedCountries and BlockedCountries do the same for the merchant's
	// country (ISO 3166-1 alpha-2).
	AllowedCountries, BlockedCountries []string
}

// maxListLen bounds each control list.
const maxListLen = 200

var (
	mccRE     = regexp.MustCompile(`^[0-9]{4}$`)
	countryRE = regexp.MustCompile(`^[A-Z]{2}$`)
)

// normaliseList trims, upper-cases, checks and de-duplicates a control list.
func normaliseList(field string, in []string, re *regexp.Regexp, what string) ([]string, error) {
	if len(in) > maxListLen {
		return nil, invalid(field, "at most "+strconv.Itoa(maxListLen)+" entries")
	}
	seen := map[string]bool{}
	out := []string{}
	for i, v := range in {
		v = strings.ToUpper(strings.TrimSpace(v))
		if !re.MatchString(v) {
			return nil, invalid(field+"["+strconv.Itoa(i)+"]", "must be "+what)
		}
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out, nil
}

// ControlsPatch changes control lists; nil leaves a list as it is, an empty
// slice clears it.
type ControlsPatch struct {
	AllowedMCCs, BlockedMCCs, AllowedCountries, BlockedCountries *[]string
}

// apply checks and applies p to c. Errors: *FieldError.
func (p ControlsPatch) apply(c *Controls) error {
	for _, f := range []struct {
		field string
		in    *[]string
		dst   *[]string
		re    *regexp.Regexp
		what  string
	}{
		{"allowed_mccs", p.AllowedMCCs, &c.AllowedMCCs, mccRE, "a four-digit merchant category code"},
		{"blocked_mccs", p.BlockedMCCs, &c.BlockedMCCs, mccRE, "a four-digit merchant category code"},
		{"allowed_countries", p.AllowedCountries, &c.AllowedCountries, countryRE, "an ISO 3166-1 alpha-2 country code"},
		{"blocked_countries", p.BlockedCountries, &c.BlockedCountries, countryRE, "an ISO 3166-1 alpha-2 country code"},
	} {
		if f.in == nil {
			continue
		}
		list, err := normaliseList(f.field, *f.in, f.re, f.what)
		if err != nil {
			return err
		}
		*f.dst = list
	}
	if len(c.AllowedMCCs) > 0 && len(c.BlockedMCCs) > 0 {
		return invalid("blocked_mccs", "cannot be combined with allowed_mccs")
	}
	if len(c.AllowedCountries) > 0 && len(c.BlockedCountries) > 0 {
		return invalid("blocked_countries", "cannot be combined with allowed_countries")
	}
	return nil
}

// lineageOf is the id a card's spending is counted under: its own for a
// new card, its predecessor's for a reissue.
func lineageOf(c Card) uuid.UUID {
	if c.LineageID != uuid.Nil {
		return c.LineageID
	}
	return c.ID
}
