package card_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/audit"
	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/partner"
	"github.com/vaultpage/vaultpage/store"
	"github.com/vaultpage/vaultpage/store/storetest"
	"github.com/vaultpage/vaultpage/vault"
)

type fixture struct {
	db    *store.DB
	ring  *vault.Keyring
	cards *card.Service
	a, b  card.Actor
	now   time.Time
}

func setup(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	ctx := context.Background()
	ring := storetest.Keyring(t, db)
	f := &fixture{db: db, ring: ring, now: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	f.cards = card.NewService(db.Cards(), ring, audit.NewLog(db.Audit(), nil),
		card.Config{BIN: vault.BINRange{Prefix: "489537", Length: 16}}, func() time.Time { return f.now })
	ps := partner.NewService(db.Partners(), partner.Config{}, nil)
	for _, actor := range []*card.Actor{&f.a, &f.b} {
		creds, err := ps.Create(ctx, "partner", nil)
		if err != nil {
			t.Fatal(err)
		}
		actor.PartnerID, actor.Source = creds.PartnerID, "192.0.2.1"
	}
	return f
}

func eachBackend(t *testing.T, fn func(t *testing.T, f *fixture)) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) { fn(t, setup(t, b.Open(t))) })
	}
}

// newCard orders a virtual card, active from the start.
func (f *fixture) newCard(t *testing.T, a card.Actor) card.Card {
	t.Helper()
	return f.order(t, a, card.Input{DisplayName: "Expenses", Type: card.TypeVirtual, ExpMonth: "12", ExpYear: "2029"})
}

// stockholm is a shipping address.
func stockholm() *card.Address {
	return &card.Address{Line1: "Drottninggatan 1", City: "Stockholm", PostalCode: "111 51", Country: "SE"}
}

// newPhysicalCard orders a physical card, which waits for activation.
func (f *fixture) newPhysicalCard(t *testing.T, a card.Actor) card.Card {
	t.Helper()
	return f.order(t, a, card.Input{DisplayName: "Plastic", Type: card.TypePhysical, ShippingAddress: stockholm()})
}

// order orders the card in for a new individual and account of a.
func (f *fixture) order(t *testing.T, a card.Actor, in card.Input) card.Card {
	t.Helper()
	ctx := context.Background()
	i, err := f.cards.CreateIndividual(ctx, a, card.IndividualInput{FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := f.cards.CreateAccount(ctx, a, i.ID, "EUR")
	if err != nil {
		t.Fatal(err)
	}
	in.IndividualID, in.AccountID = i.ID, acc.ID
	c, err := f.cards.CreateCard(ctx, a, in)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fixture) pan(t *testing.T, c card.Card) vault.PAN {
	t.Helper()
	p, err := f.ring.LoadPAN(context.Background(), vault.Owner{PartnerID: c.PartnerID.String(), Table: "cards", RecordID: c.ID.String()})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCreateCardIssuesANumberAndShowsOnlyLast4(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		c := f.newCard(t, f.a)
		if c.Status != card.StatusActive || c.Brand != "visa" || c.Region != "europe" || c.Currency != "EUR" || len(c.Last4) != 4 {
			t.Fatalf("card %+v", c)
		}
		if p := f.pan(t, c); p.Last4() != c.Last4 || !(vault.BINRange{Prefix: "489537", Length: 16}).Contains(p) {
			t.Fatal("stored number does not match the card")
		}
		got, err := f.cards.Card(context.Background(), f.a, c.ID)
		if err != nil || got.Last4 != c.Last4 || !got.CreatedAt.Equal(c.CreatedAt) {
			t.Fatalf("get: %+v %v", got, err)
		}
	})
}

func TestAnotherPartnersResourcesAreNotFound(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		c := f.newCard(t, f.a)
		if _, err := f.cards.Card(ctx, f.b, c.ID); !errors.Is(err, card.ErrNotFound) {
			t.Fatalf("card: %v", err)
		}
		if _, err := f.cards.Account(ctx, f.b, c.AccountID); !errors.Is(err, card.ErrNotFound) {
			t.Fatalf("account: %v", err)
		}
		if _, err := f.cards.Individual(ctx, f.b, c.IndividualID); !errors.Is(err, card.ErrNotFound) {
			t.Fatalf("individual: %v", err)
		}
		st := card.StatusFrozen
		if _, err := f.cards.UpdateCard(ctx, f.b, c.ID, card.Patch{Status: &st}); !errors.Is(err, card.ErrNotFound) {
			t.Fatalf("update: %v", err)
		}
		if _, err := f.cards.Reissue(ctx, f.b, c.ID, card.ReissueNewNumber, nil); !errors.Is(err, card.ErrNotFound) {
			t.Fatalf("reissue: %v", err)
		}
		list, err := f.cards.ListCards(ctx, f.b, card.Filter{}, card.Page{})
		if err != nil || len(list) != 0 {
			t.Fatalf("list: %d %v", len(list), err)
		}
		// Ordering a card on another partner's individual is a field error.
		_, err = f.cards.CreateCard(ctx, f.b, card.Input{IndividualID: c.IndividualID, AccountID: c.AccountID})
		var fe *card.FieldError
		if !errors.As(err, &fe) || fe.Field != "individual_id" {
			t.Fatalf("cross-partner order: %v", err)
		}
	})
}

func TestStatusChangesAndTheirAuditTrail(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		c := f.newPhysicalCard(t, f.a)
		active := card.StatusActive
		var sca *card.SCARequiredError
		if _, err := f.cards.UpdateCard(ctx, f.a, c.ID, card.Patch{Status: &active}); !errors.As(err, &sca) || sca.Action != "activate" {
			t.Fatalf("activating through PATCH: %v", err)
		}
		frozen := card.StatusFrozen
		var se *card.StateError
		if _, err := f.cards.UpdateCard(ctx, f.a, c.ID, card.Patch{Status: &frozen}); !errors.As(err, &se) {
			t.Fatalf("freezing a card that is not active: %v", err)
		}
		stolen := card.StatusStolen
		got, err := f.cards.UpdateCard(ctx, f.a, c.ID, card.Patch{Status: &stolen})
		if err != nil || got.Status != card.StatusStolen {
			t.Fatalf("report stolen: %v", err)
		}
		if _, err := f.cards.UpdateCard(ctx, f.a, c.ID, card.Patch{Status: &frozen}); !errors.As(err, &se) {
			t.Fatalf("terminal status changed: %v", err)
		}
		rep, err := audit.Verify(ctx, f.db.Audit())
		if err != nil {
			t.Fatal(err)
		}
		if rep.Entries != 2 { // created, stolen
			t.Fatalf("%d audit entries, want 2", rep.Entries)
		}
	})
}

func TestReissueTypes(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		exp := vault.Expiry{Year: 2029, Month: 12}
		testCases := []struct {
			t          card.ReissueType
			samePAN    bool
			sameExpiry bool
		}{
			{card.ReissueSameNumber, true, true},
			{card.ReissueSameNumberUpdatedExpiry, true, false},
			{card.ReissueNewNumber, false, false},
		}
		for _, tc := range testCases {
			t.Run(string(tc.t), func(t *testing.T) {
				old := f.newCard(t, f.a)
				if _, err := f.cards.SetRestriction(ctx, f.a, old.ID, "amount", "175.00"); err != nil {
					t.Fatal(err)
				}
				oldPAN := string(f.pan(t, old).Reveal())
				oldOwner := vault.Owner{PartnerID: old.PartnerID.String(), Table: "cards", RecordID: old.ID.String()}
				oldCVV, err := f.ring.CVV(ctx, oldOwner, exp, vault.ServiceCodeCVV2)
				if err != nil {
					t.Fatal(err)
				}
				n, err := f.cards.Reissue(ctx, f.a, old.ID, tc.t, nil)
				if err != nil {
					t.Fatal(err)
				}
				if n.Status != card.StatusActive || n.ReplacesID == nil || *n.ReplacesID != old.ID { // virtual: active at once
					t.Fatalf("new card %+v", n)
				}
				if got := string(f.pan(t, n).Reveal()) == oldPAN; got != tc.samePAN {
					t.Fatalf("same pan = %v", got)
				}
				if got := n.ExpMonth == old.ExpMonth && n.ExpYear == old.ExpYear; got != tc.sameExpiry {
					t.Fatalf("same expiry = %v", got)
				}
				o, err := f.cards.Card(ctx, f.a, old.ID)
				if err != nil || o.Status != card.StatusClosed || o.ReplacedByID == nil || *o.ReplacedByID != n.ID {
					t.Fatalf("old card %+v %v", o, err)
				}
				if _, err := f.ring.LoadPAN(ctx, oldOwner); !errors.Is(err, vault.ErrNotFound) && tc.samePAN {
					t.Fatalf("the old card's number still opens: %v", err)
				}
				if tc.t == card.ReissueSameNumber {
					newCVV, err := f.ring.CVV(ctx, vault.Owner{PartnerID: n.PartnerID.String(), Table: "cards", RecordID: n.ID.String()}, exp, vault.ServiceCodeCVV2)
					if err != nil || string(newCVV.Reveal()) != string(oldCVV.Reveal()) {
						t.Fatalf("same number and expiry must keep the cvv: %v", err)
					}
				}
				rs, err := f.cards.Restrictions(ctx, f.a, n.ID)
				if err != nil || len(rs) != 1 || rs[0].MaxAmount != 17500 {
					t.Fatalf("restriction did not follow: %+v %v", rs, err)
				}
				if _, err := f.cards.Reissue(ctx, f.a, old.ID, tc.t, nil); err == nil {
					t.Fatal("reissued a closed card")
				}
			})
		}
		if _, err := audit.Verify(ctx, f.db.Audit()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRestrictionsOnePerCardAndBounded(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		c := f.newCard(t, f.a)
		r1, err := f.cards.SetRestriction(ctx, f.a, c.ID, "amount", "175.00")
		if err != nil {
			t.Fatal(err)
		}
		r2, err := f.cards.SetRestriction(ctx, f.a, c.ID, "amount", "100")
		if err != nil {
			t.Fatal(err)
		}
		rs, err := f.cards.Restrictions(ctx, f.a, c.ID)
		if err != nil || len(rs) != 1 || rs[0].MaxAmount != 10000 || r1.ID != r2.ID {
			t.Fatalf("restrictions %+v %v", rs, err)
		}
		for _, bad := range []string{"100000.01", "0.00", "abc", "-5"} {
			var fe *card.FieldError
			if _, err := f.cards.SetRestriction(ctx, f.a, c.ID, "amount", bad); !errors.As(err, &fe) || fe.Field != "max_amount" {
				t.Fatalf("%s: %v", bad, err)
			}
		}
		if _, err := f.cards.SetRestriction(ctx, f.a, c.ID, "velocity", "1.00"); err == nil {
			t.Fatal("accepted an unknown restriction type")
		}
		if _, err := f.cards.DeleteRestriction(ctx, f.a, c.ID, r1.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.cards.Restriction(ctx, f.a, c.ID, r1.ID); !errors.Is(err, card.ErrNotFound) {
			t.Fatalf("deleted restriction: %v", err)
		}
	})
}

func TestListPaginatesNewestFirstWithFilters(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		var ids []uuid.UUID
		first := f.newCard(t, f.a)
		ids = append(ids, first.ID)
		for i := 0; i < 6; i++ {
			f.now = f.now.Add(time.Minute)
			c, err := f.cards.CreateCard(ctx, f.a, card.Input{IndividualID: first.IndividualID, AccountID: first.AccountID})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, c.ID)
		}
		var seen []uuid.UUID
		p := card.Page{Limit: 3}
		for {
			page, err := f.cards.ListCards(ctx, f.a, card.Filter{}, p)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range page {
				seen = append(seen, c.ID)
			}
			if len(page) < p.Limit {
				break
			}
			p.After = page[len(page)-1].ID
		}
		if len(seen) != 7 {
			t.Fatalf("paged through %d cards, want 7", len(seen))
		}
		for i := range seen {
			if seen[i] != ids[len(ids)-1-i] {
				t.Fatalf("position %d out of order", i)
			}
		}
		after := f.now.Add(-90 * time.Second)
		recent, err := f.cards.ListCards(ctx, f.a, card.Filter{CreatedAfter: &after}, card.Page{})
		if err != nil || len(recent) != 2 {
			t.Fatalf("created_after: %d %v", len(recent), err)
		}
		st := card.StatusActive
		active, err := f.cards.ListCards(ctx, f.a, card.Filter{Status: &st, AccountID: &first.AccountID}, card.Page{})
		if err != nil || len(active) != 7 {
			t.Fatalf("status filter: %d active %v", len(active), err)
		}
		st = card.StatusFrozen
		none, err := f.cards.ListCards(ctx, f.a, card.Filter{Status: &st, AccountID: &first.AccountID}, card.Page{})
		if err != nil || len(none) != 0 {
			t.Fatalf("status filter: %d frozen %v", len(none), err)
		}
	})
}

func TestAuditVerifyDetectsEditedAndDeletedRows(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		for i := 0; i < 3; i++ {
			f.newCard(t, f.a)
		}
		rep, err := audit.Verify(ctx, f.db.Audit())
		if err != nil || rep.Entries != 3 {
			t.Fatalf("verify: %+v %v", rep, err)
		}
		if err := f.db.ExecForTest(ctx, `UPDATE audit_log SET actor = 'operator' WHERE seq = 2`); err != nil {
			t.Fatal(err)
		}
		var be *audit.BrokenError
		if _, err := audit.Verify(ctx, f.db.Audit()); !errors.As(err, &be) || be.Seq != 2 {
			t.Fatalf("edited row: %v", err)
		}
		if err := f.db.ExecForTest(ctx, `DELETE FROM audit_log WHERE seq = 2`); err != nil {
			t.Fatal(err)
		}
		if _, err := audit.Verify(ctx, f.db.Audit()); !errors.As(err, &be) || be.Seq != 2 {
			t.Fatalf("deleted row: %v", err)
		}
	})
}
