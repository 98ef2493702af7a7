package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/google/uuid"

	realtime "github.com/vaultpage/vaultpage/decision"
	"github.com/vaultpage/vaultpage/spend"
)

// DecisionStore keeps partners' real-time decision endpoints.
type DecisionStore struct{ db *DB }

// Decisions returns the decision endpoint store on db.
func (db *DB) Decisions() *DecisionStore { return &DecisionStore{db: db} }

var _ realtime.Store = (*DecisionStore)(nil)

// InTx implements realtime.Store.
func (s *DecisionStore) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.db.InTx(ctx, fn)
}

// PutDecisionEndpoint implements realtime.Store.
func (s *DecisionStore) PutDecisionEndpoint(ctx context.Context, e realtime.Endpoint) error {
	_, err := s.db.w(ctx).ExecContext(ctx, `INSERT INTO decision_endpoints (partner_id, url, timeout_ms, fallback, created_at, updated_at, previous_until)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (partner_id) DO UPDATE SET url = excluded.url, timeout_ms = excluded.timeout_ms, fallback = excluded.fallback,
		updated_at = excluded.updated_at, previous_until = excluded.previous_until`,
		e.PartnerID.String(), e.URL, e.Timeout.Milliseconds(), string(e.Fallback), e.CreatedAt.UTC(), e.UpdatedAt.UTC(), nullTime(e.PreviousUntil))
	return err
}

// DecisionEndpoint implements realtime.Store.
func (s *DecisionStore) DecisionEndpoint(ctx context.Context, partnerID uuid.UUID) (realtime.Endpoint, error) {
	e := realtime.Endpoint{PartnerID: partnerID}
	var (
		ms   int64
		prev sql.NullTime
	)
	err := s.db.q(ctx).QueryRowContext(ctx, `SELECT url, timeout_ms, fallback, created_at, updated_at, previous_until FROM decision_endpoints
		WHERE partner_id = $1`, partnerID.String()).Scan(&e.URL, &ms, &e.Fallback, &e.CreatedAt, &e.UpdatedAt, &prev)
	if errors.Is(err, sql.ErrNoRows) {
		return e, realtime.ErrNotFound
	}
	e.Timeout, e.CreatedAt, e.UpdatedAt = time.Duration(ms)*time.Millisecond, e.CreatedAt.UTC(), e.UpdatedAt.UTC()
	if prev.Valid {
		e.PreviousUntil = prev.Time.UTC()
	}
	return e, err
}

// DeleteDecisionEndpoint implements realtime.Store; the signing secret
// goes with it.
func (s *DecisionStore) DeleteDecisionEndpoint(ctx context.Context, partnerID uuid.UUID) error {
	return s.db.InTx(ctx, func(ctx context.Context) error {
		res, err := s.db.w(ctx).ExecContext(ctx, `DELETE FROM decision_endpoints WHERE partner_id = $1`, partnerID.String())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(realtime.ErrNotFound, err)
		}
		return s.db.Vault().DeleteSecrets(ctx, "decision_endpoints", partnerID.String())
	})
}

// recordDecision stores how the partner's endpoint took part in a.
func (s *SpendStore) recordDecision(ctx context.Context, a spend.Authorization) error {
	d := a.Decision
	_, err := s.db.w(ctx).ExecContext(ctx, `INSERT INTO authorization_decisions (authorization_id, decided_by, stand_in_cause, latency_us,
		partner_reason, requested, funded) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		a.ID.String(), string(d.By), d.Cause, d.Latency.Microseconds(), d.Reason, int64(d.Requested), int64(d.Funded))
	return err
}
