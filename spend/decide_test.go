package spend_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/audit"
	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/events"
	"github.com/vaultpage/vaultpage/spend"
	"github.com/vaultpage/vaultpage/store"
	"github.com/vaultpage/vaultpage/store/storetest"
	"github.com/vaultpage/vaultpage/vault"
)

// An outcome is written whole or not at all, on both stores: one whose
// card changed since it was read (its version moved on), or whose hold
// the account cannot take even with its funding, leaves no authorisation,
// no funding, no event, and the card and the account as they were; a
// whole one writes every part.
func TestAnOutcomeIsWrittenWholeOrNotAtAll(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.fund(t, "10.00")
		c := f.activeCard(t, card.Input{})
		ref := "acq:whole-" + uuid.NewString()
		if _, reserved, err := f.db.Spend().ReserveReference(ctx, ref, uuid.New(), f.now, f.now.Add(-spend.ReservationLease)); err != nil || !reserved {
			t.Fatalf("reserving: %v %v", reserved, err)
		}
		// outcome builds what a decision on sub would write: the card with
		// one wrong CVV2 more, a funding of fund, an approval of amount and
		// its event, and the reservation's end.
		outcome := func(sub spend.Subject, fund, amount card.Amount, version int64) spend.Outcome {
			changed := sub.Card
			changed.CardDataTries++
			changed.Version = version
			now := f.now
			a := spend.Authorization{ID: uuid.New(), PartnerID: f.actor.PartnerID, CardID: c.ID, LineageID: sub.Card.LineageID, AccountID: sub.Account.ID,
				Amount: amount, Currency: "EUR", Merchant: grocer, Status: spend.StatusApproved, Held: amount, Spent: amount, CreatedAt: now, UpdatedAt: now,
				EntryMode: spend.EntryEcommerce, NetworkReference: ref,
				Verification: &spend.Verification{CVV: spend.CheckMatch, Expiry: spend.CheckMatch, PIN: spend.CheckNotProvided}}
			o := spend.Outcome{Authorization: &a, Card: &changed, Release: ref,
				Event: events.Event{ID: uuid.New(), PartnerID: f.actor.PartnerID, Type: "authorization.approved", ResourceID: a.ID, CreatedAt: now}}
			if fund > 0 {
				o.Funding = &spend.Funding{ID: uuid.New(), PartnerID: f.actor.PartnerID, AccountID: sub.Account.ID, Amount: fund, CreatedAt: now}
				o.Events = []events.Event{{ID: uuid.New(), PartnerID: f.actor.PartnerID, Type: "account.funded", ResourceID: sub.Account.ID, CreatedAt: now}}
			}
			return o
		}
		decide := func(build func(sub spend.Subject) spend.Outcome) (spend.Outcome, error) {
			var o spend.Outcome
			err := f.db.Spend().Decide(ctx, spend.Lookup{PartnerID: f.actor.PartnerID, CardID: c.ID, Windows: spend.WindowsAt(f.now)},
				func(sub spend.Subject) (spend.Outcome, error) {
					o = build(sub)
					return o, nil
				})
			return o, err
		}
		expect := func(o spend.Outcome, written bool, available, balance string, tries int) {
			t.Helper()
			_, err := f.svc.Authorization(ctx, f.actor.PartnerID, o.Authorization.ID)
			if written != (err == nil) {
				t.Fatalf("authorisation written %v, want %v", err == nil, written)
			}
			acct, err := f.cards.Account(ctx, f.actor, f.acct.ID)
			if err != nil {
				t.Fatal(err)
			}
			if acct.Available.String() != available || acct.Balance.String() != balance {
				t.Fatalf("account %s available of %s, want %s of %s", acct.Available, acct.Balance, available, balance)
			}
			got, err := f.cards.Card(ctx, f.actor, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.CardDataTries != tries {
				t.Fatalf("card data tries %d, want %d", got.CardDataTries, tries)
			}
			types, err := f.db.Consents().EventTypes(ctx, f.acct.ID)
			if err != nil {
				t.Fatal(err)
			}
			if funded := slices.Contains(types, "account.funded") && o.Funding != nil && len(types) > 1; funded != written {
				// the fixture's own funding is the first account.funded
				t.Fatalf("account events %v after an outcome written %v", types, written)
			}
			_, reserved, err := f.db.Spend().ReserveReference(ctx, ref, uuid.New(), f.now, f.now.Add(-spend.ReservationLease))
			if err != nil || reserved != written {
				t.Fatalf("the reservation ended %v, want %v (%v)", reserved, written, err)
			}
			if reserved {
				if err := f.db.Spend().ReleaseReference(ctx, ref); err != nil {
					t.Fatal(err)
				}
			}
		}

		o, err := decide(func(sub spend.Subject) spend.Outcome { return outcome(sub, 5_00, 1_00, sub.Card.Version-1) })
		if !errors.Is(err, card.ErrConflict) {
			t.Fatalf("a card changed since it was read: %v", err)
		}
		expect(o, false, "10.00", "10.00", 0)

		o, err = decide(func(sub spend.Subject) spend.Outcome { return outcome(sub, 5_00, 15_01, sub.Card.Version) })
		if !errors.Is(err, spend.ErrInsufficientFunds) {
			t.Fatalf("a hold past the available amount and the funding: %v", err)
		}
		expect(o, false, "10.00", "10.00", 0)

		o, err = decide(func(sub spend.Subject) spend.Outcome { return outcome(sub, 5_00, 15_00, sub.Card.Version) })
		if err != nil {
			t.Fatal(err)
		}
		expect(o, true, "0.00", "15.00", 1)
		a, err := f.svc.Authorization(ctx, f.actor.PartnerID, o.Authorization.ID)
		if err != nil || a.Verification == nil || a.NetworkReference != ref || a.Held.String() != "15.00" {
			t.Fatalf("the authorisation read back: %+v %v", a, err)
		}
	})
}

// batchLog is the PostgreSQL batches a store committed, each as its round
// trips and the decisions it recorded.
type batchLog struct {
	mu  sync.Mutex
	got []string
}

// observeBatches logs the batches db commits from now on.
func observeBatches(db *store.DB) *batchLog {
	l := &batchLog{}
	db.ObserveBatches(func(b store.DecisionBatch) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.got = append(l.got, fmt.Sprintf("%d round trip(s), %d recorded", b.RoundTrips, b.Decisions))
	})
	return l
}

// take returns the batches logged since the last take.
func (l *batchLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	got := l.got
	l.got = nil
	return got
}

// On PostgreSQL every kind of decision is made in the decision runner's
// batches, whatever was presented and whatever it changes: card data that
// checks out (and then from what the runner knows, in one round trip), a
// wrong CVV2 whose try is counted on the card, a payment by wallet token,
// a merchant-locked card's first payment. Only a single-use card's one
// payment, which closes the card and ends its tokens and consents (and
// writes the audit trail), is made in a transaction of its own.
func TestEveryKindOfDecisionIsBatchedOnPostgreSQL(t *testing.T) {
	db, _ := postgresWithInspector(t, storetest.PostgresURL(t))
	batches := observeBatches(db)
	f := newFixture(t, db)
	f.fund(t, "100.00")
	ctx := context.Background()
	took := func(what string, want ...string) {
		t.Helper()
		if got := batches.take(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s took batches %q, want %q", what, got, want)
		}
	}
	const (
		read  = "2 round trip(s), 1 recorded"
		known = "1 round trip(s), 1 recorded"
	)

	c := f.activeCard(t, card.Input{})
	online := f.terminal(t, c)
	// An online payment under the low-value exemption moves the card's
	// exemption counters: the runner forgets the card, and reads it for
	// the next decision.
	expectChecks(t, f.present(t, online), spend.CheckMatch, spend.CheckMatch, spend.CheckNotProvided)
	took("an online payment under the exemption", read)
	expectChecks(t, f.present(t, online), spend.CheckMatch, spend.CheckMatch, spend.CheckNotProvided)
	took("another online payment under the exemption", read)
	// A telephone order, outside SCA's scope, moves no counters.
	p := online
	p.outOfScope = spend.OutOfScopeMOTO
	expectChecks(t, f.present(t, p), spend.CheckMatch, spend.CheckMatch, spend.CheckNotProvided)
	took("card data", read)
	expectChecks(t, f.present(t, p), spend.CheckMatch, spend.CheckMatch, spend.CheckNotProvided)
	took("card data again", known)

	wrong := p
	wrong.cvv = fmt.Sprintf("%03d", (int(p.cvv[0]-'0')*100+1)%1000)
	if wrong.cvv == p.cvv {
		t.Fatal("the wrong CVV2 is the right one")
	}
	expectDecision(t, f.present(t, wrong), spend.DeclineIncorrectCVV)
	took("a wrong CVV2", known)
	if got, err := f.cards.Card(ctx, f.actor, c.ID); err != nil || got.CardDataTries != 1 {
		t.Fatalf("card data tries after a wrong CVV2: %d %v", got.CardDataTries, err)
	}
	expectChecks(t, f.present(t, p), spend.CheckMatch, spend.CheckMatch, spend.CheckNotProvided)
	took("card data after the card changed", read) // the runner forgot the card it changed
	if got, err := f.cards.Card(ctx, f.actor, c.ID); err != nil || got.CardDataTries != 0 {
		t.Fatalf("card data tries after a right CVV2: %d %v", got.CardDataTries, err)
	}

	if err := f.cards.Complete(ctx, f.actor.PartnerID, c.ID, card.ActionApplePay); err != nil {
		t.Fatal(err)
	}
	tokens, err := f.cards.Tokens(ctx, f.actor, c.ID)
	if err != nil || len(tokens) != 1 {
		t.Fatalf("tokens: %v %v", tokens, err)
	}
	byToken := func() spend.Authorization {
		t.Helper()
		a, err := f.svc.Authorize(ctx, f.actor.PartnerID, spend.Request{TokenID: tokens[0].ID, Amount: "1.00", Currency: "EUR", Merchant: grocer})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	expectDecision(t, byToken(), "")
	took("a payment by token", read)
	if _, err := f.cards.SetTokenStatus(ctx, f.actor, c.ID, tokens[0].ID, card.TokenSuspended); err != nil {
		t.Fatal(err)
	}
	expectDecision(t, byToken(), spend.DeclineTokenSuspended)
	took("a payment by a suspended token", read)

	locked := f.activeCard(t, card.Input{Usage: card.UsageMerchantLocked})
	expectDecision(t, f.authorize(t, locked, "1.00", grocer), "")
	took("a merchant-locked card's first payment", read)
	if got, err := f.cards.Card(ctx, f.actor, locked.ID); err != nil || got.LockedMerchant != grocer.ID {
		t.Fatalf("locked to %q (%v)", got.LockedMerchant, err)
	}
	other := grocer
	other.ID = "m-2"
	expectDecision(t, f.authorize(t, locked, "1.00", other), spend.DeclineMerchantLocked)
	took("a merchant-locked card's payment elsewhere", read)

	single := f.activeCard(t, card.Input{Usage: card.UsageSingleUse})
	if err := f.cards.Complete(ctx, f.actor.PartnerID, single.ID, card.ActionApplePay); err != nil {
		t.Fatal(err)
	}
	expectDecision(t, f.authorize(t, single, "1.00", grocer), "")
	took("a single-use card's payment", "2 round trip(s), 0 recorded") // read, then made alone
	got, err := f.cards.Card(ctx, f.actor, single.ID)
	if err != nil || got.Status != card.StatusClosed {
		t.Fatalf("the single-use card after its payment: %s %v", got.Status, err)
	}
	if ts, err := f.cards.Tokens(ctx, f.actor, single.ID); err != nil || len(ts) != 1 || ts[0].Status != card.TokenDeleted {
		t.Fatalf("the closed card's tokens: %+v %v", ts, err)
	}
	expectDecision(t, f.authorize(t, single, "1.00", grocer), spend.DeclineSingleUseConsumed)
	took("a consumed single-use card's payment", read)
}

// approveAll is a partner's real-time decision that approves everything,
// for tests about what the engine does around it.
type approveAll struct{}

func (approveAll) Registered(context.Context, uuid.UUID) (bool, error) { return true, nil }

func (approveAll) Ask(context.Context, uuid.UUID, spend.Question) spend.Answer {
	return spend.Answer{By: spend.DecidedByPartner, Approved: true}
}

// A payment by a suspended wallet token declines, and the card's next
// payment, by no token, is decided on the card alone: the token read for
// the first is no part of what the PostgreSQL runner keeps of the card.
func TestATokenDecidesOnlyThePaymentsMadeWithIt(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.fund(t, "100.00")
		svc := spend.NewService(f.db.Spend(), f.db.Consents(), audit.NewLog(f.db.Audit(), nil),
			spend.Config{Sandbox: true, Vault: f.ring, Cards: f.cards, RealTime: approveAll{}}, f.clock)
		c := f.activeCard(t, card.Input{})
		if err := f.cards.Complete(ctx, f.actor.PartnerID, c.ID, card.ActionApplePay); err != nil {
			t.Fatal(err)
		}
		tokens, err := f.cards.Tokens(ctx, f.actor, c.ID)
		if err != nil || len(tokens) != 1 {
			t.Fatalf("tokens: %v %v", tokens, err)
		}
		if _, err := f.cards.SetTokenStatus(ctx, f.actor, c.ID, tokens[0].ID, card.TokenSuspended); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name     string
			r        spend.Request
			expected string
		}{
			{"by the suspended token", spend.Request{TokenID: tokens[0].ID}, spend.DeclineTokenSuspended},
			{"by card id", spend.Request{CardID: c.ID}, ""},
			{"by card id again", spend.Request{CardID: c.ID}, ""},
		} {
			tc.r.Amount, tc.r.Currency, tc.r.Merchant = "1.00", "EUR", grocer
			a, err := svc.Authorize(ctx, f.actor.PartnerID, tc.r)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			expectDecision(t, a, tc.expected)
		}
	})
}

// pinChanger is the vault, and a new PIN chosen for the card right after
// the first presented PIN was compared.
type pinChanger struct {
	spend.Vault
	once   sync.Once
	change func()
}

func (v *pinChanger) VerifyPIN(ctx context.Context, o vault.Owner, candidate vault.Secret) (bool, error) {
	ok, err := v.Vault.VerifyPIN(ctx, o, candidate)
	v.once.Do(v.change)
	return ok, err
}

// A PIN presented while the cardholder chooses a new one is decided
// against the new one: the card's old PIN, compared just before the new
// one was chosen, no longer approves once the new one is there.
func TestAPINChosenWhileOneIsComparedIsComparedAgain(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.fund(t, "100.00")
		c := f.cardWithPIN(t, "8203")
		v := &pinChanger{Vault: f.ring}
		v.change = func() {
			if err := f.cards.ChoosePIN(ctx, f.actor.PartnerID, c.ID, card.Cardholder{IndividualID: c.IndividualID}, []byte("5791"), true); err != nil {
				t.Error(err)
			}
		}
		svc := spend.NewService(f.db.Spend(), f.db.Consents(), audit.NewLog(f.db.Audit(), nil), spend.Config{Sandbox: true, Vault: v, Cards: f.cards}, f.clock)
		chip := f.terminal(t, c)
		chip.mode, chip.withPIN, chip.pin = spend.EntryChip, true, "8203"
		a, err := svc.Authorize(ctx, f.actor.PartnerID, spend.Request{Card: chip.data(), Amount: "1.00", Currency: "EUR", Merchant: shop})
		if err != nil {
			t.Fatal(err)
		}
		expectDecision(t, a, spend.DeclineIncorrectPIN)
		expectChecks(t, a, spend.CheckNotProvided, spend.CheckMatch, spend.CheckMismatch)
		got, err := f.cards.Card(ctx, f.actor, c.ID)
		if err != nil || got.PINTries != 1 {
			t.Fatalf("PIN tries after the old PIN: %d %v", got.PINTries, err)
		}
	})
}

// reissuer is the vault, and the card reissued with its number right after
// the number was found.
type reissuer struct {
	spend.Vault
	once    sync.Once
	reissue func()
}

func (v *reissuer) FindPAN(ctx context.Context, pan vault.PAN) (vault.IndexEntry, error) {
	e, err := v.Vault.FindPAN(ctx, pan)
	v.once.Do(v.reissue)
	return e, err
}

// Card data of a card reissued with the same number while the payment is
// being decided declines card_not_active, as for any card replaced: the
// old card's CVV2 cannot be derived any more, and that is no error.
func TestCardDataOfACardReissuedMeanwhileDeclines(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.fund(t, "100.00")
		c := f.activeCard(t, card.Input{})
		p := f.terminal(t, c)
		v := &reissuer{Vault: f.ring}
		v.reissue = func() {
			if _, err := f.cards.Reissue(ctx, f.actor, c.ID, card.ReissueSameNumber, nil); err != nil {
				t.Error(err)
			}
		}
		svc := spend.NewService(f.db.Spend(), f.db.Consents(), audit.NewLog(f.db.Audit(), nil), spend.Config{Sandbox: true, Vault: v, Cards: f.cards}, f.clock)
		a, err := svc.Authorize(ctx, f.actor.PartnerID, spend.Request{Card: p.data(), Amount: "1.00", Currency: "EUR", Merchant: shop})
		if err != nil {
			t.Fatalf("an error, not a decline: %v", err)
		}
		expectDecision(t, a, spend.DeclineCardNotActive)
	})
}

// panIssuer is the card service's vault, and a payment on the card sent
// while a reissue holds it, once the reissue is about to issue the new
// number.
type panIssuer struct {
	card.Vault
	once   sync.Once
	before func()
}

func (v *panIssuer) IssuePAN(ctx context.Context, o vault.Owner, r vault.BINRange) (vault.PAN, error) {
	v.once.Do(v.before)
	return v.Vault.IssuePAN(ctx, o, r)
}

// A reissue and a payment on the card at the same moment do not deadlock
// on PostgreSQL: the reissue takes the card's account before the card, as
// a decision does, so the payment waits for it (once the reissue's new
// card would have locked the account behind the payment's lock, and
// PostgreSQL aborted one of the two).
func TestAReissueAndAPaymentDoNotDeadlock(t *testing.T) {
	db, inspect := postgresWithInspector(t, storetest.PostgresURL(t))
	f := newFixture(t, db)
	ctx := context.Background()
	f.fund(t, "100.00")
	c := f.activeCard(t, card.Input{})
	deadlocks := func() int64 {
		t.Helper()
		var n int64
		if err := inspect.QueryRowContext(ctx, `SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := deadlocks()
	var (
		wg      sync.WaitGroup
		payment spend.Authorization
		payErr  error
	)
	v := &panIssuer{Vault: f.ring}
	v.before = func() { // the reissue holds the old card here
		wg.Add(1)
		go func() {
			defer wg.Done()
			payment, payErr = f.svc.Authorize(ctx, f.actor.PartnerID, spend.Request{CardID: c.ID, Amount: "1.00", Currency: "EUR", Merchant: grocer})
		}()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			var waiting int
			if err := inspect.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_locks WHERE NOT granted`).Scan(&waiting); err == nil && waiting > 0 {
				return // the payment waits for a lock the reissue holds
			}
		}
		t.Error("the payment never waited for the reissue")
	}
	cards := card.NewService(db.Cards(), v, audit.NewLog(db.Audit(), nil), card.Config{BIN: vault.BINRange{Prefix: "489537", Length: 16}}, f.clock)
	_, reissueErr := cards.Reissue(ctx, f.actor, c.ID, card.ReissueNewNumber, nil)
	wg.Wait()
	if reissueErr != nil || payErr != nil {
		t.Fatalf("reissue: %v; payment: %v", reissueErr, payErr)
	}
	expectDecision(t, payment, spend.DeclineCardNotActive) // decided after the reissue replaced the card
	if n := deadlocks(); n != before {
		t.Fatalf("%d deadlocks", n-before)
	}
}

// A sending whose network reference an authorisation already has is
// answered spend.ErrReferenceTaken by the PostgreSQL batch it is in, which
// commits its other decisions: it does not fail the batch, whose
// decisions would all be made again alone.
func TestATakenReferenceDoesNotFailItsBatch(t *testing.T) {
	db, _ := postgresWithInspector(t, storetest.PostgresURL(t))
	batches := observeBatches(db)
	f := newFixture(t, db)
	f.fund(t, "100.00")
	ctx := context.Background()
	c := f.activeCard(t, card.Input{})
	ref := "acq:taken-" + uuid.NewString()
	sending := func() error {
		return db.Spend().Decide(ctx, spend.Lookup{PartnerID: f.actor.PartnerID, CardID: c.ID, Windows: spend.WindowsAt(f.now)},
			func(sub spend.Subject) (spend.Outcome, error) {
				a := spend.Authorization{ID: uuid.New(), PartnerID: f.actor.PartnerID, CardID: c.ID, LineageID: sub.Card.LineageID,
					AccountID: sub.Account.ID, Amount: 1_00, Currency: "EUR", Merchant: grocer, Status: spend.StatusApproved, Held: 1_00, Spent: 1_00,
					CreatedAt: f.now, UpdatedAt: f.now, EntryMode: spend.EntryChip, NetworkReference: ref,
					Verification: &spend.Verification{CVV: spend.CheckNotProvided, Expiry: spend.CheckMatch, PIN: spend.CheckNotProvided}}
				return spend.Outcome{Authorization: &a, Event: events.Event{ID: uuid.New(), PartnerID: f.actor.PartnerID,
					Type: "authorization.approved", ResourceID: a.ID, CreatedAt: f.now}}, nil
			})
	}
	if err := sending(); err != nil {
		t.Fatal(err)
	}
	if err := sending(); !errors.Is(err, spend.ErrReferenceTaken) {
		t.Fatalf("a second sending of the reference: %v", err)
	}
	if got, want := batches.take(), "[2 round trip(s), 1 recorded 1 round trip(s), 0 recorded]"; fmt.Sprint(got) != want {
		t.Fatalf("batches %q, want %s", got, want)
	}
	acct, err := f.cards.Account(ctx, f.actor, f.acct.ID)
	if err != nil || acct.Available.String() != "99.00" {
		t.Fatalf("available %s (%v), want 99.00: one hold", acct.Available, err)
	}
}
