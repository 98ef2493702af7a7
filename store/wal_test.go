package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/vaultpage/vaultpage/store"
)

// A reader that holds a snapshot (a backup, an operator's sqlite3 shell, a
// long read) keeps the WAL from being reset: the writers must not queue
// behind the reset's wait for it (they waited 10 s each), and the reset
// happens once the reader has gone.
func TestAReaderHoldingTheWALStallsNoWriter(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	s := db.Idempotency()
	body := bytes.Repeat([]byte("x"), 256<<10)
	write := func(i int) time.Duration {
		start := time.Now()
		key := fmt.Sprintf("k%d", i)
		if err := s.InTx(context.Background(), func(ctx context.Context) error {
			if _, _, err := s.Claim(ctx, "p", key, []byte("h"), time.Now(), time.Now().Add(-time.Hour)); err != nil {
				return err
			}
			return s.Complete(ctx, "p", key, 201, "application/json", body)
		}); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	write(0)
	// Another connection (as a backup tool would) opens a read transaction
	// on a snapshot that needs WAL frames.
	other, err := sql.Open("sqlite", "file:"+filepath.Join(dir, store.SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = other.Close() }()
	rtx, err := other.Begin()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := rtx.QueryRow(`SELECT COUNT(*) FROM idempotency_keys`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	var worst time.Duration
	slow := 0
	start := time.Now()
	for i := 1; i <= 48; i++ { // 12 MiB
		d := write(i)
		if d > time.Second {
			slow++
		}
		worst = max(worst, d)
		if time.Since(start) > 40*time.Second {
			break
		}
	}
	_ = rtx.Rollback()
	t.Logf("slowest write %v, %d writes over 1 s, total %v", worst, slow, time.Since(start))
	if worst > 2*time.Second {
		t.Fatalf("a write waited %v for the WAL reset while a reader held a snapshot (%d writes over 1 s)", worst, slow)
	}
	if _, busy := db.WALResets(); busy == 0 {
		t.Fatal("no reset was refused while the reader held the WAL")
	}
	// The reader gone, the next writes past the limit reset it.
	// Resets are tried at most every 100 ms, and a fast disk writes 48
	// rows in less: write on until one happened, for at most 10 s.
	reset := time.Now()
	for i := 100; ; i++ {
		write(i)
		if done, _ := db.WALResets(); done > 0 {
			break
		}
		if time.Since(reset) > 10*time.Second {
			t.Fatal("the WAL was not reset once the reader had gone")
		}
	}
}
