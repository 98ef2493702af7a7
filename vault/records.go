package vault

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// Owner is the record that card secrets belong to.
type Owner struct {
	PartnerID string
	Table     string // "cards"
	RecordID  string
}

// Fields of a card's sealed secrets.
const (
	FieldPAN      = "pan"
	FieldPINBlock = "pin_block"
)

func (o Owner) ref(field string) Ref { return Ref{Table: o.Table, RecordID: o.RecordID, Field: field} }

func (o Owner) validate() error {
	if o.PartnerID == "" || o.Table == "" || o.RecordID == "" {
		return invalid("owner", "partner, table and record id are required")
	}
	return nil
}

func recordAAD(r SealedRecord) AAD {
	return AAD{Purpose: r.Purpose, PartnerID: r.PartnerID, Table: r.Table, RecordID: r.RecordID, Field: r.Field}
}

// sealRecord frames payload with the inner key id and seals it for o.
func (r *Keyring) sealRecord(ctx context.Context, o Owner, field string, p Purpose, inner uint32, payload []byte) (SealedRecord, error) {
	framed := make([]byte, 4+len(payload))
	defer wipe(framed)
	binary.BigEndian.PutUint32(framed, inner)
	copy(framed[4:], payload)
	rec := SealedRecord{Ref: o.ref(field), PartnerID: o.PartnerID, Purpose: p, InnerKeyID: inner, UpdatedAt: r.now().UTC()}
	ct, err := r.Encrypt(ctx, framed, recordAAD(rec))
	if err != nil {
		return SealedRecord{}, err
	}
	rec.Ciphertext = ct
	rec.KeyID = binary.BigEndian.Uint32(ct[1:headerSize])
	return rec, nil
}

// openRecord decrypts a stored record and checks its framing against the
// stored inner key id, so that an edited column is caught.
func (r *Keyring) openRecord(ctx context.Context, rec SealedRecord) (uint32, []byte, error) {
	pt, err := r.Decrypt(ctx, rec.Ciphertext, recordAAD(rec))
	if err != nil {
		return 0, nil, err
	}
	if len(pt) < 4 || binary.BigEndian.Uint32(pt) != rec.InnerKeyID {
		wipe(pt)
		return 0, nil, ErrDecrypt
	}
	return rec.InnerKeyID, pt[4:], nil
}

func (r *Keyring) getRecord(ctx context.Context, o Owner, field string) (SealedRecord, error) {
	if err := o.validate(); err != nil {
		return SealedRecord{}, err
	}
	rec, err := r.store.GetSecret(ctx, o.ref(field))
	if err != nil {
		return SealedRecord{}, err
	}
	if rec.PartnerID != o.PartnerID {
		return SealedRecord{}, ErrNotFound
	}
	return rec, nil
}

// blindIndex computes HMAC-SHA-256 of the PAN under an index key.
func blindIndex(k *ringKey, pan []byte) []byte {
	m := hmac.New(sha256.New, k.material)
	m.Write([]byte("vaultpage/blind-index/pan/v1\x00"))
	m.Write(pan)
	return m.Sum(nil)
}

// liveKeys returns the live (not retired) keys of a purpose, newest first.
func (r *Keyring) liveKeys(p KeyPurpose) []*ringKey {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []*ringKey
	for _, k := range r.keys {
		if k.meta.Purpose == p && k.material != nil {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b *ringKey) int { return cmp.Compare(b.meta.ID, a.meta.ID) })
	return out
}

// maxPANAttempts bounds the search for an unused number; with a range that
// is less than half used, the chance of exhausting it is below 2^-32.
const maxPANAttempts = 32

// IssuePAN draws a new card number in the range, claims it in the blind
// index for o (the database refuses a number another card holds, under any
// live index key) and stores it sealed, bound to the active card
// verification key. Errors: *InputError for a bad range or owner,
// ErrPANSpaceExhausted, store errors.
func (r *Keyring) IssuePAN(ctx context.Context, o Owner, rng BINRange) (PAN, error) {
	if err := o.validate(); err != nil {
		return PAN{}, err
	}
	if err := rng.Validate(); err != nil {
		return PAN{}, err
	}
	for attempt := 0; attempt < maxPANAttempts; attempt++ {
		pan, err := rng.randomPAN()
		if err != nil {
			return PAN{}, err
		}
		claimed, err := r.claimPAN(ctx, o, pan)
		if err != nil {
			pan.Wipe()
			return PAN{}, err
		}
		if !claimed {
			pan.Wipe()
			continue
		}
		if err := r.storePAN(ctx, o, pan); err != nil {
			pan.Wipe()
			return PAN{}, errors.Join(err, r.store.ReleaseIndex(ctx, o.ref(FieldPAN)))
		}
		return pan, nil
	}
	return PAN{}, ErrPANSpaceExhausted
}

// claimPAN claims the PAN's blind index for o under the active index key,
// after checking no older live index key already holds it.
func (r *Keyring) claimPAN(ctx context.Context, o Owner, pan PAN) (bool, error) {
	keys := r.liveKeys(KeyBlindIndex)
	if len(keys) == 0 {
		return false, fmt.Errorf("%w: no blind index key", ErrUnknownKey)
	}
	for _, k := range keys[1:] {
		_, err := r.store.LookupIndex(ctx, k.meta.ID, blindIndex(k, pan.digits))
		if err == nil {
			return false, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return false, err
		}
	}
	e := IndexEntry{KeyID: keys[0].meta.ID, Digest: blindIndex(keys[0], pan.digits), Ref: o.ref(FieldPAN), PartnerID: o.PartnerID}
	err := r.store.ClaimIndex(ctx, e)
	if errors.Is(err, ErrIndexTaken) {
		return false, nil
	}
	return err == nil, err
}

func (r *Keyring) storePAN(ctx context.Context, o Owner, pan PAN) error {
	cvk, err := r.activeKey(KeyCVK)
	if err != nil {
		return err
	}
	rec, err := r.sealRecord(ctx, o, FieldPAN, PurposeCardPAN, cvk.meta.ID, pan.digits)
	if err != nil {
		return err
	}
	return r.store.PutSecret(ctx, rec)
}

// LoadPAN opens the card number stored for o. The caller wipes it when done.
// Errors: ErrNotFound (also for another partner's record), ErrDecrypt and the
// other Decrypt errors.
func (r *Keyring) LoadPAN(ctx context.Context, o Owner) (PAN, error) {
	rec, err := r.getRecord(ctx, o, FieldPAN)
	if err != nil {
		return PAN{}, err
	}
	_, pt, err := r.openRecord(ctx, rec)
	if err != nil {
		return PAN{}, err
	}
	return panFromDigits(pt), nil
}

// FindPAN returns the record that holds pan, looking under every live blind
// index key. ErrNotFound if none does.
func (r *Keyring) FindPAN(ctx context.Context, pan PAN) (IndexEntry, error) {
	for _, k := range r.liveKeys(KeyBlindIndex) {
		e, err := r.store.LookupIndex(ctx, k.meta.ID, blindIndex(k, pan.digits))
		if !errors.Is(err, ErrNotFound) {
			return e, err
		}
	}
	return IndexEntry{}, ErrNotFound
}

// BlindIndex returns the active index key's id and the PAN's digest under it.
func (r *Keyring) BlindIndex(pan PAN) (uint32, []byte, error) {
	k, err := r.activeKey(KeyBlindIndex)
	if err != nil {
		return 0, nil, err
	}
	return k.meta.ID, blindIndex(k, pan.digits), nil
}

// CVV derives the card verification value for o's card with the card
// verification key recorded with its PAN. serviceCode is ServiceCodeCVV2 for
// the value printed on the card. Nothing is stored.
func (r *Keyring) CVV(ctx context.Context, o Owner, expiry Expiry, serviceCode string) (Secret, error) {
	rec, err := r.getRecord(ctx, o, FieldPAN)
	if err != nil {
		return Secret{}, err
	}
	cvkID, pt, err := r.openRecord(ctx, rec)
	if err != nil {
		return Secret{}, err
	}
	defer wipe(pt)
	k, err := r.keyByID(ctx, cvkID, KeyCVK)
	if err != nil {
		return Secret{}, err
	}
	return ComputeCVV(k.material, panFromDigits(pt), expiry, serviceCode)
}

// SetPIN stores pin for o's card as an ISO 9564 format 4 block enciphered
// under the active PIN key, sealed in the envelope. It checks the PIN's form
// (4 to 12 digits); weak-PIN policy is the caller's (PINPolicy.Check).
func (r *Keyring) SetPIN(ctx context.Context, o Owner, pin Secret) error {
	if err := checkPINDigits(pin.b); err != nil {
		return err
	}
	pan, err := r.LoadPAN(ctx, o)
	if err != nil {
		return err
	}
	defer pan.Wipe()
	rec, err := r.pinRecord(ctx, o, pan, pin)
	if err != nil {
		return err
	}
	return r.store.PutSecret(ctx, rec)
}

func (r *Keyring) pinRecord(ctx context.Context, o Owner, pan PAN, pin Secret) (SealedRecord, error) {
	pk, err := r.activeKey(KeyPIN)
	if err != nil {
		return SealedRecord{}, err
	}
	block, err := EncipherISO4(pk.material, pin, pan)
	if err != nil {
		return SealedRecord{}, err
	}
	return r.sealRecord(ctx, o, FieldPINBlock, PurposeCardPINBlock, pk.meta.ID, block)
}

// RevealPIN returns o's PIN for the hosted PIN view. ErrNotFound when no PIN
// is set.
func (r *Keyring) RevealPIN(ctx context.Context, o Owner) (Secret, error) {
	rec, err := r.getRecord(ctx, o, FieldPINBlock)
	if err != nil {
		return Secret{}, err
	}
	pinKeyID, block, err := r.openRecord(ctx, rec)
	if err != nil {
		return Secret{}, err
	}
	defer wipe(block)
	pk, err := r.keyByID(ctx, pinKeyID, KeyPIN)
	if err != nil {
		return Secret{}, err
	}
	pan, err := r.LoadPAN(ctx, o)
	if err != nil {
		return Secret{}, err
	}
	defer pan.Wipe()
	pin, err := DecipherISO4(pk.material, block, pan)
	if err != nil {
		return Secret{}, ErrDecrypt
	}
	return pin, nil
}

// HasPIN reports whether a PIN is set for o's card, without opening it.
func (r *Keyring) HasPIN(ctx context.Context, o Owner) (bool, error) {
	_, err := r.getRecord(ctx, o, FieldPINBlock)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// VerifyPIN compares candidate with o's PIN in constant time.
func (r *Keyring) VerifyPIN(ctx context.Context, o Owner, candidate Secret) (bool, error) {
	pin, err := r.RevealPIN(ctx, o)
	if err != nil {
		return false, err
	}
	defer pin.Wipe()
	return EqualPIN(pin, candidate), nil
}

// VerifyPINBlock compares the PIN in block, an ISO 9564 format 0 block
// enciphered under the zone PIN key zpk (as a card network sends it), with
// o's stored PIN, in constant time: the block is translated here, bound to
// o's own PAN, and no clear PIN leaves the vault. A block that does not
// decipher to a well-formed format 0 block for this PAN (another key,
// another PAN, corruption) is ErrMalformed, which is not a wrong PIN.
func (r *Keyring) VerifyPINBlock(ctx context.Context, o Owner, zpk *ZonePINKey, block []byte) (bool, error) {
	pan, err := r.LoadPAN(ctx, o)
	if err != nil {
		return false, err
	}
	defer pan.Wipe()
	candidate, err := zpk.DecipherISO0(block, pan)
	if err != nil {
		return false, err
	}
	defer candidate.Wipe()
	return r.VerifyPIN(ctx, o, candidate)
}

// DeleteSecrets removes every sealed field of a record and its blind index
// entries, for a card whose number must stop existing.
func (r *Keyring) DeleteSecrets(ctx context.Context, o Owner) error {
	if err := o.validate(); err != nil {
		return err
	}
	return r.store.DeleteSecrets(ctx, o.Table, o.RecordID)
}

// TransferPAN moves a card number from one record to another, for a card
// reissued with the same number: the number is sealed for to, its blind index
// entry moves to to, and from's secrets (number and PIN block) are deleted so
// that the old card stops working. With keepCVK the new record derives its
// CVV with the old card's verification key (same number and expiry, same
// CVV); without it, with the active one. Run it in a store transaction.
func (r *Keyring) TransferPAN(ctx context.Context, from, to Owner, keepCVK bool) (PAN, error) {
	if err := to.validate(); err != nil {
		return PAN{}, err
	}
	rec, err := r.getRecord(ctx, from, FieldPAN)
	if err != nil {
		return PAN{}, err
	}
	cvkID, pt, err := r.openRecord(ctx, rec)
	if err != nil {
		return PAN{}, err
	}
	pan := panFromDigits(pt)
	if !keepCVK {
		k, err := r.activeKey(KeyCVK)
		if err != nil {
			return PAN{}, err
		}
		cvkID = k.meta.ID
	}
	moved, err := r.sealRecord(ctx, to, FieldPAN, PurposeCardPAN, cvkID, pan.digits)
	if err != nil {
		return PAN{}, err
	}
	if err := r.store.PutSecret(ctx, moved); err != nil {
		return PAN{}, err
	}
	e, err := r.FindPAN(ctx, pan)
	switch {
	case errors.Is(err, ErrNotFound):
		if claimed, err := r.claimPAN(ctx, to, pan); err != nil || !claimed {
			return PAN{}, errors.Join(ErrIndexTaken, err)
		}
	case err != nil:
		return PAN{}, err
	case e.Ref == from.ref(FieldPAN):
		next := e
		next.Ref, next.PartnerID = to.ref(FieldPAN), to.PartnerID
		if err := r.store.MoveIndexEntry(ctx, e, next); err != nil {
			return PAN{}, err
		}
	case e.Ref != to.ref(FieldPAN):
		return PAN{}, ErrIndexTaken
	}
	if err := r.store.DeleteSecrets(ctx, from.Table, from.RecordID); err != nil {
		return PAN{}, err
	}
	return pan, nil
}

// PutSecret seals a secret that is neither a card number nor a PIN (a
// webhook signing secret) for o's field, under the active data key; it
// lives with the card secrets, so rotation, rewrap and retirement cover it.
// Errors: *InputError, store errors.
func (r *Keyring) PutSecret(ctx context.Context, o Owner, field string, p Purpose, secret Secret) error {
	if err := o.validate(); err != nil {
		return err
	}
	if p == PurposeCardPAN || p == PurposeCardPINBlock {
		return invalid("purpose", "card numbers and PIN blocks have their own functions")
	}
	rec, err := r.sealRecord(ctx, o, field, p, 0, secret.Reveal())
	if err != nil {
		return err
	}
	return r.store.PutSecret(ctx, rec)
}

// GetSecret opens a secret PutSecret stored. Errors: ErrNotFound (also for
// another partner's record), ErrDecrypt.
func (r *Keyring) GetSecret(ctx context.Context, o Owner, field string) (Secret, error) {
	rec, err := r.getRecord(ctx, o, field)
	if err != nil {
		return Secret{}, err
	}
	_, pt, err := r.openRecord(ctx, rec)
	if err != nil {
		return Secret{}, err
	}
	return NewSecret(pt), nil
}
