package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// groupDB opens a SQLite database with a scratch table and holds its writer
// with a transaction that waits for release, so that the transactions a
// test starts meanwhile queue up and are committed as one group.
func groupDB(t *testing.T) (db *DB, release func()) {
	t.Helper()
	db, err := Open(context.Background(), "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.sql.Exec(`CREATE TABLE scratch (n INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	held, gate := make(chan struct{}), make(chan struct{})
	go func() {
		_ = db.InTx(context.Background(), func(ctx context.Context) error {
			close(held)
			<-gate
			return nil
		})
	}()
	<-held
	return db, func() { close(gate) }
}

func insert(ctx context.Context, db *DB, n int) error {
	_, err := db.w(ctx).ExecContext(ctx, `INSERT INTO scratch (n) VALUES ($1)`, n)
	return err
}

func stored(t *testing.T, db *DB) map[int]bool {
	t.Helper()
	rows, err := db.read.Query(`SELECT n FROM scratch`)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rows.Close() }()
	out := map[int]bool{}
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[n] = true
	}
	return out
}

// waitQueued waits until the transactions started wait for the committer.
func waitQueued(t *testing.T, started *sync.WaitGroup) {
	t.Helper()
	started.Wait()
	time.Sleep(50 * time.Millisecond) // the last sends reach the channel
}

// queue runs n transactions (fn with i from 0) while groupDB holds the
// writer, releases it, and returns each one's outcome.
func queue(t *testing.T, db *DB, release func(), n int, fn func(ctx context.Context, i int) error) []error {
	t.Helper()
	var started, done sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			started.Done()
			errs[i] = db.InTx(context.Background(), func(ctx context.Context) error { return fn(ctx, i) })
		}()
	}
	waitQueued(t, &started)
	release()
	done.Wait()
	return errs
}

func TestGroupedTransactionsShareACommitAndFailAlone(t *testing.T) {
	db, release := groupDB(t)
	var (
		mu       sync.Mutex
		observed []GroupCommit
	)
	db.ObserveCommits(func(g GroupCommit) {
		mu.Lock()
		defer mu.Unlock()
		observed = append(observed, g)
	})
	before := db.group.commits.Load()
	errFail := errors.New("refused")
	const n = 40
	errs := queue(t, db, release, n, func(ctx context.Context, i int) error {
		if err := insert(ctx, db, i); err != nil {
			return err
		}
		// A nested transaction joins the group's.
		if err := db.InTx(ctx, func(ctx context.Context) error { return insert(ctx, db, 1000+i) }); err != nil {
			return err
		}
		if i%3 == 0 {
			return errFail // written, then refused: its rows must go
		}
		return nil
	})
	have := stored(t, db)
	for i := range n {
		if i%3 == 0 {
			if !errors.Is(errs[i], errFail) || have[i] || have[1000+i] {
				t.Errorf("transaction %d: err %v, rows kept %v %v; want its own error and no rows", i, errs[i], have[i], have[1000+i])
			}
			continue
		}
		if errs[i] != nil || !have[i] || !have[1000+i] {
			t.Errorf("transaction %d: err %v, rows %v %v; want both rows", i, errs[i], have[i], have[1000+i])
		}
	}
	// 1 for the transaction that held the writer, then far fewer commits
	// than the 40 transactions queued behind it.
	if c := db.group.commits.Load() - before; c < 2 || c > n/4 {
		t.Errorf("%d commits for %d queued transactions; want them grouped", c, n)
	}
	// The observer heard of every commit and of every transaction that
	// committed: the holder and the two in three that did not fail.
	mu.Lock()
	defer mu.Unlock()
	total := 0
	for _, g := range observed {
		total += g.Transactions
		if g.Took <= 0 {
			t.Errorf("a commit took %v", g.Took)
		}
	}
	if int64(len(observed)) != db.group.commits.Load()-before || total != 1+n-(n+2)/3 {
		t.Errorf("observed %d commits carrying %d transactions; want %d commits carrying %d", len(observed), total,
			db.group.commits.Load()-before, 1+n-(n+2)/3)
	}
}

func TestAConstraintViolationInAGroupFailsOnlyItsTransaction(t *testing.T) {
	db, release := groupDB(t)
	errs := queue(t, db, release, 10, func(ctx context.Context, i int) error {
		if err := insert(ctx, db, 100+i); err != nil {
			return err
		}
		return insert(ctx, db, 7) // only the first to get here may have 7
	})
	have, ok := stored(t, db), 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
			if !have[100+i] {
				t.Errorf("transaction %d succeeded but its row is missing", i)
			}
		case !isUniqueViolation(err):
			t.Errorf("transaction %d: %v; want a unique violation", i, err)
		case have[100+i]:
			t.Errorf("transaction %d failed but its first row was kept", i)
		}
	}
	if ok != 1 || !have[7] {
		t.Errorf("%d transactions succeeded (row 7 kept: %v); want exactly 1", ok, have[7])
	}
}

func TestAPanicInAGroupReachesItsCallerOnly(t *testing.T) {
	db, release := groupDB(t)
	var started, done sync.WaitGroup
	var got any
	started.Add(2)
	done.Add(2)
	go func() {
		defer done.Done()
		defer func() { got = recover() }()
		started.Done()
		_ = db.InTx(context.Background(), func(ctx context.Context) error {
			if err := insert(ctx, db, 1); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	var err error
	go func() {
		defer done.Done()
		started.Done()
		err = db.InTx(context.Background(), func(ctx context.Context) error { return insert(ctx, db, 2) })
	}()
	waitQueued(t, &started)
	release()
	done.Wait()
	have := stored(t, db)
	if fmt.Sprint(got) != "boom" || have[1] {
		t.Errorf("panicking transaction: recovered %v, row kept %v; want the panic and no row", got, have[1])
	}
	if err != nil || !have[2] {
		t.Errorf("its neighbour: %v, row %v; want it committed", err, have[2])
	}
}

func TestAQueuedTransactionWhoseCallerLeftIsNotRun(t *testing.T) {
	db, release := groupDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	ran := false
	go func() {
		res <- db.InTx(ctx, func(ctx context.Context) error {
			ran = true
			return insert(ctx, db, 1)
		})
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	release()
	if err := <-res; !errors.Is(err, context.Canceled) || ran || stored(t, db)[1] {
		t.Errorf("err %v, ran %v; want context.Canceled and nothing written", err, ran)
	}
}

func TestCloseFinishesQueuedTransactionsAndRefusesNewOnes(t *testing.T) {
	db, release := groupDB(t)
	res := make(chan error, 1)
	go func() {
		res <- db.InTx(context.Background(), func(ctx context.Context) error { return insert(ctx, db, 1) })
	}()
	time.Sleep(50 * time.Millisecond)
	closed := make(chan struct{})
	go func() {
		db.group.close()
		close(closed)
	}()
	release()
	<-closed
	if err := <-res; err != nil {
		t.Errorf("queued before close: %v", err)
	}
	if !stored(t, db)[1] {
		t.Error("the queued transaction's row is missing")
	}
	if err := db.InTx(context.Background(), func(context.Context) error { return nil }); !errors.Is(err, errClosed) {
		t.Errorf("after close: %v; want errClosed", err)
	}
}
