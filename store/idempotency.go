package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/vaultpage/vaultpage/idempotency"
)

// IdempotencyStore implements idempotency.Store.
type IdempotencyStore struct{ db *DB }

// Idempotency returns the idempotency key store on db.
func (db *DB) Idempotency() *IdempotencyStore { return &IdempotencyStore{db: db} }

var _ idempotency.Store = (*IdempotencyStore)(nil)

// Begin implements idempotency.Store: an INSERT … ON CONFLICT
// DO NOTHING decides which request runs; an expired claim is replaced with a
// compare-and-swap on its creation time.
func (s *IdempotencyStore) Begin(ctx context.Context, partnerID, key string, hash []byte, now, notBefore time.Time) (idempotency.Request, bool, error) {
	q := s.db.w(ctx)
	for attempt := 0; attempt < 3; attempt++ {
		res, err := q.ExecContext(ctx, `INSERT INTO idempotency_keys (partner_id, key, request_hash, state, created_at)
			VALUES ($1, $2, $3, 'running', $4) ON CONFLICT (partner_id, key) DO NOTHING`, partnerID, key, hash, now.UTC())
		if err != nil {
			return idempotency.Request{}, false, err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return idempotency.Request{}, err == nil, err
		}
		var (
			r       idempotency.Request
			state   string
			created time.Time
		)
		err = q.QueryRowContext(ctx, `SELECT request_hash, state, status, headers, body, created_at FROM idempotency_keys
			WHERE partner_id = $1 AND key = $2`, partnerID, key).Scan(&r.Hash, &state, &r.Status, &r.ContentType, &r.Body, &created)
		if errors.Is(err, sql.ErrNoRows) {
			continue // released meanwhile: try to claim again
		}
		if err != nil {
			return r, false, err
		}
		r.State = idempotency.State(state)
		if !created.Before(notBefore) {
			return r, false, nil
		}
		// Expired: forget it if nobody else did, then claim again.
		if _, err := q.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE partner_id = $1 AND key = $2 AND created_at = $3`,
			partnerID, key, created); err != nil {
			return r, false, err
		}
	}
	return idempotency.Request{}, false, errors.New("store: idempotency key kept changing")
}

// Complete implements idempotency.Store.
func (s *IdempotencyStore) Complete(ctx context.Context, partnerID, key string, status int, contentType string, body []byte) error {
	_, err := s.db.w(ctx).ExecContext(ctx, `UPDATE idempotency_keys SET state = 'done', status = $1, headers = $2, body = $3
		WHERE partner_id = $4 AND key = $5`, status, contentType, body, partnerID, key)
	return err
}

// Release implements idempotency.Store.
func (s *IdempotencyStore) Release(ctx context.Context, partnerID, key string) error {
	_, err := s.db.w(ctx).ExecContext(ctx, `DELETE FROM idempotency_keys WHERE partner_id = $1 AND key = $2`, partnerID, key)
	return err
}

// Purge removes keys older than before; the service runs it
// periodically.
func (s *IdempotencyStore) Purge(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.w(ctx).ExecContext(ctx, `DELETE FROM idempotency_keys WHERE created_at < $1`, before.UTC())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
