package logmask

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestMask(t *testing.T) {
	testCases := []struct{ in, expected string }{
		{"card 4111111111111111 declined", "card ****1111 declined"},
		{"4111 1111 1111 1111", "****1111"},
		{"4111-1111-1111-1111.", "****1111."},
		{"pan=4895370012345671,pan=5555555555554444", "pan=****5671,pan=****4444"},
		{"not luhn 4111111111111112", "not luhn 4111111111111112"},
		{"short 411111111111", "short 411111111111"},
		{"request id 1732291200000000000", "request id 1732291200000000000"},
		{"", ""},
	}
	for _, tc := range testCases {
		if got := Mask(tc.in); got != tc.expected {
			t.Errorf("Mask(%q) = %q, want %q", tc.in, got, tc.expected)
		}
	}
}

func TestHandlerMasksMessagesAttributesGroupsAndErrors(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(New(slog.NewJSONHandler(&buf, nil))).With("pan", "4111111111111111")
	log.Info("saw 5555555555554444",
		"err", errors.New("bad card 4895370012345671"),
		slog.Group("card", "number", "4000000000000002"),
		"body", map[string]string{"pan": "4012888888881881"},
	)
	out := buf.String()
	for _, pan := range []string{"4111111111111111", "5555555555554444", "4895370012345671", "4000000000000002", "4012888888881881"} {
		if strings.Contains(out, pan) {
			t.Fatalf("%s leaked: %s", pan, out)
		}
	}
	for _, want := range []string{"****1111", "****4444", "****5671", "****0002", "****1881"} {
		if !strings.Contains(out, want) {
			t.Fatalf("%s missing: %s", want, out)
		}
	}
}
