package vault

import "strconv"

// PINPolicy decides which PINs a cardholder may choose. The zero value is not
// usable; start from DefaultPINPolicy.
type PINPolicy struct {
	// MinLength and MaxLength bound the PIN length, within ISO 9564's 4 to 12.
	MinLength, MaxLength int
	// DenyList holds PINs refused outright, beyond the patterns below.
	DenyList []string
}

// DefaultPINPolicy is the product default: exactly four digits, no repeated
// digit, no ascending or descending run, none of the most guessed PINs.
func DefaultPINPolicy() PINPolicy {
	return PINPolicy{MinLength: 4, MaxLength: 4, DenyList: commonPINs}
}

// commonPINs are four-digit PINs that studies of leaked PIN sets find among
// the most chosen, beyond the repeated digits and runs refused by pattern:
// pairs, keypad columns and years.
var commonPINs = []string{
	"1212", "1004", "2000", "6969", "1122", "1313", "2580", "0852",
	"1010", "2001", "4545", "5252", "0007", "1984", "1969", "1230",
}

// Check validates pin against the policy and, when pan is not zero, refuses a
// PIN equal to the card number's last digits. Errors are *InputError for
// field "pin": ErrInvalidInput for malformed PINs, ErrWeakPIN with a reason
// the hosted page can show for weak ones. The reason never repeats the PIN.
func (p PINPolicy) Check(pin Secret, pan PAN) error {
	if err := checkPINDigits(pin.b); err != nil {
		return err
	}
	d := pin.b
	if len(d) < p.MinLength || len(d) > p.MaxLength {
		if p.MinLength == p.MaxLength {
			return invalid("pin", "must be exactly "+strconv.Itoa(p.MinLength)+" digits")
		}
		return invalid("pin", "must be "+strconv.Itoa(p.MinLength)+" to "+strconv.Itoa(p.MaxLength)+" digits")
	}
	if allSame(d) {
		return weak("must not repeat one digit")
	}
	if isRun(d, 1) || isRun(d, -1) {
		return weak("must not be a run of consecutive digits")
	}
	for _, bad := range p.DenyList {
		if string(d) == bad {
			return weak("is too easy to guess")
		}
	}
	if n := pan.Len(); n >= len(d) && string(pan.digits[n-len(d):]) == string(d) {
		return weak("must not match the card number")
	}
	return nil
}

func weak(reason string) error { return &InputError{Field: "pin", Reason: reason, Err: ErrWeakPIN} }

func allSame(d []byte) bool {
	for _, c := range d[1:] {
		if c != d[0] {
			return false
		}
	}
	return true
}

// isRun reports whether every digit is the previous plus step (no wrap).
func isRun(d []byte, step int) bool {
	for i := 1; i < len(d); i++ {
		if int(d[i])-int(d[i-1]) != step {
			return false
		}
	}
	return true
}
