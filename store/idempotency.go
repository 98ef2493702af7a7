package store

import (
	"context"
	"errors"
	"time"

	"github.com/vaultpage/vaultpage/idempotency"
)

// IdempotencyStore implements idempotency.Store.
type IdempotencyStore struct{ db *DB }

// Idempotency returns the idempotency key store on db.
func (db *DB) Idempotency() *IdempotencyStore { return &IdempotencyStore{db: db} }

var _ idempotency.Store = (*IdempotencyStore)(nil)

// InTx implements idempotency.Store.
func (s *IdempotencyStore) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.db.InTx(ctx, fn)
}

// idempotencyLocks is the class of the PostgreSQL advisory locks that mark
// a key's claim in flight (a space of its own, apart from the sequencer's
// single-key lock).
const idempotencyLocks = 7_460_002

// Claim implements idempotency.Store. The claim is a row inserted in the
// request's transaction, so it exists for others only once the request
// has committed, with its response. While it is in flight, on PostgreSQL,
// a transaction-scoped advisory lock on the key marks it: a second request
// with the key takes no lock and is told Running at once, instead of
// waiting on the uncommitted row (two keys whose 32-bit hashes collide are
// told Running too while both are in flight). On SQLite one transaction
// writes at a time, so a second request runs after the first has
// committed and finds its response. A row still running is what an
// earlier version left behind; it is replaced like an expired one.
func (s *IdempotencyStore) Claim(ctx context.Context, partnerID, key string, hash []byte, now, notBefore time.Time) (idempotency.Request, bool, error) {
	q := s.db.w(ctx)
	if s.db.Dialect() == Postgres {
		var locked bool
		if err := q.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock($1, hashtext($2 || ' ' || $3))`,
			idempotencyLocks, partnerID, key).Scan(&locked); err != nil {
			return idempotency.Request{}, false, err
		}
		if !locked {
			return idempotency.Request{State: idempotency.Running}, false, nil
		}
	}
	for attempt := 0; attempt < 2; attempt++ {
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
		if err != nil {
			return r, false, err
		}
		r.State = idempotency.State(state)
		if r.State == idempotency.Done && !created.Before(notBefore) {
			return r, false, nil
		}
		// Expired, or left running by an earlier version: replace it.
		if _, err := q.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE partner_id = $1 AND key = $2`, partnerID, key); err != nil {
			return r, false, err
		}
	}
	return idempotency.Request{}, false, errors.New("store: idempotency key kept changing")
}

// Attempt implements idempotency.Store. On PostgreSQL the rollback to the
// savepoint also clears an error that aborted the transaction.
func (s *IdempotencyStore) Attempt(ctx context.Context, fn func(ctx context.Context) error) error {
	q := s.db.w(ctx)
	if _, err := q.ExecContext(ctx, `SAVEPOINT keyed_request`); err != nil {
		return err
	}
	if err := fn(ctx); err != nil {
		if _, rerr := q.ExecContext(context.WithoutCancel(ctx), `ROLLBACK TO SAVEPOINT keyed_request`); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	_, err := q.ExecContext(ctx, `RELEASE SAVEPOINT keyed_request`)
	return err
}

// Answered implements idempotency.Store.
func (s *IdempotencyStore) Answered(ctx context.Context, partnerID, key string, notBefore time.Time) (bool, error) {
	var n int
	err := s.db.q(ctx).QueryRowContext(ctx, `SELECT COUNT(*) FROM idempotency_keys WHERE partner_id = $1 AND key = $2 AND state = 'done'
		AND created_at >= $3`, partnerID, key, notBefore.UTC()).Scan(&n)
	return n > 0, err
}

// Complete implements idempotency.Store.
func (s *IdempotencyStore) Complete(ctx context.Context, partnerID, key string, status int, contentType string, body []byte) error {
	_, err := s.db.w(ctx).ExecContext(ctx, `UPDATE idempotency_keys SET state = 'done', status = $1, headers = $2, body = $3
		WHERE partner_id = $4 AND key = $5`, status, contentType, body, partnerID, key)
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
