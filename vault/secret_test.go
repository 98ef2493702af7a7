package vault

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretNeverPrintsItsContent(t *testing.T) {
	const content = "4929123412341234"
	s := SecretString(content)
	p, err := ParsePAN("4111 1111 1111 1111")
	if err != nil {
		t.Fatal(err)
	}
	testCases := []struct {
		name   string
		render func(v any) string
	}{
		{"%v", func(v any) string { return fmt.Sprintf("%v", v) }},
		{"%+v", func(v any) string { return fmt.Sprintf("%+v", v) }},
		{"%#v", func(v any) string { return fmt.Sprintf("%#v", v) }},
		{"%s", func(v any) string { return fmt.Sprintf("%s", v) }},
		{"%q", func(v any) string { return fmt.Sprintf("%q", v) }},
		{"%x", func(v any) string { return fmt.Sprintf("%x", v) }},
		{"%X", func(v any) string { return fmt.Sprintf("%X", v) }},
		{"%d", func(v any) string { return fmt.Sprintf("%d", v) }},
		{"in a struct", func(v any) string { return fmt.Sprintf("%+v", struct{ S any }{v}) }},
		{"json", func(v any) string { b, _ := json.Marshal(map[string]any{"s": v}); return string(b) }},
		{"slog text", func(v any) string {
			var buf bytes.Buffer
			slog.New(slog.NewTextHandler(&buf, nil)).Info("msg", "s", v)
			return buf.String()
		}},
		{"slog json", func(v any) string {
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("msg", "s", v)
			return buf.String()
		}},
		{"error wrap", func(v any) string { return fmt.Errorf("failed with %v", v).Error() }},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			out := tc.render(s)
			if strings.Contains(out, content) || strings.Contains(strings.ToLower(out), fmt.Sprintf("%x", content)) {
				t.Fatalf("secret leaked: %s", out)
			}
			if !strings.Contains(out, redacted) {
				t.Fatalf("expected %q in %s", redacted, out)
			}
			out = tc.render(p)
			if strings.Contains(out, "4111111111111111") || strings.Contains(out, "4111 1111 1111 1111") {
				t.Fatalf("pan leaked: %s", out)
			}
			if !strings.Contains(out, "411111******1111") {
				t.Fatalf("expected the masked pan in %s", out)
			}
		})
	}
	if text, _ := s.MarshalText(); string(text) != redacted {
		t.Fatalf("MarshalText = %q", text)
	}
}

func TestSecretWipeZeroesTheBytes(t *testing.T) {
	b := []byte("123456")
	s := NewSecret(b)
	s.Wipe()
	if !bytes.Equal(b, make([]byte, 6)) {
		t.Fatalf("bytes not wiped: %v", b)
	}
}
