package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des" //nolint:gosec // ISO 9564 format 0 blocks are enciphered with TDES by definition.
	"crypto/rand"
	"crypto/subtle"
	"fmt"
)

// PIN length bounds per ISO 9564-1.
const (
	MinPINLength = 4
	MaxPINLength = 12
)

// Sizes of the ISO 9564 PIN blocks.
const (
	ISO0BlockSize = 8
	ISO4BlockSize = 16
)

// ParsePIN checks that s is 4 to 12 ASCII digits (ISO 9564-1) and returns it
// as a Secret. It applies no weak-PIN policy; see PINPolicy.
func ParsePIN(s []byte) (Secret, error) {
	if err := checkPINDigits(s); err != nil {
		return Secret{}, err
	}
	return NewSecret(append([]byte(nil), s...)), nil
}

func checkPINDigits(pin []byte) error {
	if len(pin) < MinPINLength || len(pin) > MaxPINLength {
		return invalid("pin", "must be 4 to 12 digits")
	}
	for _, c := range pin {
		if c < '0' || c > '9' {
			return invalid("pin", "must contain only digits")
		}
	}
	return nil
}

// panDigits checks a PAN given to a PIN block function.
func panDigits(pan PAN, minLen int) ([]byte, error) {
	d := pan.digits
	if len(d) < minLen || len(d) > MaxPANLength {
		return nil, invalid("pan", fmt.Sprintf("must be %d to 19 digits", minLen))
	}
	for _, c := range d {
		if c < '0' || c > '9' {
			return nil, invalid("pan", "must contain only digits")
		}
	}
	return d, nil
}

// EncodeISO0 builds the clear ISO 9564 format 0 (ANSI X9.8) PIN block: the PIN
// field (0, length, digits, F fill) XOR the PAN field (four zero nibbles and
// the twelve rightmost PAN digits without the check digit).
func EncodeISO0(pin Secret, pan PAN) ([]byte, error) {
	if err := checkPINDigits(pin.b); err != nil {
		return nil, err
	}
	d, err := panDigits(pan, MinPANLength)
	if err != nil {
		return nil, err
	}
	block := make([]byte, ISO0BlockSize)
	var field [16]byte
	defer wipe(field[:])
	field[0] = 0
	field[1] = byte(len(pin.b))
	for i := 2; i < 16; i++ {
		if i-2 < len(pin.b) {
			field[i] = pin.b[i-2] - '0'
		} else {
			field[i] = 0xF
		}
	}
	account := d[len(d)-13 : len(d)-1]
	for i := 0; i < 8; i++ {
		hi, lo := field[2*i], field[2*i+1]
		if i >= 2 {
			hi ^= account[2*i-4] - '0'
			lo ^= account[2*i-3] - '0'
		}
		block[i] = hi<<4 | lo
	}
	return block, nil
}

// DecodeISO0 recovers the PIN from a clear format 0 block and its PAN. Errors
// wrap ErrMalformed and say which part is wrong, never the PIN.
func DecodeISO0(block []byte, pan PAN) (Secret, error) {
	if len(block) != ISO0BlockSize {
		return Secret{}, fmt.Errorf("%w: format 0 pin block must be 8 bytes", ErrMalformed)
	}
	d, err := panDigits(pan, MinPANLength)
	if err != nil {
		return Secret{}, err
	}
	var field [16]byte
	defer wipe(field[:])
	account := d[len(d)-13 : len(d)-1]
	for i := 0; i < 8; i++ {
		hi, lo := block[i]>>4, block[i]&0xF
		if i >= 2 {
			hi ^= account[2*i-4] - '0'
			lo ^= account[2*i-3] - '0'
		}
		field[2*i], field[2*i+1] = hi, lo
	}
	return decodePINField(field[:], 0, 0xF)
}

// decodePINField reads control, length, digits and fill from 16 nibbles.
func decodePINField(field []byte, control, fill byte) (Secret, error) {
	if field[0] != control {
		return Secret{}, fmt.Errorf("%w: pin block control field is not %d", ErrMalformed, control)
	}
	n := int(field[1])
	if n < MinPINLength || n > MaxPINLength {
		return Secret{}, fmt.Errorf("%w: pin block length nibble out of range", ErrMalformed)
	}
	pin := make([]byte, n)
	for i, v := range field[2 : 2+n] {
		if v > 9 {
			wipe(pin)
			return Secret{}, fmt.Errorf("%w: pin block digit is not decimal", ErrMalformed)
		}
		pin[i] = '0' + v
	}
	for i := 2 + n; i < 16; i++ {
		if field[i] != fill {
			wipe(pin)
			return Secret{}, fmt.Errorf("%w: pin block fill is wrong", ErrMalformed)
		}
	}
	return NewSecret(pin), nil
}

// EncipherISO0 builds a format 0 block and enciphers it with TDES under a
// double- or triple-length key, the form card networks exchange.
func EncipherISO0(key []byte, pin Secret, pan PAN) ([]byte, error) {
	c, err := tdes(key)
	if err != nil {
		return nil, err
	}
	block, err := EncodeISO0(pin, pan)
	if err != nil {
		return nil, err
	}
	c.Encrypt(block, block)
	return block, nil
}

func tdes(key []byte) (cipher.Block, error) {
	var k []byte
	switch len(key) {
	case 16:
		k = make([]byte, 24)
		copy(k, key)
		copy(k[16:], key[:8])
		defer wipe(k)
	case 24:
		k = key
	default:
		return nil, invalid("key", "pin key must be a 16 or 24 byte TDES key")
	}
	c, err := des.NewTripleDESCipher(k) //nolint:gosec // See the import comment.
	if err != nil {
		return nil, invalid("key", "pin key is not a TDES key")
	}
	return c, nil
}

// encodeISO4PINField is the 16-byte plain text PIN field of format 4:
// control 4, length, digits, fill A up to 16 nibbles, then 8 random bytes.
func encodeISO4PINField(pin []byte, random []byte) []byte {
	f := make([]byte, ISO4BlockSize)
	nib := func(i int, v byte) {
		if i%2 == 0 {
			f[i/2] |= v << 4
		} else {
			f[i/2] |= v
		}
	}
	nib(0, 4)
	nib(1, byte(len(pin)))
	for i := 2; i < 16; i++ {
		if i-2 < len(pin) {
			nib(i, pin[i-2]-'0')
		} else {
			nib(i, 0xA)
		}
	}
	copy(f[8:], random)
	return f
}

// encodeISO4PANField is M (PAN length less 12, or 0) ‖ the PAN left-padded
// with zeros to 12 digits ‖ zero nibbles up to 32.
func encodeISO4PANField(pan []byte) []byte {
	f := make([]byte, ISO4BlockSize)
	m := 0
	if len(pan) > 12 {
		m = len(pan) - 12
	}
	nibbles := make([]byte, 0, 32)
	nibbles = append(nibbles, byte(m))
	for i := len(pan); i < 12; i++ {
		nibbles = append(nibbles, 0)
	}
	for _, c := range pan {
		nibbles = append(nibbles, c-'0')
	}
	for i, v := range nibbles {
		if i%2 == 0 {
			f[i/2] |= v << 4
		} else {
			f[i/2] |= v
		}
	}
	wipe(nibbles)
	return f
}

// EncipherISO4 builds an ISO 9564-1 format 4 PIN block and enciphers it under
// an AES key (16, 24 or 32 bytes): E(K, E(K, PIN field) XOR PAN field). The
// PIN field's last eight bytes are fresh randomness, so two blocks of the same
// PIN and PAN differ.
func EncipherISO4(key []byte, pin Secret, pan PAN) ([]byte, error) {
	random := make([]byte, 8)
	if _, err := rand.Read(random); err != nil {
		return nil, fmt.Errorf("vault: pin block randomness: %w", err)
	}
	return encipherISO4(key, pin, pan, random)
}

func encipherISO4(key []byte, pin Secret, pan PAN, random []byte) ([]byte, error) {
	if err := checkPINDigits(pin.b); err != nil {
		return nil, err
	}
	d, err := panDigits(pan, 1)
	if err != nil {
		return nil, err
	}
	c, err := aes.NewCipher(key)
	if err != nil {
		return nil, invalid("key", "pin key must be a 16, 24 or 32 byte AES key")
	}
	pinField := encodeISO4PINField(pin.b, random)
	defer wipe(pinField)
	panField := encodeISO4PANField(d)
	defer wipe(panField)
	out := make([]byte, ISO4BlockSize)
	c.Encrypt(out, pinField)
	subtle.XORBytes(out, out, panField)
	c.Encrypt(out, out)
	return out, nil
}

// DecipherISO4 reverses EncipherISO4 and checks the block's structure. A
// block enciphered for another PAN or under another key fails with
// ErrMalformed (with overwhelming probability), never with a wrong PIN.
func DecipherISO4(key, block []byte, pan PAN) (Secret, error) {
	if len(block) != ISO4BlockSize {
		return Secret{}, fmt.Errorf("%w: format 4 pin block must be 16 bytes", ErrMalformed)
	}
	d, err := panDigits(pan, 1)
	if err != nil {
		return Secret{}, err
	}
	c, err := aes.NewCipher(key)
	if err != nil {
		return Secret{}, invalid("key", "pin key must be a 16, 24 or 32 byte AES key")
	}
	panField := encodeISO4PANField(d)
	defer wipe(panField)
	buf := make([]byte, ISO4BlockSize)
	defer wipe(buf)
	c.Decrypt(buf, block)
	subtle.XORBytes(buf, buf, panField)
	c.Decrypt(buf, buf)
	var field [16]byte
	defer wipe(field[:])
	for i := 0; i < 8; i++ {
		field[2*i], field[2*i+1] = buf[i]>>4, buf[i]&0xF
	}
	return decodePINField(field[:], 4, 0xA)
}

// EqualPIN compares two PINs in time that depends only on the maximum PIN
// length, never on where they differ.
func EqualPIN(a, b Secret) bool {
	if a.Len() > MaxPINLength || b.Len() > MaxPINLength {
		return false
	}
	var x, y [MaxPINLength]byte
	copy(x[:], a.b)
	copy(y[:], b.b)
	eq := subtle.ConstantTimeCompare(x[:], y[:]) & subtle.ConstantTimeEq(int32(len(a.b)), int32(len(b.b)))
	wipe(x[:])
	wipe(y[:])
	return eq == 1
}
