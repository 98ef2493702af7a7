package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/events"
	"github.com/vaultpage/vaultpage/webhook"
)

// WebhookStore implements webhook.Store.
type WebhookStore struct {
	*ConsentStore // the event feed
}

// Webhooks returns the webhook store on db.
func (db *DB) Webhooks() *WebhookStore { return &WebhookStore{ConsentStore: db.Consents()} }

var _ webhook.Store = (*WebhookStore)(nil)

const endpointColumns = `id, partner_id, url, event_types, disabled, previous_until, created_at, updated_at`

func scanEndpoint(row interface{ Scan(...any) error }) (webhook.Endpoint, error) {
	var (
		e     webhook.Endpoint
		types string
		prev  sql.NullTime
	)
	if err := row.Scan(&e.ID, &e.PartnerID, &e.URL, &types, &e.Disabled, &prev, &e.CreatedAt, &e.UpdatedAt); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return e, webhook.ErrNotFound
		}
		return e, err
	}
	e.EventTypes = splitList(types)
	if prev.Valid {
		e.PreviousUntil = prev.Time.UTC()
	}
	e.CreatedAt, e.UpdatedAt = e.CreatedAt.UTC(), e.UpdatedAt.UTC()
	return e, nil
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

// CreateEndpoint implements webhook.Store.
func (s *WebhookStore) CreateEndpoint(ctx context.Context, e webhook.Endpoint) error {
	_, err := s.db.w(ctx).ExecContext(ctx, `INSERT INTO webhook_endpoints (`+endpointColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		e.ID.String(), e.PartnerID.String(), e.URL, joinList(e.EventTypes), e.Disabled, nullTime(e.PreviousUntil), e.CreatedAt.UTC(), e.UpdatedAt.UTC())
	return err
}

// Endpoint implements webhook.Store.
func (s *WebhookStore) Endpoint(ctx context.Context, partnerID, id uuid.UUID) (webhook.Endpoint, error) {
	return scanEndpoint(s.db.q(ctx).QueryRowContext(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE partner_id = $1 AND id = $2`,
		partnerID.String(), id.String()))
}

// Endpoints implements webhook.Store.
func (s *WebhookStore) Endpoints(ctx context.Context, partnerID uuid.UUID) ([]webhook.Endpoint, error) {
	return list(ctx, s.db, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE partner_id = $1 ORDER BY id`, []any{partnerID.String()}, scanEndpoint)
}

// EnabledEndpoints implements webhook.Store.
func (s *WebhookStore) EnabledEndpoints(ctx context.Context) ([]webhook.Endpoint, error) {
	return list(ctx, s.db, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE disabled = $1 ORDER BY id`, []any{false}, scanEndpoint)
}

// UpdateEndpoint implements webhook.Store.
func (s *WebhookStore) UpdateEndpoint(ctx context.Context, e webhook.Endpoint) error {
	_, err := s.db.w(ctx).ExecContext(ctx, `UPDATE webhook_endpoints SET url = $1, event_types = $2, disabled = $3, previous_until = $4, updated_at = $5
		WHERE partner_id = $6 AND id = $7`, e.URL, joinList(e.EventTypes), e.Disabled, nullTime(e.PreviousUntil), e.UpdatedAt.UTC(),
		e.PartnerID.String(), e.ID.String())
	return err
}

// DisableEndpoint implements webhook.Store.
func (s *WebhookStore) DisableEndpoint(ctx context.Context, partnerID, id uuid.UUID, url string, since, at time.Time) error {
	_, err := s.db.w(ctx).ExecContext(ctx, `UPDATE webhook_endpoints SET disabled = TRUE, updated_at = $1
		WHERE partner_id = $2 AND id = $3 AND url = $4 AND updated_at <= $5`, at.UTC(), partnerID.String(), id.String(), url, since.UTC())
	return err
}

// DeleteEndpoint implements webhook.Store: the endpoint, its deliveries
// and its sealed secrets go together.
func (s *WebhookStore) DeleteEndpoint(ctx context.Context, partnerID, id uuid.UUID) error {
	return s.db.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.db.w(ctx).ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE partner_id = $1 AND endpoint_id = $2`, partnerID.String(), id.String()); err != nil {
			return err
		}
		res, err := s.db.w(ctx).ExecContext(ctx, `DELETE FROM webhook_endpoints WHERE partner_id = $1 AND id = $2`, partnerID.String(), id.String())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(webhook.ErrNotFound, err)
		}
		return s.db.Vault().DeleteSecrets(ctx, "webhook_endpoints", id.String())
	})
}

// dispatchLock is the PostgreSQL advisory lock key of the webhook dispatcher.
const dispatchLock = 7_460_002

// LockDispatch implements webhook.Store.
func (s *WebhookStore) LockDispatch(ctx context.Context) error {
	if s.db.Dialect() != Postgres {
		return nil
	}
	_, err := s.db.w(ctx).ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, dispatchLock)
	return err
}

// FanoutCursor implements webhook.Store.
func (s *WebhookStore) FanoutCursor(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.w(ctx).QueryRowContext(ctx, `SELECT seq FROM webhook_fanout WHERE id = 1`).Scan(&n)
	return n, err
}

// SetFanoutCursor implements webhook.Store.
func (s *WebhookStore) SetFanoutCursor(ctx context.Context, seq int64) error {
	_, err := s.db.w(ctx).ExecContext(ctx, `UPDATE webhook_fanout SET seq = $1 WHERE id = 1`, seq)
	return err
}

// EventsAfter implements webhook.Store.
func (s *WebhookStore) EventsAfter(ctx context.Context, seq int64, limit int) ([]events.Event, error) {
	return list(ctx, s.db, `SELECT `+eventColumns+` FROM events WHERE seq > $1 ORDER BY seq LIMIT $2`, []any{seq, limit}, scanEvent)
}

const deliveryColumns = `id, partner_id, endpoint_id, event_id, status, attempts, next_attempt_at, last_status, last_error, created_at, updated_at`

func scanDelivery(row interface{ Scan(...any) error }) (webhook.Delivery, error) {
	var d webhook.Delivery
	if err := row.Scan(&d.ID, &d.PartnerID, &d.EndpointID, &d.EventID, &d.Status, &d.Attempts, &d.NextAttemptAt, &d.LastStatus, &d.LastError,
		&d.CreatedAt, &d.UpdatedAt); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return d, webhook.ErrNotFound
		}
		return d, err
	}
	d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = d.NextAttemptAt.UTC(), d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	return d, nil
}

// AddDelivery implements webhook.Store.
func (s *WebhookStore) AddDelivery(ctx context.Context, d webhook.Delivery) error {
	_, err := s.db.w(ctx).ExecContext(ctx, `INSERT INTO webhook_deliveries (`+deliveryColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (endpoint_id, event_id) DO NOTHING`, d.ID.String(), d.PartnerID.String(), d.EndpointID.String(), d.EventID.String(), d.Status,
		d.Attempts, d.NextAttemptAt.UTC(), d.LastStatus, d.LastError, d.CreatedAt.UTC(), d.UpdatedAt.UTC())
	return err
}

// DueDeliveries implements webhook.Store.
func (s *WebhookStore) DueDeliveries(ctx context.Context, now time.Time, perEndpoint int) ([]webhook.Delivery, error) {
	return list(ctx, s.db, `SELECT `+deliveryColumns+` FROM (
			SELECT `+deliveryColumns+`, row_number() OVER (PARTITION BY endpoint_id ORDER BY next_attempt_at, id) AS rn
			FROM webhook_deliveries
			WHERE status = 'pending' AND next_attempt_at <= $1 AND (leased_until IS NULL OR leased_until <= $1)
				AND endpoint_id IN (SELECT id FROM webhook_endpoints WHERE NOT disabled)) due
		WHERE rn <= $2 ORDER BY next_attempt_at, id LIMIT 1000`, []any{now.UTC(), perEndpoint}, scanDelivery)
}

// Leased implements webhook.Store.
func (s *WebhookStore) Leased(ctx context.Context, now time.Time) (map[uuid.UUID]int, error) {
	rows, err := s.db.w(ctx).QueryContext(ctx, `SELECT endpoint_id, COUNT(*) FROM webhook_deliveries
		WHERE status = 'pending' AND leased_until > $1 GROUP BY endpoint_id`, now.UTC())
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	out := map[uuid.UUID]int{}
	for rows.Next() {
		var (
			id uuid.UUID
			n  int
		)
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}

// Lease implements webhook.Store.
func (s *WebhookStore) Lease(ctx context.Context, id uuid.UUID, until time.Time) error {
	_, err := s.db.w(ctx).ExecContext(ctx, `UPDATE webhook_deliveries SET leased_until = $1 WHERE id = $2`, until.UTC(), id.String())
	return err
}

// FinishAttempt implements webhook.Store: records the outcome and ends
// the lease.
func (s *WebhookStore) FinishAttempt(ctx context.Context, d webhook.Delivery) error {
	_, err := s.db.w(ctx).ExecContext(ctx, `UPDATE webhook_deliveries SET status = $1, attempts = $2, next_attempt_at = $3, last_status = $4,
		last_error = $5, updated_at = $6, leased_until = NULL WHERE id = $7`, d.Status, d.Attempts, d.NextAttemptAt.UTC(), d.LastStatus,
		d.LastError, d.UpdatedAt.UTC(), d.ID.String())
	return err
}

// Delivery implements webhook.Store.
func (s *WebhookStore) Delivery(ctx context.Context, partnerID, id uuid.UUID) (webhook.Delivery, error) {
	return scanDelivery(s.db.q(ctx).QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE partner_id = $1 AND id = $2`,
		partnerID.String(), id.String()))
}

// Deliveries implements webhook.Store: newest first.
func (s *WebhookStore) Deliveries(ctx context.Context, partnerID, endpointID uuid.UUID, status string, limit int) ([]webhook.Delivery, error) {
	where := []string{"partner_id = $1", "endpoint_id = $2"}
	args := []any{partnerID.String(), endpointID.String()}
	if status != "" {
		args = append(args, status)
		where = append(where, "status = $"+strconv.Itoa(len(args)))
	}
	args = append(args, limit)
	return list(ctx, s.db, `SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE `+strings.Join(where, " AND ")+
		` ORDER BY id DESC LIMIT $`+strconv.Itoa(len(args)), args, scanDelivery)
}
