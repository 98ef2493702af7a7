package store_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vaultpage/vaultpage/store"
)

// Commits do not checkpoint the SQLite WAL; the background connection does,
// so committed pages reach the database file within a few seconds.
func TestTheWALIsCheckpointedInTheBackground(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	main := filepath.Join(dir, store.SQLiteFile)
	size := func() int64 {
		fi, err := os.Stat(main)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	ctx := context.Background()
	if err := db.ExecForTest(ctx, `CREATE TABLE filler (v TEXT)`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // let the schema reach the file first
	before := size()
	row := strings.Repeat("x", 4000)
	for range 300 {
		if err := db.ExecForTest(ctx, `INSERT INTO filler (v) VALUES ('`+row+`')`); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for size() < before+1_000_000 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if grown := size() - before; grown < 1_000_000 {
		t.Fatalf("the database file grew %d bytes after 1.2 MB of commits: the WAL was not checkpointed", grown)
	}
}
