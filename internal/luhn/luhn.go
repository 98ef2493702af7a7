// Package luhn computes and checks the Luhn (mod 10) check digit of card
// numbers, ISO/IEC 7812-1 Annex B.
package luhn

// CheckDigit returns the ASCII check digit for payload, a run of ASCII
// digits.
func CheckDigit(payload []byte) byte {
	sum := 0
	double := true
	for i := len(payload) - 1; i >= 0; i-- {
		v := int(payload[i] - '0')
		if double {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
		double = !double
	}
	return byte('0' + (10-sum%10)%10)
}

// Valid reports whether the last of the ASCII digits is the check digit of
// the others.
func Valid(digits []byte) bool {
	return len(digits) > 1 && CheckDigit(digits[:len(digits)-1]) == digits[len(digits)-1]
}
