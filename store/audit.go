package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/audit"
)

// AuditStore implements audit.Store.
type AuditStore struct{ db *DB }

// Audit returns the audit store on db.
func (db *DB) Audit() *AuditStore { return &AuditStore{db: db} }

var _ audit.Store = (*AuditStore)(nil)

// auditLockID names the PostgreSQL advisory lock that serialises chainers.
const auditLockID = 7_270_001

// AppendAudit implements audit.Store. On SQLite, whose writers are
// serialised already, it reads the head and appends after it. On
// PostgreSQL it writes the entry unchained to audit_pending in the
// caller's transaction, and ChainAudit chains it after commit: an append
// takes no lock, so audited writes do not queue behind one another.
func (s *AuditStore) AppendAudit(ctx context.Context, e audit.Entry, hash func(audit.Entry) []byte) (audit.Entry, error) {
	details, err := json.Marshal(e.Details)
	if err != nil {
		return e, err
	}
	e.At = e.At.UTC().Truncate(time.Microsecond) // PostgreSQL keeps microseconds
	if s.db.dialect == Postgres {
		id, err := uuid.NewV7()
		if err != nil {
			return e, err
		}
		_, err = s.db.w(ctx).ExecContext(ctx, `INSERT INTO audit_pending (id, at, actor, action, target, result, source, details)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, id.String(), e.At, e.Actor, e.Action, e.Target, e.Result, e.Source, string(details))
		return e, err
	}
	err = s.db.InTx(ctx, func(ctx context.Context) error {
		q := s.db.w(ctx)
		var err error
		e.Seq, e.PrevHash, err = auditHead(ctx, q)
		if err != nil {
			return err
		}
		e.Hash = hash(e)
		return insertAudit(ctx, q, e, string(details))
	})
	return e, err
}

// auditHead returns the next sequence number and the head's hash.
func auditHead(ctx context.Context, q querier) (int64, []byte, error) {
	var (
		seq  int64
		prev []byte
	)
	err := q.QueryRowContext(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, nil, err
	}
	if prev == nil {
		prev = []byte{}
	}
	return seq + 1, prev, nil
}

func insertAudit(ctx context.Context, q querier, e audit.Entry, details string) error {
	_, err := q.ExecContext(ctx, `INSERT INTO audit_log (seq, at, actor, action, target, result, source, details, prev_hash, hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		e.Seq, e.At, e.Actor, e.Action, e.Target, e.Result, e.Source, details, e.PrevHash, e.Hash)
	return err
}

// chainBatch bounds the entries one chaining transaction takes.
const chainBatch = 500

// ChainAudit chains the entries waiting in audit_pending (PostgreSQL; on
// SQLite entries are chained as they are appended): one chainer at a time
// across every process (an advisory lock), in the order of their ids
// (time-ordered), each transaction moving up to chainBatch entries into
// audit_log with their sequence numbers and hashes. An entry whose
// transaction has not committed yet is chained by a later call. It returns
// how many entries it chained.
func (s *AuditStore) ChainAudit(ctx context.Context) (int, error) {
	if s.db.dialect != Postgres {
		return 0, nil
	}
	total := 0
	for {
		n := 0
		err := s.db.InTx(ctx, func(ctx context.Context) error {
			q := s.db.w(ctx)
			if _, err := q.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, auditLockID); err != nil {
				return err
			}
			// A statement of its own after the lock: it sees what the chainer
			// before committed.
			waiting, err := pendingAudit(ctx, q)
			if err != nil || len(waiting) == 0 {
				return err
			}
			seq, prev, err := auditHead(ctx, q)
			if err != nil {
				return err
			}
			// One INSERT for the batch (arrays keep its text constant, so
			// that it is prepared once): each entry's hash covers the one
			// before.
			k := len(waiting)
			var (
				seqs                                   = make([]int64, k)
				ats                                    = make([]time.Time, k)
				actors, actions, targets, results, src = make([]string, k), make([]string, k), make([]string, k), make([]string, k), make([]string, k)
				details, ids                           = make([]string, k), make([]string, k)
				prevs, hashes                          = make([][]byte, k), make([][]byte, k)
			)
			for i, w := range waiting {
				e := w.entry
				e.Seq, e.PrevHash = seq+int64(i), prev
				e.Hash = audit.Hash(e)
				seqs[i], ats[i], actors[i], actions[i], targets[i], results[i], src[i] = e.Seq, e.At, e.Actor, e.Action, e.Target, e.Result, e.Source
				details[i], prevs[i], hashes[i], ids[i] = w.details, e.PrevHash, e.Hash, w.id
				prev = e.Hash
			}
			if _, err := q.ExecContext(ctx, `INSERT INTO audit_log (seq, at, actor, action, target, result, source, details, prev_hash, hash)
				SELECT * FROM unnest(CAST($1 AS BIGINT[]), CAST($2 AS TIMESTAMPTZ[]), CAST($3 AS TEXT[]), CAST($4 AS TEXT[]), CAST($5 AS TEXT[]),
					CAST($6 AS TEXT[]), CAST($7 AS TEXT[]), CAST($8 AS TEXT[]), CAST($9 AS BYTEA[]), CAST($10 AS BYTEA[]))`,
				seqs, ats, actors, actions, targets, results, src, details, prevs, hashes); err != nil {
				return err
			}
			if _, err := q.ExecContext(ctx, `DELETE FROM audit_pending WHERE id = ANY($1)`, ids); err != nil {
				return err
			}
			n = k
			return nil
		})
		total += n
		if err != nil || n < chainBatch {
			return total, err
		}
	}
}

type pending struct {
	id      string
	entry   audit.Entry
	details string
}

func pendingAudit(ctx context.Context, q querier) ([]pending, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, at, actor, action, target, result, source, details FROM audit_pending
		ORDER BY id LIMIT $1`, chainBatch)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []pending
	for rows.Next() {
		var p pending
		e := &p.entry
		if err := rows.Scan(&p.id, &e.At, &e.Actor, &e.Action, &e.Target, &e.Result, &e.Source, &p.details); err != nil {
			return nil, err
		}
		e.At = e.At.UTC()
		if err := json.Unmarshal([]byte(p.details), &e.Details); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// AuditEntries implements audit.Store. On PostgreSQL it chains the entries
// waiting first, so that a reader sees every entry committed before it
// asked.
func (s *AuditStore) AuditEntries(ctx context.Context, after int64, limit int) ([]audit.Entry, error) {
	if _, err := s.ChainAudit(ctx); err != nil {
		return nil, err
	}
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
