package vault

import (
	"encoding/hex"
	"errors"
	"testing"
)

func mustPAN(t testing.TB, s string) PAN {
	t.Helper()
	// Test vectors are not always Luhn-valid; the algorithms do not care.
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			t.Fatalf("bad test PAN")
		}
	}
	return panFromDigits([]byte(s))
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Vectors:
//   - the classic published Visa CVV example (IBM CCA and HSM vendor manuals):
//     CVK A 0123456789ABCDEF, CVK B FEDCBA9876543210, PAN 4123456789012345,
//     expiry 8701 (YYMM), service code 101 → 561;
//   - psec (github.com/knovichikhin/psec), psec/cvv.py generate_cvv docstring
//     and tests/test_cvv.py::test_generate_cvv.
func TestCVVMatchesPublishedVectors(t *testing.T) {
	testCases := []struct {
		name, cvk, pan, yymm, serviceCode, expected string
	}{
		{"visa published example", "0123456789ABCDEFFEDCBA9876543210", "4123456789012345", "8701", "101", "561"},
		{"psec docstring", "0123456789ABCDEFFEDCBA9876543210", "1234567890123456", "9912", "220", "170"},
		{"psec test_generate_cvv", "99999999999999998888888888888888", "2222222222222222", "3333", "111", "361"},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := computeCVV(mustHex(t, tc.cvk), []byte(tc.pan), []byte(tc.yymm), []byte(tc.serviceCode))
			if err != nil {
				t.Fatal(err)
			}
			if string(got.Reveal()) != tc.expected {
				t.Fatalf("cvv = %s, want %s", got.Reveal(), tc.expected)
			}
		})
	}
}

func TestComputeCVVTakesYYMMFromExpiry(t *testing.T) {
	cvk := mustHex(t, "0123456789ABCDEFFEDCBA9876543210")
	got, err := ComputeCVV(cvk, mustPAN(t, "4123456789012345"), Expiry{Year: 1987, Month: 1}, "101")
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Reveal()) != "561" {
		t.Fatalf("cvv = %s, want 561", got.Reveal())
	}
	cvv2, err := ComputeCVV(cvk, mustPAN(t, "4123456789012345"), Expiry{Year: 1987, Month: 1}, ServiceCodeCVV2)
	if err != nil {
		t.Fatal(err)
	}
	if string(cvv2.Reveal()) == "561" || cvv2.Len() != 3 {
		t.Fatalf("cvv2 must differ from the service-code-101 value and be 3 digits")
	}
}

func TestComputeCVVRejectsBadInput(t *testing.T) {
	cvk := mustHex(t, "0123456789ABCDEFFEDCBA9876543210")
	p := mustPAN(t, "4123456789012345")
	testCases := []struct {
		name   string
		cvk    []byte
		pan    PAN
		expiry Expiry
		sc     string
		field  string
	}{
		{"short key", cvk[:8], p, Expiry{2027, 1}, "000", "key"},
		{"triple-length key", append(cvk, cvk[:8]...), p, Expiry{2027, 1}, "000", "key"},
		{"short pan", cvk, mustPAN(t, "412345678901"), Expiry{2027, 1}, "000", "pan"},
		{"month 13", cvk, p, Expiry{2027, 13}, "000", "expiry"},
		{"two-digit service code", cvk, p, Expiry{2027, 1}, "00", "service_code"},
		{"letter in service code", cvk, p, Expiry{2027, 1}, "0a0", "service_code"},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ComputeCVV(tc.cvk, tc.pan, tc.expiry, tc.sc)
			var ie *InputError
			if !errors.As(err, &ie) || ie.Field != tc.field {
				t.Fatalf("want an input error on %s, got %v", tc.field, err)
			}
		})
	}
}
