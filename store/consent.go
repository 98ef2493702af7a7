package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/consent"
	"github.com/vaultpage/vaultpage/events"
)

// ConsentStore implements consent.Store and events.Outbox.
type ConsentStore struct{ db *DB }

// Consents returns the consent store on db.
func (db *DB) Consents() *ConsentStore { return &ConsentStore{db: db} }

var (
	_ consent.Store = (*ConsentStore)(nil)
	_ events.Outbox = (*ConsentStore)(nil)
)

// InTx implements consent.Store.
func (s *ConsentStore) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.db.InTx(ctx, fn)
}

const consentColumns = `id, partner_id, card_id, individual_id, action, status, return_url, locale, mode, expires_at, created_at, updated_at, version, authenticated_at`

func scanConsent(row interface{ Scan(...any) error }) (consent.Consent, error) {
	var (
		c    consent.Consent
		auth sql.NullTime
	)
	err := row.Scan(&c.ID, &c.PartnerID, &c.CardID, &c.IndividualID, &c.Action, &c.Status, &c.ReturnURL, &c.Locale, &c.Mode,
		&c.ExpiresAt, &c.CreatedAt, &c.UpdatedAt, &c.Version, &auth)
	if errors.Is(err, sql.ErrNoRows) {
		return c, consent.ErrNotFound
	}
	if err != nil {
		return c, err
	}
	c.ExpiresAt, c.CreatedAt, c.UpdatedAt = c.ExpiresAt.UTC(), c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	if auth.Valid {
		c.AuthenticatedAt = auth.Time.UTC()
	}
	return c, nil
}

// CreateConsent implements consent.Store.
func (s *ConsentStore) CreateConsent(ctx context.Context, c consent.Consent) error {
	_, err := s.db.w(ctx).ExecContext(ctx, `INSERT INTO consents (`+consentColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		c.ID.String(), c.PartnerID.String(), c.CardID.String(), c.IndividualID.String(), string(c.Action), string(c.Status),
		c.ReturnURL, c.Locale, string(c.Mode), c.ExpiresAt.UTC(), c.CreatedAt.UTC(), c.UpdatedAt.UTC(), c.Version, nullTime(c.AuthenticatedAt))
	return err
}

// Consent implements consent.Store.
func (s *ConsentStore) Consent(ctx context.Context, partnerID, id uuid.UUID) (consent.Consent, error) {
	return scanConsent(s.db.q(ctx).QueryRowContext(ctx, `SELECT `+consentColumns+` FROM consents WHERE partner_id = $1 AND id = $2`,
		partnerID.String(), id.String()))
}

// ListConsents implements consent.Store.
func (s *ConsentStore) ListConsents(ctx context.Context, partnerID uuid.UUID, status *consent.Status, p consent.Page) ([]consent.Consent, error) {
	q := `SELECT ` + consentColumns + ` FROM consents WHERE partner_id = $1`
	args := []any{partnerID.String()}
	if status != nil {
		args = append(args, string(*status))
		q += ` AND status = $` + strconv.Itoa(len(args))
	}
	if p.After != uuid.Nil {
		args = append(args, p.After.String())
		q += ` AND id < $` + strconv.Itoa(len(args))
	}
	limit := p.Limit
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	args = append(args, limit)
	q += ` ORDER BY id DESC LIMIT $` + strconv.Itoa(len(args))
	return list(ctx, s.db, q, args, scanConsent)
}

// UpdateConsent implements consent.Store.
func (s *ConsentStore) UpdateConsent(ctx context.Context, c consent.Consent) (consent.Consent, error) {
	res, err := s.db.w(ctx).ExecContext(ctx, `UPDATE consents SET status = $1, return_url = $2, locale = $3, mode = $4, updated_at = $5,
		authenticated_at = $6, version = version + 1 WHERE partner_id = $7 AND id = $8 AND version = $9`,
		string(c.Status), c.ReturnURL, c.Locale, string(c.Mode), c.UpdatedAt.UTC(), nullTime(c.AuthenticatedAt), c.PartnerID.String(), c.ID.String(), c.Version)
	if err != nil {
		return c, err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return c, errors.Join(consent.ErrConflict, err)
	}
	c.Version++
	return c, nil
}

// SetToken implements consent.Store.
func (s *ConsentStore) SetToken(ctx context.Context, consentID uuid.UUID, digest []byte, expiresAt time.Time) error {
	_, err := s.db.w(ctx).ExecContext(ctx, `INSERT INTO consent_tokens (consent_id, digest, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (consent_id) DO UPDATE SET digest = excluded.digest, expires_at = excluded.expires_at, redeemed_at = NULL`,
		consentID.String(), digest, expiresAt.UTC())
	return err
}

// RedeemToken implements consent.Store: one conditional UPDATE decides.
func (s *ConsentStore) RedeemToken(ctx context.Context, digest []byte, now time.Time) (consent.Consent, error) {
	var id string
	err := s.db.w(ctx).QueryRowContext(ctx, `UPDATE consent_tokens SET redeemed_at = $1
		WHERE digest = $2 AND redeemed_at IS NULL AND expires_at > $1 RETURNING consent_id`, now.UTC(), digest).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return consent.Consent{}, consent.ErrTokenInvalid
	}
	if err != nil {
		return consent.Consent{}, err
	}
	return scanConsent(s.db.q(ctx).QueryRowContext(ctx, `SELECT `+consentColumns+` FROM consents WHERE id = $1`, id))
}

// TokenDigest implements consent.Store.
func (s *ConsentStore) TokenDigest(ctx context.Context, consentID uuid.UUID) ([]byte, error) {
	var d []byte
	err := s.db.q(ctx).QueryRowContext(ctx, `SELECT digest FROM consent_tokens WHERE consent_id = $1`, consentID.String()).Scan(&d)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return d, err
}

// OpenConsents implements consent.Store.
func (s *ConsentStore) OpenConsents(ctx context.Context, partnerID, cardID uuid.UUID) ([]consent.Consent, error) {
	return list(ctx, s.db, `SELECT `+consentColumns+` FROM consents WHERE card_id = $1 AND partner_id = $2 AND status IN ('pending', 'started')`,
		[]any{cardID.String(), partnerID.String()}, scanConsent)
}

// Emit implements events.Outbox.
func (s *ConsentStore) Emit(ctx context.Context, e events.Event) error { return emit(ctx, s.db, e) }

// emit writes e to the outbox, in the transaction in ctx if there is one.
func emit(ctx context.Context, db *DB, e events.Event) error {
	data, err := json.Marshal(e.Data)
	if err != nil {
		return err
	}
	if db.Dialect() == SQLite {
		// SQLite writers are serialised (BEGIN IMMEDIATE, across processes
		// too), so numbering inside the transaction is commit order already
		// and the sequencer has nothing to do.
		_, err = db.w(ctx).ExecContext(ctx, `INSERT INTO events (id, partner_id, type, resource_id, data, created_at, seq)
			VALUES ($1, $2, $3, $4, $5, $6, (SELECT COALESCE(MAX(seq), 0) + 1 FROM events))`,
			e.ID.String(), e.PartnerID.String(), e.Type, e.ResourceID.String(), string(data), e.CreatedAt.UTC())
		return err
	}
	_, err = db.w(ctx).ExecContext(ctx, `INSERT INTO events (id, partner_id, type, resource_id, data, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		e.ID.String(), e.PartnerID.String(), e.Type, e.ResourceID.String(), string(data), e.CreatedAt.UTC())
	return err
}

// EventTypes returns the types of a resource's events in order, for tests
// and the event feed to come.
func (s *ConsentStore) EventTypes(ctx context.Context, resourceID uuid.UUID) ([]string, error) {
	return list(ctx, s.db, `SELECT type FROM events WHERE resource_id = $1 ORDER BY id`, []any{resourceID.String()},
		func(row interface{ Scan(...any) error }) (string, error) {
			var t string
			return t, row.Scan(&t)
		})
}

var _ events.Feed = (*ConsentStore)(nil)

// sequenceLock is the PostgreSQL advisory lock key the sequencer holds.
const sequenceLock = 7_460_001

// Sequence implements events.Feed. On PostgreSQL one sequencer runs at a
// time across every process (a transaction-scoped advisory lock); SQLite
// has one writer. Events still uncommitted are not visible yet and are
// numbered by a later run, after every event numbered now.
func (s *ConsentStore) Sequence(ctx context.Context) (int, error) {
	if s.db.Dialect() == SQLite {
		return 0, nil // numbered on insert (see Emit)
	}
	var n int64
	err := s.db.InTx(ctx, func(ctx context.Context) error {
		if s.db.Dialect() == Postgres {
			if _, err := s.db.w(ctx).ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, sequenceLock); err != nil {
				return err
			}
		}
		res, err := s.db.w(ctx).ExecContext(ctx, `WITH todo AS (
				SELECT id, row_number() OVER (ORDER BY created_at, id) AS n FROM events WHERE seq IS NULL ORDER BY created_at, id LIMIT 1000),
			top AS (SELECT COALESCE(MAX(seq), 0) AS m FROM events)
			UPDATE events SET seq = (SELECT m FROM top) + todo.n FROM todo WHERE events.id = todo.id`)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

const eventColumns = `id, partner_id, type, resource_id, data, created_at, seq`

func scanEvent(row interface{ Scan(...any) error }) (events.Event, error) {
	var (
		e    events.Event
		data string
		seq  sql.NullInt64
	)
	if err := row.Scan(&e.ID, &e.PartnerID, &e.Type, &e.ResourceID, &data, &e.CreatedAt, &seq); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return e, events.ErrNotFound
		}
		return e, err
	}
	e.CreatedAt, e.Seq = e.CreatedAt.UTC(), seq.Int64
	return e, json.Unmarshal([]byte(data), &e.Data)
}

// Events implements events.Feed: sequenced events only, oldest first.
func (s *ConsentStore) Events(ctx context.Context, partnerID uuid.UUID, f events.Filter) ([]events.Event, error) {
	q := `SELECT ` + eventColumns + ` FROM events WHERE partner_id = $1 AND seq > $2`
	args := []any{partnerID.String(), f.After}
	if f.Type != "" {
		args = append(args, f.Type)
		q += ` AND type = $3`
	}
	args = append(args, f.Limit)
	q += ` ORDER BY seq LIMIT $` + strconv.Itoa(len(args))
	return list(ctx, s.db, q, args, scanEvent)
}

// Event implements events.Feed.
func (s *ConsentStore) Event(ctx context.Context, partnerID, id uuid.UUID) (events.Event, error) {
	return scanEvent(s.db.q(ctx).QueryRowContext(ctx, `SELECT `+eventColumns+` FROM events WHERE partner_id = $1 AND id = $2`,
		partnerID.String(), id.String()))
}

// LatestSeq implements events.Feed.
func (s *ConsentStore) LatestSeq(ctx context.Context, partnerID uuid.UUID) (int64, error) {
	var n int64
	err := s.db.q(ctx).QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM events WHERE partner_id = $1`, partnerID.String()).Scan(&n)
	return n, err
}
