package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// SQLite has one writer and makes every commit durable with an fsync of its
// write-ahead log, so on SQLite the cost of a write transaction is mostly
// its commit. The group committer lets transactions that arrive while
// another commits share the next commit: one goroutine owns the writer
// connection, takes every transaction waiting for it (up to groupMax),
// runs each inside a savepoint of one database transaction and commits
// them together. A transaction whose function fails rolls back to its
// savepoint and leaves the others alone; each caller hears of its own
// outcome only once the commit that holds its work has happened (or
// failed), so InTx keeps its contract. Nothing is decided in memory: every
// function runs against the database, after the functions before it in the
// group, as it would have in a transaction of its own.
//
// PostgreSQL groups the flushes of concurrent commits itself and runs
// transactions in parallel; there InTx stays one transaction per call.

// groupMax bounds how many transactions share one commit.
const groupMax = 64

type member struct {
	ctx context.Context
	fn  func(ctx context.Context) error
	res chan error // buffered: the committer never waits for the caller
}

type committer struct {
	db   *DB
	q    workQueue[*member]
	exit chan struct{}
	// commits counts the transactions committed (one per group).
	commits atomic.Int64
	// observe, when set, hears of every commit.
	observe atomic.Pointer[func(GroupCommit)]
}

// GroupCommit describes one commit of SQLite's group committer.
type GroupCommit struct {
	// Transactions is how many InTx calls the commit carried.
	Transactions int
	// Took is the commit alone: the WAL write and its fsync.
	Took time.Duration
}

// ObserveCommits has fn called after every successful commit of the group
// committer (SQLite only; PostgreSQL has none), for metrics.
func (db *DB) ObserveCommits(fn func(GroupCommit)) {
	if db.group != nil {
		db.group.observe.Store(&fn)
	}
}

// committed counts a commit of n transactions that took d.
func (c *committer) committed(n int, d time.Duration) {
	c.commits.Add(1)
	if fn := c.observe.Load(); fn != nil {
		(*fn)(GroupCommit{Transactions: n, Took: d})
	}
}

func newCommitter(db *DB) *committer {
	c := &committer{db: db, q: workQueue[*member]{in: make(chan *member)}, exit: make(chan struct{})}
	go c.run()
	return c
}

// do queues fn and waits for the outcome of the commit that holds its work.
// Once fn is queued its outcome is waited for even if ctx ends meanwhile,
// so that an error always means nothing was written; fn is skipped if ctx
// has ended before its turn.
func (c *committer) do(ctx context.Context, fn func(ctx context.Context) error) error {
	m := &member{ctx: ctx, fn: fn, res: make(chan error, 1)}
	if err := c.q.send(ctx, m); err != nil {
		return err
	}
	return outcome(m.res)
}

// close stops taking transactions, lets those queued finish and waits for
// the committer to end.
func (c *committer) close() {
	c.q.close()
	<-c.exit
}

func (c *committer) run() {
	defer close(c.exit)
	for m := range c.q.in {
		c.commit(c.q.more([]*member{m}, groupMax))
		if c.db.walTooLarge() {
			c.db.resetWAL()
		}
	}
}

// call runs fn in tx with the caller's context values but not its
// cancellation: the statements of a group must not be cut off half way by
// one caller leaving.
func call(m *member, tx *sql.Tx) (err error) {
	defer recovering(&err)
	return m.fn(context.WithValue(context.WithoutCancel(m.ctx), txKey{}, tx))
}

// commit runs a group in one transaction, each member in its own savepoint.
func (c *committer) commit(group []*member) {
	live := group[:0]
	for _, m := range group {
		if err := m.ctx.Err(); err != nil {
			m.res <- err
			continue
		}
		live = append(live, m)
	}
	if len(live) == 0 {
		return
	}
	ctx := context.Background()
	tx, err := c.db.sql.BeginTx(ctx, nil)
	if err != nil {
		for _, m := range live {
			m.res <- err
		}
		return
	}
	if len(live) == 1 {
		// Alone: no savepoint needed.
		m := live[0]
		if err := call(m, tx); err != nil {
			m.res <- errors.Join(err, tx.Rollback())
			return
		}
		start := time.Now()
		err := tx.Commit()
		if err == nil {
			c.committed(1, time.Since(start))
		}
		m.res <- err
		return
	}
	var done []*member
	for i, m := range live {
		if _, err := tx.ExecContext(ctx, `SAVEPOINT grouped`); err != nil {
			c.abort(tx, done, live[i:], err)
			return
		}
		if err := call(m, tx); err != nil {
			if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO grouped`); rerr != nil {
				m.res <- errors.Join(err, rerr)
				c.abort(tx, done, live[i+1:], rerr)
				return
			}
			m.res <- err
		} else {
			done = append(done, m)
		}
		if _, err := tx.ExecContext(ctx, `RELEASE grouped`); err != nil {
			c.abort(tx, done, live[i+1:], err)
			return
		}
	}
	start := time.Now()
	err = tx.Commit()
	if err == nil {
		c.committed(len(done), time.Since(start))
	}
	for _, m := range done {
		m.res <- err
	}
}

// abort rolls a group back after the transaction itself failed: the work of
// those done is lost with it and those not run yet are not run.
func (c *committer) abort(tx *sql.Tx, done, rest []*member, cause error) {
	err := errors.Join(fmt.Errorf("store: grouped transaction failed: %w", cause), tx.Rollback())
	for _, m := range done {
		m.res <- err
	}
	for _, m := range rest {
		m.res <- err
	}
}
