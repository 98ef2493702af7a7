// Package logmask is a log/slog handler that masks anything shaped like a
// card number before it reaches the log: every run of 13 to 19 digits
// (optionally grouped by spaces or hyphens) that passes the Luhn check
// becomes "****" and its last four digits. It is the last line of defence;
// vaultpage never logs a PAN on purpose.
package logmask

import (
	"context"
	"log/slog"
	"regexp"

	"github.com/vaultpage/vaultpage/internal/luhn"
)

// Handler masks card numbers in messages and string attributes.
type Handler struct{ inner slog.Handler }

// New wraps inner.
func New(inner slog.Handler) *Handler { return &Handler{inner: inner} }

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, Mask(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(maskAttr(a))
		return true
	})
	return h.inner.Handle(ctx, out)
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	masked := make([]slog.Attr, len(as))
	for i, a := range as {
		masked[i] = maskAttr(a)
	}
	return &Handler{inner: h.inner.WithAttrs(masked)}
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{inner: h.inner.WithGroup(name)}
}

func maskAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, Mask(v.String()))
	case slog.KindGroup:
		g := v.Group()
		out := make([]slog.Attr, len(g))
		for i, x := range g {
			out[i] = maskAttr(x)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, Mask(err.Error()))
		}
		// Structs, maps and slices are rendered by the inner handler; render
		// them to text here so that nothing escapes the mask.
		return slog.String(a.Key, Mask(slog.AnyValue(v.Any()).String()))
	default:
		return slog.Attr{Key: a.Key, Value: v}
	}
}

// candidate matches 13 to 19 digits, each optionally followed by one space
// or hyphen, bounded by non-digits.
var candidate = regexp.MustCompile(`(?:^|[^0-9])((?:[0-9][ -]?){12,18}[0-9])(?:[^0-9]|$)`)

// Mask replaces every Luhn-valid card-number-shaped run in s.
func Mask(s string) string {
	if !hasLongDigitRun(s) {
		return s
	}
	out := []byte(s)
	changed := false
	for start := 0; start < len(out); {
		loc := candidate.FindSubmatchIndex(out[start:])
		if loc == nil {
			break
		}
		i, j := start+loc[2], start+loc[3]
		digits := make([]byte, 0, 19)
		for _, c := range out[i:j] {
			if c >= '0' && c <= '9' {
				digits = append(digits, c)
			}
		}
		if luhn.Valid(digits) {
			masked := "****" + string(digits[len(digits)-4:])
			out = append(out[:i], append([]byte(masked), out[j:]...)...)
			changed = true
			start = i + len(masked)
		} else {
			start = j
		}
	}
	if !changed {
		return s
	}
	return string(out)
}

// hasLongDigitRun reports whether s holds 13 digits in a row, allowing one
// space or hyphen between digits: the cheap test before the regular
// expression, since most log strings hold no such run.
func hasLongDigitRun(s string) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			run++
			if run >= 13 {
				return true
			}
		case (c == ' ' || c == '-') && run > 0 && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
		default:
			run = 0
		}
	}
	return false
}
