package vault

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Rotate creates a new active key of purpose p; the previous one becomes
// decrypt-only. New data is sealed (or indexed, or PIN blocks enciphered,
// or new cards' CVVs derived) with the new key at once; Rewrap moves
// existing data forward. Card verification keys are never rewrapped: a
// card keeps the CVK it was issued with until it is reissued, since
// changing it would change the printed CVV.
func (r *Keyring) Rotate(ctx context.Context, p KeyPurpose) (Key, error) {
	cur, err := r.activeKey(p)
	if err != nil {
		return Key{}, err
	}
	k, err := r.createKey(ctx, p, cur.meta.ID)
	if err != nil {
		return Key{}, err
	}
	return redactKey(k), nil
}

// Retire refuses a decrypt-only key version from now on. It fails with
// ErrKeyActive for the active version and ErrKeyInUse while any record,
// index entry or card still depends on it (run Rewrap first). Retiring a
// retired key is a no-op. Other processes refuse the key after their next
// Refresh.
func (r *Keyring) Retire(ctx context.Context, id uint32) error {
	if err := r.Refresh(ctx); err != nil {
		return err
	}
	r.mu.RLock()
	k, ok := r.keys[id]
	r.mu.RUnlock()
	switch {
	case !ok:
		return fmt.Errorf("%w: key %d", ErrUnknownKey, id)
	case k.meta.State == KeyRetired:
		return nil
	case k.meta.State == KeyActive:
		return fmt.Errorf("%w: key %d", ErrKeyActive, id)
	}
	counts, err := r.store.CountByKey(ctx)
	if err != nil {
		return err
	}
	if n := counts[id]; n > 0 {
		return fmt.Errorf("%w: key %d protects %d records", ErrKeyInUse, id, n)
	}
	if err := r.store.SetKeyState(ctx, id, KeyDecryptOnly, KeyRetired, r.now().UTC()); err != nil {
		return err
	}
	r.log.Info("vault key retired", "key_id", id, "purpose", string(k.meta.Purpose))
	return r.Refresh(ctx)
}

// KeyStatus describes one key version for operators; it carries no key
// material.
type KeyStatus struct {
	ID         uint32     `json:"id"`
	Purpose    KeyPurpose `json:"purpose"`
	State      KeyState   `json:"state"`
	KEKID      string     `json:"kek_id"`
	KEKCurrent bool       `json:"kek_current"`
	Uses       int64      `json:"encryptions_reserved"`
	Records    int64      `json:"records"`
	CreatedAt  time.Time  `json:"created_at"`
	RetiredAt  *time.Time `json:"retired_at,omitempty"`
}

// Status reports every key version with how many records depend on it.
func (r *Keyring) Status(ctx context.Context) ([]KeyStatus, error) {
	if err := r.Refresh(ctx); err != nil {
		return nil, err
	}
	counts, err := r.store.CountByKey(ctx)
	if err != nil {
		return nil, err
	}
	keys, err := r.store.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	current := r.keks.Current().ID()
	out := make([]KeyStatus, 0, len(keys))
	for _, k := range keys {
		s := KeyStatus{
			ID: k.ID, Purpose: k.Purpose, State: k.State, KEKID: k.KEKID, KEKCurrent: k.KEKID == current,
			Uses: k.Uses, Records: counts[k.ID], CreatedAt: k.CreatedAt,
		}
		if !k.RetiredAt.IsZero() {
			t := k.RetiredAt
			s.RetiredAt = &t
		}
		out = append(out, s)
	}
	return out, nil
}

func redactKey(k Key) Key {
	k.Wrapped = nil
	return k
}

// RewrapOptions tune Rewrap.
type RewrapOptions struct {
	// BatchSize is how many records each batch reads; 0 means 500.
	BatchSize int
	// AfterBatch, when set, is called after every batch with the totals so
	// far; operators use it for progress, tests to interrupt.
	AfterBatch func(RewrapReport)
}

// RewrapReport counts what Rewrap moved.
type RewrapReport struct {
	Keys      int `json:"keys_rewrapped"`      // key-ring keys moved to the current KEK
	Secrets   int `json:"secrets_resealed"`    // records moved to the active data or PIN key
	Indexes   int `json:"index_entries_moved"` // blind index entries moved to the active index key
	Conflicts int `json:"concurrent_updates"`  // records changed by someone else meanwhile (already current)
	Batches   int `json:"batches"`
}

// Rewrap moves everything forward while the service runs: every live key
// wrapped under a previous KEK is rewrapped under the current one; every
// record sealed under a decrypt-only data key, or holding a PIN block under
// a decrypt-only PIN key, is resealed (PIN blocks translated) under the
// active keys; every blind index entry under a decrypt-only index key is
// recomputed under the active one. Each record is replaced with a
// compare-and-swap, so concurrent writers win and nothing is lost. Work is
// found by what is still on old keys, so a run that is interrupted (by a
// crash or ctx) simply resumes where it stopped when run again.
func (r *Keyring) Rewrap(ctx context.Context, o RewrapOptions) (RewrapReport, error) {
	if o.BatchSize <= 0 {
		o.BatchSize = 500
	}
	var rep RewrapReport
	if err := r.Refresh(ctx); err != nil {
		return rep, err
	}
	if err := r.rewrapKeys(ctx, &rep); err != nil {
		return rep, err
	}
	if err := r.rewrapSecrets(ctx, o, &rep); err != nil {
		return rep, err
	}
	if err := r.rewrapIndexes(ctx, o, &rep); err != nil {
		return rep, err
	}
	r.log.Info("vault rewrap done", "keys", rep.Keys, "secrets", rep.Secrets, "index_entries", rep.Indexes, "conflicts", rep.Conflicts)
	return rep, nil
}

func (r *Keyring) rewrapKeys(ctx context.Context, rep *RewrapReport) error {
	kek := r.keks.Current()
	r.mu.RLock()
	var stale []*ringKey
	for _, k := range r.keys {
		if k.material != nil && k.meta.KEKID != kek.ID() {
			stale = append(stale, k)
		}
	}
	r.mu.RUnlock()
	for _, k := range stale {
		if err := ctx.Err(); err != nil {
			return err
		}
		wrapped, err := kek.Wrap(ctx, k.material, wrapAAD(k.meta.ID, k.meta.Purpose))
		if err != nil {
			return err
		}
		err = r.store.ReplaceWrappedKey(ctx, k.meta.ID, kek.ID(), k.meta.Wrapped, wrapped)
		switch {
		case errors.Is(err, ErrConflict):
			rep.Conflicts++
		case err != nil:
			return err
		default:
			rep.Keys++
		}
	}
	return r.Refresh(ctx)
}

// staleIDs lists the live, non-active keys of the purposes.
func (r *Keyring) staleIDs(purposes ...KeyPurpose) []uint32 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var ids []uint32
	for id, k := range r.keys {
		for _, p := range purposes {
			if k.meta.Purpose == p && k.meta.State == KeyDecryptOnly {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// inBatches walks what fetch returns, batch after batch, moving each item;
// a concurrent update counts as a conflict, anything else stops the walk.
func inBatches[T any](ctx context.Context, o RewrapOptions, rep *RewrapReport, moved *int,
	fetch func(after T, limit int) ([]T, error), move func(T) error,
) error {
	var after T
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch, err := fetch(after, o.BatchSize)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		for _, it := range batch {
			err := move(it)
			switch {
			case errors.Is(err, ErrConflict):
				rep.Conflicts++
			case err != nil:
				return err
			default:
				*moved++
			}
		}
		after = batch[len(batch)-1]
		rep.Batches++
		if o.AfterBatch != nil {
			o.AfterBatch(*rep)
		}
	}
}

func (r *Keyring) rewrapSecrets(ctx context.Context, o RewrapOptions, rep *RewrapReport) error {
	stale := r.staleIDs(KeyData, KeyPIN)
	if len(stale) == 0 {
		return nil
	}
	return inBatches(ctx, o, rep, &rep.Secrets,
		func(after SealedRecord, limit int) ([]SealedRecord, error) {
			return r.store.SecretsOnKeys(ctx, stale, after.Ref, limit)
		},
		func(rec SealedRecord) error {
			moved, err := r.reseal(ctx, rec)
			if err != nil {
				return fmt.Errorf("vault: rewrap %s/%s/%s: %w", rec.Table, rec.RecordID, rec.Field, err)
			}
			return r.store.ReplaceSecret(ctx, moved, rec.Ciphertext)
		})
}

// reseal opens a record and seals it again under the active keys,
// translating a PIN block to the active PIN key.
func (r *Keyring) reseal(ctx context.Context, rec SealedRecord) (SealedRecord, error) {
	inner, pt, err := r.openRecord(ctx, rec)
	if err != nil {
		return SealedRecord{}, err
	}
	defer wipe(pt)
	o := Owner{PartnerID: rec.PartnerID, Table: rec.Table, RecordID: rec.RecordID}
	if rec.Purpose == PurposeCardPINBlock {
		pk, err := r.activeKey(KeyPIN)
		if err != nil {
			return SealedRecord{}, err
		}
		if inner != pk.meta.ID {
			old, err := r.keyByID(ctx, inner, KeyPIN)
			if err != nil {
				return SealedRecord{}, err
			}
			pan, err := r.LoadPAN(ctx, o)
			if err != nil {
				return SealedRecord{}, err
			}
			defer pan.Wipe()
			pin, err := DecipherISO4(old.material, pt, pan)
			if err != nil {
				return SealedRecord{}, ErrDecrypt
			}
			defer pin.Wipe()
			return r.pinRecord(ctx, o, pan, pin)
		}
	}
	return r.sealRecord(ctx, o, rec.Field, rec.Purpose, inner, pt)
}

func (r *Keyring) rewrapIndexes(ctx context.Context, o RewrapOptions, rep *RewrapReport) error {
	stale := r.staleIDs(KeyBlindIndex)
	if len(stale) == 0 {
		return nil
	}
	active, err := r.activeKey(KeyBlindIndex)
	if err != nil {
		return err
	}
	return inBatches(ctx, o, rep, &rep.Indexes,
		func(after IndexEntry, limit int) ([]IndexEntry, error) {
			return r.store.IndexEntriesOnKeys(ctx, stale, after, limit)
		},
		func(e IndexEntry) error {
			pan, err := r.LoadPAN(ctx, Owner{PartnerID: e.PartnerID, Table: e.Table, RecordID: e.RecordID})
			if err != nil {
				return fmt.Errorf("vault: rewrap index of %s/%s: %w", e.Table, e.RecordID, err)
			}
			moved := e
			moved.KeyID, moved.Digest = active.meta.ID, blindIndex(active, pan.digits)
			pan.Wipe()
			return r.store.MoveIndexEntry(ctx, e, moved)
		})
}
