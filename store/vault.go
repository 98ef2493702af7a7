package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/vaultpage/vaultpage/vault"
)

// VaultStore implements vault.Store.
type VaultStore struct{ db *DB }

// Vault returns the vault's store on db.
func (db *DB) Vault() *VaultStore { return &VaultStore{db: db} }

var _ vault.Store = (*VaultStore)(nil)

const keyColumns = `id, purpose, state, kek_id, wrapped, uses, created_at, retired_at`

// ListKeys implements vault.Store.
func (s *VaultStore) ListKeys(ctx context.Context) ([]vault.Key, error) {
	rows, err := s.db.q(ctx).QueryContext(ctx, `SELECT `+keyColumns+` FROM vault_keys ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []vault.Key
	for rows.Next() {
		var (
			k       vault.Key
			id      int64
			retired sql.NullTime
		)
		if err := rows.Scan(&id, &k.Purpose, &k.State, &k.KEKID, &k.Wrapped, &k.Uses, &k.CreatedAt, &retired); err != nil {
			return nil, err
		}
		k.ID = uint32(id) //nolint:gosec // Key ids are assigned by the vault as uint32.
		k.CreatedAt = k.CreatedAt.UTC()
		if retired.Valid {
			k.RetiredAt = retired.Time.UTC()
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// CreateKey implements vault.Store.
func (s *VaultStore) CreateKey(ctx context.Context, k vault.Key, replaces uint32) error {
	err := s.db.InTx(ctx, func(ctx context.Context) error {
		q := s.db.w(ctx)
		if replaces != 0 {
			res, err := q.ExecContext(ctx,
				`UPDATE vault_keys SET state = 'decrypt_only' WHERE id = $1 AND purpose = $2 AND state = 'active'`,
				int64(replaces), string(k.Purpose))
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				return errors.Join(vault.ErrConflict, err)
			}
		}
		_, err := q.ExecContext(ctx,
			`INSERT INTO vault_keys (id, purpose, state, kek_id, wrapped, uses, created_at) VALUES ($1, $2, $3, $4, $5, 0, $6)`,
			int64(k.ID), string(k.Purpose), string(k.State), k.KEKID, k.Wrapped, k.CreatedAt.UTC())
		return err
	})
	if isUniqueViolation(err) {
		return vault.ErrConflict
	}
	return err
}

// SetKeyState implements vault.Store.
func (s *VaultStore) SetKeyState(ctx context.Context, id uint32, from, to vault.KeyState, at time.Time) error {
	var retired any
	if to == vault.KeyRetired {
		retired = at.UTC()
	}
	res, err := s.db.w(ctx).ExecContext(ctx,
		`UPDATE vault_keys SET state = $1, retired_at = $2 WHERE id = $3 AND state = $4`,
		string(to), retired, int64(id), string(from))
	return affectedOne(res, err)
}

// ReplaceWrappedKey implements vault.Store.
func (s *VaultStore) ReplaceWrappedKey(ctx context.Context, id uint32, kekID string, old, wrapped []byte) error {
	res, err := s.db.w(ctx).ExecContext(ctx,
		`UPDATE vault_keys SET wrapped = $1, kek_id = $2 WHERE id = $3 AND wrapped = $4`,
		wrapped, kekID, int64(id), old)
	return affectedOne(res, err)
}

// ReserveKeyUses implements vault.Store.
func (s *VaultStore) ReserveKeyUses(ctx context.Context, id uint32, n, limit int64) (int64, error) {
	var uses int64
	err := s.db.w(ctx).QueryRowContext(ctx,
		`UPDATE vault_keys SET uses = uses + $1 WHERE id = $2 AND state = 'active' AND uses + $1 <= $3 RETURNING uses`,
		n, int64(id), limit).Scan(&uses)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, vault.ErrConflict
	}
	return uses, err
}

func affectedOne(res sql.Result, err error) error { return oneRow(res, err, vault.ErrConflict) }

const sealedColumns = `record_table, record_id, field, partner_id, purpose, key_id, inner_key_id, ciphertext, updated_at`

func scanSecret(row interface{ Scan(...any) error }) (vault.SealedRecord, error) {
	var (
		r            vault.SealedRecord
		key, inner   int64
		purpose      string
		updatedAtRaw time.Time
	)
	err := row.Scan(&r.Table, &r.RecordID, &r.Field, &r.PartnerID, &purpose, &key, &inner, &r.Ciphertext, &updatedAtRaw)
	r.Purpose = vault.Purpose(purpose)
	r.KeyID, r.InnerKeyID = uint32(key), uint32(inner) //nolint:gosec // Key ids are uint32.
	r.UpdatedAt = updatedAtRaw.UTC()
	return r, err
}

// PutSecret implements vault.Store.
func (s *VaultStore) PutSecret(ctx context.Context, r vault.SealedRecord) error {
	_, err := s.db.w(ctx).ExecContext(ctx, `INSERT INTO vault_secrets (`+sealedColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (record_table, record_id, field) DO UPDATE SET
			partner_id = excluded.partner_id, purpose = excluded.purpose, key_id = excluded.key_id,
			inner_key_id = excluded.inner_key_id, ciphertext = excluded.ciphertext, updated_at = excluded.updated_at`,
		r.Table, r.RecordID, r.Field, r.PartnerID, string(r.Purpose), int64(r.KeyID), int64(r.InnerKeyID), r.Ciphertext, r.UpdatedAt.UTC())
	return err
}

// GetSecret implements vault.Store.
func (s *VaultStore) GetSecret(ctx context.Context, ref vault.Ref) (vault.SealedRecord, error) {
	r, err := scanSecret(s.db.q(ctx).QueryRowContext(ctx,
		`SELECT `+sealedColumns+` FROM vault_secrets WHERE record_table = $1 AND record_id = $2 AND field = $3`,
		ref.Table, ref.RecordID, ref.Field))
	if errors.Is(err, sql.ErrNoRows) {
		return vault.SealedRecord{}, vault.ErrNotFound
	}
	return r, err
}

// DeleteSecrets implements vault.Store.
func (s *VaultStore) DeleteSecrets(ctx context.Context, table, recordID string) error {
	return s.db.InTx(ctx, func(ctx context.Context) error {
		q := s.db.w(ctx)
		if _, err := q.ExecContext(ctx, `DELETE FROM vault_blind_index WHERE record_table = $1 AND record_id = $2`, table, recordID); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, `DELETE FROM vault_secrets WHERE record_table = $1 AND record_id = $2`, table, recordID)
		return err
	})
}

// ReplaceSecret implements vault.Store.
func (s *VaultStore) ReplaceSecret(ctx context.Context, r vault.SealedRecord, old []byte) error {
	res, err := s.db.w(ctx).ExecContext(ctx, `UPDATE vault_secrets
		SET key_id = $1, inner_key_id = $2, ciphertext = $3, updated_at = $4
		WHERE record_table = $5 AND record_id = $6 AND field = $7 AND ciphertext = $8`,
		int64(r.KeyID), int64(r.InnerKeyID), r.Ciphertext, r.UpdatedAt.UTC(), r.Table, r.RecordID, r.Field, old)
	return affectedOne(res, err)
}

func idArgs(ids []uint32) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = int64(id)
	}
	return out
}

// SecretsOnKeys implements vault.Store.
func (s *VaultStore) SecretsOnKeys(ctx context.Context, ids []uint32, after vault.Ref, limit int) ([]vault.SealedRecord, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := append([]any{after.Table, after.RecordID, after.Field, limit}, idArgs(ids)...)
	in := placeholders(5, len(ids))
	//nolint:gosec // Only constant column lists and numbered placeholders are concatenated.
	rows, err := s.db.q(ctx).QueryContext(ctx, `SELECT `+sealedColumns+` FROM vault_secrets
		WHERE (key_id IN (`+in+`) OR inner_key_id IN (`+in+`))
		  AND (record_table, record_id, field) > ($1, $2, $3)
		ORDER BY record_table, record_id, field LIMIT $4`, args...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []vault.SealedRecord
	for rows.Next() {
		r, err := scanSecret(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

const indexColumns = `key_id, digest, record_table, record_id, field, partner_id`

func scanIndex(row interface{ Scan(...any) error }) (vault.IndexEntry, error) {
	var (
		e  vault.IndexEntry
		id int64
	)
	err := row.Scan(&id, &e.Digest, &e.Table, &e.RecordID, &e.Field, &e.PartnerID)
	e.KeyID = uint32(id) //nolint:gosec // Key ids are uint32.
	return e, err
}

// ClaimIndex implements vault.Store.
func (s *VaultStore) ClaimIndex(ctx context.Context, e vault.IndexEntry) error {
	return s.db.InTx(ctx, func(ctx context.Context) error { return claimIndex(ctx, s.db.w(ctx), e) })
}

func claimIndex(ctx context.Context, tx querier, e vault.IndexEntry) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO vault_blind_index (`+indexColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key_id, digest) DO NOTHING`,
		int64(e.KeyID), e.Digest, e.Table, e.RecordID, e.Field, e.PartnerID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	held, err := scanIndex(tx.QueryRowContext(ctx,
		`SELECT `+indexColumns+` FROM vault_blind_index WHERE key_id = $1 AND digest = $2`, int64(e.KeyID), e.Digest))
	if err != nil {
		return err
	}
	if held.Ref != e.Ref || held.PartnerID != e.PartnerID {
		return vault.ErrIndexTaken
	}
	return nil
}

// LookupIndex implements vault.Store.
func (s *VaultStore) LookupIndex(ctx context.Context, keyID uint32, digest []byte) (vault.IndexEntry, error) {
	e, err := scanIndex(s.db.q(ctx).QueryRowContext(ctx,
		`SELECT `+indexColumns+` FROM vault_blind_index WHERE key_id = $1 AND digest = $2`, int64(keyID), digest))
	if errors.Is(err, sql.ErrNoRows) {
		return vault.IndexEntry{}, vault.ErrNotFound
	}
	return e, err
}

// IndexEntriesOnKeys implements vault.Store.
func (s *VaultStore) IndexEntriesOnKeys(ctx context.Context, ids []uint32, after vault.IndexEntry, limit int) ([]vault.IndexEntry, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	digest := after.Digest
	if digest == nil {
		digest = []byte{}
	}
	args := append([]any{int64(after.KeyID), digest, limit}, idArgs(ids)...)
	//nolint:gosec // Only constant column lists and numbered placeholders are concatenated.
	rows, err := s.db.q(ctx).QueryContext(ctx, `SELECT `+indexColumns+` FROM vault_blind_index
		WHERE key_id IN (`+placeholders(4, len(ids))+`) AND (key_id, digest) > ($1, $2)
		ORDER BY key_id, digest LIMIT $3`, args...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []vault.IndexEntry
	for rows.Next() {
		e, err := scanIndex(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// MoveIndexEntry implements vault.Store.
func (s *VaultStore) MoveIndexEntry(ctx context.Context, old, moved vault.IndexEntry) error {
	return s.db.InTx(ctx, func(ctx context.Context) error {
		tx := s.db.w(ctx)
		res, err := tx.ExecContext(ctx, `DELETE FROM vault_blind_index
			WHERE key_id = $1 AND digest = $2 AND record_table = $3 AND record_id = $4 AND field = $5`,
			int64(old.KeyID), old.Digest, old.Table, old.RecordID, old.Field)
		if err := affectedOne(res, err); err != nil {
			return err
		}
		return claimIndex(ctx, tx, moved)
	})
}

// ReleaseIndex implements vault.Store.
func (s *VaultStore) ReleaseIndex(ctx context.Context, ref vault.Ref) error {
	_, err := s.db.w(ctx).ExecContext(ctx,
		`DELETE FROM vault_blind_index WHERE record_table = $1 AND record_id = $2 AND field = $3`,
		ref.Table, ref.RecordID, ref.Field)
	return err
}

// CountByKey implements vault.Store.
func (s *VaultStore) CountByKey(ctx context.Context) (map[uint32]int64, error) {
	rows, err := s.db.q(ctx).QueryContext(ctx, `
		SELECT key_id, COUNT(*) FROM vault_secrets GROUP BY key_id
		UNION ALL SELECT inner_key_id, COUNT(*) FROM vault_secrets WHERE inner_key_id <> 0 GROUP BY inner_key_id
		UNION ALL SELECT key_id, COUNT(*) FROM vault_blind_index GROUP BY key_id`)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	out := map[uint32]int64{}
	for rows.Next() {
		var id, n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[uint32(id)] += n //nolint:gosec // Key ids are uint32.
	}
	return out, rows.Err()
}
