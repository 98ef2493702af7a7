package vault

import "fmt"

// ZonePINKey is the zone PIN key (ZPK) a card network enciphers PIN blocks
// under: from configuration (NewZonePINKey), or kept in a PKCS#11 HSM
// (OpenZonePINKey), where it deciphers without leaving it.
type ZonePINKey struct {
	id string
	// decipher deciphers one 8-byte TDES block into dst.
	decipher func(dst, src []byte) error
	close    func() error
}

// NewZonePINKey takes a double- or triple-length TDES key from
// configuration. Its 8-byte parts must differ: equal ones make TDES single
// DES. Errors: *InputError.
func NewZonePINKey(key []byte) (*ZonePINKey, error) {
	if len(key) != 16 && len(key) != 24 {
		return nil, invalid("zone_pin_key", "must be a double- or triple-length TDES key, 16 or 24 bytes")
	}
	if sameDESKey(key[:8], key[8:16]) || (len(key) == 24 && sameDESKey(key[8:16], key[16:])) {
		return nil, invalid("zone_pin_key", "its 8-byte parts must differ, or TDES is single DES")
	}
	c, err := tdes(key)
	if err != nil {
		return nil, err
	}
	return &ZonePINKey{id: "configured", decipher: func(dst, src []byte) error { c.Decrypt(dst, src); return nil }, close: func() error { return nil }}, nil
}

// sameDESKey tells whether two 8-byte DES keys are one: DES ignores each
// byte's lowest bit (parity).
func sameDESKey(a, b []byte) bool {
	for i := range a {
		if a[i]&0xFE != b[i]&0xFE {
			return false
		}
	}
	return true
}

// ID names the key: "configured", or the HSM's token and label.
func (k *ZonePINKey) ID() string { return k.id }

// Close releases the HSM session, if any.
func (k *ZonePINKey) Close() error { return k.close() }

// DecipherISO0 deciphers a format 0 block enciphered under k and decodes
// its PIN for pan. Errors: ErrMalformed (another key, another card's
// number, not a format 0 block).
func (k *ZonePINKey) DecipherISO0(enciphered []byte, pan PAN) (Secret, error) {
	if len(enciphered) != ISO0BlockSize {
		return Secret{}, fmt.Errorf("%w: format 0 pin block must be 8 bytes", ErrMalformed)
	}
	block := make([]byte, ISO0BlockSize)
	defer wipe(block)
	if err := k.decipher(block, enciphered); err != nil {
		return Secret{}, err
	}
	return DecodeISO0(block, pan)
}
