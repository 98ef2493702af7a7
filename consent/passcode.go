package consent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// ErrWeakPasscode is a passcode a cardholder may not choose because it is too
// easy to guess; it comes wrapped in a *FieldError for "passcode".
var ErrWeakPasscode = errors.New("consent: passcode too easy to guess")

// commonPasscodes are among the most chosen passwords of six characters or
// more in published leak studies, beyond the repeats, runs and short
// patterns refused by shape.
var commonPasscodes = []string{
	"password", "passw0rd", "qwerty", "qwertz", "qwertyuiop", "azerty", "asdfgh", "asdfghjkl", "zxcvbn",
	"iloveyou", "letmein", "welcome", "monkey", "dragon", "football", "baseball", "sunshine", "princess",
	"master", "shadow", "superman", "trustno1", "secret", "abc123", "123abc", "a1b2c3", "1q2w3e", "1q2w3e4r",
	"qazwsx", "passcode", "vaultpage",
}

// checkPasscodeShape applies the part of the passcode policy that looks at
// the passcode alone: MinPasscode to MaxPasscode characters, no control
// characters, not one character repeated, not a run (123456, fedcba), not
// a short pattern repeated (121212, abcabc), none of the most common
// passwords. It may answer before any factor is checked: it tells nothing
// of the cardholder or the card. Errors: *FieldError for "passcode",
// wrapping ErrWeakPasscode when it is too easy to guess.
func checkPasscodeShape(p string) error {
	if len(p) < MinPasscode || len(p) > MaxPasscode {
		return &FieldError{Field: "passcode", Reason: fmt.Sprintf("must be %d to %d characters", MinPasscode, MaxPasscode)}
	}
	if strings.IndexFunc(p, unicode.IsControl) >= 0 {
		return &FieldError{Field: "passcode", Reason: "must not contain control characters"}
	}
	lower := []rune(strings.ToLower(p))
	switch {
	case periodic(lower, 3):
		return weakPasscode("must not repeat one character or a short pattern")
	case run(lower, 1) || run(lower, -1):
		return weakPasscode("must not be a run of consecutive characters")
	}
	for _, common := range commonPasscodes {
		if string(lower) == common {
			return weakPasscode("is one of the most common passwords")
		}
	}
	return nil
}

// checkPasscodeCard refuses a passcode whose digits are a piece of the
// card's number. It looks at the card, so it runs only once the one-time
// code has checked out: asked earlier, it would tell anyone with the
// hosted link which digits the number holds.
func (a *SCA) checkPasscodeCard(ctx context.Context, c Consent, p string) error {
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, p)
	if len(digits) < MinPasscode || a.consents.cards == nil {
		return nil
	}
	in, err := a.consents.cards.InCardNumber(ctx, c.PartnerID, c.CardID, digits)
	if err != nil {
		return err
	}
	if in {
		return weakPasscode("must not be part of the card number")
	}
	return nil
}

func weakPasscode(reason string) error {
	return &FieldError{Field: "passcode", Reason: reason, Err: ErrWeakPasscode}
}

// periodic reports whether r repeats a pattern of at most n characters.
func periodic(r []rune, n int) bool {
	for period := 1; period <= n && period < len(r); period++ {
		same := true
		for i := period; i < len(r) && same; i++ {
			same = r[i] == r[i-period]
		}
		if same {
			return true
		}
	}
	return false
}

// run reports whether every character is the previous one plus step.
func run(r []rune, step rune) bool {
	for i := 1; i < len(r); i++ {
		if r[i]-r[i-1] != step {
			return false
		}
	}
	return true
}
