package consent_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/audit"
	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/consent"
	"github.com/vaultpage/vaultpage/partner"
	"github.com/vaultpage/vaultpage/store"
	"github.com/vaultpage/vaultpage/store/storetest"
	"github.com/vaultpage/vaultpage/vault"
)

type fixture struct {
	svc   *consent.Service
	cards *card.Service
	actor card.Actor
	card  card.Card
	ring  *vault.Keyring
	now   time.Time
}

func setup(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	ctx := context.Background()
	ring := storetest.Keyring(t, db)
	f := &fixture{now: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC), ring: ring}
	clock := func() time.Time { return f.now }
	f.cards = card.NewService(db.Cards(), ring, audit.NewLog(db.Audit(), nil), card.Config{BIN: vault.BINRange{Prefix: "489537", Length: 16}}, clock)
	f.svc = consent.NewService(db.Consents(), db.Consents(), f.cards, consent.Config{PublicURL: "https://cards.example", Sandbox: true}, clock)
	f.cards.EndConsentsWith(f.svc)
	creds, err := partner.NewService(db.Partners(), partner.Config{}, nil).Create(ctx, "Alpha", nil)
	if err != nil {
		t.Fatal(err)
	}
	f.actor = card.Actor{PartnerID: creds.PartnerID}
	i, err := f.cards.CreateIndividual(ctx, f.actor, card.IndividualInput{FirstName: "A", LastName: "B", Email: "a@b.co"})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := f.cards.CreateAccount(ctx, f.actor, i.ID, "EUR")
	if err != nil {
		t.Fatal(err)
	}
	if f.card, err = f.cards.CreateCard(ctx, f.actor, physical(card.Input{IndividualID: i.ID, AccountID: acc.ID})); err != nil {
		t.Fatal(err)
	}
	return f
}

func eachBackend(t *testing.T, fn func(t *testing.T, f *fixture)) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) { fn(t, setup(t, b.Open(t))) })
	}
}

// physical makes in a physical card's order, which starts not_activated.
func physical(in card.Input) card.Input {
	in.Type = card.TypePhysical
	in.ShippingAddress = &card.Address{Line1: "Drottninggatan 1", City: "Stockholm", PostalCode: "111 51", Country: "SE"}
	return in
}

func TestConcurrentApproveAndCancelEndInOneFinalState(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		for round := 0; round < 10; round++ {
			c, err := f.svc.Require(ctx, f.actor.PartnerID, f.card.ID, f.card.IndividualID, consent.ActionReveal)
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			results := make([]error, 2)
			wg.Add(2)
			go func() { defer wg.Done(); _, results[0] = f.svc.Simulate(ctx, f.actor.PartnerID, c.ID, "approved") }()
			go func() { defer wg.Done(); _, results[1] = f.svc.Cancel(ctx, f.actor.PartnerID, c.ID) }()
			wg.Wait()
			got, err := f.svc.Get(ctx, f.actor.PartnerID, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			var se *consent.StateError
			switch got.Status {
			case consent.StatusApproved:
				if results[0] != nil || !errors.As(results[1], &se) {
					t.Fatalf("approved, but results %v", results)
				}
			case consent.StatusCanceled:
				if results[1] != nil || !errors.As(results[0], &se) {
					t.Fatalf("canceled, but results %v", results)
				}
			default:
				t.Fatalf("final state %s", got.Status)
			}
		}
	})
}

func TestConsentsExpireWhenNobodyFinishesThem(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		c, err := f.svc.Require(ctx, f.actor.PartnerID, f.card.ID, f.card.IndividualID, consent.ActionActivate)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.IssueToken(ctx, f.actor.PartnerID, c.ID, consent.TokenOptions{}, nil); err != nil {
			t.Fatal(err)
		}
		f.now = f.now.Add(consent.Lifetime)
		got, err := f.svc.Get(ctx, f.actor.PartnerID, c.ID)
		if err != nil || got.Status != consent.StatusExpired {
			t.Fatalf("after its lifetime: %s %v", got.Status, err)
		}
		if _, err := f.svc.Simulate(ctx, f.actor.PartnerID, c.ID, "approved"); err == nil {
			t.Fatal("approved an expired consent")
		}
		if cd, _ := f.cards.Card(ctx, f.actor, f.card.ID); cd.Status != card.StatusNotActivated {
			t.Fatalf("card %s after an expired activation", cd.Status)
		}
	})
}

func TestTokensRedeemOnceAndANewOneRevokesTheOld(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		c, err := f.svc.Require(ctx, f.actor.PartnerID, f.card.ID, f.card.IndividualID, consent.ActionReveal)
		if err != nil {
			t.Fatal(err)
		}
		first, err := f.svc.IssueToken(ctx, f.actor.PartnerID, c.ID, consent.TokenOptions{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		second, err := f.svc.IssueToken(ctx, f.actor.PartnerID, c.ID, consent.TokenOptions{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.svc.Redeem(ctx, first.Value); !errors.Is(err, consent.ErrTokenInvalid) {
			t.Fatalf("revoked token: %v", err)
		}
		got, _, err := f.svc.Redeem(ctx, second.Value)
		if err != nil || got.ID != c.ID || got.Status != consent.StatusStarted {
			t.Fatalf("redeem: %+v %v", got, err)
		}
		if _, _, err := f.svc.Redeem(ctx, second.Value); !errors.Is(err, consent.ErrTokenInvalid) {
			t.Fatalf("reused token: %v", err)
		}
		third, err := f.svc.IssueToken(ctx, f.actor.PartnerID, c.ID, consent.TokenOptions{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		f.now = f.now.Add(consent.TokenTTL)
		if _, _, err := f.svc.Redeem(ctx, third.Value); !errors.Is(err, consent.ErrTokenInvalid) {
			t.Fatalf("expired token: %v", err)
		}
		for _, junk := range []string{"", "vpk_", "vpk_nope", "something else"} {
			if _, _, err := f.svc.Redeem(ctx, junk); !errors.Is(err, consent.ErrTokenInvalid) {
				t.Fatalf("%q: %v", junk, err)
			}
		}
	})
}

// Fifty simultaneous redemptions of one token, through two independent
// connection pools (two vaultpage processes) on the same PostgreSQL, open
// exactly one session.
func TestConcurrentRedemptionsAcrossProcessesOpenOneSession(t *testing.T) {
	ctx := context.Background()
	url := storetest.PostgresURL(t)

	var dbs []*store.DB
	for i := 0; i < 2; i++ {
		db, err := store.Open(ctx, url, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		dbs = append(dbs, db)
	}
	f := setup(t, dbs[0])
	other := consent.NewService(dbs[1].Consents(), dbs[1].Consents(), f.cards, consent.Config{Sandbox: true}, func() time.Time { return f.now })

	c, err := f.svc.Require(ctx, f.actor.PartnerID, f.card.ID, f.card.IndividualID, consent.ActionReveal)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := f.svc.IssueToken(ctx, f.actor.PartnerID, c.ID, consent.TokenOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for i := 0; i < 50; i++ {
		svc := f.svc
		if i%2 == 1 {
			svc = other
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := svc.Redeem(ctx, tok.Value)
			switch {
			case err == nil:
				mu.Lock()
				wins++
				mu.Unlock()
			case !errors.Is(err, consent.ErrTokenInvalid):
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d redemptions succeeded, want exactly 1", wins)
	}

}

func TestHostedSessionsEndWithANewTokenOrACardThatMayNotGoOn(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		pid := f.actor.PartnerID
		c, err := f.svc.Require(ctx, pid, f.card.ID, f.card.IndividualID, consent.ActionReveal)
		if err != nil {
			t.Fatal(err)
		}
		tok, _ := f.svc.IssueToken(ctx, pid, c.ID, consent.TokenOptions{}, nil)
		_, first, err := f.svc.Redeem(ctx, tok.Value)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Hosted(ctx, pid, c.ID, first); err != nil {
			t.Fatalf("the session the token opened: %v", err)
		}
		tok2, _ := f.svc.IssueToken(ctx, pid, c.ID, consent.TokenOptions{}, nil)
		if _, err := f.svc.Hosted(ctx, pid, c.ID, first); !errors.Is(err, consent.ErrSessionEnded) {
			t.Fatalf("the first session after a new token: %v", err)
		}
		_, second, err := f.svc.Redeem(ctx, tok2.Value)
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.svc.Hosted(ctx, pid, c.ID, second)
		if err != nil || !got.AuthenticatedAt.IsZero() {
			t.Fatalf("the new session: %+v %v", got, err)
		}
		if got, err = f.svc.MarkAuthenticated(ctx, got); err != nil || !got.AuthenticatedAt.Equal(f.now) || f.svc.RevealLeft(got) != consent.RevealFor {
			t.Fatalf("authenticated: %v %v", got.AuthenticatedAt, err)
		}
		// A pending consent too; then the card is reported stolen.
		pending, _ := f.svc.Require(ctx, pid, f.card.ID, f.card.IndividualID, consent.ActionReveal)
		stolen := card.StatusStolen
		if _, err := f.cards.UpdateCard(ctx, f.actor, f.card.ID, card.Patch{Status: &stolen}); err != nil {
			t.Fatal(err)
		}
		for _, id := range []uuid.UUID{c.ID, pending.ID} {
			if got, _ := f.svc.Get(ctx, pid, id); got.Status != consent.StatusCanceled {
				t.Fatalf("consent %s after the card was stolen: %s", id, got.Status)
			}
		}
		if _, err := f.svc.Hosted(ctx, pid, c.ID, second); !errors.Is(err, consent.ErrSessionEnded) {
			t.Fatalf("the session of a stolen card: %v", err)
		}
	})
}

func TestFinishingAnActionWhileTheCardIsReportedStolenNeverDeadlocks(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		pid := f.actor.PartnerID
		for i := range 30 {
			cd, err := f.cards.CreateCard(ctx, f.actor, physical(card.Input{IndividualID: f.card.IndividualID, AccountID: f.card.AccountID}))
			if err != nil {
				t.Fatal(err)
			}
			c, _ := f.svc.Require(ctx, pid, cd.ID, cd.IndividualID, consent.ActionActivate)
			tok, _ := f.svc.IssueToken(ctx, pid, c.ID, consent.TokenOptions{}, nil)
			if c, _, err = f.svc.Redeem(ctx, tok.Value); err != nil {
				t.Fatal(err)
			}
			var (
				wg             sync.WaitGroup
				finish, report error
			)
			start := make(chan struct{})
			wg.Add(2)
			go func() { defer wg.Done(); <-start; _, finish = f.svc.Finish(ctx, c, nil) }()
			go func() {
				defer wg.Done()
				<-start
				time.Sleep(time.Duration(i%10) * 200 * time.Microsecond)
				st := card.StatusStolen
				_, report = f.cards.UpdateCard(ctx, f.actor, cd.ID, card.Patch{Status: &st})
			}()
			close(start)
			wg.Wait()
			var se *consent.StateError
			if report != nil {
				t.Fatalf("round %d: reporting the card stolen failed: %v", i, report)
			}
			if finish != nil && !errors.Is(finish, consent.ErrSessionEnded) && !errors.As(finish, &se) {
				t.Fatalf("round %d: finishing failed: %v", i, finish)
			}
			got, _ := f.cards.Card(ctx, f.actor, cd.ID)
			final, _ := f.svc.Get(ctx, pid, c.ID)
			if got.Status != card.StatusStolen || (finish == nil) != (final.Status == consent.StatusApproved) {
				t.Fatalf("round %d: card %s, consent %s, finish %v", i, got.Status, final.Status, finish)
			}
		}
	})
}

// Only the newest link for an action works: a new consent supersedes the
// card's pending one for the same action, while one the cardholder has
// open goes on; a consent whose action the card no longer allows ends.
func TestPendingConsentsDoNotPileUp(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		pid, cid, iid := f.actor.PartnerID, f.card.ID, f.card.IndividualID
		status := func(id uuid.UUID) consent.Status {
			t.Helper()
			c, err := f.svc.Get(ctx, pid, id)
			if err != nil {
				t.Fatal(err)
			}
			return c.Status
		}
		first, err := f.svc.Require(ctx, pid, cid, iid, consent.ActionActivate)
		if err != nil {
			t.Fatal(err)
		}
		reveal, err := f.svc.Require(ctx, pid, cid, iid, consent.ActionReveal)
		if err != nil {
			t.Fatal(err)
		}
		second, err := f.svc.Require(ctx, pid, cid, iid, consent.ActionActivate)
		if err != nil {
			t.Fatal(err)
		}
		if status(first.ID) != consent.StatusCanceled || status(second.ID) != consent.StatusPending || status(reveal.ID) != consent.StatusPending {
			t.Fatalf("after a second activation: first %s, second %s, reveal %s", status(first.ID), status(second.ID), status(reveal.ID))
		}
		// The cardholder opens the second; a third does not take it away.
		tok, err := f.svc.IssueToken(ctx, pid, second.ID, consent.TokenOptions{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.svc.Redeem(ctx, tok.Value); err != nil {
			t.Fatal(err)
		}
		third, err := f.svc.Require(ctx, pid, cid, iid, consent.ActionActivate)
		if err != nil {
			t.Fatal(err)
		}
		if status(second.ID) != consent.StatusStarted {
			t.Fatalf("a started consent was superseded: %s", status(second.ID))
		}
		// The third is approved: the card is active, the second's activation
		// no longer applies and ends; the reveal still applies.
		if _, err := f.svc.Simulate(ctx, pid, third.ID, "approved"); err != nil {
			t.Fatal(err)
		}
		if status(second.ID) != consent.StatusCanceled || status(reveal.ID) != consent.StatusPending {
			t.Fatalf("after activation: second %s, reveal %s", status(second.ID), status(reveal.ID))
		}
		if _, err := f.svc.Require(ctx, pid, cid, iid, consent.ActionActivate); !errors.Is(err, consent.ErrActionNotAllowed) {
			t.Fatalf("an activation for an active card: %v", err)
		}
		// Terminal: every open consent ends.
		lost := card.StatusLost
		if _, err := f.cards.UpdateCard(ctx, f.actor, cid, card.Patch{Status: &lost}); err != nil {
			t.Fatal(err)
		}
		if status(reveal.ID) != consent.StatusCanceled {
			t.Fatalf("a reveal of a lost card: %s", status(reveal.ID))
		}
	})
}

// A simulated approval carries out nothing the card's status no longer
// allows: a card blocked behind the consent's back (its consents not ended)
// is not activated by approving its activation.
func TestASimulatedApprovalChecksTheCardStillAllowsIt(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			db := b.Open(t)
			f := setup(t, db)
			ctx := context.Background()
			c, err := f.svc.Require(ctx, f.actor.PartnerID, f.card.ID, f.card.IndividualID, consent.ActionActivate)
			if err != nil {
				t.Fatal(err)
			}
			blocked, err := db.Cards().Card(ctx, f.actor.PartnerID, f.card.ID)
			if err != nil {
				t.Fatal(err)
			}
			blocked.Status = card.StatusBlocked
			if _, err := db.Cards().UpdateCard(ctx, blocked); err != nil {
				t.Fatal(err)
			}
			if _, err := f.svc.Simulate(ctx, f.actor.PartnerID, c.ID, "approved"); !errors.Is(err, consent.ErrActionNotAllowed) {
				t.Fatalf("approving the activation of a blocked card: %v", err)
			}
			if got, _ := f.cards.Card(ctx, f.actor, f.card.ID); got.Status != card.StatusBlocked {
				t.Fatalf("the blocked card is %s", got.Status)
			}
		})
	}
}
