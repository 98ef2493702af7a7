package consent_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/consent"
	"github.com/vaultpage/vaultpage/store/storetest"
)

func TestPollIsAtMostPollTTLBehindAnotherInstance(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			db := b.Open(t)
			f := setup(t, db)
			ctx := context.Background()
			clock := func() time.Time { return f.now }
			// A second vaultpage instance on the same database.
			other := consent.NewService(db.Consents(), db.Consents(), f.cards, consent.Config{PublicURL: "https://cards.example", Sandbox: true}, clock)
			c, err := f.svc.Require(ctx, f.actor.PartnerID, f.card.ID, f.card.IndividualID, consent.ActionReveal)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := f.svc.Poll(ctx, f.actor.PartnerID, c.ID); err != nil || got.Status != consent.StatusPending {
				t.Fatalf("first poll: %s %v", got.Status, err)
			}
			if _, err := other.Cancel(ctx, f.actor.PartnerID, c.ID); err != nil {
				t.Fatal(err)
			}
			// Within PollTTL this instance may still say pending; after it, never.
			if got, _ := f.svc.Poll(ctx, f.actor.PartnerID, c.ID); got.Status != consent.StatusPending && got.Status != consent.StatusCanceled {
				t.Fatalf("within the TTL: %s", got.Status)
			}
			f.now = f.now.Add(consent.PollTTL)
			if got, err := f.svc.Poll(ctx, f.actor.PartnerID, c.ID); err != nil || got.Status != consent.StatusCanceled {
				t.Fatalf("after the TTL: %s %v", got.Status, err)
			}
			// Another partner never gets it, cached or not.
			if _, err := f.svc.Poll(ctx, uuid.New(), c.ID); !errors.Is(err, consent.ErrNotFound) {
				t.Fatalf("another partner: %v", err)
			}
		})
	}
}

func TestPollSeesThisInstancesChangesAtOnceAndExpiresOnTime(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		c, err := f.svc.Require(ctx, f.actor.PartnerID, f.card.ID, f.card.IndividualID, consent.ActionReveal)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := f.svc.Poll(ctx, f.actor.PartnerID, c.ID); got.Status != consent.StatusPending {
			t.Fatalf("first poll: %s", got.Status)
		}
		if _, err := f.svc.Simulate(ctx, f.actor.PartnerID, c.ID, "approved"); err != nil {
			t.Fatal(err)
		}
		if got, _ := f.svc.Poll(ctx, f.actor.PartnerID, c.ID); got.Status != consent.StatusApproved {
			t.Fatalf("right after this instance approved: %s", got.Status)
		}
		// A pending consent polled just before its expiry is expired just after it.
		c2, err := f.svc.Require(ctx, f.actor.PartnerID, f.card.ID, f.card.IndividualID, consent.ActionReveal)
		if err != nil {
			t.Fatal(err)
		}
		f.now = c2.ExpiresAt.Add(-consent.PollTTL / 2)
		if got, _ := f.svc.Poll(ctx, f.actor.PartnerID, c2.ID); got.Status != consent.StatusPending {
			t.Fatalf("before expiry: %s", got.Status)
		}
		f.now = c2.ExpiresAt
		if got, _ := f.svc.Poll(ctx, f.actor.PartnerID, c2.ID); got.Status != consent.StatusExpired {
			t.Fatalf("at expiry: %s", got.Status)
		}
	})
}
