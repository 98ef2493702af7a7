package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/events"
	"github.com/vaultpage/vaultpage/partner"
	"github.com/vaultpage/vaultpage/store"
)

// An event whose transaction commits after a reader has paged past later
// events still reaches the reader: it is numbered when it becomes visible,
// after everything numbered before.
func TestEventsCommittedLateAreNotSkippedByTheFeed(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		creds, err := partner.NewService(db.Partners(), partner.Config{}, nil).Create(ctx, "Alpha", nil)
		if err != nil {
			t.Fatal(err)
		}
		feed := db.Consents()
		emit := func(ctx context.Context, typ string, at time.Time) uuid.UUID {
			id, _ := uuid.NewV7()
			if err := feed.Emit(ctx, events.Event{ID: id, PartnerID: creds.PartnerID, Type: typ, ResourceID: uuid.New(), Data: map[string]string{"k": typ}, CreatedAt: at}); err != nil {
				t.Fatal(err)
			}
			return id
		}
		t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
		emit(ctx, "a.first", t0)
		// PostgreSQL numbers events after commit; SQLite, whose writers are
		// serialised, numbers them on insert.
		if n, err := feed.Sequence(ctx); err != nil || (db.Dialect() == store.Postgres && n != 1) || (db.Dialect() == store.SQLite && n != 0) {
			t.Fatalf("sequence: %d %v", n, err)
		}
		page, err := feed.Events(ctx, creds.PartnerID, events.Filter{Limit: 10})
		if err != nil || len(page) != 1 || page[0].Seq != 1 || page[0].Data["k"] != "a.first" {
			t.Fatalf("first page: %+v %v", page, err)
		}
		cursor := page[0].Seq
		// An event created earlier than the next one, but committed later.
		late := emit(ctx, "b.late", t0.Add(time.Second))
		emit(ctx, "c.next", t0.Add(2*time.Second))
		_, _ = feed.Sequence(ctx)
		page, _ = feed.Events(ctx, creds.PartnerID, events.Filter{After: cursor, Limit: 10})
		if len(page) != 2 {
			t.Fatalf("second page: %d events", len(page))
		}
		cursor = page[1].Seq
		// Now one whose transaction is still open while the sequencer runs.
		hold := make(chan struct{})
		done := make(chan error, 1)
		var pending uuid.UUID
		go func() {
			done <- db.InTx(ctx, func(ctx context.Context) error {
				pending = emit(ctx, "d.pending", t0.Add(3*time.Second))
				<-hold
				return nil
			})
		}()
		time.Sleep(100 * time.Millisecond)
		if db.Dialect() == store.Postgres { // SQLite has one writer: the sequencer would wait for the open transaction
			emit(ctx, "e.after", t0.Add(4*time.Second))
			if _, err := feed.Sequence(ctx); err != nil {
				t.Fatal(err)
			}
			page, _ = feed.Events(ctx, creds.PartnerID, events.Filter{After: cursor, Limit: 10})
			if len(page) != 1 || page[0].Type != "e.after" {
				t.Fatalf("while d is uncommitted: %+v", page)
			}
			cursor = page[0].Seq
		}
		close(hold)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if _, err := feed.Sequence(ctx); err != nil {
			t.Fatal(err)
		}
		page, _ = feed.Events(ctx, creds.PartnerID, events.Filter{After: cursor, Limit: 10})
		if len(page) != 1 || page[0].ID != pending {
			t.Fatalf("after d committed, the reader's next page: %+v", page)
		}
		// Filter by type, and fetch by id; another partner sees nothing.
		if got, _ := feed.Events(ctx, creds.PartnerID, events.Filter{Type: "b.late", Limit: 10}); len(got) != 1 || got[0].ID != late {
			t.Fatalf("by type: %+v", got)
		}
		if _, err := feed.Event(ctx, uuid.New(), late); !errors.Is(err, events.ErrNotFound) {
			t.Fatalf("another partner's event: %v", err)
		}
	})
}
