package vault

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// Format 0 vectors from psec (github.com/knovichikhin/psec),
// tests/test_pinblock.py::test_encode_pinblock_iso_0 and
// test_decode_pinblock_iso_0.
func TestISO0MatchesPublishedVectors(t *testing.T) {
	testCases := []struct{ pin, pan, block string }{
		{"1234", "5555555551234567", "041261AAAAEDCBA9"},
		{"123456789", "5555555551234567", "091261032D8DCBA9"},
		{"1234567890", "5555555551234567", "0A1261032D82CBA9"},
		{"123456789012", "5555555551234567", "0C1261032D8226A9"},
	}
	for _, tc := range testCases {
		t.Run(tc.block, func(t *testing.T) {
			got, err := EncodeISO0(SecretString(tc.pin), mustPAN(t, tc.pan))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, mustHex(t, tc.block)) {
				t.Fatalf("block = %X, want %s", got, tc.block)
			}
			pin, err := DecodeISO0(mustHex(t, tc.block), mustPAN(t, tc.pan))
			if err != nil {
				t.Fatal(err)
			}
			if string(pin.Reveal()) != tc.pin {
				t.Fatal("decoded the wrong pin")
			}
		})
	}
}

// Malformed format 0 blocks, from the same psec test file
// (test_decode_pinblock_iso_0_exception).
func TestDecodeISO0RejectsMalformedBlocks(t *testing.T) {
	pan := mustPAN(t, "5555555551234567")
	testCases := []struct{ name, block string }{
		{"control field 2", "241261AAAAEDCBA9"},
		{"seven bytes", "041261AAAAEDCB"},
		{"length 15", "0F1261AAAAEDCBA9"},
		{"length 2", "021261AAAAEDCBA9"},
		{"bad filler", "041261AAAAEDCBAA"},
		{"non-numeric pin", "051261AAAAEDCBA9"},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeISO0(mustHex(t, tc.block), pan); !errors.Is(err, ErrMalformed) {
				t.Fatalf("want ErrMalformed, got %v", err)
			}
		})
	}
}

func TestISO0EncipheredRoundTripAndWrongKey(t *testing.T) {
	key := mustHex(t, "0123456789ABCDEFFEDCBA9876543210")
	pan := mustPAN(t, "5555555551234567")
	enc, err := EncipherISO0(key, SecretString("2468"), pan)
	if err != nil {
		t.Fatal(err)
	}
	clear, _ := EncodeISO0(SecretString("2468"), pan)
	if bytes.Equal(enc, clear) {
		t.Fatal("enciphered block equals the clear block")
	}
	pin, err := mustZPK(t, key).DecipherISO0(enc, pan)
	if err != nil || string(pin.Reveal()) != "2468" {
		t.Fatalf("round trip: %v", err)
	}
	other := mustHex(t, "FEDCBA98765432100123456789ABCDEF")
	if pin, err := mustZPK(t, other).DecipherISO0(enc, pan); err == nil && string(pin.Reveal()) == "2468" {
		t.Fatal("wrong key recovered the pin")
	}
}

// An enciphered format 0 vector: PIN 1234 for PAN 4356876509876788 under
// the double-length TDES key AB9292288227277226252525224665FE is
// B4BF8522DFFB6FFB (isosim, internal/iso/crypto_ops_test.go,
// Test_GeneratePinBlock_ISO0, checked there against neapay's calculator).
func TestISO0EncipheredMatchesAPublishedVector(t *testing.T) {
	key, pan := mustHex(t, "AB9292288227277226252525224665FE"), mustPAN(t, "4356876509876788")
	enc, err := EncipherISO0(key, SecretString("1234"), pan)
	if err != nil {
		t.Fatal(err)
	}
	if want := mustHex(t, "B4BF8522DFFB6FFB"); !bytes.Equal(enc, want) {
		t.Fatalf("enciphered block %X, want %X", enc, want)
	}
	pin, err := mustZPK(t, key).DecipherISO0(mustHex(t, "B4BF8522DFFB6FFB"), pan)
	if err != nil || string(pin.Reveal()) != "1234" {
		t.Fatalf("decipher the vector: %v", err)
	}
}

// Format 4 vectors: psec tests/test_pinblock.py (test_encode_pan_field_iso_4
// and test_encipher_pinblock_iso_4_det, with the random fill fixed to FF).
func TestISO4MatchesPublishedVectors(t *testing.T) {
	field := encodeISO4PANField([]byte("112233445566778899"))
	if !bytes.Equal(field, mustHex(t, "61122334455667788990000000000000")) {
		t.Fatalf("pan field = %X", field)
	}
	key := mustHex(t, "00112233445566778899AABBCCDDEEFF")
	pan := mustPAN(t, "1234567890123456789")
	block, err := encipherISO4(key, SecretString("1234"), pan, bytes.Repeat([]byte{0xFF}, 8))
	if err != nil {
		t.Fatal(err)
	}
	if want := mustHex(t, "28B41FDDD29B743E93124BD8E32D921E"); !bytes.Equal(block, want) {
		t.Fatalf("block = %X, want %X", block, want)
	}
	pin, err := DecipherISO4(key, block, pan)
	if err != nil || string(pin.Reveal()) != "1234" {
		t.Fatalf("decipher: %v", err)
	}
}

func TestISO4BlocksOfTheSamePINDiffer(t *testing.T) {
	key := mustHex(t, "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF")
	pan := mustPAN(t, "4895370000000007")
	a, err := EncipherISO4(key, SecretString("8642"), pan)
	if err != nil {
		t.Fatal(err)
	}
	b, err := EncipherISO4(key, SecretString("8642"), pan)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, b) {
		t.Fatal("two format 4 blocks of the same PIN are equal")
	}
}

func TestISO4BlockFailsForAnotherPANOrKey(t *testing.T) {
	key := mustHex(t, "00112233445566778899AABBCCDDEEFF")
	pan := mustPAN(t, "4895370000000007")
	block, err := EncipherISO4(key, SecretString("8642"), pan)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecipherISO4(key, block, mustPAN(t, "4895370000000015")); !errors.Is(err, ErrMalformed) {
		t.Fatalf("another pan: want ErrMalformed, got %v", err)
	}
	if _, err := DecipherISO4(mustHex(t, "FFEEDDCCBBAA99887766554433221100"), block, pan); !errors.Is(err, ErrMalformed) {
		t.Fatalf("another key: want ErrMalformed, got %v", err)
	}
	if _, err := DecipherISO4(key, block[:15], pan); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short block: want ErrMalformed, got %v", err)
	}
}

func TestPINInputIsChecked(t *testing.T) {
	key := mustHex(t, "00112233445566778899AABBCCDDEEFF")
	pan := mustPAN(t, "4895370000000007")
	for _, pin := range []string{"123", "1234567890123", "12a4", ""} {
		if _, err := EncipherISO4(key, SecretString(pin), pan); !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("%q: want ErrInvalidInput, got %v", pin, err)
		}
		if _, err := EncodeISO0(SecretString(pin), pan); !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("%q: want ErrInvalidInput, got %v", pin, err)
		}
	}
	if _, err := EncipherISO4(key[:15], SecretString("1234"), pan); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("bad key: want ErrInvalidInput, got %v", err)
	}
}

func TestEqualPIN(t *testing.T) {
	testCases := []struct {
		a, b     string
		expected bool
	}{
		{"1234", "1234", true},
		{"1234", "1235", false},
		{"1234", "12345", false},
		{"123456789012", "123456789012", true},
		{"1234", "", false},
		{"1234567890123", "1234567890123", false},
	}
	for _, tc := range testCases {
		if got := EqualPIN(SecretString(tc.a), SecretString(tc.b)); got != tc.expected {
			t.Fatalf("EqualPIN(%s, %s) = %v", tc.a, tc.b, got)
		}
	}
}

func TestPINPolicy(t *testing.T) {
	pan := mustPAN(t, "4895370000004826")
	testCases := []struct {
		name   string
		pin    string
		weak   bool
		reason string
	}{
		{name: "ordinary", pin: "8203"},
		{name: "all same", pin: "7777", weak: true, reason: "must not repeat one digit"},
		{name: "ascending", pin: "3456", weak: true, reason: "must not be a run of consecutive digits"},
		{name: "ascending from zero", pin: "0123", weak: true, reason: "must not be a run of consecutive digits"},
		{name: "descending", pin: "9876", weak: true, reason: "must not be a run of consecutive digits"},
		{name: "wrapping run is allowed", pin: "8901"},
		{name: "deny list", pin: "1212", weak: true, reason: "is too easy to guess"},
		{name: "keypad column", pin: "2580", weak: true, reason: "is too easy to guess"},
		{name: "card's last four", pin: "4826", weak: true, reason: "must not match the card number"},
		{name: "too long for the product", pin: "82031", reason: "must be exactly 4 digits"},
		{name: "too short", pin: "820", reason: "must be 4 to 12 digits"},
		{name: "letters", pin: "82a3", reason: "must contain only digits"},
	}
	policy := DefaultPINPolicy()
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			err := policy.Check(SecretString(tc.pin), pan)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var ie *InputError
			if !errors.As(err, &ie) || ie.Field != "pin" || ie.Reason != tc.reason {
				t.Fatalf("want reason %q, got %v", tc.reason, err)
			}
			if tc.weak != errors.Is(err, ErrWeakPIN) {
				t.Fatalf("weak=%v but err=%v", tc.weak, err)
			}
			if strings.Contains(err.Error(), tc.pin) {
				t.Fatalf("error repeats the pin: %v", err)
			}
		})
	}
	six := PINPolicy{MinLength: 4, MaxLength: 6}
	if err := six.Check(SecretString("820391"), PAN{}); err != nil {
		t.Fatalf("six digits under a 4-6 policy: %v", err)
	}
	if err := six.Check(SecretString("8203917"), PAN{}); err == nil || !strings.Contains(err.Error(), "must be 4 to 6 digits") {
		t.Fatalf("seven digits under a 4-6 policy: %v", err)
	}
}

// A configured zone PIN key must be TDES with distinct parts: equal halves
// (or neighbouring thirds) are single DES.
func TestAZonePINKeyOfEqualPartsIsRefused(t *testing.T) {
	for _, hexKey := range []string{"0123456789ABCDEF0123456789ABCDEF", "0123456789ABCDEFFEDCBA9876543210FEDCBA9876543210", "0123456789ABCDEF",
		"0123456789ABCDEF0022446688AACCEE", // the same DES key but for its parity bits
	} {
		if _, err := NewZonePINKey(mustHex(t, hexKey)); err == nil {
			t.Fatalf("%s was taken as a zone PIN key", hexKey)
		}
	}
	if _, err := NewZonePINKey(mustHex(t, "AB9292288227277226252525224665FE")); err != nil {
		t.Fatal(err)
	}
}

func mustZPK(t *testing.T, key []byte) *ZonePINKey {
	t.Helper()
	k, err := NewZonePINKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
