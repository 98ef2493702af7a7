package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vaultpage/vaultpage/audit"
	"github.com/vaultpage/vaultpage/internal/testkit"
	"github.com/vaultpage/vaultpage/store"
	"github.com/vaultpage/vaultpage/store/storetest"
)

// On PostgreSQL audit entries are chained after their commit. Two
// processes append concurrently, one entry goes with a transaction that
// rolls back, and another is appended while a session holds the chainers'
// lock: the append must not wait for it. Every committed entry ends up in
// one chain that verifies, the rolled-back one nowhere, the background
// chainer chains an entry that nobody reads, and one call chains more
// entries than one chaining transaction takes.
func TestAuditEntriesOfTwoProcessesFormOneChain(t *testing.T) {
	ctx := context.Background()
	u := storetest.PostgresURL(t)
	open := func() *store.DB {
		db, err := store.Open(ctx, u, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	a, b := open(), open()
	raw, err := sql.Open("pgx", testkit.PlainURL(u))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = raw.Close() }()
	chained := func() int {
		t.Helper()
		var n int
		if err := raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_log`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// An append while the chainers' lock is held elsewhere.
	holder, err := raw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.ExecContext(ctx, `SELECT pg_advisory_lock(7270001)`); err != nil {
		t.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = audit.NewLog(a.Audit(), nil).Append(tctx, audit.Entry{Actor: "operator", Action: "test.locked", Target: "t:0"})
	cancel()
	if err != nil {
		t.Fatalf("an append waited for the chainers' lock: %v", err)
	}
	if _, err := holder.ExecContext(ctx, `SELECT pg_advisory_unlock(7270001)`); err != nil {
		t.Fatal(err)
	}
	_ = holder.Close()

	// Nobody reads: the background chainer chains it.
	for deadline := time.Now().Add(10 * time.Second); chained() != 1; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the background chainer did not chain the entry")
		}
	}

	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		db := a
		if i%2 == 1 {
			db = b
		}
		wg.Go(func() {
			errs <- audit.NewLog(db.Audit(), nil).Append(ctx, audit.Entry{Actor: "operator", Action: "test.append", Target: fmt.Sprint("t:", i)})
		})
	}
	boom := errors.New("rolled back")
	err = b.InTx(ctx, func(ctx context.Context) error {
		if err := audit.NewLog(b.Audit(), nil).Append(ctx, audit.Entry{Actor: "operator", Action: "test.rolled_back", Target: "t:x"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	rep, err := audit.Verify(ctx, b.Audit())
	if err != nil || rep.Entries != 201 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	entries, err := a.Audit().AuditEntries(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Action == "test.rolled_back" {
			t.Fatal("an entry of a transaction that rolled back was chained")
		}
	}
	waiting := func() int {
		t.Helper()
		var n int
		if err := raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_pending`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := waiting(); n != 0 {
		t.Fatalf("%d entries still waiting after a read", n)
	}

	// More than one chaining transaction's worth, appended while no chainer
	// can run: one call chains them all.
	holder, err = raw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.ExecContext(ctx, `SELECT pg_advisory_lock(7270001)`); err != nil {
		t.Fatal(err)
	}
	log := audit.NewLog(a.Audit(), nil)
	for i := range 1200 {
		if err := log.Append(ctx, audit.Entry{Actor: "operator", Action: "test.many", Target: fmt.Sprint("m:", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := holder.ExecContext(ctx, `SELECT pg_advisory_unlock(7270001)`); err != nil {
		t.Fatal(err)
	}
	_ = holder.Close()
	if _, err := a.Audit().ChainAudit(ctx); err != nil {
		t.Fatal(err)
	}
	if n := waiting(); n != 0 {
		t.Fatalf("%d of 1,200 entries still waiting after a chaining", n)
	}
	if rep, err := audit.Verify(ctx, a.Audit()); err != nil || rep.Entries != 1401 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}
