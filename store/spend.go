package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/spend"
)

// SpendStore implements spend.Store.
type SpendStore struct {
	*CardStore
}

// Spend returns the authorisation and funding store on db.
func (db *DB) Spend() *SpendStore { return &SpendStore{CardStore: db.Cards()} }

var _ spend.Store = (*SpendStore)(nil)

// LockAccount implements spend.Store: on PostgreSQL the row stays locked
// until the transaction ends; SQLite transactions already exclude each
// other (one writer, BEGIN IMMEDIATE).
func (s *SpendStore) LockAccount(ctx context.Context, partnerID, id uuid.UUID) (card.Account, error) {
	q := `SELECT ` + accountColumns + ` FROM accounts WHERE partner_id = $1 AND id = $2`
	if s.db.Dialect() == Postgres {
		q += ` FOR UPDATE`
	}
	return scanAccount(s.db.w(ctx).QueryRowContext(ctx, q, partnerID.String(), id.String()))
}

// AdjustAccount implements spend.Store and returns the account as it is
// now. The statement itself refuses a negative available amount or balance
// (spend.ErrInsufficientFunds), on both stores without a schema change.
func (s *SpendStore) AdjustAccount(ctx context.Context, id uuid.UUID, balance, available card.Amount) (card.Account, error) {
	a, err := scanAccount(s.db.w(ctx).QueryRowContext(ctx, `UPDATE accounts SET balance = balance + $1, available = available + $2
		WHERE id = $3 AND balance + $1 >= 0 AND available + $2 >= 0 RETURNING `+accountColumns, int64(balance), int64(available), id.String()))
	if errors.Is(err, card.ErrNotFound) {
		return a, spend.ErrInsufficientFunds
	}
	return a, err
}

// Spent implements spend.Store: the sum of the lineage's days since the
// day of since (windows start at UTC midnights; see spend_days).
func (s *SpendStore) Spent(ctx context.Context, lineageID uuid.UUID, since time.Time) (card.Amount, error) {
	var n sql.NullInt64
	err := s.db.w(ctx).QueryRowContext(ctx, `SELECT SUM(spent) FROM spend_days WHERE lineage_id = $1 AND day >= $2`,
		lineageID.String(), day(since)).Scan(&n)
	return card.Amount(n.Int64), err
}

// day numbers t's UTC day from 1970-01-01 (negative before).
func day(t time.Time) int64 {
	s := t.Unix()
	d := s / 86400
	if s%86400 < 0 {
		d--
	}
	return d
}

// countSpent adds delta to what the lineage spent on the day of at.
func (s *SpendStore) countSpent(ctx context.Context, lineageID uuid.UUID, at time.Time, delta card.Amount) error {
	if delta == 0 {
		return nil
	}
	_, err := s.db.w(ctx).ExecContext(ctx, `INSERT INTO spend_days (lineage_id, day, spent) VALUES ($1, $2, $3)
		ON CONFLICT (lineage_id, day) DO UPDATE SET spent = spend_days.spent + excluded.spent`, lineageID.String(), day(at), int64(delta))
	return err
}

// Approvals implements spend.Store.
func (s *SpendStore) Approvals(ctx context.Context, lineageID uuid.UUID) (int, error) {
	var n int
	err := s.db.w(ctx).QueryRowContext(ctx, `SELECT COUNT(*) FROM authorizations WHERE lineage_id = $1 AND status IN ('approved', 'cleared')`,
		lineageID.String()).Scan(&n)
	return n, err
}

const authorizationColumns = `id, partner_id, card_id, lineage_id, account_id, amount, currency, merchant_name, merchant_mcc,
	merchant_country, merchant_id, status, decline_reason, held, spent, cleared, created_at, updated_at`

// InsertAuthorization implements spend.Store and counts what it spends
// towards its day, in the caller's transaction.
func (s *SpendStore) InsertAuthorization(ctx context.Context, a spend.Authorization) error {
	return s.db.InTx(ctx, func(ctx context.Context) error {
		if err := s.insertAuthorization(ctx, a); err != nil {
			return err
		}
		return s.countSpent(ctx, a.LineageID, a.CreatedAt, a.Spent)
	})
}

func (s *SpendStore) insertAuthorization(ctx context.Context, a spend.Authorization) error {
	_, err := s.db.w(ctx).ExecContext(ctx, `INSERT INTO authorizations (`+authorizationColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
		a.ID.String(), a.PartnerID.String(), a.CardID.String(), a.LineageID.String(), a.AccountID.String(), int64(a.Amount), a.Currency,
		a.Merchant.Name, a.Merchant.MCC, a.Merchant.Country, a.Merchant.ID, string(a.Status), a.DeclineReason, int64(a.Held), int64(a.Spent),
		nullAmount(a.Cleared), a.CreatedAt.UTC(), a.UpdatedAt.UTC())
	return err
}

func scanAuthorization(row interface{ Scan(...any) error }) (spend.Authorization, error) {
	var (
		a       spend.Authorization
		cleared sql.NullInt64
	)
	err := row.Scan(&a.ID, &a.PartnerID, &a.CardID, &a.LineageID, &a.AccountID, &a.Amount, &a.Currency,
		&a.Merchant.Name, &a.Merchant.MCC, &a.Merchant.Country, &a.Merchant.ID, &a.Status, &a.DeclineReason, &a.Held, &a.Spent, &cleared,
		&a.CreatedAt, &a.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return a, spend.ErrNotFound
	}
	if cleared.Valid {
		c := card.Amount(cleared.Int64)
		a.Cleared = &c
	}
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	return a, err
}

// Authorizations implements spend.Store: newest first, by keyset.
func (s *SpendStore) Authorizations(ctx context.Context, partnerID uuid.UUID, cardID *uuid.UUID, p card.Page) ([]spend.Authorization, error) {
	where, args := []string{"partner_id = $1"}, []any{partnerID.String()}
	if cardID != nil {
		args = append(args, cardID.String())
		where = append(where, "card_id = $2")
	}
	tail, args := keyset(where, args, p)
	return list(ctx, s.db, `SELECT `+authorizationColumns+` FROM authorizations`+tail, args, scanAuthorization)
}

// Authorization implements spend.Store.
func (s *SpendStore) Authorization(ctx context.Context, partnerID, id uuid.UUID) (spend.Authorization, error) {
	return scanAuthorization(s.db.q(ctx).QueryRowContext(ctx, `SELECT `+authorizationColumns+` FROM authorizations WHERE partner_id = $1 AND id = $2`,
		partnerID.String(), id.String()))
}

// UpdateAuthorization implements spend.Store and moves its day's count by
// the change in what it spends, in the caller's transaction.
func (s *SpendStore) UpdateAuthorization(ctx context.Context, a spend.Authorization) error {
	return s.db.InTx(ctx, func(ctx context.Context) error {
		var (
			was     int64
			lineage uuid.UUID
			created time.Time
		)
		if err := s.db.w(ctx).QueryRowContext(ctx, `SELECT spent, lineage_id, created_at FROM authorizations WHERE partner_id = $1 AND id = $2`,
			a.PartnerID.String(), a.ID.String()).Scan(&was, &lineage, &created); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return spend.ErrNotFound
			}
			return err
		}
		if _, err := s.db.w(ctx).ExecContext(ctx, `UPDATE authorizations SET status = $1, held = $2, spent = $3, cleared = $4, updated_at = $5
			WHERE partner_id = $6 AND id = $7`, string(a.Status), int64(a.Held), int64(a.Spent), nullAmount(a.Cleared), a.UpdatedAt.UTC(),
			a.PartnerID.String(), a.ID.String()); err != nil {
			return err
		}
		return s.countSpent(ctx, lineage, created, a.Spent-card.Amount(was))
	})
}

// InsertFunding implements spend.Store.
func (s *SpendStore) InsertFunding(ctx context.Context, f spend.Funding) error {
	_, err := s.db.w(ctx).ExecContext(ctx, `INSERT INTO fundings (id, partner_id, account_id, amount, created_at) VALUES ($1, $2, $3, $4, $5)`,
		f.ID.String(), f.PartnerID.String(), f.AccountID.String(), int64(f.Amount), f.CreatedAt.UTC())
	return err
}

// LockCardAccount implements spend.Store: the account of the partner's
// card, locked as LockAccount does, in one statement.
func (s *SpendStore) LockCardAccount(ctx context.Context, partnerID, cardID uuid.UUID) (card.Account, error) {
	q := `SELECT ` + accountColumns + ` FROM accounts WHERE partner_id = $1 AND id = (SELECT account_id FROM cards WHERE partner_id = $1 AND id = $2)`
	if s.db.Dialect() == Postgres {
		q += ` FOR UPDATE`
	}
	return scanAccount(s.db.w(ctx).QueryRowContext(ctx, q, partnerID.String(), cardID.String()))
}

// qualifiedCardColumns are cardColumns prefixed with the table alias c.
var qualifiedCardColumns = "c." + strings.Join(strings.Fields(strings.ReplaceAll(cardColumns, ",", "")), ", c.")

// extraScan scans a row into a fixed scanner's targets and more.
type extraScan struct {
	row   interface{ Scan(...any) error }
	extra []any
}

func (e extraScan) Scan(dest ...any) error { return e.row.Scan(append(dest, e.extra...)...) }

// CardWithRestriction implements spend.Store: the card and its amount
// restriction (nil when none) in one statement.
func (s *SpendStore) CardWithRestriction(ctx context.Context, partnerID, id uuid.UUID) (card.Card, *card.Amount, error) {
	var max sql.NullInt64
	c, err := scanCard(extraScan{row: s.db.w(ctx).QueryRowContext(ctx, `SELECT `+qualifiedCardColumns+`, r.max_amount
		FROM cards c LEFT JOIN card_restrictions r ON r.card_id = c.id WHERE c.partner_id = $1 AND c.id = $2`,
		partnerID.String(), id.String()), extra: []any{&max}})
	if err != nil || !max.Valid {
		return c, nil, err
	}
	m := card.Amount(max.Int64)
	return c, &m, nil
}
