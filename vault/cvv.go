package vault

import (
	"crypto/des" //nolint:gosec // The Visa CVV algorithm is defined over DES and TDES; it is not used for confidentiality.
	"encoding/hex"
)

// ServiceCodeCVV2 is the service code the Visa algorithm takes for the CVV2
// printed on the card and shown on the reveal page.
const ServiceCodeCVV2 = "000"

// CVKLength is the length of a double-length TDES card verification key.
const CVKLength = 16

// ComputeCVV runs the Visa card verification value algorithm:
//
//  1. PAN ‖ expiry (YYMM) ‖ service code, right-padded with zeros to 32
//     hexadecimal digits, split into two 8-byte blocks B1 and B2;
//  2. B1 encrypted with single DES under the left half of the CVK;
//  3. that XOR B2, encrypted with TDES under the whole CVK (A, B, A);
//  4. the decimal digits of the result's hexadecimal form, left to right,
//     then its hexadecimal digits A–F less ten; the first three are the CVV.
//
// cvk must be 16 bytes. Errors are *InputError for "key", "pan", "expiry" or
// "service_code" and never repeat the values.
func ComputeCVV(cvk []byte, pan PAN, expiry Expiry, serviceCode string) (Secret, error) {
	if len(cvk) != CVKLength {
		return Secret{}, invalid("key", "card verification key must be 16 bytes")
	}
	if pan.Len() < MinPANLength || pan.Len() > MaxPANLength || !allDigits(string(pan.digits)) {
		return Secret{}, invalid("pan", "must be 13 to 19 digits")
	}
	if expiry.Month < 1 || expiry.Month > 12 || expiry.Year < 0 {
		return Secret{}, invalid("expiry", "month must be 01 to 12")
	}
	if len(serviceCode) != 3 || !allDigits(serviceCode) {
		return Secret{}, invalid("service_code", "must be three digits")
	}
	return computeCVV(cvk, pan.digits, []byte(expiry.YYMM()), []byte(serviceCode))
}

func computeCVV(cvk, pan, yymm, serviceCode []byte) (Secret, error) {
	var field [32]byte
	for i := range field {
		field[i] = '0'
	}
	n := copy(field[:], pan)
	n += copy(field[n:], yymm)
	copy(field[n:], serviceCode)
	var blocks [16]byte
	if _, err := hex.Decode(blocks[:], field[:]); err != nil {
		return Secret{}, invalid("pan", "must contain only digits")
	}
	defer wipe(field[:])
	defer wipe(blocks[:])

	single, err := des.NewCipher(cvk[:8]) //nolint:gosec // See the import comment.
	if err != nil {
		return Secret{}, invalid("key", "card verification key is not a DES key")
	}
	tdesKey := make([]byte, 24)
	defer wipe(tdesKey)
	copy(tdesKey, cvk)
	copy(tdesKey[16:], cvk[:8])
	triple, err := des.NewTripleDESCipher(tdesKey) //nolint:gosec // See the import comment.
	if err != nil {
		return Secret{}, invalid("key", "card verification key is not a TDES key")
	}

	var r [8]byte
	single.Encrypt(r[:], blocks[:8])
	for i := range r {
		r[i] ^= blocks[8+i]
	}
	triple.Encrypt(r[:], r[:])
	var h [16]byte
	hex.Encode(h[:], r[:])
	defer wipe(r[:])
	defer wipe(h[:])

	out := make([]byte, 0, 3)
	for _, c := range h {
		if c >= '0' && c <= '9' && len(out) < 3 {
			out = append(out, c)
		}
	}
	for _, c := range h {
		if c >= 'a' && c <= 'f' && len(out) < 3 {
			out = append(out, '0'+(c-'a'))
		}
	}
	return NewSecret(out), nil
}
