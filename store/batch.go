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
	"github.com/vaultpage/vaultpage/events"
	"github.com/vaultpage/vaultpage/spend"
)

// On PostgreSQL, decisions that wait for one another share a transaction,
// as SQLite transactions share a commit (group.go). A decision alone is
// two round trips and a durable commit (decidePG); a batch of them is the
// same two round trips and one commit:
//
//  1. BEGIN, with generic plans (beginBatch); one statement that locks
//     the accounts of every card in the batch, in id order (batches lock
//     in one order, so they never deadlock one another); then each card's
//     subject.
//  2. Each decision's record; COMMIT.
//
// Each decision is made in Go between the two, from a subject read after
// its account's lock, exactly as alone. A decision whose account or
// lineage an earlier one in the same batch holds is not made in it: it
// goes to the next batch, which reads what this one wrote. Callers hear of
// their outcome only once the commit has happened; if the batch fails as a
// whole (a lost connection, a deadlock with another kind of transaction),
// its decisions are made again one by one.

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

type decision struct {
	ctx               context.Context
	partnerID, cardID uuid.UUID
	w                 spend.Windows
	decide            func(spend.Subject) (spend.Authorization, events.Event, error)
	res               chan error // buffered: the runner never waits for the caller
}

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
	// Took is the batch's transaction: both round trips and the commit.
	Took time.Duration
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

// do queues a decision and waits for its outcome. Once queued, it waits
// for the real outcome even if ctx ends: the decision may be committed.
func (b *batcher) do(ctx context.Context, partnerID, cardID uuid.UUID, w spend.Windows,
	decide func(spend.Subject) (spend.Authorization, events.Event, error)) error {
	d := &decision{ctx: ctx, partnerID: partnerID, cardID: cardID, w: w, decide: recovered(decide), res: make(chan error, 1)}
	if err := b.q.send(ctx, d); err != nil {
		return err
	}
	return outcome(d.res)
}

// recovered is decide with a panic turned into an error that do raises
// again in the caller: a decision that panics in a batch fails alone.
func recovered(decide func(spend.Subject) (spend.Authorization, events.Event, error)) func(spend.Subject) (spend.Authorization, events.Event, error) {
	return func(sub spend.Subject) (a spend.Authorization, e events.Event, err error) {
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
		next []*decision // put off by the last batch
		conn *sql.Conn
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
		next, conn = b.runBatch(b.q.more(batch, batchMax), conn)
	}
}

// runBatch makes the batch's decisions on conn (or a connection it takes
// from the pool when conn is nil) and returns those put off, and the
// connection to use next (nil after a failure).
func (b *batcher) runBatch(batch []*decision, conn *sql.Conn) ([]*decision, *sql.Conn) {
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
		results map[*decision]error
		later   []*decision
		err     error
	)
	if conn == nil {
		conn, err = b.db.sql.Conn(ctx)
	}
	if err == nil {
		results, later, err = b.db.decideBatch(ctx, conn, live)
	}
	if err != nil {
		if conn != nil {
			_ = conn.Close() // the pool drops it if it is broken
		}
		// The transaction failed as a whole (or its outcome is unknown):
		// the decisions are made again one by one. One that was committed
		// after all fails on its taken id, as it would have alone.
		for _, d := range live {
			d.res <- b.db.decidePG(d.ctx, d.partnerID, d.cardID, d.w, d.decide)
		}
		return nil, nil
	}
	if fn := b.observe.Load(); fn != nil {
		recorded := 0
		for _, err := range results {
			if err == nil {
				recorded++
			}
		}
		(*fn)(DecisionBatch{Decisions: recorded, Took: time.Since(start)})
	}
	for d, err := range results {
		d.res <- err
	}
	return later, conn
}

// QueuedDecisionsForTest is how many decisions wait for a batch, for
// tests that hold the runner to make one. Production code never calls it.
func (db *DB) QueuedDecisionsForTest() int {
	if db.batch == nil {
		return 0
	}
	return len(db.batch.q.in)
}

// lockAccountsPG locks the accounts of the cards named by the pairs of
// partner and card ids in $1 and $2, in id order.
const lockAccountsPG = `SELECT a.id FROM accounts a WHERE a.id IN (
	SELECT c.account_id FROM cards c JOIN unnest(CAST($1 AS TEXT[]), CAST($2 AS TEXT[])) AS k(partner_id, id)
	ON c.partner_id = k.partner_id AND c.id = k.id) ORDER BY a.id FOR UPDATE`

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

// decideBatch runs one batch's transaction on one connection. It returns
// each decision made and its outcome, and the decisions put off; err is
// set when the transaction failed as a whole.
func (db *DB) decideBatch(ctx context.Context, conn *sql.Conn, batch []*decision) (results map[*decision]error, later []*decision, err error) {
	results = make(map[*decision]error, len(batch))
	err = onPgx(ctx, conn, func(pc *pgx.Conn, open *bool) error {
		partners, cards := make([]string, len(batch)), make([]string, len(batch))
		for i, d := range batch {
			partners[i], cards[i] = d.partnerID.String(), d.cardID.String()
		}
		q := &pgx.Batch{}
		beginBatch(q)
		q.Queue(lockAccountsPG, partners, cards)
		for _, d := range batch {
			q.Queue(subjectQuery, subjectArgs(d.partnerID, d.cardID, d.w)...)
		}
		br := pc.SendBatch(ctx, q)
		*open = true
		subjects, err := readSubjects(br, batch, results)
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		held := map[string]bool{}
		q = &pgx.Batch{}
		var recorded []*decision
		for i, d := range batch {
			sub, ok := subjects[i]
			if !ok {
				continue // no such card: its outcome is set
			}
			lineage := sub.Card.LineageID.String()
			if held["a"+sub.Account.ID.String()] || held["l"+lineage] {
				later = append(later, d)
				continue
			}
			held["a"+sub.Account.ID.String()], held["l"+lineage] = true, true
			a, e, err := d.decide(sub)
			if err != nil {
				results[d] = err
				continue
			}
			query, args, err := recordPG(a, e)
			if err != nil {
				results[d] = err
				continue
			}
			q.Queue(query, args...)
			recorded = append(recorded, d)
		}
		q.Queue(`COMMIT`)
		br = pc.SendBatch(ctx, q)
		for _, d := range recorded {
			var n int
			if err = br.QueryRow().Scan(&n); err != nil {
				break
			}
			results[d] = nil
			if n == 0 {
				results[d] = spend.ErrInsufficientFunds
			}
		}
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
	})
	if err != nil {
		return nil, nil, err
	}
	return results, later, nil
}

// readSubjects reads the first round trip of decideBatch: beginBatch's
// statements, the locks, and a subject per decision (a card not found sets
// its outcome in results).
func readSubjects(br pgx.BatchResults, batch []*decision, results map[*decision]error) (map[int]spend.Subject, error) {
	for range 2 { // beginBatch
		if _, err := br.Exec(); err != nil {
			return nil, err
		}
	}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	subjects := make(map[int]spend.Subject, len(batch))
	for i, d := range batch {
		sub, err := scanSubject(br.QueryRow())
		switch {
		case errors.Is(err, card.ErrNotFound):
			results[d] = err
		case err != nil:
			return nil, err
		default:
			subjects[i] = sub
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
