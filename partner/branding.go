package partner

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image/png"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// Branding is how a partner's hosted pages look and where they may be
// framed: a brand colour for buttons and links, a small PNG logo, and the
// origins allowed to embed the pages (CSP frame-ancestors; none means the
// pages refuse to be framed).
type Branding struct {
	Color          string // "#rrggbb", "" for vaultpage's own
	Logo           []byte // PNG, nil for none
	FrameAncestors []string
}

// LogoDigest names the logo's content, for caching; "" without a logo.
func (b Branding) LogoDigest() string {
	if len(b.Logo) == 0 {
		return ""
	}
	d := sha256.Sum256(b.Logo)
	return hex.EncodeToString(d[:8])
}

// Branding limits. The logo counts towards every hosted page's weight.
const (
	MaxLogoBytes      = 24 << 10
	MaxLogoPixels     = 512
	MaxFrameAncestors = 10
	// MinContrast is the WCAG 2.1 AA ratio for normal text: the colour
	// carries white button labels and link text on white.
	MinContrast = 4.5
)

var hexColor = regexp.MustCompile(`^#[0-9a-f]{6}$`)

// FieldError names the branding field that is not acceptable and why; it
// wraps ErrInvalidInput.
type FieldError struct {
	Field, Reason string
}

func (e *FieldError) Error() string { return "partner: " + e.Field + " " + e.Reason }

// InvalidField names the request field and says, safely for the partner,
// what is wrong with it.
func (e *FieldError) InvalidField() (field, reason string) { return e.Field, e.Reason }

// Unwrap makes errors.Is(err, ErrInvalidInput) hold.
func (e *FieldError) Unwrap() error { return ErrInvalidInput }

// Validate checks and normalises the branding; in production, frame
// ancestors must use https. Errors: *FieldError.
func (b *Branding) Validate(production bool) error {
	b.Color = strings.ToLower(strings.TrimSpace(b.Color))
	if b.Color != "" {
		if !hexColor.MatchString(b.Color) {
			return &FieldError{Field: "color", Reason: "must be a hex colour like #1f4fd1"}
		}
		if r := contrastWithWhite(b.Color); r < MinContrast {
			return &FieldError{Field: "color", Reason: fmt.Sprintf("has a contrast of %.2f:1 with white; at least %.1f:1 is needed for readable buttons", r, MinContrast)}
		}
	}
	if len(b.Logo) > 0 {
		if len(b.Logo) > MaxLogoBytes {
			return &FieldError{Field: "logo_png", Reason: fmt.Sprintf("must be at most %d bytes", MaxLogoBytes)}
		}
		// The header's dimensions are checked before anything is decoded:
		// a few bytes can claim an image of gigabytes.
		cfg, err := png.DecodeConfig(bytes.NewReader(b.Logo))
		if err != nil {
			return &FieldError{Field: "logo_png", Reason: "must be a PNG image"}
		}
		if cfg.Width > MaxLogoPixels || cfg.Height > MaxLogoPixels {
			return &FieldError{Field: "logo_png", Reason: fmt.Sprintf("must be at most %d×%d pixels", MaxLogoPixels, MaxLogoPixels)}
		}
		if _, err := png.Decode(bytes.NewReader(b.Logo)); err != nil {
			return &FieldError{Field: "logo_png", Reason: "must be a PNG image"}
		}
	}
	if len(b.FrameAncestors) > MaxFrameAncestors {
		return &FieldError{Field: "frame_ancestors", Reason: fmt.Sprintf("may list at most %d origins", MaxFrameAncestors)}
	}
	for i, o := range b.FrameAncestors {
		norm, err := origin(o, production)
		if err != nil {
			return &FieldError{Field: "frame_ancestors[" + strconv.Itoa(i) + "]", Reason: err.Error()}
		}
		b.FrameAncestors[i] = norm
	}
	return nil
}

// origin accepts an https origin (http for localhost, outside production):
// scheme and host, an optional port, nothing else. No wildcards, and nothing
// that could end or extend a CSP directive (see validHost).
func origin(raw string, production bool) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || !validHost(u.Host) || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("must be an origin such as https://app.example.com")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && localHost(u.Hostname()) && !production:
	default:
		return "", fmt.Errorf("must use https")
	}
	return u.Scheme + "://" + strings.ToLower(u.Host), nil
}

// hostPattern is a DNS name or IPv4 address with an optional port: the only
// characters an origin may carry into a Content-Security-Policy header.
var hostPattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]{1,5})?$`)

// validHost reports whether host (as url.URL.Host has it) is a plain host
// name with an optional port. url.Parse lets ';', ',', quotes and more
// through in a host; in a CSP source list they would end the directive or
// add another source.
func validHost(host string) bool { return len(host) <= 253 && hostPattern.MatchString(host) }

func localHost(name string) bool { return name == "localhost" || name == "127.0.0.1" }

// contrastWithWhite is the WCAG 2.1 contrast ratio of a #rrggbb colour
// against white.
func contrastWithWhite(c string) float64 {
	lum := 0.0
	for i, w := range []float64{0.2126, 0.7152, 0.0722} {
		v, _ := strconv.ParseUint(c[1+2*i:3+2*i], 16, 8)
		s := float64(v) / 255
		if s <= 0.04045 {
			s /= 12.92
		} else {
			s = math.Pow((s+0.055)/1.055, 2.4)
		}
		lum += w * s
	}
	return 1.05 / (lum + 0.05)
}

// Branding returns the partner's branding.
func (s *Service) Branding(ctx context.Context, partnerID uuid.UUID) (Branding, error) {
	return s.store.Branding(ctx, partnerID)
}

// SetBranding validates and replaces the partner's branding. Errors:
// *FieldError (wrapping ErrInvalidInput).
func (s *Service) SetBranding(ctx context.Context, partnerID uuid.UUID, b Branding) (Branding, error) {
	if err := b.Validate(s.cfg.Production); err != nil {
		return Branding{}, err
	}
	return b, s.store.SetBranding(ctx, partnerID, b)
}
