package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/consent"
)

// SCAStore implements consent.SCAStore.
type SCAStore struct{ db *DB }

// SCA returns the authentication store on db.
func (db *DB) SCA() *SCAStore { return &SCAStore{db: db} }

var _ consent.SCAStore = (*SCAStore)(nil)

// Passcode implements consent.SCAStore.
func (s *SCAStore) Passcode(ctx context.Context, individualID uuid.UUID) (consent.Passcode, error) {
	var (
		p      consent.Passcode
		locked sql.NullTime
	)
	err := s.db.q(ctx).QueryRowContext(ctx, `SELECT passcode_hash, failures, locked_until FROM cardholder_credentials WHERE individual_id = $1`,
		individualID.String()).Scan(&p.Hash, &p.Failures, &locked)
	if errors.Is(err, sql.ErrNoRows) {
		return consent.Passcode{}, nil
	}
	if locked.Valid {
		p.LockedUntil = locked.Time.UTC()
	}
	return p, err
}

// SetPasscode implements consent.SCAStore.
func (s *SCAStore) SetPasscode(ctx context.Context, individualID uuid.UUID, hash string) error {
	_, err := s.db.w(ctx).ExecContext(ctx, `INSERT INTO cardholder_credentials (individual_id, passcode_hash, failures, updated_at)
		VALUES ($1, $2, 0, $3) ON CONFLICT (individual_id) DO UPDATE SET passcode_hash = excluded.passcode_hash, updated_at = excluded.updated_at`,
		individualID.String(), hash, time.Now().UTC())
	return err
}

// RecordFailure implements consent.SCAStore.
func (s *SCAStore) RecordFailure(ctx context.Context, individualID uuid.UUID, limit int, lockUntil time.Time) (int, error) {
	var (
		n     int
		first any // the lock a first failure sets, when the limit is one
	)
	if limit <= 1 {
		first = lockUntil.UTC()
	}
	err := s.db.w(ctx).QueryRowContext(ctx, `INSERT INTO cardholder_credentials (individual_id, passcode_hash, failures, locked_until, updated_at)
		VALUES ($1, '', 1, $2, $3)
		ON CONFLICT (individual_id) DO UPDATE SET failures = cardholder_credentials.failures + 1,
			locked_until = CASE WHEN cardholder_credentials.failures + 1 >= $4 THEN $5 ELSE cardholder_credentials.locked_until END,
			updated_at = $3
		RETURNING failures`, individualID.String(), first, time.Now().UTC(), limit, lockUntil.UTC()).Scan(&n)
	return n, err
}

// ResetFailures implements consent.SCAStore.
func (s *SCAStore) ResetFailures(ctx context.Context, individualID uuid.UUID) error {
	_, err := s.db.w(ctx).ExecContext(ctx, `UPDATE cardholder_credentials SET failures = 0, locked_until = NULL WHERE individual_id = $1`,
		individualID.String())
	return err
}

// PutCode implements consent.SCAStore.
func (s *SCAStore) PutCode(ctx context.Context, consentID uuid.UUID, mac []byte, expiresAt time.Time) error {
	_, err := s.db.w(ctx).ExecContext(ctx, `INSERT INTO sca_codes (consent_id, mac, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (consent_id) DO UPDATE SET mac = excluded.mac, expires_at = excluded.expires_at`, consentID.String(), mac, expiresAt.UTC())
	return err
}

// TakeCode implements consent.SCAStore.
func (s *SCAStore) TakeCode(ctx context.Context, consentID uuid.UUID, now time.Time) ([]byte, error) {
	var mac []byte
	var expires time.Time
	err := s.db.w(ctx).QueryRowContext(ctx, `DELETE FROM sca_codes WHERE consent_id = $1 RETURNING mac, expires_at`, consentID.String()).Scan(&mac, &expires)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !now.Before(expires)) {
		return nil, consent.ErrSCAFailed
	}
	return mac, err
}
