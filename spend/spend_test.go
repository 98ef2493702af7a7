package spend_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/audit"
	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/events"
	"github.com/vaultpage/vaultpage/internal/testkit"
	"github.com/vaultpage/vaultpage/partner"
	"github.com/vaultpage/vaultpage/spend"
	"github.com/vaultpage/vaultpage/store"
	"github.com/vaultpage/vaultpage/store/storetest"
	"github.com/vaultpage/vaultpage/vault"
)

func TestWindowsStartWhereTheyShould(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	testCases := []struct {
		name     string
		duration card.Duration
		now      string
		expected string
	}{
		{"daily, a second before midnight", card.DurationDaily, "2026-11-23T23:59:59Z", "2026-11-23T00:00:00Z"},
		{"daily, at midnight", card.DurationDaily, "2026-11-24T00:00:00Z", "2026-11-24T00:00:00Z"},
		{"daily, in UTC whatever the zone", card.DurationDaily, "2026-11-24T00:30:00+01:00", "2026-11-23T00:00:00Z"},
		{"monthly, mid-month", card.DurationMonthly, "2026-11-23T10:00:00Z", "2026-10-23T00:00:00Z"},
		{"monthly, 31 March looks back to 28 February", card.DurationMonthly, "2026-03-31T12:00:00Z", "2026-02-28T00:00:00Z"},
		{"monthly, 31 March of a leap year looks back to 29 February", card.DurationMonthly, "2028-03-31T12:00:00Z", "2028-02-29T00:00:00Z"},
		{"monthly, 29 February looks back to 29 January", card.DurationMonthly, "2028-02-29T08:00:00Z", "2028-01-29T00:00:00Z"},
		{"monthly, January looks back into December", card.DurationMonthly, "2027-01-15T00:00:00Z", "2026-12-15T00:00:00Z"},
		{"monthly, 31 May looks back to 30 April", card.DurationMonthly, "2026-05-31T00:00:00Z", "2026-04-30T00:00:00Z"},
		{"annually, last moment of the year", card.DurationAnnually, "2026-12-31T23:59:59Z", "2026-01-01T00:00:00Z"},
		{"annually, first moment of the year", card.DurationAnnually, "2027-01-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{"forever", card.DurationForever, "2026-11-23T10:00:00Z", "0001-01-01T00:00:00Z"},
		{"per transaction has no window", card.DurationTransaction, "2026-11-23T10:00:00Z", "0001-01-01T00:00:00Z"},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := spend.Window(tc.duration, at(tc.now)); !got.Equal(at(tc.expected)) {
				t.Fatalf("got %s, want %s", got.Format(time.RFC3339), tc.expected)
			}
		})
	}
}

type fixture struct {
	db    *store.DB
	ring  *vault.Keyring
	now   time.Time
	cards *card.Service
	svc   *spend.Service
	actor card.Actor
	acct  card.Account
	ind   card.Individual
}

func (f *fixture) clock() time.Time { return f.now }

func newFixture(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	ctx := context.Background()
	ring := storetest.Keyring(t, db)
	f := &fixture{db: db, ring: ring, now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	log := audit.NewLog(db.Audit(), nil)
	f.cards = card.NewService(db.Cards(), ring, log, card.Config{BIN: vault.BINRange{Prefix: "489537", Length: 16}}, f.clock)
	f.svc = spend.NewService(db.Spend(), db.Consents(), log, spend.Config{Sandbox: true, Vault: ring, Cards: f.cards}, f.clock)
	creds, err := partner.NewService(db.Partners(), partner.Config{}, nil).Create(ctx, "Alpha", nil)
	if err != nil {
		t.Fatal(err)
	}
	f.actor = card.Actor{PartnerID: creds.PartnerID}
	if f.ind, err = f.cards.CreateIndividual(ctx, f.actor, card.IndividualInput{FirstName: "A", LastName: "B", Email: "a@b.co"}); err != nil {
		t.Fatal(err)
	}
	if f.acct, err = f.cards.CreateAccount(ctx, f.actor, f.ind.ID, "EUR"); err != nil {
		t.Fatal(err)
	}
	return f
}

// activeCard orders a card that is active.
func (f *fixture) activeCard(t *testing.T, in card.Input) card.Card {
	t.Helper()
	in.AccountID = f.acct.ID
	return f.activeCardOn(t, in)
}

// activeCardOn is activeCard on the account in.AccountID.
func (f *fixture) activeCardOn(t *testing.T, in card.Input) card.Card {
	t.Helper()
	in.IndividualID = f.ind.ID
	c, err := f.cards.CreateCard(context.Background(), f.actor, in)
	if err != nil {
		t.Fatal(err)
	}
	return f.activated(t, c)
}

// activated activates c when it waits for activation (a physical card, as
// an approved consent would; a virtual card is active from the start) and
// reads it back.
func (f *fixture) activated(t *testing.T, c card.Card) card.Card {
	t.Helper()
	ctx := context.Background()
	if c.Status == card.StatusNotActivated {
		if err := f.cards.Complete(ctx, f.actor.PartnerID, c.ID, "activate"); err != nil {
			t.Fatal(err)
		}
	}
	c, err := f.cards.Card(ctx, f.actor, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// reissued reissues c with a new number and activates the new card.
func (f *fixture) reissued(t *testing.T, c card.Card) card.Card {
	t.Helper()
	n, err := f.cards.Reissue(context.Background(), f.actor, c.ID, card.ReissueNewNumber, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f.activated(t, n)
}

func (f *fixture) fund(t *testing.T, amount string) {
	t.Helper()
	if _, _, err := f.svc.Fund(context.Background(), f.actor.PartnerID, f.acct.ID, amount); err != nil {
		t.Fatal(err)
	}
}

var grocer = spend.Merchant{Name: "Corner Shop", MCC: "5411", Country: "SE", ID: "m-1"}

func (f *fixture) authorize(t *testing.T, c card.Card, amount string, m spend.Merchant) spend.Authorization {
	t.Helper()
	a, err := f.svc.Authorize(context.Background(), f.actor.PartnerID, spend.Request{CardID: c.ID, Amount: amount, Currency: "EUR", Merchant: m})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func expectDecision(t *testing.T, a spend.Authorization, reason string) {
	t.Helper()
	if reason == "" && a.Status != spend.StatusApproved {
		t.Fatalf("declined %s, want approved", a.DeclineReason)
	}
	if reason != "" && (a.Status != spend.StatusDeclined || a.DeclineReason != reason) {
		t.Fatalf("%s %s, want declined %s", a.Status, a.DeclineReason, reason)
	}
}

func eachBackend(t *testing.T, fn func(t *testing.T, f *fixture)) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) { fn(t, newFixture(t, b.Open(t))) })
	}
}

func TestEveryControlHasItsDeclineReason(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.fund(t, "100.00")
		c := f.activeCard(t, card.Input{})
		other := spend.Merchant{Name: "Elsewhere", MCC: "5812", Country: "DE", ID: "m-2"}

		expectDecision(t, f.authorize(t, c, "200.00", grocer), spend.DeclineInsufficientFunds)
		a := f.authorize(t, c, "30.00", grocer)
		expectDecision(t, a, "")
		if acct, _ := f.cards.Account(ctx, f.actor, f.acct.ID); acct.Balance != 100_00 || acct.Available != 70_00 {
			t.Fatalf("after a 30.00 hold: balance %s available %s", acct.Balance, acct.Available)
		}
		got, _ := f.svc.Authorize(ctx, f.actor.PartnerID, spend.Request{CardID: c.ID, Amount: "1.00", Currency: "SEK", Merchant: grocer})
		expectDecision(t, got, spend.DeclineCurrencyNotSupported)

		if _, err := f.cards.SetRestriction(ctx, f.actor, c.ID, "amount", "25.00"); err != nil {
			t.Fatal(err)
		}
		expectDecision(t, f.authorize(t, c, "25.01", grocer), spend.DeclineRestrictionExceeded)
		expectDecision(t, f.authorize(t, c, "25.00", grocer), "")

		mccs := []string{"5411"}
		if _, err := f.cards.UpdateCard(ctx, f.actor, c.ID, card.Patch{Controls: card.ControlsPatch{AllowedMCCs: &mccs}}); err != nil {
			t.Fatal(err)
		}
		expectDecision(t, f.authorize(t, c, "1.00", other), spend.DeclineMCCBlocked)
		countries := []string{"SE"}
		if _, err := f.cards.UpdateCard(ctx, f.actor, c.ID, card.Patch{Controls: card.ControlsPatch{BlockedCountries: &countries}}); err != nil {
			t.Fatal(err)
		}
		expectDecision(t, f.authorize(t, c, "1.00", grocer), spend.DeclineCountryBlocked)

		frozen := card.StatusFrozen
		if _, err := f.cards.UpdateCard(ctx, f.actor, c.ID, card.Patch{Status: &frozen}); err != nil {
			t.Fatal(err)
		}
		expectDecision(t, f.authorize(t, c, "1.00", grocer), spend.DeclineCardFrozen)

		fresh, err := f.cards.CreateCard(ctx, f.actor, card.Input{IndividualID: f.ind.ID, AccountID: f.acct.ID, Type: card.TypePhysical,
			ShippingAddress: &card.Address{Line1: "Drottninggatan 1", City: "Stockholm", PostalCode: "111 51", Country: "SE"}})
		if err != nil {
			t.Fatal(err)
		}
		expectDecision(t, f.authorize(t, fresh, "1.00", grocer), spend.DeclineCardNotActive)

		// The card works through the last day of its expiry month, not after.
		exp := f.activeCard(t, card.Input{})
		f.now = time.Date(exp.ExpYear, time.Month(exp.ExpMonth)+1, 1, 0, 0, 0, 0, time.UTC).Add(-time.Second)
		expectDecision(t, f.authorize(t, exp, "1.00", grocer), "")
		f.now = f.now.Add(time.Second)
		expectDecision(t, f.authorize(t, exp, "1.00", grocer), spend.DeclineCardExpired)

		// Bad input is a field error, not a decline.
		var fe *spend.FieldError
		for field, r := range map[string]spend.Request{
			"amount":           {CardID: c.ID, Amount: "-1", Currency: "EUR", Merchant: grocer},
			"currency":         {CardID: c.ID, Amount: "1.00", Currency: "euro", Merchant: grocer},
			"merchant.mcc":     {CardID: c.ID, Amount: "1.00", Currency: "EUR", Merchant: spend.Merchant{Name: "x", MCC: "54", Country: "SE", ID: "m"}},
			"merchant.country": {CardID: c.ID, Amount: "1.00", Currency: "EUR", Merchant: spend.Merchant{Name: "x", MCC: "5411", Country: "SWE", ID: "m"}},
			"merchant.id":      {CardID: c.ID, Amount: "1.00", Currency: "EUR", Merchant: spend.Merchant{Name: "x", MCC: "5411", Country: "SE"}},
			"card_id":          {CardID: uuid.New(), Amount: "1.00", Currency: "EUR", Merchant: grocer},
		} {
			if _, err := f.svc.Authorize(ctx, f.actor.PartnerID, r); !errors.As(err, &fe) || fe.Field != field {
				t.Errorf("%s: %v", field, err)
			}
		}
	})
}

func TestSingleUseAndMerchantLockedCards(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.fund(t, "100.00")
		once := f.activeCard(t, card.Input{Usage: card.UsageSingleUse})
		expectDecision(t, f.authorize(t, once, "5.00", grocer), "")
		expectDecision(t, f.authorize(t, once, "5.00", grocer), spend.DeclineSingleUseConsumed)
		if c, _ := f.cards.Card(ctx, f.actor, once.ID); c.Status != card.StatusClosed {
			t.Fatalf("single-use card after its first approval: %s", c.Status)
		}

		locked := f.activeCard(t, card.Input{Usage: card.UsageMerchantLocked})
		expectDecision(t, f.authorize(t, locked, "5.00", grocer), "")
		expectDecision(t, f.authorize(t, locked, "5.00", spend.Merchant{Name: "Other", MCC: "5411", Country: "SE", ID: "m-9"}), spend.DeclineMerchantLocked)
		expectDecision(t, f.authorize(t, locked, "5.00", grocer), "")
		if c, _ := f.cards.Card(ctx, f.actor, locked.ID); c.LockedMerchant != grocer.ID {
			t.Fatalf("locked to %q", c.LockedMerchant)
		}
	})
}

func TestSpendLimitsCountTheirWindowAndFollowReissues(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.fund(t, "10000.00")
		daily := f.activeCard(t, card.Input{SpendLimit: "100.00", SpendLimitDuration: card.DurationDaily})
		f.now = time.Date(2026, 11, 23, 23, 0, 0, 0, time.UTC)
		expectDecision(t, f.authorize(t, daily, "60.00", grocer), "")
		expectDecision(t, f.authorize(t, daily, "40.01", grocer), spend.DeclineSpendLimitExceeded)
		expectDecision(t, f.authorize(t, daily, "40.00", grocer), "")
		f.now = time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC) // a new day
		expectDecision(t, f.authorize(t, daily, "100.00", grocer), "")

		// A reversal gives the room back; a clear counts what cleared.
		monthly := f.activeCard(t, card.Input{SpendLimit: "100.00", SpendLimitDuration: card.DurationMonthly})
		a := f.authorize(t, monthly, "80.00", grocer)
		expectDecision(t, f.authorize(t, monthly, "30.00", grocer), spend.DeclineSpendLimitExceeded)
		if _, err := f.svc.Reverse(ctx, f.actor.PartnerID, a.ID); err != nil {
			t.Fatal(err)
		}
		b := f.authorize(t, monthly, "90.00", grocer)
		expectDecision(t, b, "")
		if _, err := f.svc.Clear(ctx, f.actor.PartnerID, b.ID, "70.00"); err != nil {
			t.Fatal(err)
		}
		expectDecision(t, f.authorize(t, monthly, "30.00", grocer), "")
		limits, err := f.svc.Limits(ctx, f.actor.PartnerID, monthly.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range limits {
			if l.Duration == card.DurationMonthly && (l.Used != 100_00 || *l.Configured != 100_00 || *l.Available != 0) {
				t.Fatalf("monthly window: used %s", l.Used)
			}
		}
		// A month and a day later the trailing month is empty again.
		f.now = f.now.AddDate(0, 1, 1)
		expectDecision(t, f.authorize(t, monthly, "100.00", grocer), "")

		// Reissued, the card keeps its limit and what was spent under it.
		forever := f.activeCard(t, card.Input{SpendLimit: "50.00", SpendLimitDuration: card.DurationForever})
		expectDecision(t, f.authorize(t, forever, "45.00", grocer), "")
		n := f.reissued(t, forever)
		expectDecision(t, f.authorize(t, n, "5.01", grocer), spend.DeclineSpendLimitExceeded)
		expectDecision(t, f.authorize(t, n, "5.00", grocer), "")

		perTx := f.activeCard(t, card.Input{SpendLimit: "20.00", SpendLimitDuration: card.DurationTransaction})
		expectDecision(t, f.authorize(t, perTx, "20.01", grocer), spend.DeclineSpendLimitExceeded)
		expectDecision(t, f.authorize(t, perTx, "20.00", grocer), "")
		expectDecision(t, f.authorize(t, perTx, "20.00", grocer), "")
	})
}

func TestProductionRefusesSimulatedAuthorizationsButTakesFundings(t *testing.T) {
	db := storetest.SQLite(t)
	f := newFixture(t, db)
	prod := spend.NewService(db.Spend(), db.Consents(), audit.NewLog(db.Audit(), nil), spend.Config{}, f.clock)
	ctx := context.Background()
	if _, err := prod.Authorize(ctx, f.actor.PartnerID, spend.Request{}); !errors.Is(err, spend.ErrSandboxOnly) {
		t.Fatalf("authorize in production: %v", err)
	}
	if _, err := prod.Reverse(ctx, f.actor.PartnerID, uuid.New()); !errors.Is(err, spend.ErrSandboxOnly) {
		t.Fatalf("reverse in production: %v", err)
	}
	if _, acct, err := prod.Fund(ctx, f.actor.PartnerID, f.acct.ID, "12.34"); err != nil || acct.Balance != 12_34 || acct.Available != 12_34 {
		t.Fatalf("funding in production: %v %+v", err, acct)
	}
}

func TestFollowUpsMoveMoneyOnceAndNeverBelowZero(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.fund(t, "100.00")
		c := f.activeCard(t, card.Input{})
		balance := func() (card.Amount, card.Amount) {
			acct, err := f.cards.Account(ctx, f.actor, f.acct.ID)
			if err != nil {
				t.Fatal(err)
			}
			return acct.Balance, acct.Available
		}
		a := f.authorize(t, c, "40.00", grocer)
		if _, err := f.svc.Clear(ctx, f.actor.PartnerID, a.ID, "45.00"); err != nil { // a tip
			t.Fatal(err)
		}
		if b, av := balance(); b != 55_00 || av != 55_00 {
			t.Fatalf("after clearing 45.00 of a 40.00 hold: %s / %s", b, av)
		}
		var se *spend.StateError
		if _, err := f.svc.Reverse(ctx, f.actor.PartnerID, a.ID); !errors.As(err, &se) {
			t.Fatalf("reversing a cleared authorisation: %v", err)
		}
		b := f.authorize(t, c, "50.00", grocer)
		if _, err := f.svc.Clear(ctx, f.actor.PartnerID, b.ID, "56.00"); !errors.Is(err, spend.ErrInsufficientFunds) {
			t.Fatalf("clearing beyond hold and balance: %v", err)
		}
		// More than 20% above the authorised amount is a new payment, not
		// a clearing.
		var fe *spend.FieldError
		if _, err := f.svc.Clear(ctx, f.actor.PartnerID, b.ID, "60.01"); !errors.As(err, &fe) || fe.Field != "amount" {
			t.Fatalf("clearing 60.01 of a 50.00 authorisation: %v", err)
		}
		if b, av := balance(); b != 55_00 || av != 5_00 {
			t.Fatalf("after two refused clearings: %s / %s", b, av)
		}
		if _, err := f.svc.Expire(ctx, f.actor.PartnerID, b.ID); err != nil {
			t.Fatal(err)
		}
		if bal, av := balance(); bal != 55_00 || av != 55_00 {
			t.Fatalf("after the expiry: %s / %s", bal, av)
		}
		if _, err := f.svc.Expire(ctx, f.actor.PartnerID, b.ID); !errors.As(err, &se) {
			t.Fatalf("expiring twice: %v", err)
		}
		declined := f.authorize(t, c, "500.00", grocer)
		if _, err := f.svc.Reverse(ctx, f.actor.PartnerID, declined.ID); !errors.As(err, &se) {
			t.Fatalf("reversing a decline: %v", err)
		}
		if _, err := f.svc.Reverse(ctx, uuid.New(), b.ID); !errors.Is(err, spend.ErrNotFound) {
			t.Fatalf("another partner's authorisation: %v", err)
		}
	})
}

// TestConcurrentAuthorizationsFromTwoProcesses: 200 authorisations of 10.00
// from two vaultpage "processes" (two connection pools) on one PostgreSQL,
// against a 1,000.00 limit and then against a 1,000.00 balance: exactly 100
// approved each time.
func TestConcurrentAuthorizationsFromTwoProcesses(t *testing.T) {
	url := storetest.PostgresURL(t)
	ctx := context.Background()
	open := func() *store.DB {
		db, err := store.Open(ctx, url, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	db1, db2 := open(), open()
	f := newFixture(t, db1)
	other := spend.NewService(db2.Spend(), db2.Consents(), audit.NewLog(db2.Audit(), nil), spend.Config{Sandbox: true}, nil)
	f.svc = spend.NewService(db1.Spend(), db1.Consents(), audit.NewLog(db1.Audit(), nil), spend.Config{Sandbox: true}, nil)
	f.now = time.Now()

	run := func(c card.Card) (approved int, held card.Amount) {
		var (
			wg  sync.WaitGroup
			mu  sync.Mutex
			err error
		)
		for i := range 200 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				svc := f.svc
				if i%2 == 1 {
					svc = other
				}
				a, e := svc.Authorize(ctx, f.actor.PartnerID, spend.Request{CardID: c.ID, Amount: "10.00", Currency: "EUR", Merchant: grocer})
				mu.Lock()
				defer mu.Unlock()
				if e != nil {
					err = e
					return
				}
				if a.Status == spend.StatusApproved {
					approved++
					held += a.Held
				}
			}()
		}
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		return approved, held
	}

	f.fund(t, "100000.00")
	limited := f.activeCard(t, card.Input{SpendLimit: "1000.00", SpendLimitDuration: card.DurationForever})
	if n, held := run(limited); n != 100 || held != 1000_00 {
		t.Fatalf("against a limit: %d approved holding %s, want 100 holding 1000.00", n, held)
	}

	// Against the balance: a second account holding exactly 1,000.00.
	acct, err := f.cards.CreateAccount(ctx, f.actor, f.ind.ID, "EUR")
	if err != nil {
		t.Fatal(err)
	}
	f.acct = acct
	f.fund(t, "1000.00")
	unlimited := f.activeCard(t, card.Input{})
	if n, _ := run(unlimited); n != 100 {
		t.Fatalf("against the balance: %d approved, want 100", n)
	}
	if a, _ := f.cards.Account(ctx, f.actor, acct.ID); a.Available != 0 || a.Balance != 1000_00 {
		t.Fatalf("account after: balance %s available %s", a.Balance, a.Available)
	}
}

// TestUsageIsTheSumOfWhatAuthorizationsSpent follows one lineage over
// months of approvals, declines, reversals, partial and larger clears and a
// reissue, and checks after each step that every window's usage equals the
// sum of spent over the authorisations the window holds; then again after
// the per-day counts are rebuilt by the migration that introduced them.
func TestUsageIsTheSumOfWhatAuthorizationsSpent(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.fund(t, "100000.00")
		c := f.activeCard(t, card.Input{SpendLimit: "5000.00", SpendLimitDuration: card.DurationAnnually})
		mismatch := func() string {
			t.Helper()
			limits, err := f.svc.Limits(ctx, f.actor.PartnerID, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			all, err := f.svc.Authorizations(ctx, f.actor.PartnerID, nil, card.Page{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range limits {
				if l.Duration == card.DurationTransaction {
					continue
				}
				var want card.Amount
				for _, a := range all {
					if !a.CreatedAt.Before(l.Since) {
						want += a.Spent
					}
				}
				if l.Used != want {
					return fmt.Sprintf("%s window since %s used %s; the authorisations in it spent %s", l.Duration, l.Since.Format(time.DateOnly), l.Used, want)
				}
			}
			return ""
		}
		check := func(step string) {
			t.Helper()
			if m := mismatch(); m != "" {
				t.Fatalf("%s: %s", step, m)
			}
		}
		days := []time.Time{
			time.Date(2027, 12, 31, 23, 59, 59, 0, time.UTC), // last second of a year
			time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC),
			time.Date(2028, 2, 28, 23, 45, 0, 0, time.UTC), // the day before the trailing month of the follow-ups
			time.Date(2028, 2, 29, 23, 30, 0, 0, time.UTC), // leap day
			time.Date(2028, 3, 1, 0, 30, 0, 0, time.UTC),
			time.Date(2028, 3, 29, 8, 0, 0, 0, time.UTC),
		}
		var approved []spend.Authorization
		for i, d := range days {
			f.now = d
			a := f.authorize(t, c, fmt.Sprintf("%d.25", 10*(i+1)), grocer)
			expectDecision(t, a, "")
			approved = append(approved, a)
			expectDecision(t, f.authorize(t, c, "6000.00", grocer), spend.DeclineSpendLimitExceeded)
			check(d.Format(time.RFC3339))
		}
		f.now = time.Date(2028, 3, 30, 9, 0, 0, 0, time.UTC)
		follow := []struct {
			name string
			do   func(id uuid.UUID) (spend.Authorization, error)
		}{
			{"reverse", func(id uuid.UUID) (spend.Authorization, error) { return f.svc.Reverse(ctx, f.actor.PartnerID, id) }},
			{"clear for less", func(id uuid.UUID) (spend.Authorization, error) {
				return f.svc.Clear(ctx, f.actor.PartnerID, id, "1.00")
			}},
			{"clear for more", func(id uuid.UUID) (spend.Authorization, error) {
				return f.svc.Clear(ctx, f.actor.PartnerID, id, "48.30") // 20% above 40.25
			}},
			{"expire", func(id uuid.UUID) (spend.Authorization, error) { return f.svc.Expire(ctx, f.actor.PartnerID, id) }},
			{"clear as held", func(id uuid.UUID) (spend.Authorization, error) { return f.svc.Clear(ctx, f.actor.PartnerID, id, "") }},
		}
		for i, fu := range follow {
			if _, err := fu.do(approved[i+1].ID); err != nil {
				t.Fatalf("%s: %v", fu.name, err)
			}
			check(fu.name)
		}
		n := f.reissued(t, c)
		expectDecision(t, f.authorize(t, n, "3.33", grocer), "")
		check("after the reissue")

		// The migration's backfill rebuilds the same counts from the
		// authorisations alone.
		migration, err := os.ReadFile(filepath.Join("..", "store", "migrations", string(f.db.Dialect()), "00012_spend_days.sql"))
		if err != nil {
			t.Fatal(err)
		}
		_, backfill, _ := strings.Cut(string(migration), "INSERT INTO spend_days")
		backfill, _, _ = strings.Cut(backfill, ";")
		if err := f.db.ExecForTest(ctx, `DELETE FROM spend_days`); err != nil {
			t.Fatal(err)
		}
		if mismatch() == "" {
			t.Fatal("usage still matched with the per-day counts deleted: the check does not read them")
		}
		if err := f.db.ExecForTest(ctx, `INSERT INTO spend_days`+backfill); err != nil {
			t.Fatal(err)
		}
		check("rebuilt by the migration")
	})
}

// TestADecisionThatFailsLeavesNoTransactionOpen makes Store.Decide fail
// after the account's lock is taken (the decision itself fails) and before
// (no such card), on PostgreSQL where Decide runs on a connection of its
// own: no session may be left in a transaction, and another process must
// decide on the same card at once.
func TestADecisionThatFailsLeavesNoTransactionOpen(t *testing.T) {
	u, err := url.Parse(storetest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", "vp_decide_test")
	u.RawQuery = q.Encode()
	ctx := context.Background()
	open := func() *store.DB {
		db, err := store.Open(ctx, u.String(), "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	f := newFixture(t, open())
	f.fund(t, "100.00")
	c := f.activeCard(t, card.Input{})
	boom := errors.New("the decision failed")
	w := spend.WindowsAt(f.now)
	for range 30 { // more than the pool holds
		err := f.db.Spend().Decide(ctx, spend.Lookup{PartnerID: f.actor.PartnerID, CardID: c.ID, Windows: w}, func(sub spend.Subject) (spend.Outcome, error) {
			return spend.Outcome{}, boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("failing decision: %v", err)
		}
		if err := f.db.Spend().Decide(ctx, spend.Lookup{PartnerID: f.actor.PartnerID, CardID: uuid.New(), Windows: w}, nil); !errors.Is(err, card.ErrNotFound) {
			t.Fatalf("no such card: %v", err)
		}
	}
	inspect, err := sql.Open("pgx", testkit.PlainURL(u.String()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = inspect.Close() }()
	var stuck int
	if err := inspect.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_stat_activity
		WHERE application_name = 'vp_decide_test' AND state LIKE 'idle in transaction%'`).Scan(&stuck); err != nil {
		t.Fatal(err)
	}
	if stuck != 0 {
		t.Fatalf("%d sessions left idle in a transaction", stuck)
	}
	other := spend.NewService(open().Spend(), f.db.Consents(), audit.NewLog(f.db.Audit(), nil), spend.Config{Sandbox: true}, f.clock)
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	a, err := other.Authorize(tctx, f.actor.PartnerID, spend.Request{CardID: c.ID, Amount: "5.00", Currency: "EUR", Merchant: grocer})
	if err != nil {
		t.Fatalf("another process could not decide on the card: %v", err)
	}
	expectDecision(t, a, "")
}

// TestACardsAuthorizationsAreListedThroughItsLineage lists one card's
// authorisations, page by page, beside another card's, after a reissue,
// and for a card written without a lineage (as bulk loads write them).
func TestACardsAuthorizationsAreListedThroughItsLineage(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.fund(t, "1000.00")
		a, b := f.activeCard(t, card.Input{}), f.activeCard(t, card.Input{})
		ids := func(c card.Card, p card.Page) []uuid.UUID {
			t.Helper()
			list, err := f.svc.Authorizations(ctx, f.actor.PartnerID, &c.ID, p)
			if err != nil {
				t.Fatal(err)
			}
			var out []uuid.UUID
			for _, x := range list {
				if x.CardID != c.ID {
					t.Fatalf("card %s's list holds an authorisation of card %s", c.ID, x.CardID)
				}
				out = append(out, x.ID)
			}
			return out
		}
		var ofA []uuid.UUID
		for range 3 {
			ofA = append(ofA, f.authorize(t, a, "1.00", grocer).ID)
			f.authorize(t, b, "1.00", grocer)
		}
		first := ids(a, card.Page{Limit: 2})
		rest := ids(a, card.Page{Limit: 2, After: first[len(first)-1]})
		if got := append(first, rest...); len(got) != 3 || got[0] != ofA[2] || got[1] != ofA[1] || got[2] != ofA[0] {
			t.Fatalf("card a, newest first over two pages: %v, want %v reversed", got, ofA)
		}
		n := f.reissued(t, a)
		onN := f.authorize(t, n, "1.00", grocer).ID
		if got := ids(n, card.Page{Limit: 10}); len(got) != 1 || got[0] != onN {
			t.Fatalf("the reissued card lists %v, want only %s", got, onN)
		}
		if got := ids(a, card.Page{Limit: 10}); len(got) != 3 {
			t.Fatalf("the replaced card lists %d, want its 3", len(got))
		}
		bulk := f.activeCard(t, card.Input{})
		if err := f.db.ExecForTest(ctx, `UPDATE cards SET lineage_id = '' WHERE id = '`+bulk.ID.String()+`'`); err != nil {
			t.Fatal(err)
		}
		bulk, _ = f.cards.Card(ctx, f.actor, bulk.ID)
		onBulk := f.authorize(t, bulk, "1.00", grocer).ID
		if got := ids(bulk, card.Page{Limit: 10}); len(got) != 1 || got[0] != onBulk {
			t.Fatalf("a card without a stored lineage lists %v, want %s", got, onBulk)
		}
	})
}

// A card written without a stored lineage (as bulk loads write them) is
// its own lineage: its spend limit counts what it spent like any card's.
func TestACardWithoutAStoredLineageKeepsItsLimit(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.fund(t, "1000.00")
		c := f.activeCard(t, card.Input{SpendLimit: "100.00", SpendLimitDuration: card.DurationForever})
		if err := f.db.ExecForTest(ctx, `UPDATE cards SET lineage_id = '' WHERE id = '`+c.ID.String()+`'`); err != nil {
			t.Fatal(err)
		}
		expectDecision(t, f.authorize(t, c, "60.00", grocer), "")
		expectDecision(t, f.authorize(t, c, "40.01", grocer), spend.DeclineSpendLimitExceeded)
		expectDecision(t, f.authorize(t, c, "40.00", grocer), "")
	})
}

// TestDecisionsLeaveThePartnersRowUnlocked: on PostgreSQL a foreign key
// check locks the row it finds until commit, and concurrent lockers of one
// row share it through a new multixact each. Authorisations and fundings
// must not lock their partner's one row (a lock leaves its locker in the
// row's xmax); their keys go through the card and the account instead,
// and those (and consents' key through the card) refuse another
// partner's card or account.
func TestDecisionsLeaveThePartnersRowUnlocked(t *testing.T) {
	ctx := context.Background()
	db, inspect := postgresWithInspector(t, storetest.PostgresURL(t))
	f := newFixture(t, db)
	f.fund(t, "100.00")
	c := f.activeCard(t, card.Input{})
	xmax := func() string {
		t.Helper()
		var x string
		if err := inspect.QueryRowContext(ctx, `SELECT xmax::text FROM partners WHERE id = $1`, f.actor.PartnerID.String()).Scan(&x); err != nil {
			t.Fatal(err)
		}
		return x
	}
	before := xmax()
	expectDecision(t, f.authorize(t, c, "1.00", grocer), "")
	expectDecision(t, f.authorize(t, c, "1000.00", grocer), spend.DeclineInsufficientFunds)
	f.fund(t, "1.00")
	if after := xmax(); after != before {
		t.Fatalf("the partner's row was locked (xmax %s, was %s)", after, before)
	}

	other, err := partner.NewService(db.Partners(), partner.Config{}, nil).Create(ctx, "Beta", nil)
	if err != nil {
		t.Fatal(err)
	}
	now := f.now
	_, err = inspect.ExecContext(ctx, `INSERT INTO authorizations (id, partner_id, card_id, lineage_id, account_id, amount, currency,
		merchant_name, merchant_mcc, merchant_country, merchant_id, status, decline_reason, held, spent, cleared, created_at, updated_at)
		VALUES ($1, $2, $3, $3, $4, 100, 'EUR', 'Shop', '5411', 'SE', 'm', 'declined', 'card_not_active', 0, 0, NULL, $5, $5)`,
		uuid.NewString(), other.PartnerID.String(), c.ID.String(), f.acct.ID.String(), now)
	if err == nil || !strings.Contains(err.Error(), "authorizations_card_fkey") {
		t.Fatalf("an authorisation of another partner's card: %v", err)
	}
	_, err = inspect.ExecContext(ctx, `INSERT INTO fundings (id, partner_id, account_id, amount, created_at) VALUES ($1, $2, $3, 100, $4)`,
		uuid.NewString(), other.PartnerID.String(), f.acct.ID.String(), now)
	if err == nil || !strings.Contains(err.Error(), "fundings_account_fkey") {
		t.Fatalf("a funding of another partner's account: %v", err)
	}
	_, err = inspect.ExecContext(ctx, `INSERT INTO consents (id, partner_id, card_id, individual_id, action, status, return_url, locale, mode,
		expires_at, created_at, updated_at, version) VALUES ($1, $2, $3, $4, 'activate', 'pending', '', 'en', 'web', $5, $5, $5, 1)`,
		uuid.NewString(), other.PartnerID.String(), c.ID.String(), f.ind.ID.String(), now)
	if err == nil || !strings.Contains(err.Error(), "consents_card_fkey") {
		t.Fatalf("a consent for another partner's card: %v", err)
	}
}

// TestDecisionsWaitingForOneAnotherShareATransaction holds PostgreSQL's
// decision runner (one per process) with a decision that waits, queues
// decisions behind it and lets them go. They are made in one transaction
// (their authorisations share the xmin of the transaction that wrote
// them), each with its own outcome: one that fails or panics fails alone,
// its panic raised again in its caller. A second decision on an account
// the batch holds already is put off to the next transaction and sees the
// first one's hold. When a batch fails as a whole (here an authorisation
// whose id is taken), its decisions are made again one by one, and only
// the faulty one fails.
func TestDecisionsWaitingForOneAnotherShareATransaction(t *testing.T) {
	ctx := context.Background()
	db, inspect := postgresWithInspector(t, storetest.PostgresURL(t))
	var (
		mu      sync.Mutex
		batches []int
	)
	db.ObserveBatches(func(b store.DecisionBatch) {
		mu.Lock()
		defer mu.Unlock()
		batches = append(batches, b.Decisions)
	})
	f := newFixture(t, db)
	f.fund(t, "100.00")
	onNewAccount := func(amount string) card.Card {
		t.Helper()
		a, err := f.cards.CreateAccount(ctx, f.actor, f.ind.ID, "EUR")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.svc.Fund(ctx, f.actor.PartnerID, a.ID, amount); err != nil {
			t.Fatal(err)
		}
		return f.activeCardOn(t, card.Input{AccountID: a.ID})
	}
	k1, k2, k3 := onNewAccount("15.00"), onNewAccount("100.00"), onNewAccount("100.00")
	k4 := onNewAccount("100.00")
	k1b := f.activeCardOn(t, card.Input{AccountID: k1.AccountID})
	gate := f.activeCard(t, card.Input{})
	w := spend.WindowsAt(f.now)
	errHeld, boom := errors.New("held"), errors.New("the decision failed")

	hold := func() (release func()) {
		started, done := make(chan struct{}), make(chan struct{})
		var startOnce sync.Once
		go func() {
			_ = db.Spend().Decide(ctx, spend.Lookup{PartnerID: f.actor.PartnerID, CardID: gate.ID, Windows: w}, func(spend.Subject) (spend.Outcome, error) {
				startOnce.Do(func() { close(started) }) // a failed decision made from what the runner knew is made again
				<-done
				return spend.Outcome{}, errHeld
			})
		}()
		<-started
		var once sync.Once
		release = func() { once.Do(func() { close(done) }) }
		t.Cleanup(release) // before the database closes, should the test fail first
		return release
	}
	type outcome struct {
		a   spend.Authorization
		err error
	}
	queue := func(fn func() (spend.Authorization, error)) chan outcome {
		t.Helper()
		n := db.QueuedDecisions()
		out := make(chan outcome, 1)
		go func() {
			a, err := fn()
			out <- outcome{a, err}
		}()
		for deadline := time.Now().Add(10 * time.Second); db.QueuedDecisions() != n+1; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the decision was not queued")
			}
		}
		return out
	}
	authorize := func(id uuid.UUID, amount string) chan outcome {
		return queue(func() (spend.Authorization, error) {
			return f.svc.Authorize(ctx, f.actor.PartnerID, spend.Request{CardID: id, Amount: amount, Currency: "EUR", Merchant: grocer})
		})
	}
	decide := func(id uuid.UUID, fn func(spend.Subject) (spend.Outcome, error)) chan outcome {
		return queue(func() (spend.Authorization, error) {
			return spend.Authorization{}, db.Spend().Decide(ctx, spend.Lookup{PartnerID: f.actor.PartnerID, CardID: id, Windows: w}, fn)
		})
	}
	xmin := func(a spend.Authorization) string {
		t.Helper()
		var x string
		if err := inspect.QueryRowContext(ctx, `SELECT xmin::text FROM authorizations WHERE id = $1`, a.ID.String()).Scan(&x); err != nil {
			t.Fatal(err)
		}
		return x
	}

	release := hold()
	r1, r2, r1b := authorize(k1.ID, "10.00"), authorize(k2.ID, "10.00"), authorize(k1b.ID, "10.00")
	rBoom := decide(k3.ID, func(spend.Subject) (spend.Outcome, error) {
		return spend.Outcome{}, boom
	})
	rMissing := authorize(uuid.New(), "10.00")
	rPanic := queue(func() (_ spend.Authorization, err error) {
		defer func() {
			if v := recover(); v != nil {
				err = fmt.Errorf("panicked: %v", v)
			}
		}()
		return spend.Authorization{}, db.Spend().Decide(ctx, spend.Lookup{PartnerID: f.actor.PartnerID, CardID: k4.ID, Windows: w}, func(spend.Subject) (spend.Outcome, error) {
			panic("the decision panicked")
		})
	})
	release()
	o1, o2, o1b, oBoom, oMissing, oPanic := <-r1, <-r2, <-r1b, <-rBoom, <-rMissing, <-rPanic
	for _, o := range []outcome{o1, o2, o1b} {
		if o.err != nil {
			t.Fatal(o.err)
		}
	}
	expectDecision(t, o1.a, "")
	expectDecision(t, o2.a, "")
	expectDecision(t, o1b.a, spend.DeclineInsufficientFunds) // 15.00 less the first one's 10.00
	if !errors.Is(oBoom.err, boom) {
		t.Fatalf("failing decision: %v", oBoom.err)
	}
	var fe *spend.FieldError
	if !errors.As(oMissing.err, &fe) || fe.Field != "card_id" {
		t.Fatalf("no such card: %v", oMissing.err)
	}
	if oPanic.err == nil || oPanic.err.Error() != "panicked: the decision panicked" {
		t.Fatalf("a decision that panicked: %v", oPanic.err)
	}
	if xmin(o1.a) != xmin(o2.a) {
		t.Fatal("decisions queued together were committed apart")
	}
	if xmin(o1b.a) == xmin(o1.a) {
		t.Fatal("a second decision on the account was made in the transaction of the first")
	}
	mu.Lock()
	if got := fmt.Sprint(batches); got != "[0 2 1]" { // the held one recorded nothing
		t.Fatalf("batches observed recorded %s decisions, want [0 2 1]", got)
	}
	mu.Unlock()

	release = hold()
	r3 := authorize(k2.ID, "1.00")
	rDup := decide(k3.ID, func(sub spend.Subject) (spend.Outcome, error) {
		dup := o1.a // an id that is taken
		dup.CardID, dup.LineageID, dup.AccountID, dup.Held, dup.Spent = sub.Card.ID, sub.Card.ID, sub.Account.ID, 0, 0
		return spend.Outcome{Authorization: &dup, Event: events.Event{ID: uuid.New(), PartnerID: f.actor.PartnerID, Type: "authorization.declined",
			ResourceID: dup.ID, CreatedAt: f.now}}, nil
	})
	release()
	o3, oDup := <-r3, <-rDup
	if o3.err != nil {
		t.Fatalf("a decision batched with a faulty one: %v", o3.err)
	}
	expectDecision(t, o3.a, "")
	if oDup.err == nil {
		t.Fatal("an authorisation with a taken id was recorded")
	}
}

// TestADecisionFromWhatTheRunnerKnewSeesEveryChangeSince: once a card's
// subject has been read, the next decision on it is one round trip, made
// from what the PostgreSQL runner knows. Every change written since by
// anyone else (another process's decisions and fundings, a card or
// restriction written around the store) is seen: the record made from what
// the runner knew writes nothing, and the decision is made again from a
// fresh read, with the outcome the change calls for.
func TestADecisionFromWhatTheRunnerKnewSeesEveryChangeSince(t *testing.T) {
	ctx := context.Background()
	u := storetest.PostgresURL(t)
	db, inspect := postgresWithInspector(t, u)
	other, err := store.Open(ctx, u, "") // another process on the same database
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close() })
	var (
		mu      sync.Mutex
		batches []string
	)
	db.ObserveBatches(func(b store.DecisionBatch) {
		mu.Lock()
		defer mu.Unlock()
		batches = append(batches, fmt.Sprintf("%d round trip(s), %d stale, %d recorded", b.RoundTrips, b.Stale, b.Decisions))
	})
	f := newFixture(t, db)
	otherSvc := spend.NewService(other.Spend(), other.Consents(), audit.NewLog(other.Audit(), nil), spend.Config{Sandbox: true}, f.clock)
	f.fund(t, "1000.00")
	c := f.activeCard(t, card.Input{SpendLimit: "100.00", SpendLimitDuration: card.DurationMonthly})
	sibling := f.activeCard(t, card.Input{}) // the same account, no limit

	// decide authorises amount on c and checks the outcome and the batches
	// it took.
	decide := func(amount, reason string, want ...string) {
		t.Helper()
		mu.Lock()
		n := len(batches)
		mu.Unlock()
		expectDecision(t, f.authorize(t, c, amount, grocer), reason)
		mu.Lock()
		defer mu.Unlock()
		if got := batches[n:]; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("authorising %s took batches %q, want %q", amount, got, want)
		}
	}
	const (
		read  = "2 round trip(s), 0 stale, 1 recorded"
		known = "1 round trip(s), 0 stale, 1 recorded"
		stale = "1 round trip(s), 1 stale, 0 recorded"
	)
	exec := func(query string, args ...any) {
		t.Helper()
		if _, err := inspect.ExecContext(ctx, query, args...); err != nil {
			t.Fatal(err)
		}
	}
	elsewhere := func(id uuid.UUID, amount string) {
		t.Helper()
		a, err := otherSvc.Authorize(ctx, f.actor.PartnerID, spend.Request{CardID: id, Amount: amount, Currency: "EUR", Merchant: grocer})
		if err != nil {
			t.Fatal(err)
		}
		expectDecision(t, a, "")
	}

	decide("10.00", "", read)
	decide("10.00", "", known) // 20.00 of the limit spent, 980.00 available

	elsewhere(sibling.ID, "980.00") // another process takes what is available
	decide("0.01", spend.DeclineInsufficientFunds, stale, read)
	if _, _, err := otherSvc.Fund(ctx, f.actor.PartnerID, f.acct.ID, "100.00"); err != nil {
		t.Fatal(err)
	}
	decide("0.01", "", stale, read) // 20.01 spent, 99.99 available

	elsewhere(c.ID, "75.00") // another process spends from the limit: 95.01 spent
	decide("10.00", spend.DeclineSpendLimitExceeded, stale, read)
	decide("4.99", "", known) // 100.00 spent

	exec(`UPDATE cards SET status = 'frozen' WHERE id = $1`, c.ID.String())
	decide("0.01", spend.DeclineCardFrozen, stale, read)
	exec(`UPDATE cards SET status = 'active', spend_limit = 20000 WHERE id = $1`, c.ID.String())
	f.fund(t, "10.00") // in this process, outside the runner
	decide("0.01", "", stale, read)
	decide("0.01", "", known)

	if _, err := f.cards.SetRestriction(ctx, f.actor, c.ID, "amount", "0.01"); err != nil {
		t.Fatal(err)
	}
	decide("0.02", spend.DeclineRestrictionExceeded, stale, read)
}

// TestDecisionsDoNotWaitForThePool takes up every connection of the
// PostgreSQL pool with transactions that wait (as an overload of card
// creations did, when they queued on the audit trail's lock): a decision
// must still be made at once, on the batch runner's own connection.
func TestDecisionsDoNotWaitForThePool(t *testing.T) {
	ctx := context.Background()
	db := storetest.Postgres(t)
	f := newFixture(t, db)
	f.fund(t, "100.00")
	c := f.activeCard(t, card.Input{})
	expectDecision(t, f.authorize(t, c, "1.00", grocer), "")

	var (
		entered atomic.Int32
		wg      sync.WaitGroup
	)
	release := make(chan struct{})
	defer func() {
		close(release)
		wg.Wait()
	}()
	for range 40 { // more than the pool holds
		wg.Go(func() {
			_ = db.InTx(ctx, func(context.Context) error {
				entered.Add(1)
				<-release
				return nil
			})
		})
	}
	// Wait until transactions stop starting: the pool is taken up.
	for deadline, last := time.Now().Add(10*time.Second), int32(-1); ; time.Sleep(300 * time.Millisecond) {
		n := entered.Load()
		if n > 0 && n == last {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("transactions kept starting, or none did")
		}
		last = n
	}
	if n := entered.Load(); n >= 40 {
		t.Fatalf("all %d transactions started: the pool was not taken up", n)
	}
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	a, err := f.svc.Authorize(tctx, f.actor.PartnerID, spend.Request{CardID: c.ID, Amount: "1.00", Currency: "EUR", Merchant: grocer})
	if err != nil {
		t.Fatalf("a decision while the pool is taken up: %v", err)
	}
	expectDecision(t, a, "")
}

// postgresWithInspector opens a PostgreSQL store on u (a fresh schema, from
// storetest.PostgresURL) and a plain pool on the same schema, for tests that
// look at rows and locks underneath the store; both close when the test
// ends.
func postgresWithInspector(t *testing.T, u string) (*store.DB, *sql.DB) {
	t.Helper()
	db, err := store.Open(context.Background(), u, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	inspect, err := sql.Open("pgx", testkit.PlainURL(u))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inspect.Close() })
	return db, inspect
}
