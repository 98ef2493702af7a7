package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/idempotency"
	"github.com/vaultpage/vaultpage/partner"
	"github.com/vaultpage/vaultpage/store"
	"github.com/vaultpage/vaultpage/store/storetest"
)

func eachBackend(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) { fn(t, b.Open(t)) })
	}
}

func TestIdempotencyClaimIsDecidedByTheDatabase(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := db.Idempotency()
		now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
		hash := []byte("h1")
		notBefore := now.Add(-idempotency.TTL)
		errRollback := errors.New("roll back")

		// A claim made in a transaction that rolls back leaves nothing.
		err := s.InTx(ctx, func(ctx context.Context) error {
			if _, ok, err := s.Claim(ctx, "p1", "k1", hash, now, notBefore); err != nil || !ok {
				t.Fatalf("first claim: %v %v", ok, err)
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatal(err)
		}

		// Ten requests at once: one claims and completes; the others are
		// told it is in flight (PostgreSQL) or find its response (SQLite,
		// which runs them one after another).
		var (
			wg                      sync.WaitGroup
			mu                      sync.Mutex
			claimed, running, found int
		)
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := s.InTx(ctx, func(ctx context.Context) error {
					prev, ok, err := s.Claim(ctx, "p1", "k1", hash, now, notBefore)
					if err != nil {
						return err
					}
					mu.Lock()
					switch {
					case ok:
						claimed++
					case prev.State == idempotency.Running:
						running++
					case prev.State == idempotency.Done && string(prev.Body) == `{"id":1}`:
						found++
					}
					mu.Unlock()
					if !ok {
						return nil
					}
					time.Sleep(50 * time.Millisecond) // the work
					return s.Complete(ctx, "p1", "k1", 201, "application/json", []byte(`{"id":1}`))
				})
				if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if claimed != 1 || claimed+running+found != 10 {
			t.Fatalf("%d claimed, %d told running, %d found the response", claimed, running, found)
		}
		if db.Dialect() == store.Postgres && running == 0 {
			t.Fatal("no concurrent request was told the claim is in flight")
		}
		var prev idempotency.Request
		_ = s.InTx(ctx, func(ctx context.Context) error {
			prev, _, err = s.Claim(ctx, "p1", "k1", hash, now, notBefore)
			return err
		})
		if prev.State != idempotency.Done || prev.Status != 201 || string(prev.Body) != `{"id":1}` {
			t.Fatalf("done claim: %+v", prev)
		}
		// A day later the key is free again.
		later := now.Add(idempotency.TTL + time.Minute)
		_ = s.InTx(ctx, func(ctx context.Context) error {
			if _, ok, err := s.Claim(ctx, "p1", "k1", []byte("h2"), later, later.Add(-idempotency.TTL)); err != nil || !ok {
				t.Fatalf("expired key not reclaimed: %v %v", ok, err)
			}
			return errRollback
		})
		if n, err := s.Purge(ctx, later.Add(time.Hour)); err != nil || n != 1 {
			t.Fatalf("purge: %d %v", n, err)
		}
	})
}

func TestAccessTokensExpire(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
		svc := partner.NewService(db.Partners(), partner.Config{}, func() time.Time { return now })
		creds, err := svc.Create(ctx, "Alpha", []string{"https://alpha.example/cb"})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := svc.IssueToken(ctx, creds.ClientID, creds.ClientSecret)
		if err != nil {
			t.Fatal(err)
		}
		p, err := svc.Authenticate(ctx, tok.AccessToken)
		if err != nil || p.ID != creds.PartnerID || p.ReturnURLs[0] != "https://alpha.example/cb" {
			t.Fatalf("authenticate: %+v %v", p, err)
		}
		now = now.Add(partner.TokenTTL + time.Second)
		if _, err := svc.Authenticate(ctx, tok.AccessToken); !errors.Is(err, partner.ErrInvalidToken) {
			t.Fatalf("expired token: %v", err)
		}
		if _, err := svc.IssueToken(ctx, creds.ClientID, "vps_wrong"); !errors.Is(err, partner.ErrInvalidClient) {
			t.Fatalf("wrong secret: %v", err)
		}
		if _, err := svc.IssueToken(ctx, "vpc_unknown", creds.ClientSecret); !errors.Is(err, partner.ErrInvalidClient) {
			t.Fatalf("unknown client: %v", err)
		}
		if _, err := svc.Partner(ctx, uuid.New()); !errors.Is(err, partner.ErrNotFound) {
			t.Fatalf("unknown partner: %v", err)
		}
		for _, bad := range []string{"javascript:alert(1)", "http://evil.example/cb", "https://a.example/cb#frag", "https://user:pw@a.example/", "/relative"} {
			if _, err := svc.Create(ctx, "Bad", []string{bad}); !errors.Is(err, partner.ErrInvalidInput) {
				t.Fatalf("%s accepted: %v", bad, err)
			}
		}
	})
}

func TestDatabaseURLsSelectTheEngine(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, u := range []string{"sqlite:" + dir + "/a.db", "file:" + dir + "/b.db?mode=rwc"} {
		db, err := store.Open(ctx, u, "")
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if db.Dialect() != store.SQLite {
			t.Fatalf("%s: dialect %s", u, db.Dialect())
		}
		_ = db.Close()
	}
	if _, err := store.Open(ctx, "mysql://x", ""); err == nil {
		t.Fatal("accepted an unsupported database URL")
	}
	pg := storetest.Postgres(t)
	if pg.Dialect() != store.Postgres {
		t.Fatal("postgres URL did not select PostgreSQL")
	}
}

func TestTheWALStaysBoundedUnderSustainedWrites(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	s := db.Idempotency()
	body := bytes.Repeat([]byte("x"), 16<<10)
	var (
		wg      sync.WaitGroup
		stop    = make(chan struct{})
		written atomic.Int64
		largest int64
	)
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("w%d-%d", w, i)
				err := s.InTx(context.Background(), func(ctx context.Context) error {
					if _, _, err := s.Claim(ctx, "p", key, []byte("h"), time.Now(), time.Now().Add(-time.Hour)); err != nil {
						return err
					}
					return s.Complete(ctx, "p", key, 201, "application/json", body)
				})
				if err != nil {
					t.Error(err)
					return
				}
				written.Add(int64(len(body)))
			}
		}()
	}
	// Until eight times the limit went through the WAL, however long that
	// takes on this machine.
	for written.Load() < 64<<20 && !t.Failed() {
		time.Sleep(20 * time.Millisecond)
		if st, err := os.Stat(filepath.Join(dir, store.SQLiteFile+"-wal")); err == nil && st.Size() > largest {
			largest = st.Size()
		}
	}
	close(stop)
	wg.Wait()
	// The store resets the WAL right after the commit that takes it past
	// 8 MiB. Without the reset the WAL took every byte written.
	t.Logf("the WAL reached %.1f MiB at most while %d MiB were written", float64(largest)/(1<<20), written.Load()>>20)
	if limit := int64(16 << 20); largest > limit {
		t.Fatalf("the WAL reached %d MiB while %d MiB were written", largest>>20, written.Load()>>20)
	}
}

// tinyVolume mounts an 8 MiB tmpfs for the test, or skips where mounting is
// not allowed (CI runs as root, where it is).
func tinyVolume(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small volume here (%v: %s); the full-disk test needs root", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

func TestReadinessSeesAFullDiskAndItsRecovery(t *testing.T) {
	dir := tinyVolume(t)
	ctx := context.Background()
	db, err := store.Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Ready(ctx); err != nil {
		t.Fatalf("ready on an empty volume: %v", err)
	}
	// Fill what is left of the volume with another file.
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	_ = f.Close()
	// Writes fail now; readiness says so, though the database still answers.
	full := false
	for i := 0; i < 200 && !full; i++ {
		full = db.Ready(ctx) != nil
		if !full {
			_ = db.Idempotency().InTx(ctx, func(ctx context.Context) error {
				return db.Idempotency().Complete(ctx, "p", "k", 201, "application/json", chunk)
			})
		}
	}
	if !full {
		t.Fatal("readiness still ready on a full volume")
	}
	if err := db.Ping(ctx); err != nil {
		t.Fatalf("the database stopped answering reads: %v", err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := db.Ready(ctx); err != nil {
		t.Fatalf("not ready once space is free again: %v", err)
	}
}
