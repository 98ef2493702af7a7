package vault

import (
	"encoding/binary"
	"fmt"
)

// Ciphertext format, version 1:
//
//	version (1 byte, 0x01) ‖ key id (4 bytes, big endian) ‖ nonce (12 bytes) ‖ AES-256-GCM output (ciphertext ‖ 16-byte tag)
//
// The additional data authenticated with it is the header (version and key
// id) followed by the AAD fields, each length-prefixed, so that no two
// different (purpose, partner, table, record, field) tuples encode alike.
const (
	formatV1      byte = 0x01
	headerSize         = 1 + 4
	nonceSize          = 12
	tagSize            = 16
	minSealedSize      = headerSize + nonceSize + tagSize
	// MaxSealedSize bounds what Open accepts; vault records are small.
	MaxSealedSize = 64 << 10
	// MaxPlaintextSize bounds what Seal accepts.
	MaxPlaintextSize = MaxSealedSize - minSealedSize
)

// Purpose names what a ciphertext holds. Purposes are part of the additional
// data, stored with each record, and never recycled: a purpose that is no
// longer used keeps its name reserved here.
type Purpose string

// Registered purposes.
const (
	// PurposeCardPAN: a card's primary account number, framed with the id of
	// the card verification key its CVV derives from.
	PurposeCardPAN Purpose = "card.pan.v1"
	// PurposeCardPINBlock: a card's PIN as an ISO 9564 format 4 block
	// enciphered under a PIN key, framed with that key's id.
	PurposeCardPINBlock Purpose = "card.pin_block.v1"
	// PurposeWebhookSecret: a webhook endpoint's signing secret (the
	// current one, or the previous one during a rotation).
	PurposeWebhookSecret Purpose = "webhook.secret.v1"
	// PurposeDecisionSecret: the secret that signs what vaultpage asks a
	// partner's real-time decision endpoint.
	PurposeDecisionSecret Purpose = "decision.secret.v1"
)

// AAD is the additional data every ciphertext is bound to. A ciphertext
// opened with any field different from the one it was sealed with fails with
// ErrDecrypt.
type AAD struct {
	Purpose   Purpose
	PartnerID string
	Table     string
	RecordID  string
	Field     string
}

const aadLabel = "vaultpage/aad/v1"

// appendAAD encodes the header and the AAD fields into dst.
func (a AAD) appendTo(dst []byte, header []byte) []byte {
	dst = append(dst, aadLabel...)
	dst = append(dst, header...)
	for _, s := range [...]string{string(a.Purpose), a.PartnerID, a.Table, a.RecordID, a.Field} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	return dst
}

// validate refuses AADs that would not bind a record.
func (a AAD) validate() error {
	if a.Purpose == "" || a.Table == "" || a.RecordID == "" || a.Field == "" {
		return invalid("aad", "purpose, table, record id and field are required")
	}
	return nil
}

// Envelope is the parsed, still sealed, form of a ciphertext.
type Envelope struct {
	Version byte
	KeyID   uint32
	Nonce   []byte
	Sealed  []byte // AEAD output: ciphertext and tag
	header  []byte
}

// ParseEnvelope splits a ciphertext into its parts without decrypting it.
// Errors wrap ErrMalformed (too short, too long) or ErrUnsupportedVersion.
func ParseEnvelope(ct []byte) (Envelope, error) {
	if len(ct) < minSealedSize {
		return Envelope{}, fmt.Errorf("%w: ciphertext shorter than %d bytes", ErrMalformed, minSealedSize)
	}
	if len(ct) > MaxSealedSize {
		return Envelope{}, fmt.Errorf("%w: ciphertext longer than %d bytes", ErrMalformed, MaxSealedSize)
	}
	if ct[0] != formatV1 {
		return Envelope{}, fmt.Errorf("%w: %d", ErrUnsupportedVersion, ct[0])
	}
	id := binary.BigEndian.Uint32(ct[1:headerSize])
	if id == 0 {
		return Envelope{}, fmt.Errorf("%w: key id 0", ErrMalformed)
	}
	return Envelope{
		Version: ct[0],
		KeyID:   id,
		Nonce:   ct[headerSize : headerSize+nonceSize],
		Sealed:  ct[headerSize+nonceSize:],
		header:  ct[:headerSize],
	}, nil
}

// KeyIDOf returns the key id a ciphertext names, for status reports.
func KeyIDOf(ct []byte) (uint32, error) {
	e, err := ParseEnvelope(ct)
	return e.KeyID, err
}
