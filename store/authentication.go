package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/events"
	"github.com/vaultpage/vaultpage/spend"
)

const authenticationColumns = `id, partner_id, card_id, amount, currency, merchant_name, merchant_url, merchant_mcc, merchant_country, merchant_id,
	challenge_preference, trans_status, exemption, reason, authorization_id, created_at, updated_at, expires_at, consent_id, method, decided_by`

// authenticationArgs are the placeholders of a's authenticationColumns, in
// st.
func authenticationArgs(st *pgStatement, a spend.Authentication) []string {
	used, challenge := any(nil), any(nil)
	if a.AuthorizationID != uuid.Nil {
		used = a.AuthorizationID.String()
	}
	if a.ConsentID != uuid.Nil {
		challenge = a.ConsentID.String()
	}
	return []string{st.arg(a.ID.String()), st.arg(a.PartnerID.String()), st.arg(a.CardID.String()), st.arg(int64(a.Amount)), st.arg(a.Currency),
		st.arg(a.Payee.Name), st.arg(a.Payee.URL), st.arg(a.Payee.MCC), st.arg(a.Payee.Country), st.arg(a.Payee.ID), st.arg(string(a.Preference)),
		st.arg(string(a.TransStatus)), st.arg(a.Exemption), st.arg(a.Reason), st.arg(used), st.arg(a.CreatedAt.UTC()), st.arg(a.UpdatedAt.UTC()),
		st.arg(a.ExpiresAt.UTC()), st.arg(challenge), st.arg(a.Method), st.arg(string(a.DecidedBy))}
}

// authenticationQuery reads one of a partner's authentications.
const authenticationQuery = `SELECT ` + authenticationColumns + ` FROM authentications WHERE partner_id = $1 AND id = $2`

// Authentication implements spend.Store.
func (s *SpendStore) Authentication(ctx context.Context, partnerID, id uuid.UUID) (spend.Authentication, error) {
	return scanAuthentication(s.db.q(ctx).QueryRowContext(ctx, authenticationQuery, partnerID.String(), id.String()))
}

// AuthenticationOf implements spend.Store.
func (s *SpendStore) AuthenticationOf(ctx context.Context, authorizationID uuid.UUID) (spend.Authentication, error) {
	return scanAuthentication(s.db.q(ctx).QueryRowContext(ctx, `SELECT `+authenticationColumns+` FROM authentications WHERE authorization_id = $1`,
		authorizationID.String()))
}

// scanAuthentication scans a row of authenticationColumns; spend.ErrNotFound
// for none.
func scanAuthentication(row interface{ Scan(...any) error }) (spend.Authentication, error) {
	var (
		a               spend.Authentication
		used, challenge sql.NullString
	)
	err := row.Scan(&a.ID, &a.PartnerID, &a.CardID, &a.Amount, &a.Currency, &a.Payee.Name, &a.Payee.URL, &a.Payee.MCC,
		&a.Payee.Country, &a.Payee.ID, &a.Preference, &a.TransStatus, &a.Exemption, &a.Reason, &used, &a.CreatedAt, &a.UpdatedAt, &a.ExpiresAt,
		&challenge, &a.Method, &a.DecidedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return a, spend.ErrNotFound
	}
	if err != nil {
		return a, err
	}
	if used.Valid {
		if a.AuthorizationID, err = uuid.Parse(used.String); err != nil {
			return a, err
		}
	}
	if challenge.Valid {
		if a.ConsentID, err = uuid.Parse(challenge.String); err != nil {
			return a, err
		}
	}
	a.CreatedAt, a.UpdatedAt, a.ExpiresAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC(), a.ExpiresAt.UTC()
	return a, nil
}

// AuthenticationByConsent implements spend.Store.
func (s *SpendStore) AuthenticationByConsent(ctx context.Context, partnerID, consentID uuid.UUID) (spend.Authentication, error) {
	return scanAuthentication(s.db.q(ctx).QueryRowContext(ctx, `SELECT `+authenticationColumns+` FROM authentications
		WHERE partner_id = $1 AND consent_id = $2`, partnerID.String(), consentID.String()))
}

// LinkChallenge implements spend.Store.
func (s *SpendStore) LinkChallenge(ctx context.Context, authenticationID, consentID uuid.UUID) error {
	res, err := s.db.w(ctx).ExecContext(ctx, `UPDATE authentications SET consent_id = $1 WHERE id = $2 AND consent_id IS NULL AND trans_status = 'C'`,
		consentID.String(), authenticationID.String())
	return oneRow(res, err, spend.ErrChallengeEnded)
}

// EndChallenge implements spend.Store.
func (s *SpendStore) EndChallenge(ctx context.Context, a spend.Authentication, e events.Event) error {
	res, err := s.db.w(ctx).ExecContext(ctx, `UPDATE authentications SET trans_status = $1, reason = $2, method = $3, updated_at = $4
		WHERE id = $5 AND trans_status = 'C'`, string(a.TransStatus), a.Reason, a.Method, a.UpdatedAt.UTC(), a.ID.String())
	if err := oneRow(res, err, spend.ErrChallengeEnded); err != nil {
		return err
	}
	if a.TransStatus == spend.TransAuthenticated {
		// The cardholder passed SCA: the low-value exemption counts again
		// from nothing (RTS Article 16).
		if _, err := s.db.w(ctx).ExecContext(ctx, `DELETE FROM sca_exemption_counters WHERE lineage_id =
			(SELECT COALESCE(NULLIF(lineage_id, ''), id) FROM cards WHERE id = $1)`, a.CardID.String()); err != nil {
			return err
		}
	}
	return emit(ctx, s.db, e)
}

// oneRow is nil when the statement changed one row, none when it did not.
func oneRow(res sql.Result, err, none error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n != 1 {
		return none
	}
	return nil
}

// AuthenticationByID implements spend.Store.
func (s *SpendStore) AuthenticationByID(ctx context.Context, id uuid.UUID) (spend.Authentication, error) {
	return scanAuthentication(s.db.q(ctx).QueryRowContext(ctx, `SELECT `+authenticationColumns+` FROM authentications WHERE id = $1`, id.String()))
}
