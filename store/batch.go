package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/spend"
)

// On PostgreSQL, decisions that wait for one another share a transaction,
// as SQLite transactions share a commit (group.go). A batch is two
// pipelined round trips and one durable commit:
//
//  1. BEGIN, with generic plans (beginBatch); one statement that locks
//     every card in the batch and its account, in account id order
//     (batches lock in one order, so they never deadlock one another);
//     then each card's subject, and the wallet token a payment names.
//  2. Each decision's outcome, one statement each (outcomePG); COMMIT.
//
// Each decision is made in Go between the two, from a subject read after
// its card's and account's lock, exactly as alone, and its outcome written
// by the statement that writes it alone (outcomePG). A decision whose
// account or lineage an earlier one in the same batch holds is not made in
// it: it goes to the next batch, which reads what this one wrote. Callers
// hear of their outcome only once the commit has happened. An outcome with
// Then (a card closed, an audit entry: rare) is not written here: its
// caller makes the decision again in a transaction of its own. If the
// batch fails as a whole (a lost connection, a sending whose reference
// another process took meanwhile), its decisions are made again that way.
//
// A batch of decisions on cards the runner knows is one round trip. The
// runner keeps each subject it read under the lock, moved on by what its
// own decisions then wrote (after), for the next decision on the card. That
// one is made from what the runner knows before anything is sent, and its
// outcome goes with BEGIN and the lock in one round trip, written only if,
// under the lock, the subject is still the one it was made from (guardPG):
// the same fixed part (subjectDigestPG), available amount, balance and
// spend in its limit's window. A decision that changes the card or funds
// the account leaves the runner knowing nothing of the card, and the next
// one reads it afresh; so does a payment by a wallet token, whose status
// the runner does not keep. A write by anyone else in
// between (another process, a funding, a change to the card or its
// restriction) fails that condition; the record then writes nothing, and
// the decision is made again in the next batch from a fresh read, in two
// round trips. So no record is written from a subject the database has not
// confirmed under the lock.

// batchRunners is how many batches run at once, each on a connection it
// keeps; batchMax bounds a batch. One runner made the largest batches
// and the lowest latency at 1,000 decisions a second (docs/benchmarks.md):
// more runners split the same decisions into more, smaller transactions.
// Past batchQueue waiting decisions, callers wait to queue.
const (
	batchRunners = 1
	batchMax     = 64
	batchQueue   = 4 * batchMax
)

// knownMax bounds how many cards' subjects a runner keeps; past it, it
// forgets them all and learns again.
const knownMax = 4096

// knownKey names a card as decisions name it.
type knownKey struct{ partnerID, cardID uuid.UUID }

// knownSubject is what a runner knows of a card's subject: as read under
// the lock (for the windows w), moved on by its own decisions since.
type knownSubject struct {
	sub    spend.Subject
	w      spend.Windows
	digest []byte // subjectDigestPG, as PostgreSQL computed it
}

// knows tells whether what the runner knows of d's card was read for d's
// windows, and is all d needs.
func (k knownSubject) knows(d *decision) bool {
	w := d.l.Windows
	return k.digest != nil && d.l.TokenID == uuid.Nil && d.l.AuthenticationID == uuid.Nil && d.l.InitialAuthorizationID == uuid.Nil && k.w.Daily.Equal(w.Daily) && k.w.Monthly.Equal(w.Monthly) && k.w.Annually.Equal(w.Annually)
}

// after is what the runner knows of k's card once o has committed: the
// hold taken from the available amount and the spending counted in the
// window of the card's limit (spentSQL counts nothing for a card without a
// windowed limit); nil, nothing, once o changed the card, its counters or
// funded the account.
func after(k knownSubject, o spend.Outcome) *knownSubject {
	if o.Card != nil || o.Funding != nil || o.Counters != nil {
		return nil
	}
	a := o.Authorization
	if a == nil {
		return kept(k)
	}
	sub := k.sub
	sub.Account.Available -= a.Held
	if c := sub.Card; c.SpendLimit != nil {
		switch c.SpendLimitDuration {
		case card.DurationDaily, card.DurationMonthly, card.DurationAnnually, card.DurationForever:
			sub.Spent += a.Spent
		}
	}
	k.sub = sub
	return kept(k)
}

// kept is k as the runner keeps it: without the wallet token and the
// authentication one decision read, which are no part of the next one's
// subject.
func kept(k knownSubject) *knownSubject {
	k.sub.Token, k.sub.Authentication, k.sub.Mandate = nil, nil, nil
	return &k
}

type decision struct {
	ctx    context.Context
	l      spend.Lookup
	decide func(spend.Subject) (spend.Outcome, error)
	res    chan error // buffered: the runner never waits for the caller
}

// key names d's card.
func (d *decision) key() knownKey { return knownKey{d.l.PartnerID, d.l.CardID} }

// decideFrom makes d from sub and returns its outcome and the statement that
// writes it (outcomePG, with g's guard when g is set); errAlone for an
// outcome with Then, which the batch does not write.
func (d *decision) decideFrom(sub spend.Subject, g *guardPG) (spend.Outcome, string, []any, error) {
	o, err := d.decide(sub)
	if err == nil && o.Then != nil {
		err = errAlone
	}
	if err != nil {
		return o, "", nil, err
	}
	query, args, err := outcomePG(o, g)
	return o, query, args, err
}

// errAlone is what the runner answers a decision it did not write: its
// caller makes it in a transaction of its own.
var errAlone = errors.New("store: the decision is made in a transaction of its own")

type batcher struct {
	db *DB
	q  workQueue[*decision]
	wg sync.WaitGroup
	// observe, when set, hears of every batch committed.
	observe atomic.Pointer[func(DecisionBatch)]
}

// DecisionBatch describes one committed batch of PostgreSQL decisions.
type DecisionBatch struct {
	// Decisions is how many authorisations the batch recorded.
	Decisions int
	// Took is the batch's transaction: its round trips and the commit.
	Took time.Duration
	// RoundTrips is 1 for a batch made from what the runner knew, 2 for one
	// that read its subjects first.
	RoundTrips int
	// Stale is how many of its decisions, made from what the runner knew,
	// found the subject changed under the lock and were put off to be made
	// again from a fresh read.
	Stale int
}

// ObserveBatches registers fn to hear of every committed batch of
// decisions (for metrics); it does nothing on SQLite.
func (db *DB) ObserveBatches(fn func(DecisionBatch)) {
	if db.batch != nil {
		db.batch.observe.Store(&fn)
	}
}

func newBatcher(db *DB) *batcher {
	b := &batcher{db: db, q: workQueue[*decision]{in: make(chan *decision, batchQueue)}}
	for range batchRunners {
		b.wg.Go(b.run)
	}
	return b
}

// do queues a decision and waits for its outcome (errAlone: not written).
// Once queued, it waits for the real outcome even if ctx ends: the
// decision may be committed.
func (b *batcher) do(ctx context.Context, l spend.Lookup, decide func(spend.Subject) (spend.Outcome, error)) error {
	d := &decision{ctx: ctx, l: l, decide: recovered(decide), res: make(chan error, 1)}
	if err := b.q.send(ctx, d); err != nil {
		return err
	}
	return outcome(d.res)
}

// recovered is decide with a panic turned into an error that do raises
// again in the caller: a decision that panics in a batch fails alone.
func recovered(decide func(spend.Subject) (spend.Outcome, error)) func(spend.Subject) (spend.Outcome, error) {
	return func(sub spend.Subject) (o spend.Outcome, err error) {
		defer recovering(&err)
		return decide(sub)
	}
}

// close lets the queued decisions finish and stops the runners.
func (b *batcher) close() {
	b.q.close()
	b.wg.Wait()
}

// run makes batches until the queue closes. It keeps a connection of its
// own between batches, so that decisions never wait for the pool, which
// other requests may have taken up (an overload of card creations, say).
func (b *batcher) run() {
	var (
		next  []*decision // put off by the last batch
		conn  *sql.Conn
		known = map[knownKey]knownSubject{}
	)
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
	}()
	for {
		batch := next
		if len(batch) == 0 {
			d, ok := <-b.q.in
			if !ok {
				return
			}
			batch = append(batch, d)
		}
		next, conn = b.runBatch(b.q.more(batch, batchMax), conn, known)
	}
}

// runBatch makes the batch's decisions on conn (or a connection it takes
// from the pool when conn is nil) and returns those put off, and the
// connection to use next (nil after a failure). It brings known up to date
// with what the batch committed.
func (b *batcher) runBatch(batch []*decision, conn *sql.Conn, known map[knownKey]knownSubject) ([]*decision, *sql.Conn) {
	live := batch[:0]
	for _, d := range batch {
		if err := d.ctx.Err(); err != nil {
			d.res <- err // left before its turn: not made
			continue
		}
		live = append(live, d)
	}
	if len(live) == 0 {
		return nil, conn
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	var (
		out batchOutcome
		err error
	)
	if conn == nil {
		conn, err = b.db.sql.Conn(ctx)
	}
	if err == nil {
		out, err = b.db.decideBatch(ctx, conn, live, known)
	}
	if err != nil {
		if conn != nil {
			_ = conn.Close() // the pool drops it if it is broken
		}
		// The transaction failed as a whole (or its outcome is unknown):
		// each caller makes its decision again alone. One that was
		// committed after all fails on its taken id, as it would have
		// alone. What the runner knew may have been written over: it
		// starts again.
		clear(known)
		for _, d := range live {
			d.res <- errAlone
		}
		return nil, nil
	}
	if len(known)+len(out.learned) > knownMax {
		clear(known)
	}
	for k, v := range out.learned {
		if v == nil {
			delete(known, k)
		} else {
			known[k] = *v
		}
	}
	if fn := b.observe.Load(); fn != nil {
		recorded := 0
		recorded = out.recorded
		(*fn)(DecisionBatch{Decisions: recorded, Took: time.Since(start), RoundTrips: out.roundTrips, Stale: out.stale})
	}
	for d, err := range out.results {
		d.res <- err
	}
	return out.later, conn
}

// batchOutcome is what a committed batch did.
type batchOutcome struct {
	results map[*decision]error // each decision made, and its outcome
	later   []*decision         // put off to the next batch
	// learned is what the runner knows of each card the batch decided on
	// once it has committed (nil: nothing).
	learned                     map[knownKey]*knownSubject
	roundTrips, stale, recorded int
}

// QueuedDecisions is how many PostgreSQL decisions wait for a batch (0 on
// SQLite), for /metrics.
func (db *DB) QueuedDecisions() int {
	if db.batch == nil {
		return 0
	}
	return len(db.batch.q.in)
}

// lockAccountsPG locks the cards named by the pairs of partner and card
// ids in $1 and $2 and their accounts, in account id order, each account
// before its cards, as lockPG does for one card.
const lockAccountsPG = `SELECT a.id FROM accounts a JOIN cards c ON a.id = c.account_id
	JOIN unnest(CAST($1 AS TEXT[]), CAST($2 AS TEXT[])) AS k(partner_id, id) ON c.partner_id = k.partner_id AND c.id = k.id
	ORDER BY a.id, c.id FOR UPDATE OF a, c`

// beginBatch queues the statements that open a batch's transaction. Its
// statements read and write rows by key, and their generic plans suit
// every batch. Left to choose, PostgreSQL planned the lock afresh for every
// batch once the cards table had grown to a few thousand rows: the generic
// plan is costed for unnest's ten rows, a custom plan for the batch's one
// card, and planning then took a quarter of the database's time per
// decision (docs/benchmarks.md).
func beginBatch(q *pgx.Batch) {
	q.Queue(`BEGIN`)
	q.Queue(`SET LOCAL plan_cache_mode = force_generic_plan`)
}

// decideBatch runs one batch's transaction on one connection: in one round
// trip when the runner knows every card's subject (decideKnown), else in
// two. err is set when the transaction failed as a whole.
func (db *DB) decideBatch(ctx context.Context, conn *sql.Conn, batch []*decision, known map[knownKey]knownSubject) (batchOutcome, error) {
	all := true
	for _, d := range batch {
		all = all && known[d.key()].knows(d)
	}
	if all {
		return db.decideKnown(ctx, conn, batch, known)
	}
	out := batchOutcome{results: make(map[*decision]error, len(batch)), learned: map[knownKey]*knownSubject{}, roundTrips: 2}
	err := onPgx(ctx, conn, func(pc *pgx.Conn, open *bool) error {
		q := &pgx.Batch{}
		beginBatch(q)
		q.Queue(lockAccountsPG, batchKeys(batch)...)
		for _, d := range batch {
			q.Queue(subjectQueryPG, subjectArgs(d.l)...)
			if d.l.TokenID != uuid.Nil {
				q.Queue(tokenQuery, d.l.PartnerID.String(), d.l.TokenID.String())
			}
			if d.l.AuthenticationID != uuid.Nil {
				q.Queue(authenticationQuery, d.l.PartnerID.String(), d.l.AuthenticationID.String())
			}
			if d.l.InitialAuthorizationID != uuid.Nil {
				q.Queue(mandateQuery, d.l.PartnerID.String(), d.l.InitialAuthorizationID.String())
			}
		}
		br := pc.SendBatch(ctx, q)
		*open = true
		subjects, err := readSubjects(br, batch, out.results)
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		held := map[string]bool{}
		q = &pgx.Batch{}
		var (
			recorded []*decision
			next     []*knownSubject
		)
		for i, d := range batch {
			k, ok := subjects[i]
			if !ok {
				continue // no such card: its outcome is set
			}
			if holds(held, k.sub) {
				out.later = append(out.later, d)
				continue
			}
			out.learned[d.key()] = kept(k) // nothing written, should it fail
			o, query, args, err := d.decideFrom(k.sub, nil)
			if errors.Is(err, errAlone) {
				out.learned[d.key()] = nil // its caller writes the card
			}
			if err != nil || query == "" {
				out.results[d] = err // an error, or nothing to write
				continue
			}
			q.Queue(query, args...)
			recorded, next = append(recorded, d), append(next, after(k, o))
		}
		q.Queue(`COMMIT`)
		br = pc.SendBatch(ctx, q)
		for i, d := range recorded {
			var r outcomeRow
			if err = br.QueryRow().Scan(r.dest()...); err != nil {
				break
			}
			out.results[d], out.learned[d.key()] = nil, next[i]
			out.recorded++
			if r.written == 0 {
				out.results[d], out.learned[d.key()] = r.err(), nil
				out.recorded--
			}
		}
		return committed(pc, br, err, open)
	})
	return out, err
}

// committed reads the COMMIT that ends a batch's last round trip (unless
// err already stopped the reading) and closes the results; it sets *open
// to whether a transaction is still open.
func committed(pc *pgx.Conn, br pgx.BatchResults, err error, open *bool) error {
	if err == nil {
		_, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	// COMMIT has been sent: after an error the server ended the
	// transaction (a COMMIT after a failed statement rolls back).
	*open = pc.PgConn().TxStatus() != 'I'
	return err
}

// decideKnown runs a batch of decisions on cards the runner knows, in one
// round trip: BEGIN, the lock, each decision's guarded outcome, COMMIT.
func (db *DB) decideKnown(ctx context.Context, conn *sql.Conn, batch []*decision, known map[knownKey]knownSubject) (batchOutcome, error) {
	out := batchOutcome{results: make(map[*decision]error, len(batch)), learned: map[knownKey]*knownSubject{}, roundTrips: 1}
	err := onPgx(ctx, conn, func(pc *pgx.Conn, open *bool) error {
		q := &pgx.Batch{}
		beginBatch(q)
		q.Queue(lockAccountsPG, batchKeys(batch)...)
		held := map[string]bool{}
		var (
			sent []*decision
			outs []spend.Outcome
		)
		for _, d := range batch {
			k := known[d.key()]
			if holds(held, k.sub) {
				out.later = append(out.later, d)
				continue
			}
			o, query, args, err := d.decideFrom(k.sub, &guardPG{partnerID: d.l.PartnerID, cardID: d.l.CardID, w: d.l.Windows, known: k})
			switch {
			case errors.Is(err, errAlone):
				out.results[d], out.learned[d.key()] = err, nil // its caller writes the card
				continue
			case err != nil:
				// An error from what the runner knew is not confirmed
				// under the lock (a fresh read may decline instead): the
				// decision is made again from one.
				out.later, out.learned[d.key()] = append(out.later, d), nil
				continue
			}
			q.Queue(query, args...)
			sent, outs = append(sent, d), append(outs, o)
		}
		q.Queue(`COMMIT`)
		br := pc.SendBatch(ctx, q)
		*open = true
		err := readLocks(br)
		for i := 0; err == nil && i < len(sent); i++ {
			d := sent[i]
			var r outcomeRow
			if err = br.QueryRow().Scan(r.dest()...); err != nil {
				break
			}
			switch {
			case r.same == 0: // the subject changed: nothing was written
				out.later = append(out.later, d)
				out.learned[d.key()] = nil
				out.stale++
			case r.written == 0:
				out.results[d] = r.err()
				out.learned[d.key()] = nil
			default:
				out.results[d] = nil
				out.learned[d.key()] = after(known[d.key()], outs[i])
				if outs[i].Authorization != nil {
					out.recorded++
				}
			}
		}
		return committed(pc, br, err, open)
	})
	return out, err
}

// batchKeys are lockAccountsPG's arguments for a batch.
func batchKeys(batch []*decision) []any {
	partners, cards := make([]string, len(batch)), make([]string, len(batch))
	for i, d := range batch {
		partners[i], cards[i] = d.l.PartnerID.String(), d.l.CardID.String()
	}
	return []any{partners, cards}
}

// holds tells whether an earlier decision of the batch holds sub's account
// or lineage, and else marks both held.
func holds(held map[string]bool, sub spend.Subject) bool {
	account, lineage := "a"+sub.Account.ID.String(), "l"+sub.Card.LineageID.String()
	if held[account] || held[lineage] {
		return true
	}
	held[account], held[lineage] = true, true
	return false
}

// readLocks reads beginBatch's statements and the locks.
func readLocks(br pgx.BatchResults) error {
	for range 2 { // beginBatch
		if _, err := br.Exec(); err != nil {
			return err
		}
	}
	rows, err := br.Query()
	if err != nil {
		return err
	}
	rows.Close()
	return rows.Err()
}

// readSubjects reads the first round trip of decideBatch: beginBatch's
// statements, the locks, and a subject per decision (with its token, when
// it names one), as what the runner knows of it (a card not found sets its
// outcome in results).
func readSubjects(br pgx.BatchResults, batch []*decision, results map[*decision]error) (map[int]knownSubject, error) {
	if err := readLocks(br); err != nil {
		return nil, err
	}
	subjects := make(map[int]knownSubject, len(batch))
	for i, d := range batch {
		k := knownSubject{w: d.l.Windows}
		sub, err := scanSubject(extraScan{row: br.QueryRow(), extra: []any{&k.digest}})
		if d.l.TokenID != uuid.Nil {
			t, terr := scanToken(br.QueryRow())
			sub.Token, err = &t, errors.Join(err, terr)
		}
		if d.l.AuthenticationID != uuid.Nil {
			n, nerr := scanAuthentication(br.QueryRow())
			if nerr == nil {
				sub.Authentication = &n
			} else if !errors.Is(nerr, spend.ErrNotFound) {
				err = errors.Join(err, nerr)
			}
		}
		if d.l.InitialAuthorizationID != uuid.Nil {
			m, merr := scanMandate(br.QueryRow())
			if merr == nil {
				sub.Mandate = &m
			} else if !errors.Is(merr, spend.ErrNotFound) {
				err = errors.Join(err, merr)
			}
		}
		if errors.Is(err, card.ErrNotFound) {
			err = card.ErrNotFound // the card's, or its token's
		}
		switch {
		case errors.Is(err, card.ErrNotFound):
			results[d] = err
		case err != nil:
			return nil, err
		default:
			k.sub = sub
			subjects[i] = k
		}
	}
	return subjects, nil
}

// withPgx runs fn on a pgx connection of the pool. fn sets *open while a
// transaction it began is open; if it still is when fn returns, it is
// rolled back (or the connection closed), so the connection goes back to
// the pool as it was taken.
func (db *DB) withPgx(ctx context.Context, fn func(pc *pgx.Conn, open *bool) error) error {
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	return onPgx(ctx, conn, fn)
}

// onPgx is withPgx on a connection the caller holds.
func onPgx(ctx context.Context, conn *sql.Conn, fn func(pc *pgx.Conn, open *bool) error) error {
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(interface{ Conn() *pgx.Conn })
		if !ok {
			return fmt.Errorf("store: %T is not a pgx connection", dc)
		}
		pc := sc.Conn()
		open := false
		defer func() {
			if open {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				defer cancel()
				if _, err := pc.Exec(rctx, `ROLLBACK`); err != nil {
					_ = pc.Close(rctx)
				}
			}
		}()
		return fn(pc, &open)
	})
}
