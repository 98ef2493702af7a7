package vault

import (
	"crypto/rand"
	"fmt"
	"strings"
	"time"

	"github.com/vaultpage/vaultpage/internal/luhn"
)

// PAN length bounds per ISO/IEC 7812-1.
const (
	MinPANLength     = 13
	MaxPANLength     = 19
	DefaultPANLength = 16
)

// PAN is a primary account number held in memory. Like Secret it redacts
// itself in every formatter; Masked and Last4 give the forms PCI DSS allows
// to be displayed.
type PAN struct {
	digits []byte
}

// ParsePAN validates a card number typed by a person or read from storage:
// 13 to 19 ASCII digits, optionally grouped by single spaces or hyphens, with
// a valid Luhn check digit. Errors are *InputError for field "pan" and never
// repeat the input.
func ParsePAN(s string) (PAN, error) {
	if len(s) > 2*MaxPANLength {
		return PAN{}, invalid("pan", "must be 13 to 19 digits")
	}
	d := make([]byte, 0, MaxPANLength)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if len(d) == MaxPANLength {
				wipe(d)
				return PAN{}, invalid("pan", "must be 13 to 19 digits")
			}
			d = append(d, c)
		case (c == ' ' || c == '-') && i > 0 && i < len(s)-1 && s[i-1] >= '0' && s[i-1] <= '9':
			// A single separator between digit groups.
		default:
			wipe(d)
			return PAN{}, invalid("pan", "must contain only digits")
		}
	}
	if len(d) < MinPANLength {
		wipe(d)
		return PAN{}, invalid("pan", "must be 13 to 19 digits")
	}
	if !luhn.Valid(d) {
		wipe(d)
		return PAN{}, invalid("pan", "check digit is wrong")
	}
	return PAN{digits: d}, nil
}

// panFromDigits wraps digits that are already known to be valid.
func panFromDigits(d []byte) PAN { return PAN{digits: d} }

// Reveal returns the digits. The slice aliases the PAN.
func (p PAN) Reveal() []byte { return p.digits }

// Len is the number of digits.
func (p PAN) Len() int { return len(p.digits) }

// IsZero reports whether p holds no number.
func (p PAN) IsZero() bool { return len(p.digits) == 0 }

// Last4 returns the last four digits, the most any partner response shows.
func (p PAN) Last4() string {
	if len(p.digits) < 4 {
		return ""
	}
	return string(p.digits[len(p.digits)-4:])
}

// BIN returns the first six digits (the issuer identification number).
func (p PAN) BIN() string {
	if len(p.digits) < 6 {
		return ""
	}
	return string(p.digits[:6])
}

// Masked shows at most the BIN and the last four digits, the rest as '*'.
func (p PAN) Masked() string {
	n := len(p.digits)
	if n < MinPANLength {
		return strings.Repeat("*", n)
	}
	return p.BIN() + strings.Repeat("*", n-10) + p.Last4()
}

// Grouped returns the full number in groups of four for display on the
// hosted reveal page only.
func (p PAN) Grouped() string {
	var b strings.Builder
	for i, c := range p.digits {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteByte(c)
	}
	return b.String()
}

// Wipe overwrites the digits.
func (p PAN) Wipe() { wipe(p.digits) }

// String redacts to the masked form.
func (p PAN) String() string { return p.Masked() }

// GoString redacts to the masked form.
func (p PAN) GoString() string { return "vault.PAN(" + p.Masked() + ")" }

// Format redacts to the masked form for every verb.
func (p PAN) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(p.Masked())) }

// MarshalJSON redacts to the masked form.
func (p PAN) MarshalJSON() ([]byte, error) { return []byte(`"` + p.Masked() + `"`), nil }

// MarshalText redacts to the masked form.
func (p PAN) MarshalText() ([]byte, error) { return []byte(p.Masked()), nil }

// BINRange is where new card numbers are issued: every number starts with
// Prefix (the BIN or a longer issuer range) and has Length digits.
type BINRange struct {
	Prefix string
	Length int
}

// Validate checks the range leaves at least six random digits.
func (r BINRange) Validate() error {
	if r.Length < MinPANLength || r.Length > MaxPANLength {
		return invalid("bin", "pan length must be 13 to 19")
	}
	if len(r.Prefix) < 1 || len(r.Prefix) > r.Length-7 {
		return invalid("bin", "prefix must leave at least six random digits and a check digit")
	}
	for i := 0; i < len(r.Prefix); i++ {
		if r.Prefix[i] < '0' || r.Prefix[i] > '9' {
			return invalid("bin", "prefix must contain only digits")
		}
	}
	return nil
}

// Contains reports whether p lies in the range.
func (r BINRange) Contains(p PAN) bool {
	return len(p.digits) == r.Length && strings.HasPrefix(string(p.digits), r.Prefix)
}

// randomPAN draws a uniformly random Luhn-valid number in the range.
func (r BINRange) randomPAN() (PAN, error) {
	d := make([]byte, r.Length)
	copy(d, r.Prefix)
	if err := randomDigits(d[len(r.Prefix) : r.Length-1]); err != nil {
		return PAN{}, err
	}
	d[r.Length-1] = luhn.CheckDigit(d[:r.Length-1])
	return panFromDigits(d), nil
}

// randomDigits fills d with uniformly random ASCII digits from crypto/rand,
// by rejection sampling so that no digit is favoured.
func randomDigits(d []byte) error {
	buf := make([]byte, len(d)+8)
	defer wipe(buf)
	n := 0
	for n < len(d) {
		if _, err := rand.Read(buf); err != nil {
			return fmt.Errorf("vault: random digits: %w", err)
		}
		for _, b := range buf {
			if b >= 250 {
				continue
			}
			d[n] = '0' + b%10
			n++
			if n == len(d) {
				break
			}
		}
	}
	return nil
}

// Expiry is a card's expiry month. A card is valid through the last moment of
// that month, UTC.
type Expiry struct {
	Year  int // four digits
	Month int // 1..12
}

// ParseExpiry reads "MMYY", the form printed on cards.
func ParseExpiry(mmyy string) (Expiry, error) {
	if len(mmyy) != 4 || !allDigits(mmyy) {
		return Expiry{}, invalid("expiry", "must be four digits MMYY")
	}
	m := int(mmyy[0]-'0')*10 + int(mmyy[1]-'0')
	y := int(mmyy[2]-'0')*10 + int(mmyy[3]-'0')
	if m < 1 || m > 12 {
		return Expiry{}, invalid("expiry", "month must be 01 to 12")
	}
	return Expiry{Year: 2000 + y, Month: m}, nil
}

// ExpiryAfter returns the expiry month that lies years whole years after now.
func ExpiryAfter(now time.Time, years int) Expiry {
	t := now.UTC().AddDate(years, 0, 0)
	return Expiry{Year: t.Year(), Month: int(t.Month())}
}

// MMYY formats the expiry as printed on the card.
func (e Expiry) MMYY() string { return fmt.Sprintf("%02d%02d", e.Month, e.Year%100) }

// YYMM formats the expiry as the card verification algorithms take it.
func (e Expiry) YYMM() string { return fmt.Sprintf("%02d%02d", e.Year%100, e.Month) }

// End is the first instant after the expiry month, UTC.
func (e Expiry) End() time.Time {
	return time.Date(e.Year, time.Month(e.Month)+1, 1, 0, 0, 0, 0, time.UTC)
}

// Expired reports whether the card has expired at now.
func (e Expiry) Expired(now time.Time) bool { return !now.Before(e.End()) }

// IsZero reports whether the expiry is unset.
func (e Expiry) IsZero() bool { return e.Month == 0 }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
