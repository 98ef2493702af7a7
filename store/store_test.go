package store_test

import (
	"context"
	"errors"
	"sync"
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
