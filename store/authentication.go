package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/spend"
)

const authenticationColumns = `id, partner_id, card_id, amount, currency, merchant_name, merchant_url, merchant_mcc, merchant_country, merchant_id,
	challenge_preference, trans_status, exemption, reason, authorization_id, created_at, updated_at, expires_at`

// authenticationArgs are the placeholders of a's authenticationColumns, in
// st.
func authenticationArgs(st *pgStatement, a spend.Authentication) []string {
	used := any(nil)
	if a.AuthorizationID != uuid.Nil {
		used = a.AuthorizationID.String()
	}
	return []string{st.arg(a.ID.String()), st.arg(a.PartnerID.String()), st.arg(a.CardID.String()), st.arg(int64(a.Amount)), st.arg(a.Currency),
		st.arg(a.Payee.Name), st.arg(a.Payee.URL), st.arg(a.Payee.MCC), st.arg(a.Payee.Country), st.arg(a.Payee.ID), st.arg(string(a.Preference)),
		st.arg(string(a.TransStatus)), st.arg(a.Exemption), st.arg(a.Reason), st.arg(used), st.arg(a.CreatedAt.UTC()), st.arg(a.UpdatedAt.UTC()),
		st.arg(a.ExpiresAt.UTC())}
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
		a    spend.Authentication
		used sql.NullString
	)
	err := row.Scan(&a.ID, &a.PartnerID, &a.CardID, &a.Amount, &a.Currency, &a.Payee.Name, &a.Payee.URL, &a.Payee.MCC,
		&a.Payee.Country, &a.Payee.ID, &a.Preference, &a.TransStatus, &a.Exemption, &a.Reason, &used, &a.CreatedAt, &a.UpdatedAt, &a.ExpiresAt)
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
	a.CreatedAt, a.UpdatedAt, a.ExpiresAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC(), a.ExpiresAt.UTC()
	return a, nil
}
