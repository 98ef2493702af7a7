package vault

import (
	"context"
	"time"
)

// KeyPurpose says what a key-ring key is for. Stored; never renamed.
type KeyPurpose string

// Key purposes, one key family each.
const (
	// KeyData: AES-256-GCM data keys that seal records.
	KeyData KeyPurpose = "data"
	// KeyBlindIndex: HMAC-SHA-256 keys for the PAN blind index.
	KeyBlindIndex KeyPurpose = "blind_index"
	// KeyCVK: double-length TDES card verification keys for the Visa CVV.
	KeyCVK KeyPurpose = "cvk"
	// KeyPIN: AES-256 keys that encipher ISO 9564 format 4 PIN blocks.
	KeyPIN KeyPurpose = "pin"
)

// KeyPurposes lists every purpose in a stable order.
var KeyPurposes = []KeyPurpose{KeyData, KeyBlindIndex, KeyCVK, KeyPIN}

func (p KeyPurpose) keySize() int {
	if p == KeyCVK {
		return CVKLength
	}
	return 32
}

// KeyState is where a key version is in its lifecycle:
//
//	active ──(a newer version of the purpose is created)──▶ decrypt_only ──(Retire, nothing uses it)──▶ retired
//
// Only the newest version of a purpose is active. Stored; never renamed.
type KeyState string

// Key states.
const (
	KeyActive      KeyState = "active"
	KeyDecryptOnly KeyState = "decrypt_only"
	KeyRetired     KeyState = "retired"
)

// Key is a key-ring entry as stored: its material only ever wrapped by a KEK.
type Key struct {
	ID        uint32
	Purpose   KeyPurpose
	State     KeyState
	KEKID     string
	Wrapped   []byte
	Uses      int64 // encryptions reserved so far (data keys)
	CreatedAt time.Time
	RetiredAt time.Time // zero until retired
}

// Ref names the row and field a sealed record belongs to.
type Ref struct {
	Table    string
	RecordID string
	Field    string
}

// SealedRecord is a stored ciphertext with what is needed to open it again
// (and to rewrap it) without the caller's help.
type SealedRecord struct {
	Ref
	PartnerID  string
	Purpose    Purpose
	KeyID      uint32 // the data key that sealed it (also in the ciphertext)
	InnerKeyID uint32 // the CVK or PIN key its plaintext depends on, or 0
	Ciphertext []byte
	UpdatedAt  time.Time
}

// IndexEntry claims a blind index value for a record.
type IndexEntry struct {
	KeyID  uint32
	Digest []byte
	Ref
	PartnerID string
}

// Store is the persistence the vault needs. Package store implements it for
// SQLite and PostgreSQL; every method that changes data decides in one
// statement or transaction, so that several vaultpage processes can share
// one database.
type Store interface {
	// ListKeys returns every key-ring entry, retired ones included.
	ListKeys(ctx context.Context) ([]Key, error)
	// CreateKey inserts k with its chosen ID and, in the same transaction,
	// moves the purpose's active key to decrypt_only. It returns ErrConflict
	// if the purpose's active key is not replaces (0: no active key) or the
	// ID is taken.
	CreateKey(ctx context.Context, k Key, replaces uint32) error
	// SetKeyState moves a key from one state to another, ErrConflict if it
	// is not in from.
	SetKeyState(ctx context.Context, id uint32, from, to KeyState, at time.Time) error
	// ReplaceWrappedKey swaps a key's wrapped material, ErrConflict if it is
	// no longer old.
	ReplaceWrappedKey(ctx context.Context, id uint32, kekID string, old, wrapped []byte) error
	// ReserveKeyUses adds n to an active key's use count if the result stays
	// within limit, and returns the new count; ErrConflict otherwise.
	ReserveKeyUses(ctx context.Context, id uint32, n, limit int64) (int64, error)

	// PutSecret inserts or replaces the record at r.Ref.
	PutSecret(ctx context.Context, r SealedRecord) error
	// GetSecret returns the record at ref, ErrNotFound if none.
	GetSecret(ctx context.Context, ref Ref) (SealedRecord, error)
	// DeleteSecrets removes every field of a record and its blind index
	// entries.
	DeleteSecrets(ctx context.Context, table, recordID string) error
	// ReplaceSecret swaps r's ciphertext if it is still old, ErrConflict if
	// not.
	ReplaceSecret(ctx context.Context, r SealedRecord, old []byte) error
	// SecretsOnKeys returns up to limit records, in Ref order after the
	// given one, whose KeyID or InnerKeyID is one of ids.
	SecretsOnKeys(ctx context.Context, ids []uint32, after Ref, limit int) ([]SealedRecord, error)

	// ClaimIndex records e; ErrIndexTaken if another record holds the same
	// key and digest. Claiming again for the same record is a no-op.
	ClaimIndex(ctx context.Context, e IndexEntry) error
	// LookupIndex returns the entry for a key and digest, ErrNotFound if none.
	LookupIndex(ctx context.Context, keyID uint32, digest []byte) (IndexEntry, error)
	// IndexEntriesOnKeys returns up to limit entries under the ids, in
	// (key, digest) order after the given entry.
	IndexEntriesOnKeys(ctx context.Context, ids []uint32, after IndexEntry, limit int) ([]IndexEntry, error)
	// MoveIndexEntry replaces old by moved in one transaction.
	MoveIndexEntry(ctx context.Context, old, moved IndexEntry) error
	// ReleaseIndex removes the entries a record holds for a field.
	ReleaseIndex(ctx context.Context, ref Ref) error

	// CountByKey returns, per key id, how many sealed records (by KeyID or
	// InnerKeyID) and blind index entries depend on it.
	CountByKey(ctx context.Context) (map[uint32]int64, error)
}
