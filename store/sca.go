package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"strings"
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

// EnrolPasscode implements consent.SCAStore: one statement sets the hash
// only where none is set.
func (s *SCAStore) EnrolPasscode(ctx context.Context, individualID uuid.UUID, hash string) (bool, error) {
	res, err := s.db.w(ctx).ExecContext(ctx, `INSERT INTO cardholder_credentials (individual_id, passcode_hash, failures, updated_at)
		VALUES ($1, $2, 0, $3) ON CONFLICT (individual_id) DO UPDATE SET passcode_hash = excluded.passcode_hash, updated_at = excluded.updated_at
		WHERE cardholder_credentials.passcode_hash = ''`,
		individualID.String(), hash, time.Now().UTC())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ReserveAttempt implements consent.SCAStore. The conditional upsert
// decides under the row's lock (PostgreSQL) or the single writer (SQLite):
// a cardholder whose lock has not run out gets no row back, which is
// consent.ErrLocked. (NULLIF(x, x) is a NULL of the column's type: PostgreSQL
// cannot type a bare NULL against the untyped lock parameter.)
func (s *SCAStore) ReserveAttempt(ctx context.Context, individualID uuid.UUID, limit int, now, lockUntil time.Time) (int, error) {
	return s.reserve(ctx, reserveSQL("cardholder_credentials", "passcode_hash, ", "'', "), individualID, limit, now, lockUntil)
}

// reserve runs query, a reserveSQL upsert, for the cardholder.
func (s *SCAStore) reserve(ctx context.Context, query string, individualID uuid.UUID, limit int, now, lockUntil time.Time) (int, error) {
	var (
		n     int
		first any // the lock a first attempt sets, when the limit is one
	)
	if limit <= 1 {
		first = lockUntil.UTC()
	}
	err := s.db.w(ctx).QueryRowContext(ctx, query, individualID.String(), first, now.UTC(), limit, lockUntil.UTC()).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, consent.ErrLocked
	}
	return n, err
}

// reserveSQL is ReserveAttempt's conditional upsert into table, whose
// other columns (and their values on insert) extra names.
func reserveSQL(table, extra, values string) string {
	return `INSERT INTO ` + table + ` (individual_id, ` + extra + `failures, locked_until, updated_at)
		VALUES ($1, ` + values + `1, $2, $3)
		ON CONFLICT (individual_id) DO UPDATE SET
			failures = CASE WHEN ` + table + `.locked_until IS NULL THEN ` + table + `.failures + 1 ELSE 1 END,
			locked_until = CASE WHEN (CASE WHEN ` + table + `.locked_until IS NULL THEN ` + table + `.failures + 1 ELSE 1 END) >= $4
				THEN $5 ELSE NULLIF(excluded.updated_at, excluded.updated_at) END,
			updated_at = $3
		WHERE ` + table + `.locked_until IS NULL OR ` + table + `.locked_until <= $3
		RETURNING failures`
}

// ReservePaymentAttempt implements consent.SCAStore: ReserveAttempt for
// online payments' challenges, on a count of their own.
func (s *SCAStore) ReservePaymentAttempt(ctx context.Context, individualID uuid.UUID, limit int, now, lockUntil time.Time) (int, error) {
	return s.reserve(ctx, reserveSQL("payment_sca_attempts", "", ""), individualID, limit, now, lockUntil)
}

// ResetPaymentFailures implements consent.SCAStore.
func (s *SCAStore) ResetPaymentFailures(ctx context.Context, individualID uuid.UUID) error {
	_, err := s.db.w(ctx).ExecContext(ctx, `UPDATE payment_sca_attempts SET failures = 0, locked_until = NULL WHERE individual_id = $1`,
		individualID.String())
	return err
}

// PaymentLock implements consent.SCAStore.
func (s *SCAStore) PaymentLock(ctx context.Context, individualID uuid.UUID) (time.Time, error) {
	var locked sql.NullTime
	err := s.db.q(ctx).QueryRowContext(ctx, `SELECT locked_until FROM payment_sca_attempts WHERE individual_id = $1`, individualID.String()).Scan(&locked)
	if errors.Is(err, sql.ErrNoRows) || !locked.Valid {
		return time.Time{}, nil
	}
	return locked.Time.UTC(), err
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

// TakeCode implements consent.SCAStore: the code goes, and the consent's
// cooldown with it (its code is used).
func (s *SCAStore) TakeCode(ctx context.Context, consentID uuid.UUID, now time.Time) ([]byte, error) {
	var (
		mac     []byte
		expires time.Time
	)
	err := s.db.InTx(ctx, func(ctx context.Context) error {
		err := s.db.w(ctx).QueryRowContext(ctx, `DELETE FROM sca_codes WHERE consent_id = $1 RETURNING mac, expires_at`, consentID.String()).Scan(&mac, &expires)
		if err != nil {
			return err
		}
		_, err = s.db.w(ctx).ExecContext(ctx, `UPDATE sca_sends SET pending = FALSE WHERE scope = $1`, consentScope(consentID))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !now.Before(expires)) {
		return nil, consent.ErrSCAFailed
	}
	return mac, err
}

// ReserveSend implements consent.SCAStore: per scope, one conditional
// upsert counts the send unless the scope's window is full, or its last
// send is within the cooldown while the consent's code is still unused
// (pending, set here and cleared by TakeCode, on the same row, so that
// concurrent sends see each other); all scopes commit together or not at
// all.
func (s *SCAStore) ReserveSend(ctx context.Context, consentID, individualID uuid.UUID, to string, l consent.SendLimits, now time.Time) error {
	dest := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(to))))
	scope := ""
	if l.Scope != "" {
		scope = l.Scope + ":"
	}
	scopes := []struct {
		key      string
		limit    int
		window   time.Duration
		cooldown time.Duration
	}{
		// A consent lives for minutes; its window outlasts it.
		{consentScope(consentID), l.PerConsent, 24 * time.Hour, l.Cooldown},
		{scope + "individual:" + individualID.String(), l.PerCardholder, l.Window, 0},
		// However many cardholders share a phone or an inbox.
		{scope + "to:" + hex.EncodeToString(dest[:]), l.PerCardholder, l.Window, 0},
	}
	now = now.UTC()
	return s.db.InTx(ctx, func(ctx context.Context) error {
		for _, sc := range scopes {
			var n int
			err := s.db.w(ctx).QueryRowContext(ctx, `INSERT INTO sca_sends (scope, window_start, sends, pending, last_at) VALUES ($1, $2, 1, TRUE, $2)
				ON CONFLICT (scope) DO UPDATE SET
					window_start = CASE WHEN sca_sends.window_start <= $3 THEN $2 ELSE sca_sends.window_start END,
					sends = CASE WHEN sca_sends.window_start <= $3 THEN 1 ELSE sca_sends.sends + 1 END,
					pending = TRUE, last_at = $2
				WHERE (sca_sends.window_start <= $3 OR sca_sends.sends < $4) AND (sca_sends.last_at <= $5 OR NOT sca_sends.pending)
				RETURNING sends`, sc.key, now, now.Add(-sc.window), sc.limit, now.Add(-sc.cooldown)).Scan(&n)
			if errors.Is(err, sql.ErrNoRows) {
				var (
					start, last time.Time
					sends       int
					pending     bool
				)
				if err := s.db.w(ctx).QueryRowContext(ctx, `SELECT window_start, sends, pending, last_at FROM sca_sends WHERE scope = $1`,
					sc.key).Scan(&start, &sends, &pending, &last); err != nil {
					return err
				}
				var wait time.Duration
				if pending {
					wait = last.Add(sc.cooldown).Sub(now)
				}
				if full := start.Add(sc.window).Sub(now); sends >= sc.limit && full > wait {
					wait = full
				}
				return &consent.SendLimitError{RetryAfter: max(wait, time.Second)}
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func consentScope(id uuid.UUID) string { return "consent:" + id.String() }

var _ consent.PasskeyStore = (*SCAStore)(nil)

// PasskeyUser implements consent.PasskeyStore.
func (s *SCAStore) PasskeyUser(ctx context.Context, individualID uuid.UUID) ([]byte, []consent.Passkey, error) {
	var handle []byte
	err := s.db.q(ctx).QueryRowContext(ctx, `SELECT user_handle FROM passkey_users WHERE individual_id = $1`, individualID.String()).Scan(&handle)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	rows, err := s.db.q(ctx).QueryContext(ctx, `SELECT credential_id, public_key, attestation_type, attestation_format, aaguid, transports,
		attachment, sign_count, user_verified, backup_eligible, backup_state, created_at, last_used_at
		FROM passkeys WHERE individual_id = $1 ORDER BY created_at`, individualID.String())
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = rows.Close() }()
	var keys []consent.Passkey
	for rows.Next() {
		var (
			p          consent.Passkey
			transports string
			count      int64
			used       sql.NullTime
		)
		if err := rows.Scan(&p.CredentialID, &p.PublicKey, &p.AttestationType, &p.AttestationFormat, &p.AAGUID, &transports,
			&p.Attachment, &count, &p.UserVerified, &p.BackupEligible, &p.BackupState, &p.CreatedAt, &used); err != nil {
			return nil, nil, err
		}
		if transports != "" {
			p.Transports = strings.Split(transports, ",")
		}
		p.SignCount = uint32(count) //nolint:gosec // G115: stored from a uint32.
		p.CreatedAt = p.CreatedAt.UTC()
		if used.Valid {
			p.LastUsedAt = used.Time.UTC()
		}
		keys = append(keys, p)
	}
	return handle, keys, rows.Err()
}

// AddPasskey implements consent.PasskeyStore. A credential id registered
// before (for anyone) is refused with consent.ErrSCAFailed.
func (s *SCAStore) AddPasskey(ctx context.Context, individualID uuid.UUID, handle []byte, p consent.Passkey) error {
	return s.db.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.db.w(ctx).ExecContext(ctx, `INSERT INTO passkey_users (individual_id, user_handle) VALUES ($1, $2)
			ON CONFLICT (individual_id) DO NOTHING`, individualID.String(), handle); err != nil {
			return err
		}
		res, err := s.db.w(ctx).ExecContext(ctx, `INSERT INTO passkeys (credential_id, individual_id, public_key, attestation_type,
			attestation_format, aaguid, transports, attachment, sign_count, user_verified, backup_eligible, backup_state, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (credential_id) DO NOTHING`,
			p.CredentialID, individualID.String(), p.PublicKey, p.AttestationType, p.AttestationFormat, p.AAGUID,
			strings.Join(p.Transports, ","), p.Attachment, int64(p.SignCount), p.UserVerified, p.BackupEligible, p.BackupState, p.CreatedAt.UTC())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(consent.ErrSCAFailed, err)
		}
		return nil
	})
}

// UsePasskey implements consent.PasskeyStore.
func (s *SCAStore) UsePasskey(ctx context.Context, credentialID []byte, signCount uint32, backupState bool, at time.Time) error {
	_, err := s.db.w(ctx).ExecContext(ctx, `UPDATE passkeys SET sign_count = $1, backup_state = $2, last_used_at = $3 WHERE credential_id = $4`,
		int64(signCount), backupState, at.UTC(), credentialID)
	return err
}

// PutCeremony implements consent.PasskeyStore.
func (s *SCAStore) PutCeremony(ctx context.Context, consentID uuid.UUID, kind string, state []byte, expiresAt time.Time) error {
	_, err := s.db.w(ctx).ExecContext(ctx, `INSERT INTO webauthn_ceremonies (consent_id, kind, session, expires_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (consent_id) DO UPDATE SET kind = excluded.kind, session = excluded.session, expires_at = excluded.expires_at`,
		consentID.String(), kind, state, expiresAt.UTC())
	return err
}

// TakeCeremony implements consent.PasskeyStore.
func (s *SCAStore) TakeCeremony(ctx context.Context, consentID uuid.UUID, kind string, now time.Time) ([]byte, error) {
	var (
		state   []byte
		got     string
		expires time.Time
	)
	err := s.db.w(ctx).QueryRowContext(ctx, `DELETE FROM webauthn_ceremonies WHERE consent_id = $1 RETURNING kind, session, expires_at`,
		consentID.String()).Scan(&got, &state, &expires)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && (got != kind || !now.Before(expires))) {
		return nil, consent.ErrSCAFailed
	}
	return state, err
}

// DeletePasskey implements consent.PasskeyStore: consent.ErrNotFound when
// the cardholder has no such passkey.
func (s *SCAStore) DeletePasskey(ctx context.Context, individualID uuid.UUID, credentialID []byte) error {
	res, err := s.db.w(ctx).ExecContext(ctx, `DELETE FROM passkeys WHERE individual_id = $1 AND credential_id = $2`, individualID.String(), credentialID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return errors.Join(consent.ErrNotFound, err)
	}
	return nil
}
