package vault

import (
	"errors"
	"github.com/vaultpage/vaultpage/internal/luhn"
	"strings"
	"testing"
	"time"
)

func TestParsePAN(t *testing.T) {
	testCases := []struct {
		name     string
		input    string
		expected string // digits, or "" for an error
		reason   string
	}{
		{name: "visa test number", input: "4111111111111111", expected: "4111111111111111"},
		{name: "grouped with spaces", input: "4111 1111 1111 1111", expected: "4111111111111111"},
		{name: "grouped with hyphens", input: "5555-5555-5555-4444", expected: "5555555555554444"},
		{name: "13 digits", input: "4222222222222", expected: "4222222222222"},
		{name: "19 digits", input: "6011000990139424563", reason: "check digit is wrong"},
		{name: "wrong check digit", input: "4111111111111112", reason: "check digit is wrong"},
		{name: "too short", input: "411111111111", reason: "must be 13 to 19 digits"},
		{name: "too long", input: "41111111111111111111", reason: "must be 13 to 19 digits"},
		{name: "letters", input: "4111a11111111111", reason: "must contain only digits"},
		{name: "leading space", input: " 4111111111111111", reason: "must contain only digits"},
		{name: "double space", input: "4111  1111 1111 1111", reason: "must contain only digits"},
		{name: "empty", input: "", reason: "must be 13 to 19 digits"},
		{name: "huge", input: strings.Repeat("4", 1000), reason: "must be 13 to 19 digits"},
		{name: "unicode digits", input: "411111111111111١", reason: "must contain only digits"},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePAN(tc.input)
			if tc.expected != "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if string(p.Reveal()) != tc.expected {
					t.Fatalf("got %d digits, want %s", p.Len(), tc.expected)
				}
				return
			}
			var ie *InputError
			if !errors.As(err, &ie) || !errors.Is(err, ErrInvalidInput) || ie.Field != "pan" || ie.Reason != tc.reason {
				t.Fatalf("want pan error %q, got %v", tc.reason, err)
			}
			if strings.Contains(err.Error(), tc.input) && tc.input != "" {
				t.Fatalf("error repeats the input: %v", err)
			}
		})
	}
}

func TestMaskedShowsAtMostBINAndLastFour(t *testing.T) {
	for _, in := range []string{"4222222222222", "4111111111111111", "4000000000000000006"} {
		p, err := ParsePAN(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		m := p.Masked()
		if len(m) != len(in) || m[:6] != in[:6] || m[len(m)-4:] != in[len(in)-4:] || strings.Trim(m[6:len(m)-4], "*") != "" {
			t.Fatalf("masked %s as %s", in, m)
		}
		if p.Last4() != in[len(in)-4:] {
			t.Fatalf("last4 %s of %s", p.Last4(), in)
		}
	}
}

func TestGroupedSplitsInFours(t *testing.T) {
	p, _ := ParsePAN("4111111111111111")
	if g := p.Grouped(); g != "4111 1111 1111 1111" {
		t.Fatalf("grouped = %q", g)
	}
}

func TestRandomPANsAreLuhnValidAndInRange(t *testing.T) {
	for _, r := range []BINRange{{"489537", 16}, {"4", 13}, {"52999912", 19}, {"400000", 13}} {
		if err := r.Validate(); err != nil {
			t.Fatalf("%v: %v", r, err)
		}
		seen := map[string]bool{}
		for i := 0; i < 2000; i++ {
			p, err := r.randomPAN()
			if err != nil {
				t.Fatal(err)
			}
			if !r.Contains(p) || !luhn.Valid(p.Reveal()) {
				t.Fatalf("%v: generated a number outside the range or with a bad check digit", r)
			}
			if _, err := ParsePAN(string(p.Reveal())); err != nil {
				t.Fatalf("generated PAN does not parse: %v", err)
			}
			seen[string(p.Reveal())] = true
		}
		if len(seen) < 1990 {
			t.Fatalf("%v: only %d distinct numbers in 2000 draws", r, len(seen))
		}
	}
}

func TestRandomDigitsAreUniform(t *testing.T) {
	d := make([]byte, 100000)
	if err := randomDigits(d); err != nil {
		t.Fatal(err)
	}
	var counts [10]int
	for _, c := range d {
		counts[c-'0']++
	}
	// Each digit expects 10,000; a chi-square with 9 degrees of freedom
	// exceeds 27.9 with probability 0.001.
	chi := 0.0
	for _, n := range counts {
		diff := float64(n - 10000)
		chi += diff * diff / 10000
	}
	if chi > 27.9 {
		t.Fatalf("digit counts %v are not uniform (chi-square %.1f)", counts, chi)
	}
}

func TestBINRangeValidation(t *testing.T) {
	testCases := []struct {
		name  string
		r     BINRange
		valid bool
	}{
		{"default", BINRange{"489537", 16}, true},
		{"too short", BINRange{"489537", 12}, false},
		{"too long", BINRange{"489537", 20}, false},
		{"prefix leaves too few digits", BINRange{"4895371234", 16}, false},
		{"non-digit prefix", BINRange{"48953x", 16}, false},
		{"empty prefix", BINRange{"", 16}, false},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.r.Validate()
			if tc.valid != (err == nil) {
				t.Fatalf("valid=%v, err=%v", tc.valid, err)
			}
			if err != nil && !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("want ErrInvalidInput, got %v", err)
			}
		})
	}
}

func TestExpiry(t *testing.T) {
	e, err := ParseExpiry("0227")
	if err != nil {
		t.Fatal(err)
	}
	if e.Year != 2027 || e.Month != 2 || e.MMYY() != "0227" || e.YYMM() != "2702" {
		t.Fatalf("parsed %+v", e)
	}
	lastMoment := time.Date(2027, 2, 28, 23, 59, 59, 0, time.UTC)
	if e.Expired(lastMoment) {
		t.Fatal("card expired before the end of its month")
	}
	if !e.Expired(time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatal("card still valid after its month")
	}
	if got := ExpiryAfter(time.Date(2026, 12, 31, 22, 0, 0, 0, time.UTC), 3); got != (Expiry{2029, 12}) {
		t.Fatalf("ExpiryAfter = %+v", got)
	}
	for _, bad := range []string{"1327", "0027", "227", "02/27", "ab27", ""} {
		if _, err := ParseExpiry(bad); !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("%q: want ErrInvalidInput, got %v", bad, err)
		}
	}
}
