package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/vaultpage/vaultpage/audit"
)

// AuditStore implements audit.Store.
type AuditStore struct{ db *DB }

// Audit returns the audit store on db.
func (db *DB) Audit() *AuditStore { return &AuditStore{db: db} }

var _ audit.Store = (*AuditStore)(nil)

// auditLockID names the PostgreSQL advisory lock that serialises appenders.
const auditLockID = 7_270_001

// AppendAudit implements audit.Store: under a lock (SQLite's write lock, a
// PostgreSQL advisory transaction lock) it reads the head and appends after it.
func (s *AuditStore) AppendAudit(ctx context.Context, e audit.Entry, hash func(audit.Entry) []byte) (audit.Entry, error) {
	details, err := json.Marshal(e.Details)
	if err != nil {
		return e, err
	}
	err = s.db.InTx(ctx, func(ctx context.Context) error {
		q := s.db.w(ctx)
		if s.db.dialect == Postgres {
			if _, err := q.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, auditLockID); err != nil {
				return err
			}
		}
		var prevSeq int64
		var prev []byte
		err := q.QueryRowContext(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&prevSeq, &prev)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if prev == nil {
			prev = []byte{}
		}
		e.Seq, e.PrevHash = prevSeq+1, prev
		e.At = e.At.UTC().Truncate(time.Microsecond) // PostgreSQL keeps microseconds
		e.Hash = hash(e)
		_, err = q.ExecContext(ctx, `INSERT INTO audit_log (seq, at, actor, action, target, result, source, details, prev_hash, hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			e.Seq, e.At, e.Actor, e.Action, e.Target, e.Result, e.Source, string(details), e.PrevHash, e.Hash)
		return err
	})
	return e, err
}

// AuditEntries implements audit.Store.
func (s *AuditStore) AuditEntries(ctx context.Context, after int64, limit int) ([]audit.Entry, error) {
	rows, err := s.db.q(ctx).QueryContext(ctx, `SELECT seq, at, actor, action, target, result, source, details, prev_hash, hash
		FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2`, after, limit)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []audit.Entry
	for rows.Next() {
		var (
			e       audit.Entry
			details string
		)
		if err := rows.Scan(&e.Seq, &e.At, &e.Actor, &e.Action, &e.Target, &e.Result, &e.Source, &details, &e.PrevHash, &e.Hash); err != nil {
			return nil, err
		}
		e.At = e.At.UTC()
		if err := json.Unmarshal([]byte(details), &e.Details); err != nil {
			return nil, err
		}
		if e.PrevHash == nil {
			e.PrevHash = []byte{}
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
