package partner

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/png"
	"math"
	"runtime"
	"strings"
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
	if err := b.Validate(false); err != nil {
		t.Fatal(err)
	}
	if b.Color != "#1f4fd1" || b.FrameAncestors[0] != "https://app.example.com" || b.FrameAncestors[1] != "http://localhost:3000" {
		t.Fatalf("normalised: %+v", b)
	}
	bad := Branding{Color: "#777777"}
	var fe *FieldError
	if err := bad.Validate(false); !errors.As(err, &fe) || fe.Field != "color" || !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("low contrast: %v", err)
	}
}

// bomb is a valid PNG whose header claims width × height pixels and whose
// data is one tiny deflate stream: a few dozen bytes that would decode to
// gigabytes.
func bomb(t *testing.T, width, height uint32) []byte {
	t.Helper()
	var small bytes.Buffer
	if err := png.Encode(&small, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	b := small.Bytes()
	// The IHDR chunk starts at byte 8: length (4), "IHDR" (4), width, height.
	binary.BigEndian.PutUint32(b[16:], width)
	binary.BigEndian.PutUint32(b[20:], height)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}

func TestALogoThatClaimsHugeDimensionsIsRefusedWithoutBeingDecoded(t *testing.T) {
	logo := bomb(t, 200_000, 200_000)
	if len(logo) > 100 {
		t.Fatalf("the bomb is %d bytes", len(logo))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b := Branding{Logo: logo}
	err := b.Validate(false)
	runtime.ReadMemStats(&after)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "logo_png" || !strings.Contains(fe.Reason, "pixels") {
		t.Fatalf("a 200,000 × 200,000 logo: %v", err)
	}
	// Decoding would have asked for 40 GB; checking the header allocates
	// next to nothing.
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("validating the logo allocated %d bytes", grew)
	}
}

func TestFrameAncestorsAreBareOriginsThatCannotBreakTheCSP(t *testing.T) {
	testCases := []struct {
		name       string
		origin     string
		production bool
		expected   string // "" when refused
	}{
		{"https origin", "https://app.example.com", true, "https://app.example.com"},
		{"with a port", "https://app.example.com:8443", true, "https://app.example.com:8443"},
		{"semicolon ends the directive", "https://a.example;script-src", false, ""},
		{"comma", "https://a.example,b.example", false, ""},
		{"single quotes", "https://a.'unsafe-inline'", false, ""},
		{"double quote", `https://a"b.example`, false, ""},
		{"wildcard", "https://*.example.com", false, ""},
		{"path", "https://app.example.com/x", false, ""},
		{"localhost in development", "http://localhost:3000", false, "http://localhost:3000"},
		{"localhost in production", "http://localhost:3000", true, ""},
		{"plain http elsewhere", "http://app.example.com", false, ""},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			b := Branding{FrameAncestors: []string{tc.origin}}
			err := b.Validate(tc.production)
			if tc.expected == "" {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != "frame_ancestors[0]" {
					t.Fatalf("%q accepted: %v %v", tc.origin, b.FrameAncestors, err)
				}
				return
			}
			if err != nil || b.FrameAncestors[0] != tc.expected {
				t.Fatalf("%q: %v %v", tc.origin, b.FrameAncestors, err)
			}
		})
	}
}

func TestReturnURLsCarryOnlyAPlainHost(t *testing.T) {
	for _, u := range []string{"https://a.example;form-action *", "https://a.example,evil/", "https://a'b.example/r"} {
		if err := ValidateReturnURL(u, false); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%q accepted", u)
		}
	}
	if err := ValidateReturnURL("http://localhost:3000/back", true); !errors.Is(err, ErrInvalidInput) {
		t.Error("plain-http localhost accepted in production")
	}
	if err := ValidateReturnURL("https://app.example.com/return?x=1", true); err != nil {
		t.Errorf("a plain https return URL: %v", err)
	}
}

func TestAReturnURLMustBeOneTheyRegisteredExactly(t *testing.T) {
	registered := []string{"https://app.example.com/back?src=vp", "javascript:alert(1)"}
	testCases := []struct {
		name, raw string
		ok        bool
	}{
		{"the registered URL", "https://app.example.com/back?src=vp", true},
		{"another path", "https://app.example.com/other", false},
		{"another query", "https://app.example.com/back?src=x", false},
		{"case changed", "https://APP.example.com/back?src=vp", false},
		{"a script URL even if on the list", "javascript:alert(1)", false},
		{"empty", "", false},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := MatchReturnURL(tc.raw, registered)
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalidInput)) {
				t.Fatalf("%q: %v", tc.raw, err)
			}
			if tc.ok && (r.Origin() != "https://app.example.com" ||
				r.With(map[string]string{"consent_id": "c1", "status": "approved"}) != "https://app.example.com/back?consent_id=c1&src=vp&status=approved") {
				t.Fatalf("origin %q, with %q", r.Origin(), r.With(map[string]string{"consent_id": "c1", "status": "approved"}))
			}
		})
	}
}
