package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/card"
)

// CardStore implements card.Store.
type CardStore struct{ db *DB }

// Cards returns the card store on db.
func (db *DB) Cards() *CardStore { return &CardStore{db: db} }

var _ card.Store = (*CardStore)(nil)

// InTx implements card.Store.
func (s *CardStore) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.db.InTx(ctx, fn)
}

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return card.ErrNotFound
	}
	return err
}

// pageLimit clamps a page size.
func pageLimit(p card.Page) int {
	if p.Limit <= 0 || p.Limit > 100 {
		return 100
	}
	return p.Limit
}

// keyset appends the cursor condition and order to a query: newest first,
// strictly before the cursor id (UUIDv7 ids sort by creation time).
func keyset(where []string, args []any, p card.Page) (string, []any) {
	if p.After != uuid.Nil {
		args = append(args, p.After.String())
		where = append(where, "id < $"+strconv.Itoa(len(args)))
	}
	args = append(args, pageLimit(p))
	return " WHERE " + strings.Join(where, " AND ") + " ORDER BY id DESC LIMIT $" + strconv.Itoa(len(args)), args
}

// CreateIndividual implements card.Store.
func (s *CardStore) CreateIndividual(ctx context.Context, i card.Individual) error {
	_, err := s.db.w(ctx).ExecContext(ctx, `INSERT INTO individuals (id, partner_id, first_name, last_name, email, phone, locale, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		i.ID.String(), i.PartnerID.String(), i.FirstName, i.LastName, i.Email, i.Phone, i.Locale, i.CreatedAt.UTC())
	return err
}

const individualColumns = `id, partner_id, first_name, last_name, email, phone, locale, created_at`

func scanIndividual(row interface{ Scan(...any) error }) (card.Individual, error) {
	var i card.Individual
	err := row.Scan(&i.ID, &i.PartnerID, &i.FirstName, &i.LastName, &i.Email, &i.Phone, &i.Locale, &i.CreatedAt)
	i.CreatedAt = i.CreatedAt.UTC()
	return i, notFound(err)
}

// Individual implements card.Store.
func (s *CardStore) Individual(ctx context.Context, partnerID, id uuid.UUID) (card.Individual, error) {
	return scanIndividual(s.db.q(ctx).QueryRowContext(ctx, `SELECT `+individualColumns+` FROM individuals WHERE partner_id = $1 AND id = $2`,
		partnerID.String(), id.String()))
}

// ListIndividuals implements card.Store.
func (s *CardStore) ListIndividuals(ctx context.Context, partnerID uuid.UUID, p card.Page) ([]card.Individual, error) {
	tail, args := keyset([]string{"partner_id = $1"}, []any{partnerID.String()}, p)
	return list(ctx, s.db, `SELECT `+individualColumns+` FROM individuals`+tail, args, scanIndividual)
}

// list runs a query and scans every row.
func list[T any](ctx context.Context, db *DB, query string, args []any, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	rows, err := db.q(ctx).QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// CreateAccount implements card.Store.
func (s *CardStore) CreateAccount(ctx context.Context, a card.Account) error {
	_, err := s.db.w(ctx).ExecContext(ctx, `INSERT INTO accounts (id, partner_id, individual_id, currency, balance, available, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		a.ID.String(), a.PartnerID.String(), a.IndividualID.String(), a.Currency, int64(a.Balance), int64(a.Available), a.CreatedAt.UTC())
	return err
}

const accountColumns = `id, partner_id, individual_id, currency, balance, available, created_at`

func scanAccount(row interface{ Scan(...any) error }) (card.Account, error) {
	var a card.Account
	err := row.Scan(&a.ID, &a.PartnerID, &a.IndividualID, &a.Currency, &a.Balance, &a.Available, &a.CreatedAt)
	a.CreatedAt = a.CreatedAt.UTC()
	return a, notFound(err)
}

// Account implements card.Store.
func (s *CardStore) Account(ctx context.Context, partnerID, id uuid.UUID) (card.Account, error) {
	return scanAccount(s.db.q(ctx).QueryRowContext(ctx, `SELECT `+accountColumns+` FROM accounts WHERE partner_id = $1 AND id = $2`,
		partnerID.String(), id.String()))
}

// ListAccounts implements card.Store.
func (s *CardStore) ListAccounts(ctx context.Context, partnerID uuid.UUID, individualID *uuid.UUID, p card.Page) ([]card.Account, error) {
	where, args := []string{"partner_id = $1"}, []any{partnerID.String()}
	if individualID != nil {
		args = append(args, individualID.String())
		where = append(where, "individual_id = $2")
	}
	tail, args := keyset(where, args, p)
	return list(ctx, s.db, `SELECT `+accountColumns+` FROM accounts`+tail, args, scanAccount)
}

const cardColumns = `id, partner_id, account_id, individual_id, display_name, type, brand, region, currency, last4,
	exp_month, exp_year, status, spend_limit, spend_limit_duration, replaces_id, replaced_by_id, created_at, updated_at, version,
	usage, locked_merchant, allowed_mccs, blocked_mccs, allowed_countries, blocked_countries, lineage_id,
	shipping_address, billing_address, fulfilment_status, fulfilment_carrier, fulfilment_tracking, bureau_batch, fulfilment_updated_at,
	pin_tries, pin_blocked, card_data_tries, card_data_locked_until, card_data_wrong_day, card_data_wrong_today, pin_generation`

// storedAddress is a card.Address as the cards table keeps it (JSON; the
// names are stored, never renamed).
type storedAddress struct {
	Line1      string `json:"line1"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city"`
	PostalCode string `json:"postal_code"`
	Region     string `json:"region,omitempty"`
	Country    string `json:"country"`
}

func addressText(a *card.Address) (string, error) {
	if a == nil {
		return "", nil
	}
	b, err := json.Marshal(storedAddress(*a))
	return string(b), err
}

func parseAddress(s string) (*card.Address, error) {
	if s == "" {
		return nil, nil
	}
	var a storedAddress
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return nil, fmt.Errorf("store: a card address: %w", err)
	}
	ca := card.Address(a)
	return &ca, nil
}

// joinList and splitList store a control list as comma-separated text.
func joinList(l []string) string { return strings.Join(l, ",") }

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func nullID(id *uuid.UUID) any {
	if id == nil {
		return nil
	}
	return id.String()
}

func nullTimePtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC()
}

func nullAmount(a *card.Amount) any {
	if a == nil {
		return nil
	}
	return int64(*a)
}

func scanCard(row interface{ Scan(...any) error }) (card.Card, error) {
	var (
		c                                    card.Card
		limit                                sql.NullInt64
		replaces, replaced                   sql.NullString
		allowMCC, blockMCC, allowCC, blockCC string
		lineage, ship, bill                  string
		f                                    card.Fulfilment
		fUpdated, locked                     sql.NullTime
	)
	err := row.Scan(&c.ID, &c.PartnerID, &c.AccountID, &c.IndividualID, &c.DisplayName, &c.Type, &c.Brand, &c.Region, &c.Currency, &c.Last4,
		&c.ExpMonth, &c.ExpYear, &c.Status, &limit, &c.SpendLimitDuration, &replaces, &replaced, &c.CreatedAt, &c.UpdatedAt, &c.Version,
		&c.Usage, &c.LockedMerchant, &allowMCC, &blockMCC, &allowCC, &blockCC, &lineage, &ship, &bill,
		&f.Status, &f.Carrier, &f.TrackingNumber, &f.Batch, &fUpdated, &c.PINTries, &c.PINBlocked,
		&c.CardDataTries, &locked, &c.CardDataWrongDay, &c.CardDataWrongToday, &c.PINGeneration)
	if err != nil {
		return c, notFound(err)
	}
	if locked.Valid {
		t := locked.Time.UTC()
		c.CardDataLockedUntil = &t
	}
	if c.ShippingAddress, err = parseAddress(ship); err != nil {
		return c, err
	}
	if c.BillingAddress, err = parseAddress(bill); err != nil {
		return c, err
	}
	if f.Status != "" {
		f.UpdatedAt = fUpdated.Time.UTC()
		c.Fulfilment = &f
	}
	c.AllowedMCCs, c.BlockedMCCs, c.AllowedCountries, c.BlockedCountries = splitList(allowMCC), splitList(blockMCC), splitList(allowCC), splitList(blockCC)
	c.LineageID = c.ID // rows written without one (bulk loads) start their own lineage
	if lineage != "" {
		if c.LineageID, err = uuid.Parse(lineage); err != nil {
			return c, err
		}
	}
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	if limit.Valid {
		a := card.Amount(limit.Int64)
		c.SpendLimit = &a
	}
	for _, p := range []struct {
		src sql.NullString
		dst **uuid.UUID
	}{{replaces, &c.ReplacesID}, {replaced, &c.ReplacedByID}} {
		if p.src.Valid {
			id, err := uuid.Parse(p.src.String)
			if err != nil {
				return c, err
			}
			*p.dst = &id
		}
	}
	return c, nil
}

// CreateCard implements card.Store.
func (s *CardStore) CreateCard(ctx context.Context, c card.Card) error {
	ship, err := addressText(c.ShippingAddress)
	if err != nil {
		return err
	}
	bill, err := addressText(c.BillingAddress)
	if err != nil {
		return err
	}
	fs := fulfilmentOf(c)
	_, err = s.db.w(ctx).ExecContext(ctx, `INSERT INTO cards (`+cardColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29,
		$30, $31, $32, $33, $34, $35, $36, $37, $38, $39, $40, $41)`,
		c.ID.String(), c.PartnerID.String(), c.AccountID.String(), c.IndividualID.String(), c.DisplayName, string(c.Type), c.Brand, c.Region,
		c.Currency, c.Last4, c.ExpMonth, c.ExpYear, string(c.Status), nullAmount(c.SpendLimit), string(c.SpendLimitDuration),
		nullID(c.ReplacesID), nullID(c.ReplacedByID), c.CreatedAt.UTC(), c.UpdatedAt.UTC(), c.Version,
		string(c.Usage), c.LockedMerchant, joinList(c.AllowedMCCs), joinList(c.BlockedMCCs), joinList(c.AllowedCountries), joinList(c.BlockedCountries),
		c.LineageID.String(), ship, bill, fs.status, fs.carrier, fs.tracking, fs.batch, fs.updatedAt, c.PINTries, c.PINBlocked,
		c.CardDataTries, nullTimePtr(c.CardDataLockedUntil), c.CardDataWrongDay, c.CardDataWrongToday, c.PINGeneration)
	return err
}

// fulfilmentColumns are a card's fulfilment as its columns hold it.
type fulfilmentColumns struct {
	status, carrier, tracking, batch string
	updatedAt                        any
}

func fulfilmentOf(c card.Card) fulfilmentColumns {
	f := c.Fulfilment
	if f == nil {
		return fulfilmentColumns{}
	}
	return fulfilmentColumns{string(f.Status), f.Carrier, f.TrackingNumber, f.Batch, f.UpdatedAt.UTC()}
}

// Card implements card.Store.
func (s *CardStore) Card(ctx context.Context, partnerID, id uuid.UUID) (card.Card, error) {
	return scanCard(s.db.q(ctx).QueryRowContext(ctx, `SELECT `+cardColumns+` FROM cards WHERE partner_id = $1 AND id = $2`,
		partnerID.String(), id.String()))
}

// LockCard implements card.Store: FOR UPDATE on PostgreSQL; SQLite's
// single writer needs no row lock.
//
// On PostgreSQL the card's account is locked with it, first, as lockPG
// locks the two for decisions (the same join, in the same order):
// everything that locks a card then takes the two in one order. A card
// writer that locked the card alone deadlocked with decisions once it
// wrote a row referring to the account (a reissue's new card: its foreign
// key locks the account to share).
func (s *CardStore) LockCard(ctx context.Context, partnerID, id uuid.UUID) (card.Card, error) {
	q := `SELECT ` + cardColumns + ` FROM cards WHERE partner_id = $1 AND id = $2`
	if s.db.Dialect() == Postgres {
		q = `SELECT ` + qualifiedCardColumns + ` FROM accounts a JOIN cards c ON a.id = c.account_id
			WHERE c.partner_id = $1 AND c.id = $2 FOR UPDATE`
	}
	return scanCard(s.db.w(ctx).QueryRowContext(ctx, q, partnerID.String(), id.String()))
}

// ListCards implements card.Store.
func (s *CardStore) ListCards(ctx context.Context, partnerID uuid.UUID, f card.Filter, p card.Page) ([]card.Card, error) {
	where, args := []string{"partner_id = $1"}, []any{partnerID.String()}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, cond+" $"+strconv.Itoa(len(args)))
	}
	if f.AccountID != nil {
		add("account_id =", f.AccountID.String())
	}
	if f.IndividualID != nil {
		add("individual_id =", f.IndividualID.String())
	}
	if f.Status != nil {
		add("status =", string(*f.Status))
	}
	if f.CreatedAfter != nil {
		add("created_at >", f.CreatedAfter.UTC())
	}
	if f.CreatedBefore != nil {
		add("created_at <", f.CreatedBefore.UTC())
	}
	tail, args := keyset(where, args, p)
	return list(ctx, s.db, `SELECT `+cardColumns+` FROM cards`+tail, args, scanCard)
}

// UpdateCard implements card.Store.
func (s *CardStore) UpdateCard(ctx context.Context, c card.Card) (card.Card, error) {
	var st pgStatement
	update, where := cardUpdate(&st, c)
	res, err := s.db.w(ctx).ExecContext(ctx, update+` WHERE `+where, st.args...)
	if err != nil {
		return c, err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return c, errors.Join(card.ErrConflict, err)
	}
	c.Version++
	return c, nil
}

// cardUpdate is the statement that writes c, and its condition: the card
// is still at c's version. Both stores take it.
func cardUpdate(st *pgStatement, c card.Card) (update, where string) {
	fs := fulfilmentOf(c)
	set := func(column string, v any) string { return column + ` = ` + st.arg(v) }
	update = `UPDATE cards SET ` + strings.Join([]string{set("display_name", c.DisplayName), set("status", string(c.Status)),
		set("spend_limit", nullAmount(c.SpendLimit)), set("spend_limit_duration", string(c.SpendLimitDuration)),
		set("replaced_by_id", nullID(c.ReplacedByID)), set("updated_at", c.UpdatedAt.UTC()), `version = version + 1`,
		set("locked_merchant", c.LockedMerchant), set("allowed_mccs", joinList(c.AllowedMCCs)), set("blocked_mccs", joinList(c.BlockedMCCs)),
		set("allowed_countries", joinList(c.AllowedCountries)), set("blocked_countries", joinList(c.BlockedCountries)),
		set("fulfilment_status", fs.status), set("fulfilment_carrier", fs.carrier), set("fulfilment_tracking", fs.tracking),
		set("bureau_batch", fs.batch), set("fulfilment_updated_at", fs.updatedAt), set("pin_tries", c.PINTries), set("pin_blocked", c.PINBlocked),
		set("card_data_tries", c.CardDataTries), set("card_data_locked_until", nullTimePtr(c.CardDataLockedUntil)),
		set("card_data_wrong_day", c.CardDataWrongDay), set("card_data_wrong_today", c.CardDataWrongToday),
		set("pin_generation", c.PINGeneration)}, ", ")
	where = `partner_id = ` + st.arg(c.PartnerID.String()) + ` AND id = ` + st.arg(c.ID.String()) + ` AND version = ` + st.arg(c.Version)
	return update, where
}

const restrictionColumns = `id, card_id, partner_id, type, max_amount, created_at, updated_at`

// PutRestriction implements card.Store.
func (s *CardStore) PutRestriction(ctx context.Context, r card.Restriction) error {
	return s.db.InTx(ctx, func(ctx context.Context) error {
		q := s.db.w(ctx)
		if _, err := q.ExecContext(ctx, `DELETE FROM card_restrictions WHERE card_id = $1 AND id <> $2`, r.CardID.String(), r.ID.String()); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, `INSERT INTO card_restrictions (`+restrictionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (id) DO UPDATE SET type = excluded.type, max_amount = excluded.max_amount, updated_at = excluded.updated_at`,
			r.ID.String(), r.CardID.String(), r.PartnerID.String(), r.Type, int64(r.MaxAmount), r.CreatedAt.UTC(), r.UpdatedAt.UTC())
		return err
	})
}

// Restrictions implements card.Store.
func (s *CardStore) Restrictions(ctx context.Context, partnerID, cardID uuid.UUID) ([]card.Restriction, error) {
	return list(ctx, s.db, `SELECT `+restrictionColumns+` FROM card_restrictions WHERE partner_id = $1 AND card_id = $2 ORDER BY id`,
		[]any{partnerID.String(), cardID.String()}, func(row interface{ Scan(...any) error }) (card.Restriction, error) {
			var r card.Restriction
			err := row.Scan(&r.ID, &r.CardID, &r.PartnerID, &r.Type, &r.MaxAmount, &r.CreatedAt, &r.UpdatedAt)
			r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
			return r, err
		})
}

// DeleteRestriction implements card.Store.
func (s *CardStore) DeleteRestriction(ctx context.Context, partnerID, cardID, id uuid.UUID) error {
	res, err := s.db.w(ctx).ExecContext(ctx, `DELETE FROM card_restrictions WHERE partner_id = $1 AND card_id = $2 AND id = $3`,
		partnerID.String(), cardID.String(), id.String())
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return errors.Join(card.ErrNotFound, err)
	}
	return nil
}

// ClaimForBureau implements card.Store: one UPDATE … RETURNING claims the
// cards, so that of concurrent claims each card goes to exactly one
// (PostgreSQL skips the rows another claim holds; SQLite has one writer).
func (s *CardStore) ClaimForBureau(ctx context.Context, batch string, now time.Time, limit int) ([]card.Card, error) {
	lock := ""
	if s.db.Dialect() == Postgres {
		lock = ` FOR UPDATE SKIP LOCKED`
	}
	cards, err := list(ctx, s.db, `UPDATE cards SET fulfilment_status = 'sent_to_bureau', bureau_batch = $1, fulfilment_updated_at = $2,
		updated_at = $2, version = version + 1
		WHERE id IN (SELECT id FROM cards WHERE fulfilment_status = 'pending' AND status IN ('not_activated', 'active', 'frozen')
			AND shipping_address <> ''
			ORDER BY created_at, id LIMIT $3`+lock+`)
		RETURNING `+cardColumns, []any{batch, now.UTC(), limit}, scanCard)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(cards, func(a, b card.Card) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID.String(), b.ID.String())
	})
	return cards, nil
}

// BureauBatch implements card.Store.
func (s *CardStore) BureauBatch(ctx context.Context, batch string) (int, error) {
	var n int
	err := s.db.q(ctx).QueryRowContext(ctx, `SELECT COUNT(*) FROM cards WHERE bureau_batch = $1`, batch).Scan(&n)
	return n, err
}

//nolint:gosec // G101: the columns of wallet tokens, not a credential.
const tokenColumns = `id, partner_id, card_id, wallet, device_name, last4, status, suspended_by, created_at, updated_at`

func scanToken(row interface{ Scan(...any) error }) (card.Token, error) {
	var t card.Token
	err := row.Scan(&t.ID, &t.PartnerID, &t.CardID, &t.Wallet, &t.DeviceName, &t.Last4, &t.Status, &t.SuspendedBy, &t.CreatedAt, &t.UpdatedAt)
	t.CreatedAt, t.UpdatedAt = t.CreatedAt.UTC(), t.UpdatedAt.UTC()
	return t, notFound(err)
}

// CreateToken implements card.Store.
func (s *CardStore) CreateToken(ctx context.Context, t card.Token) error {
	_, err := s.db.w(ctx).ExecContext(ctx, `INSERT INTO card_tokens (`+tokenColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		t.ID.String(), t.PartnerID.String(), t.CardID.String(), t.Wallet, t.DeviceName, t.Last4, string(t.Status), t.SuspendedBy,
		t.CreatedAt.UTC(), t.UpdatedAt.UTC())
	return err
}

// Token implements card.Store.
func (s *CardStore) Token(ctx context.Context, partnerID, id uuid.UUID) (card.Token, error) {
	return scanToken(s.db.q(ctx).QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM card_tokens WHERE partner_id = $1 AND id = $2`,
		partnerID.String(), id.String()))
}

// Tokens implements card.Store: a card's tokens, oldest first.
func (s *CardStore) Tokens(ctx context.Context, partnerID, cardID uuid.UUID) ([]card.Token, error) {
	return list(ctx, s.db, `SELECT `+tokenColumns+` FROM card_tokens WHERE partner_id = $1 AND card_id = $2 ORDER BY created_at, id`,
		[]any{partnerID.String(), cardID.String()}, scanToken)
}

// UpdateToken implements card.Store.
func (s *CardStore) UpdateToken(ctx context.Context, t card.Token) error {
	res, err := s.db.w(ctx).ExecContext(ctx, `UPDATE card_tokens SET status = $1, suspended_by = $2, updated_at = $3 WHERE partner_id = $4 AND id = $5`,
		string(t.Status), t.SuspendedBy, t.UpdatedAt.UTC(), t.PartnerID.String(), t.ID.String())
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return errors.Join(card.ErrNotFound, err)
	}
	return nil
}

// AnyToken implements spend.Store: a token of any partner.
func (s *CardStore) AnyToken(ctx context.Context, id uuid.UUID) (card.Token, error) {
	return scanToken(s.db.q(ctx).QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM card_tokens WHERE id = $1`, id.String()))
}
