package luhn

import "testing"

func TestLuhn(t *testing.T) {
	testCases := []struct {
		number string
		valid  bool
	}{
		{"4111111111111111", true},
		{"5555555555554444", true},
		{"4895370012345671", true},
		{"79927398713", true}, // the classic worked example
		{"79927398710", false},
		{"4111111111111112", false},
		{"0", false},
	}
	for _, tc := range testCases {
		if got := Valid([]byte(tc.number)); got != tc.valid {
			t.Errorf("Valid(%s) = %v", tc.number, got)
		}
	}
	if d := CheckDigit([]byte("7992739871")); d != '3' {
		t.Fatalf("CheckDigit = %c", d)
	}
}
