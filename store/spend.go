package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
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

const authorizationColumns = `id, partner_id, card_id, lineage_id, account_id, amount, currency, merchant_name, merchant_mcc,
	merchant_country, merchant_id, status, decline_reason, held, spent, cleared, created_at, updated_at`

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
	query, args := authorizationsQuery(partnerID, cardID, p)
	out, err := list(ctx, s.db, query, args, scanAuthorization)
	if err != nil {
		return nil, err
	}
	return out, s.withChecks(ctx, out)
}

// authorizationsQuery lists a partner's authorisations, or one card's: those
// are found through the card's lineage, on (lineage_id, id), so that a page
// walks the card's history rather than the partner's. A card written
// without a lineage (bulk loads) is its own lineage, as scanCard says.
func authorizationsQuery(partnerID uuid.UUID, cardID *uuid.UUID, p card.Page) (string, []any) {
	where, args := []string{"partner_id = $1"}, []any{partnerID.String()}
	if cardID != nil {
		args = append(args, cardID.String())
		where = append(where, "lineage_id = (SELECT COALESCE(NULLIF(lineage_id, ''), id) FROM cards WHERE partner_id = $1 AND id = $2)",
			"card_id = $2")
	}
	tail, args := keyset(where, args, p)
	return `SELECT ` + authorizationColumns + ` FROM authorizations` + tail, args
}

// Authorization implements spend.Store.
func (s *SpendStore) Authorization(ctx context.Context, partnerID, id uuid.UUID) (spend.Authorization, error) {
	a, err := scanAuthorization(s.db.q(ctx).QueryRowContext(ctx, `SELECT `+authorizationColumns+` FROM authorizations WHERE partner_id = $1 AND id = $2`,
		partnerID.String(), id.String()))
	if err != nil {
		return a, err
	}
	list := []spend.Authorization{a}
	if err := s.withChecks(ctx, list); err != nil {
		return a, err
	}
	return list[0], nil
}

// withChecks fills in what the authorisations presented with card data
// checked, in one query.
func (s *SpendStore) withChecks(ctx context.Context, list []spend.Authorization) error {
	if len(list) == 0 {
		return nil
	}
	at := make(map[string]int, len(list))
	args := make([]any, 0, len(list))
	marks := make([]string, 0, len(list))
	for i, a := range list {
		at[a.ID.String()] = i
		args = append(args, a.ID.String())
		marks = append(marks, "$"+strconv.Itoa(len(args)))
	}
	rows, err := s.db.q(ctx).QueryContext(ctx, `SELECT authorization_id, entry_mode, cvv, expiry, pin, token_id, network_reference, out_of_scope, initial_authorization_id FROM authorization_checks
		WHERE authorization_id IN (`+strings.Join(marks, ", ")+`)`, args...)
	if err != nil {
		return err
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var (
			id   string
			mode spend.EntryMode
			v    spend.Verification
		)
		var token, ref, scope, initial string
		if err := rows.Scan(&id, &mode, &v.CVV, &v.Expiry, &v.PIN, &token, &ref, &scope, &initial); err != nil {
			return err
		}
		a := &list[at[id]]
		a.EntryMode, a.Verification, a.NetworkReference, a.OutOfScope = mode, &v, ref, scope
		if initial != "" {
			iid, err := uuid.Parse(initial)
			if err != nil {
				return err
			}
			a.InitialAuthorizationID = iid
		}
		if token != "" {
			tid, err := uuid.Parse(token)
			if err != nil {
				return err
			}
			a.TokenID = tid
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return s.withDecisions(ctx, list, at, marks, args)
}

// withDecisions fills in how the partner's real-time decision endpoint took
// part in the authorisations, in one query.
func (s *SpendStore) withDecisions(ctx context.Context, list []spend.Authorization, at map[string]int, marks []string, args []any) error {
	rows, err := s.db.q(ctx).QueryContext(ctx, `SELECT authorization_id, decided_by, stand_in_cause, latency_us, partner_reason, requested, funded
		FROM authorization_decisions WHERE authorization_id IN (`+strings.Join(marks, ", ")+`)`, args...)
	if err != nil {
		return err
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var (
			id                  string
			d                   spend.Decision
			latency, req, funds int64
		)
		if err := rows.Scan(&id, &d.By, &d.Cause, &latency, &d.Reason, &req, &funds); err != nil {
			return err
		}
		d.Latency, d.Requested, d.Funded = time.Duration(latency)*time.Microsecond, card.Amount(req), card.Amount(funds)
		list[at[id]].Decision = &d
	}
	return rows.Err()
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

// qualifiedCardColumns are cardColumns prefixed with the table alias c.
var qualifiedCardColumns = "c." + strings.Join(strings.Fields(strings.ReplaceAll(cardColumns, ",", "")), ", c.")

// extraScan scans a row into a fixed scanner's targets and more.
type extraScan struct {
	row   interface{ Scan(...any) error }
	extra []any
}

func (e extraScan) Scan(dest ...any) error { return e.row.Scan(append(dest, e.extra...)...) }

// subjectQuery reads a decision's subject: the card with its account, its
// restriction and what its lineage spent in the window of its limit ($3 to
// $5 are the first days of the daily, monthly and annual windows). A card
// written without a lineage (bulk loads) is its own, as scanCard says.
var subjectQuery = `SELECT ` + subjectColumns + ` ` + subjectFrom + ` WHERE c.partner_id = $1 AND c.id = $2`

// subjectQueryPG is subjectQuery with the digest of the subject's fixed
// part last (see subjectDigestPG).
var subjectQueryPG = `SELECT ` + subjectColumns + `, ` + subjectDigestPG + ` ` + subjectFrom + ` WHERE c.partner_id = $1 AND c.id = $2`

var subjectColumns = qualifiedCardColumns + `, r.max_amount, a.id, a.partner_id, a.individual_id, a.currency, a.balance,
	a.available, a.created_at, ` + spentSQL("$3", "$4", "$5") + `, ` + approvalsSQL + `, COALESCE(x.payments, 0), COALESCE(x.amount, 0),
	COALESCE(sp.policy, 'exemptions')`

// approvalsSQL counts the approved or cleared authorisations of the card
// c's lineage, for a single-use card only (0 for others).
const approvalsSQL = `CASE WHEN c.usage <> 'single_use' THEN 0 ELSE (SELECT COUNT(*) FROM authorizations x
	WHERE x.lineage_id = COALESCE(NULLIF(c.lineage_id, ''), c.id) AND x.status IN ('approved', 'cleared')) END`

const subjectFrom = `FROM cards c JOIN accounts a ON a.id = c.account_id LEFT JOIN card_restrictions r ON r.card_id = c.id
	LEFT JOIN sca_exemption_counters x ON x.lineage_id = COALESCE(NULLIF(c.lineage_id, ''), c.id)
	LEFT JOIN sca_policies sp ON sp.partner_id = c.partner_id`

// spentSQL is what the card c's lineage spent in the window of its limit,
// given the first days of the daily, monthly and annual windows; 0 for a
// card without a limit or with one per transaction.
func spentSQL(daily, monthly, annually string) string {
	return `CASE WHEN c.spend_limit IS NULL OR c.spend_limit_duration NOT IN ('DAILY', 'MONTHLY', 'ANNUALLY', 'FOREVER') THEN 0
	ELSE COALESCE((SELECT SUM(d.spent) FROM spend_days d WHERE d.lineage_id = COALESCE(NULLIF(c.lineage_id, ''), c.id) AND (c.spend_limit_duration = 'FOREVER'
		OR d.day >= CASE c.spend_limit_duration WHEN 'DAILY' THEN CAST(` + daily + ` AS BIGINT) WHEN 'MONTHLY' THEN CAST(` + monthly +
		` AS BIGINT) ELSE CAST(` + annually + ` AS BIGINT) END)), 0) END`
}

// subjectDigestPG is a SHA-256 digest, computed by PostgreSQL, of the part
// of a subject that the batch runner does not move on itself: every column
// of the card, its restriction, its low-value exemption counters, its
// partner's SCA policy, and the
// account's columns but its balance and available amount. Any write to
// those, by anyone, changes it.
var subjectDigestPG = `sha256(convert_to(CAST(ROW(` + qualifiedCardColumns + `, r.max_amount, a.id, a.partner_id, a.individual_id,
	a.currency, a.created_at, x.payments, x.amount, sp.policy) AS TEXT), 'UTF8'))`

// lockSubject locks the card the lookup names and its account, and reads
// the subject under that lock. On PostgreSQL the rows are locked first, by
// a statement of its own: the read that follows then starts after any
// transaction that held the lock has committed, and sees what it wrote (a
// row lock taken by the reading statement itself would leave the rest of
// that statement reading from before the wait). SQLite transactions
// already exclude each other (one writer, BEGIN IMMEDIATE).
func (s *SpendStore) lockSubject(ctx context.Context, l spend.Lookup) (spend.Subject, error) {
	if s.db.Dialect() == Postgres {
		var one int
		err := s.db.w(ctx).QueryRowContext(ctx, lockPG, l.PartnerID.String(), l.CardID.String()).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return spend.Subject{}, card.ErrNotFound
		}
		if err != nil {
			return spend.Subject{}, err
		}
	}
	sub, err := scanSubject(s.db.w(ctx).QueryRowContext(ctx, subjectQuery, subjectArgs(l)...))
	if err != nil {
		return sub, err
	}
	if l.TokenID != uuid.Nil {
		t, err := scanToken(s.db.w(ctx).QueryRowContext(ctx, tokenQuery, l.PartnerID.String(), l.TokenID.String()))
		if err != nil {
			return sub, err
		}
		sub.Token = &t
	}
	if l.AuthenticationID != uuid.Nil {
		n, err := scanAuthentication(s.db.w(ctx).QueryRowContext(ctx, authenticationQuery, l.PartnerID.String(), l.AuthenticationID.String()))
		switch {
		case err == nil:
			sub.Authentication = &n
		case !errors.Is(err, spend.ErrNotFound):
			return sub, err
		}
	}
	if l.InitialAuthorizationID != uuid.Nil {
		m, err := scanMandate(s.db.w(ctx).QueryRowContext(ctx, mandateQuery, l.PartnerID.String(), l.InitialAuthorizationID.String()))
		switch {
		case err == nil:
			sub.Mandate = &m
		case !errors.Is(err, spend.ErrNotFound):
			return sub, err
		}
	}
	return sub, nil
}

// mandateQuery reads what a merchant-initiated payment's initial payment
// was (spend.Mandate): authenticated when it used an authentication the
// cardholder passed a challenge for.
const mandateQuery = `SELECT a.lineage_id, a.merchant_id, a.status IN ('approved', 'cleared'), EXISTS (SELECT 1 FROM authentications n
	WHERE n.authorization_id = a.id AND n.trans_status = 'Y' AND n.method <> '') FROM authorizations a WHERE a.partner_id = $1 AND a.id = $2`

// scanMandate scans a row of mandateQuery; spend.ErrNotFound for none.
func scanMandate(row interface{ Scan(...any) error }) (spend.Mandate, error) {
	var m spend.Mandate
	err := row.Scan(&m.LineageID, &m.MerchantID, &m.Approved, &m.Authenticated)
	if errors.Is(err, sql.ErrNoRows) {
		return m, spend.ErrNotFound
	}
	return m, err
}

// tokenQuery reads a partner's wallet token.
const tokenQuery = `SELECT ` + tokenColumns + ` FROM card_tokens WHERE partner_id = $1 AND id = $2`

// subjectArgs are subjectQuery's arguments.
func subjectArgs(l spend.Lookup) []any {
	w := l.Windows
	return []any{l.PartnerID.String(), l.CardID.String(), day(w.Daily), day(w.Monthly), day(w.Annually)}
}

// scanSubject scans a row of subjectQuery.
func scanSubject(row interface{ Scan(...any) error }) (spend.Subject, error) {
	var (
		sub   spend.Subject
		max   sql.NullInt64
		spent int64
	)
	c, err := scanCard(extraScan{row: row, extra: []any{&max, &sub.Account.ID, &sub.Account.PartnerID, &sub.Account.IndividualID,
		&sub.Account.Currency, &sub.Account.Balance, &sub.Account.Available, &sub.Account.CreatedAt, &spent, &sub.Approvals,
		&sub.Counters.Payments, &sub.Counters.Amount, &sub.SCAPolicy}})
	if err != nil {
		return sub, err
	}
	sub.Card, sub.Spent, sub.Account.CreatedAt = c, card.Amount(spent), sub.Account.CreatedAt.UTC()
	sub.Counters.LineageID = c.LineageID
	if max.Valid {
		m := card.Amount(max.Int64)
		sub.Restriction = &m
	}
	return sub, nil
}

// pgStatement is a PostgreSQL statement's arguments as its text is built:
// each is numbered where the text takes it, so no list of $n is kept apart
// from the text that uses it.
type pgStatement struct{ args []any }

// arg adds v and returns its placeholder.
func (st *pgStatement) arg(v any) string {
	st.args = append(st.args, v)
	return "$" + strconv.Itoa(len(st.args))
}

// lockPG locks the partner's card and its account (see lockSubject): the
// card too, because a decision may write it (PIN and card data tries, a
// single-use card closing) and must not lose to a change made meanwhile.
// Card writers lock through it too (CardStore.LockCard), so every
// transaction takes a card's account before the card.
const lockPG = `SELECT 1 FROM accounts a JOIN cards c ON a.id = c.account_id WHERE c.partner_id = $1 AND c.id = $2 FOR UPDATE`

// Decide implements spend.Store. On SQLite it is one (group-committed)
// transaction. On PostgreSQL decisions waiting for one another share a
// transaction of pipelined round trips (batch.go), unless the caller is in
// a transaction already (a request with an Idempotency-Key), so that the
// decision commits with the request's claim and response; an outcome the
// batch does not write (one with Then, or all of a batch that failed) is
// made again in a transaction of its own.
func (s *SpendStore) Decide(ctx context.Context, l spend.Lookup, decide func(spend.Subject) (spend.Outcome, error)) error {
	if _, inTx := ctx.Value(txKey{}).(*sql.Tx); s.db.batch != nil && !inTx {
		if err := s.db.batch.do(ctx, l, decide); !errors.Is(err, errAlone) {
			return err
		}
	}
	return s.db.InTx(ctx, func(ctx context.Context) error {
		sub, err := s.lockSubject(ctx, l)
		if err != nil {
			return err
		}
		o, err := decide(sub)
		if err != nil {
			return err
		}
		return s.writeOutcome(ctx, o)
	})
}

// ReferencedAuthorization implements spend.Store.
func (s *SpendStore) ReferencedAuthorization(ctx context.Context, reference string) (spend.Authorization, error) {
	var pid, id uuid.UUID
	err := s.db.q(ctx).QueryRowContext(ctx, `SELECT a.partner_id, a.id FROM authorization_checks k JOIN authorizations a ON a.id = k.authorization_id
		WHERE k.network_reference = $1`, reference).Scan(&pid, &id)
	if errors.Is(err, sql.ErrNoRows) {
		return spend.Authorization{}, spend.ErrNotFound
	}
	if err != nil {
		return spend.Authorization{}, err
	}
	return s.Authorization(ctx, pid, id)
}

// ReserveReference implements spend.Store: one upsert, which inserts the
// reservation, takes over one made before staleBefore (keeping its
// authorisation id), or leaves another's alone.
func (s *SpendStore) ReserveReference(ctx context.Context, reference string, id uuid.UUID, now, staleBefore time.Time) (uuid.UUID, bool, error) {
	var got string
	err := s.db.w(ctx).QueryRowContext(ctx, `INSERT INTO network_reservations (reference, authorization_id, reserved_at) VALUES ($1, $2, $3)
		ON CONFLICT (reference) DO UPDATE SET reserved_at = excluded.reserved_at WHERE network_reservations.reserved_at < $4
		RETURNING authorization_id`, reference, id.String(), now.UTC(), staleBefore.UTC()).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return uuid.Nil, false, nil
	}
	if err != nil {
		return uuid.Nil, false, err
	}
	holder, err := uuid.Parse(got)
	return holder, err == nil, err
}

// ReleaseReference implements spend.Store.
func (s *SpendStore) ReleaseReference(ctx context.Context, reference string) error {
	_, err := s.db.w(ctx).ExecContext(ctx, `DELETE FROM network_reservations WHERE reference = $1`, reference)
	return err
}

// AuthorizationPartner implements spend.Store.
func (s *SpendStore) AuthorizationPartner(ctx context.Context, id uuid.UUID) (uuid.UUID, error) {
	var pid uuid.UUID
	err := s.db.q(ctx).QueryRowContext(ctx, `SELECT partner_id FROM authorizations WHERE id = $1`, id.String()).Scan(&pid)
	if errors.Is(err, sql.ErrNoRows) {
		return pid, spend.ErrNotFound
	}
	return pid, err
}

// SCAPolicy implements spend.Store.
func (s *SpendStore) SCAPolicy(ctx context.Context, partnerID uuid.UUID) (spend.SCAPolicy, time.Time, error) {
	var (
		p  spend.SCAPolicy
		at time.Time
	)
	err := s.db.q(ctx).QueryRowContext(ctx, `SELECT policy, updated_at FROM sca_policies WHERE partner_id = $1`, partnerID.String()).Scan(&p, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return spend.SCAPolicyExemptions, time.Time{}, nil
	}
	return p, at.UTC(), err
}

// SetSCAPolicy implements spend.Store.
func (s *SpendStore) SetSCAPolicy(ctx context.Context, partnerID uuid.UUID, p spend.SCAPolicy, at time.Time) error {
	_, err := s.db.w(ctx).ExecContext(ctx, `INSERT INTO sca_policies (partner_id, policy, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (partner_id) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at`, partnerID.String(), string(p), at.UTC())
	return err
}
