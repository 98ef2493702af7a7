package store

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/events"
	"github.com/vaultpage/vaultpage/spend"
)

// A decision's outcome (spend.Outcome) is written on PostgreSQL by one
// statement (outcomePG), in whichever transaction the decision is made:
// alone, in the caller's, or in a batch (batch.go). SQLite runs the same
// steps in turn (writeOutcomeSQLite). Either way the outcome is written
// whole or not at all.

// writeOutcome writes o in the transaction in ctx, and then runs its Then.
func (s *SpendStore) writeOutcome(ctx context.Context, o spend.Outcome) error {
	var err error
	if s.db.Dialect() == Postgres {
		err = s.writeOutcomePG(ctx, o)
	} else {
		err = s.writeOutcomeSQLite(ctx, o)
	}
	if err = referenceTaken(o, err); err != nil {
		return err
	}
	if o.Then != nil {
		return o.Then(ctx)
	}
	return nil
}

// errAuthenticationUsed: the authentication an approval uses was used
// meanwhile. Decisions read it under the card's lock, so this is a
// safeguard that keeps "once" a property of the write too.
var errAuthenticationUsed = errors.New("store: the authentication was used meanwhile")

// referenceTaken is err, or spend.ErrReferenceTaken when err is the unique
// violation of a network sending's reference, or of the id a resend took
// over with it: the resend lost the race to its first sending.
func referenceTaken(o spend.Outcome, err error) error {
	if a := o.Authorization; a != nil && a.NetworkReference != "" && isUniqueViolation(err) {
		return spend.ErrReferenceTaken
	}
	return err
}

func (s *SpendStore) writeOutcomePG(ctx context.Context, o spend.Outcome) error {
	query, args, err := outcomePG(o, nil)
	if err != nil || query == "" {
		return err
	}
	var r outcomeRow
	if err := s.db.w(ctx).QueryRowContext(ctx, query, args...).Scan(r.dest()...); err != nil {
		return err
	}
	return r.err()
}

// outcomeRow is the row outcomePG returns: whether the guard held (1, or 0
// when nothing was written for a stale subject), whether the
// authorisation's network reference and id were still free, whether the
// authentication it uses was still unused, whether the card was at its
// version, and whether the outcome was written.
type outcomeRow struct{ same, free, unused, card, written int }

func (r *outcomeRow) dest() []any { return []any{&r.same, &r.free, &r.unused, &r.card, &r.written} }

// err is why an outcome whose guard held wrote nothing: another
// authorisation has its network reference (a resend that lost to its first
// sending), the card is not the version the decision was made from, or
// the hold would take the available amount below zero.
func (r *outcomeRow) err() error {
	switch {
	case r.written != 0:
		return nil
	case r.free == 0:
		return spend.ErrReferenceTaken
	case r.unused == 0:
		return errAuthenticationUsed
	case r.card == 0:
		return card.ErrConflict
	}
	return spend.ErrInsufficientFunds
}

func (s *SpendStore) writeOutcomeSQLite(ctx context.Context, o spend.Outcome) error {
	return s.db.InTx(ctx, func(ctx context.Context) error {
		if o.Card != nil {
			if _, err := s.UpdateCard(ctx, *o.Card); err != nil {
				return err
			}
		}
		if f := o.Funding; f != nil {
			if err := s.InsertFunding(ctx, *f); err != nil {
				return err
			}
			if _, err := s.AdjustAccount(ctx, f.AccountID, f.Amount, f.Amount); err != nil {
				return err
			}
		}
		for _, e := range o.Events {
			if err := emit(ctx, s.db, e); err != nil {
				return err
			}
		}
		if u := o.Used; u != nil {
			res, err := s.db.w(ctx).ExecContext(ctx, `UPDATE authentications SET authorization_id = $1, updated_at = $2
				WHERE id = $3 AND authorization_id IS NULL`, u.AuthorizationID.String(), u.UpdatedAt.UTC(), u.ID.String())
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				return errors.Join(errAuthenticationUsed, err)
			}
		}
		if n := o.Authentication; n != nil {
			var st pgStatement
			args := authenticationArgs(&st, *n)
			if _, err := s.db.w(ctx).ExecContext(ctx, `INSERT INTO authentications (`+authenticationColumns+`) VALUES (`+
				strings.Join(args, ", ")+`)`, st.args...); err != nil {
				return err
			}
			if err := emit(ctx, s.db, o.Event); err != nil {
				return err
			}
		}
		if n := o.Counters; n != nil {
			if _, err := s.db.w(ctx).ExecContext(ctx, `INSERT INTO sca_exemption_counters (lineage_id, payments, amount, updated_at) VALUES ($1, $2, $3, $4)
				ON CONFLICT (lineage_id) DO UPDATE SET payments = excluded.payments, amount = excluded.amount, updated_at = excluded.updated_at`,
				n.LineageID.String(), n.Payments, int64(n.Amount), countedAt(o)); err != nil {
				return err
			}
		}
		if a := o.Authorization; a != nil {
			if err := s.recordSQLite(ctx, *a, o.Event); err != nil {
				return err
			}
		}
		if o.Release != "" {
			return s.ReleaseReference(ctx, o.Release)
		}
		return nil
	})
}

// recordSQLite records an authorisation: its hold, the authorisation,
// its day's count, its event, and what its card data checked and its
// partner answered.
func (s *SpendStore) recordSQLite(ctx context.Context, a spend.Authorization, e events.Event) error {
	if a.Held > 0 {
		if _, err := s.AdjustAccount(ctx, a.AccountID, 0, -a.Held); err != nil {
			return err
		}
	}
	if err := s.insertAuthorization(ctx, a); err != nil {
		return err
	}
	if err := s.countSpent(ctx, a.LineageID, a.CreatedAt, a.Spent); err != nil {
		return err
	}
	if err := emit(ctx, s.db, e); err != nil {
		return err
	}
	if a.Decision != nil {
		if err := s.recordDecision(ctx, a); err != nil {
			return err
		}
	}
	if v := a.Verification; v != nil {
		_, err := s.db.w(ctx).ExecContext(ctx, `INSERT INTO authorization_checks (authorization_id, entry_mode, cvv, expiry, pin, token_id,
			network_reference, out_of_scope, initial_authorization_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, checkValues(a)...)
		return err
	}
	return nil
}

// checkValues are an authorisation_checks row's values for a.
func checkValues(a spend.Authorization) []any {
	token := ""
	if a.TokenID != uuid.Nil {
		token = a.TokenID.String()
	}
	v := a.Verification
	initial := ""
	if a.InitialAuthorizationID != uuid.Nil {
		initial = a.InitialAuthorizationID.String()
	}
	return []any{a.ID.String(), string(a.EntryMode), string(v.CVV), string(v.Expiry), string(v.PIN), token, a.NetworkReference, a.OutOfScope, initial}
}

// guardPG makes an outcome's statement write only if the card's subject,
// read under the lock, is still the one the runner knew (batch.go).
type guardPG struct {
	partnerID, cardID uuid.UUID
	w                 spend.Windows
	known             knownSubject
}

// same is the common table expression with one row when the subject is
// still the one known: the same digest, available amount, balance and
// spend in its limit's window.
func (g *guardPG) same(st *pgStatement) string {
	k := g.known
	return `same AS (SELECT 1 ` + subjectFrom + ` WHERE c.partner_id = ` + st.arg(g.partnerID.String()) + ` AND c.id = ` + st.arg(g.cardID.String()) +
		` AND ` + subjectDigestPG + ` = ` + st.arg(k.digest) + ` AND a.available = ` + st.arg(int64(k.sub.Account.Available)) +
		` AND a.balance = ` + st.arg(int64(k.sub.Account.Balance)) +
		` AND ` + spentSQL(st.arg(day(g.w.Daily)), st.arg(day(g.w.Monthly)), st.arg(day(g.w.Annually))) + ` = ` + st.arg(int64(k.sub.Spent)) + `)`
}

// outcomePG is the one PostgreSQL statement that writes o: the card's new
// state, the funding and the hold on the account, the authorisation with
// its day's count, its checks and its partner's answer, the events, and
// the reservation's end. Each write is gated on the one before it (a
// common table expression's row): the guard's, then a network sending's
// reference (no authorisation may have it, or the id, yet: a resend in the
// same process is answered without failing the batch it is in), then the
// card's version (it must be the subject's), then the account's update
// (which must not go below zero), so that the statement writes all or
// nothing. It returns an outcomeRow. It is "" when o writes nothing and
// there is no guard.
func outcomePG(o spend.Outcome, g *guardPG) (string, []any, error) {
	var (
		st   pgStatement
		ctes []string
		gate string // the expression whose row lets the next write happen
	)
	gated := func(cond string) string {
		if gate == "" {
			return cond
		}
		return cond + ` AND EXISTS (SELECT FROM ` + gate + `)`
	}
	rows := func(values ...string) string {
		if gate == "" {
			return `VALUES (` + strings.Join(values, ", ") + `)`
		}
		return `SELECT ` + strings.Join(values, ", ") + ` FROM ` + gate
	}
	insert := func(name, table, columns string, values ...string) {
		ctes = append(ctes, name+` AS (INSERT INTO `+table+` (`+columns+`) `+rows(values...)+`)`)
	}
	if g != nil {
		ctes, gate = append(ctes, g.same(&st)), "same"
	}
	a := o.Authorization
	free := "1"
	if a != nil && a.NetworkReference != "" {
		ctes = append(ctes, `free AS (SELECT 1 WHERE `+gated(`NOT EXISTS (SELECT FROM authorization_checks WHERE network_reference = `+
			st.arg(a.NetworkReference)+`) AND NOT EXISTS (SELECT FROM authorizations WHERE id = `+st.arg(a.ID.String())+`)`)+`)`)
		gate, free = "free", `(SELECT COUNT(*) FROM free)`
	}
	unused := "1"
	if u := o.Used; u != nil {
		ctes = append(ctes, `unused AS (SELECT 1 FROM authentications WHERE `+gated(`id = `+st.arg(u.ID.String())+` AND authorization_id IS NULL`)+`)`)
		gate, unused = "unused", `(SELECT COUNT(*) FROM unused)`
	}
	var update, where string
	if c := o.Card; c != nil {
		update, where = cardUpdate(&st, *c)
		ctes, gate = append(ctes, `ver AS (SELECT 1 FROM cards WHERE `+gated(where)+`)`), "ver"
	}
	var fund, held card.Amount
	account := ""
	if f := o.Funding; f != nil {
		fund, account = f.Amount, f.AccountID.String()
	}
	if a != nil {
		held, account = a.Held, a.AccountID.String()
	}
	if fund != 0 || held != 0 {
		f, d, id := st.arg(int64(fund)), st.arg(int64(fund-held)), st.arg(account)
		ctes = append(ctes, `acct AS (UPDATE accounts SET balance = balance + `+f+`, available = available + `+d+` WHERE `+
			gated(`id = `+id+` AND balance + `+f+` >= 0 AND available + `+d+` >= 0`)+` RETURNING id)`)
		gate = "acct"
	}
	if o.Card != nil {
		// Written once the account has taken the hold: the version was
		// read by ver, under the lock, so this update cannot miss it.
		ctes = append(ctes, `upd AS (`+update+` WHERE `+gated(where)+`)`)
	}
	if f := o.Funding; f != nil {
		insert("fnd", "fundings", "id, partner_id, account_id, amount, created_at", st.arg(f.ID.String()), st.arg(f.PartnerID.String()),
			st.arg(f.AccountID.String()), st.arg(int64(f.Amount)), st.arg(f.CreatedAt.UTC()))
	}
	evs := o.Events
	if a != nil || o.Authentication != nil {
		evs = append(evs[:len(evs):len(evs)], o.Event)
	}
	for i, e := range evs {
		data, err := json.Marshal(e.Data)
		if err != nil {
			return "", nil, err
		}
		insert("ev"+strconv.Itoa(i), "events", "id, partner_id, type, resource_id, data, created_at", st.arg(e.ID.String()),
			st.arg(e.PartnerID.String()), st.arg(e.Type), st.arg(e.ResourceID.String()), st.arg(string(data)), st.arg(e.CreatedAt.UTC()))
	}
	if a != nil {
		insert("auth", "authorizations", authorizationColumns, st.arg(a.ID.String()), st.arg(a.PartnerID.String()), st.arg(a.CardID.String()),
			st.arg(a.LineageID.String()), st.arg(a.AccountID.String()), st.arg(int64(a.Amount)), st.arg(a.Currency), st.arg(a.Merchant.Name),
			st.arg(a.Merchant.MCC), st.arg(a.Merchant.Country), st.arg(a.Merchant.ID), st.arg(string(a.Status)), st.arg(a.DeclineReason),
			st.arg(int64(a.Held)), st.arg(int64(a.Spent)), st.arg(nullAmount(a.Cleared)), st.arg(a.CreatedAt.UTC()), st.arg(a.UpdatedAt.UTC()))
		if a.Spent != 0 {
			ctes = append(ctes, `days AS (INSERT INTO spend_days (lineage_id, day, spent) `+rows(st.arg(a.LineageID.String()),
				st.arg(day(a.CreatedAt)), st.arg(int64(a.Spent)))+` ON CONFLICT (lineage_id, day) DO UPDATE SET spent = spend_days.spent + excluded.spent)`)
		}
		if a.Verification != nil {
			vals := checkValues(*a)
			args := make([]string, len(vals))
			for i, v := range vals {
				args[i] = st.arg(v)
			}
			insert("chk", "authorization_checks", "authorization_id, entry_mode, cvv, expiry, pin, token_id, network_reference, out_of_scope, initial_authorization_id", args...)
		}
		if d := a.Decision; d != nil {
			insert("dec", "authorization_decisions", "authorization_id, decided_by, stand_in_cause, latency_us, partner_reason, requested, funded",
				st.arg(a.ID.String()), st.arg(string(d.By)), st.arg(d.Cause), st.arg(d.Latency.Microseconds()), st.arg(d.Reason),
				st.arg(int64(d.Requested)), st.arg(int64(d.Funded)))
		}
	}
	if u := o.Used; u != nil {
		ctes = append(ctes, `used AS (UPDATE authentications SET authorization_id = `+st.arg(u.AuthorizationID.String())+`, updated_at = `+
			st.arg(u.UpdatedAt.UTC())+` WHERE `+gated(`id = `+st.arg(u.ID.String()))+`)`)
	}
	if n := o.Authentication; n != nil {
		insert("authn", "authentications", authenticationColumns, authenticationArgs(&st, *n)...)
	}
	if n := o.Counters; n != nil {
		ctes = append(ctes, `sca AS (INSERT INTO sca_exemption_counters (lineage_id, payments, amount, updated_at) `+rows(st.arg(n.LineageID.String()),
			st.arg(n.Payments), st.arg(int64(n.Amount)), st.arg(countedAt(o)))+
			` ON CONFLICT (lineage_id) DO UPDATE SET payments = excluded.payments, amount = excluded.amount, updated_at = excluded.updated_at)`)
	}
	if o.Release != "" {
		ctes = append(ctes, `rel AS (DELETE FROM network_reservations WHERE `+gated(`reference = `+st.arg(o.Release))+`)`)
	}
	if len(ctes) == 0 {
		return "", nil, nil
	}
	same, cardOK, written := "1", "1", "1"
	if g != nil {
		same = `(SELECT COUNT(*) FROM same)`
	}
	if o.Card != nil {
		cardOK = `(SELECT COUNT(*) FROM ver)`
	}
	if gate != "" {
		written = `(SELECT COUNT(*) FROM ` + gate + `)`
	}
	return `WITH ` + strings.Join(ctes, ",\n") + ` SELECT ` + same + `, ` + free + `, ` + unused + `, ` + cardOK + `, ` + written, st.args, nil
}

// countedAt is when an outcome's low-value exemption counters changed:
// when its authentication or its authorisation was made.
func countedAt(o spend.Outcome) time.Time {
	if o.Authentication != nil {
		return o.Authentication.UpdatedAt.UTC()
	}
	return o.Authorization.UpdatedAt.UTC()
}
