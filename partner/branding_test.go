package partner

import (
	"errors"
	"math"
	"testing"
)

// Reference ratios from the WCAG 2.1 definition of contrast ratio: #767676
// is the lightest grey that passes AA on white (4.54:1), #777777 just fails
// (4.48:1); black is 21:1, white 1:1.
func TestContrastWithWhiteMatchesWCAG(t *testing.T) {
	testCases := []struct {
		color    string
		expected float64
	}{
		{"#000000", 21},
		{"#ffffff", 1},
		{"#767676", 4.54},
		{"#777777", 4.48},
	}
	for _, tc := range testCases {
		if got := contrastWithWhite(tc.color); math.Abs(got-tc.expected) > 0.01 {
			t.Errorf("%s: %.3f, want %.2f", tc.color, got, tc.expected)
		}
	}
}

func TestBrandingValidateNormalisesAndNamesTheField(t *testing.T) {
	b := Branding{Color: " #1F4FD1 ", FrameAncestors: []string{"https://App.Example.com/", "http://localhost:3000"}}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	if b.Color != "#1f4fd1" || b.FrameAncestors[0] != "https://app.example.com" || b.FrameAncestors[1] != "http://localhost:3000" {
		t.Fatalf("normalised: %+v", b)
	}
	bad := Branding{Color: "#777777"}
	var fe *FieldError
	if err := bad.Validate(); !errors.As(err, &fe) || fe.Field != "color" || !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("low contrast: %v", err)
	}
}
