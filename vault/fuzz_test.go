package vault

import (
	"bytes"
	"errors"
	"github.com/vaultpage/vaultpage/internal/luhn"
	"testing"
)

// The fuzz targets check that parsers of untrusted bytes never panic, and
// that whatever they accept is well formed. Seed corpora live in
// testdata/fuzz/<target>.

func FuzzParseEnvelope(f *testing.F) {
	f.Add([]byte{})
	f.Add(append([]byte{1, 0, 0, 0, 1}, make([]byte, 28)...))
	f.Add(append([]byte{2, 0, 0, 0, 1}, make([]byte, 40)...))
	f.Fuzz(func(t *testing.T, ct []byte) {
		e, err := ParseEnvelope(ct)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupportedVersion) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if e.Version != formatV1 || e.KeyID == 0 || len(e.Nonce) != nonceSize || len(e.Sealed) < tagSize || len(ct) > MaxSealedSize {
			t.Fatalf("accepted a malformed envelope: %+v", e)
		}
	})
}

func FuzzDecodeISO0(f *testing.F) {
	f.Add([]byte{0x04, 0x12, 0x61, 0xAA, 0xAA, 0xED, 0xCB, 0xA9}, "5555555551234567")
	f.Add([]byte{0x24, 0x12, 0x61, 0xAA, 0xAA, 0xED, 0xCB, 0xA9}, "5555555551234567")
	f.Add([]byte{0x04}, "1")
	f.Fuzz(func(t *testing.T, block []byte, pan string) {
		p := PAN{digits: []byte(pan)}
		pin, err := DecodeISO0(block, p)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if checkPINDigits(pin.Reveal()) != nil {
			t.Fatal("decoded a malformed pin")
		}
		again, err := EncodeISO0(pin, p)
		if err != nil || !bytes.Equal(again, block) {
			t.Fatalf("decode/encode round trip broke: %v", err)
		}
	})
}

func FuzzDecipherISO4(f *testing.F) {
	key := []byte("0123456789abcdef")
	f.Add(bytes.Repeat([]byte{0xAB}, 16), "4895370000000007")
	f.Add([]byte{1, 2, 3}, "")
	f.Fuzz(func(t *testing.T, block []byte, pan string) {
		p := PAN{digits: []byte(pan)}
		pin, err := DecipherISO4(key, block, p)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if checkPINDigits(pin.Reveal()) != nil {
			t.Fatal("deciphered a malformed pin")
		}
	})
}

func FuzzParsePAN(f *testing.F) {
	for _, s := range []string{"4111111111111111", "4111 1111 1111 1111", "5555-5555-5555-4444", "", "41111111111111111111", "4111a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePAN(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if p.Len() < MinPANLength || p.Len() > MaxPANLength || !allDigits(string(p.Reveal())) || !luhn.Valid(p.Reveal()) {
			t.Fatal("accepted an invalid pan")
		}
	})
}

func FuzzParseExpiry(f *testing.F) {
	f.Add("0227")
	f.Add("1399")
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseExpiry(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if e.MMYY() != s {
			t.Fatalf("round trip %q -> %q", s, e.MMYY())
		}
	})
}
