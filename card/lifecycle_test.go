package card_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/vaultpage/vaultpage/card"
)

// A virtual card works as it is created; a physical one waits for the
// cardholder, and ships to an address that must be there and be valid.
func TestNewCardsStartAsTheirTypeNeeds(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		v := f.newCard(t, f.a)
		if v.Status != card.StatusActive || v.ShippingAddress != nil {
			t.Fatalf("virtual card %s %+v", v.Status, v.ShippingAddress)
		}
		if _, ok := v.Status.Activation(); ok {
			t.Fatal("an active card offers an activation")
		}
		p := f.order(t, f.a, card.Input{Type: card.TypePhysical, ShippingAddress: &card.Address{
			Line1: " Drottninggatan 1 ", Line2: "c/o Lovelace", City: "Stockholm", PostalCode: "111 51", Country: "se"},
			BillingAddress: &card.Address{Line1: "Storgatan 2", City: "Uppsala", PostalCode: "753 20", Region: "Uppsala län", Country: "SE"}})
		if p.Status != card.StatusNotActivated {
			t.Fatalf("physical card %s", p.Status)
		}
		if a, ok := p.Status.Activation(); !ok || a != card.ActionActivate {
			t.Fatalf("a new physical card's activation: %q %v", a, ok)
		}
		got, err := f.cards.Card(ctx, f.a, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := card.Address{Line1: "Drottninggatan 1", Line2: "c/o Lovelace", City: "Stockholm", PostalCode: "111 51", Country: "SE"}
		if got.ShippingAddress == nil || *got.ShippingAddress != want {
			t.Fatalf("shipping address read back %+v", got.ShippingAddress)
		}
		if got.BillingAddress == nil || got.BillingAddress.Region != "Uppsala län" || got.BillingAddress.City != "Uppsala" {
			t.Fatalf("billing address read back %+v", got.BillingAddress)
		}

		ok := func() *card.Address { return stockholm() }
		with := func(change func(a *card.Address)) *card.Address { a := ok(); change(a); return a }
		testCases := []struct {
			name      string
			typ       card.Type
			ship      *card.Address
			bill      *card.Address
			wantField string
		}{
			{"a physical card without an address", card.TypePhysical, nil, nil, "shipping_address"},
			{"a virtual card with a shipping address", card.TypeVirtual, ok(), nil, "shipping_address"},
			{"no first line", card.TypePhysical, with(func(a *card.Address) { a.Line1 = "  " }), nil, "shipping_address.line1"},
			{"a first line too long", card.TypePhysical, with(func(a *card.Address) { a.Line1 = strings.Repeat("å", 101) }), nil, "shipping_address.line1"},
			{"a second line too long", card.TypePhysical, with(func(a *card.Address) { a.Line2 = strings.Repeat("x", 101) }), nil, "shipping_address.line2"},
			{"no city", card.TypePhysical, with(func(a *card.Address) { a.City = "" }), nil, "shipping_address.city"},
			{"no postal code", card.TypePhysical, with(func(a *card.Address) { a.PostalCode = "" }), nil, "shipping_address.postal_code"},
			{"a postal code with punctuation", card.TypePhysical, with(func(a *card.Address) { a.PostalCode = "111;51" }), nil, "shipping_address.postal_code"},
			{"a postal code too long", card.TypePhysical, with(func(a *card.Address) { a.PostalCode = strings.Repeat("1", 17) }), nil, "shipping_address.postal_code"},
			{"no country", card.TypePhysical, with(func(a *card.Address) { a.Country = "" }), nil, "shipping_address.country"},
			{"a withdrawn code", card.TypePhysical, with(func(a *card.Address) { a.Country = "UK" }), nil, "shipping_address.country"},
			{"a region, not a country", card.TypePhysical, with(func(a *card.Address) { a.Country = "EU" }), nil, "shipping_address.country"},
			{"an alpha-3 code", card.TypePhysical, with(func(a *card.Address) { a.Country = "SWE" }), nil, "shipping_address.country"},
			{"Yugoslavia", card.TypePhysical, with(func(a *card.Address) { a.Country = "YU" }), nil, "shipping_address.country"},
			{"the Netherlands Antilles", card.TypePhysical, with(func(a *card.Address) { a.Country = "AN" }), nil, "shipping_address.country"},
			{"Zaire", card.TypePhysical, with(func(a *card.Address) { a.Country = "ZR" }), nil, "shipping_address.country"},
			{"the USSR", card.TypePhysical, with(func(a *card.Address) { a.Country = "SU" }), nil, "shipping_address.country"},
			{"a billing address without a city", card.TypeVirtual, nil, with(func(a *card.Address) { a.City = "" }), "billing_address.city"},
		}
		for _, tc := range testCases {
			t.Run(tc.name, func(t *testing.T) {
				i, _ := f.cards.CreateIndividual(ctx, f.a, card.IndividualInput{FirstName: "A", LastName: "B", Email: "a@example.com"})
				acc, _ := f.cards.CreateAccount(ctx, f.a, i.ID, "EUR")
				_, err := f.cards.CreateCard(ctx, f.a, card.Input{IndividualID: i.ID, AccountID: acc.ID, Type: tc.typ, ShippingAddress: tc.ship, BillingAddress: tc.bill})
				var fe *card.FieldError
				if !errors.As(err, &fe) || fe.Field != tc.wantField {
					t.Fatalf("error %v, want a field error on %s", err, tc.wantField)
				}
			})
		}
	})
}

// A lost or stolen card's number may be in someone else's hands: it is
// reissued with a new number only, once, and keeps its status; the new card
// carries its limits, restrictions and controls.
func TestLostAndStolenCardsAreReissuedWithANewNumber(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		for _, status := range []card.Status{card.StatusLost, card.StatusStolen} {
			t.Run(string(status), func(t *testing.T) {
				old := f.newPhysicalCard(t, f.a)
				limit, daily, mccs := "250.00", card.DurationDaily, []string{"5411"}
				if _, err := f.cards.UpdateCard(ctx, f.a, old.ID, card.Patch{SpendLimit: &limit, SpendLimitDuration: &daily,
					Controls: card.ControlsPatch{AllowedMCCs: &mccs}}); err != nil {
					t.Fatal(err)
				}
				if _, err := f.cards.SetRestriction(ctx, f.a, old.ID, "amount", "99.00"); err != nil {
					t.Fatal(err)
				}
				st := status
				if _, err := f.cards.UpdateCard(ctx, f.a, old.ID, card.Patch{Status: &st}); err != nil {
					t.Fatal(err)
				}
				oldPAN := string(f.pan(t, old).Reveal())
				for _, same := range []card.ReissueType{card.ReissueSameNumber, card.ReissueSameNumberUpdatedExpiry} {
					_, err := f.cards.Reissue(ctx, f.a, old.ID, same, nil)
					var fe *card.FieldError
					if !errors.As(err, &fe) || fe.Field != "reissue_type" || !strings.Contains(fe.Reason, "new_card_number") {
						t.Fatalf("%s on a %s card: %v", same, status, err)
					}
				}
				home := &card.Address{Line1: "Kungsgatan 9", City: "Göteborg", PostalCode: "411 19", Country: "SE"}
				n, err := f.cards.Reissue(ctx, f.a, old.ID, card.ReissueNewNumber, home)
				if err != nil {
					t.Fatal(err)
				}
				if n.Status != card.StatusNotActivated || *n.ReplacesID != old.ID || n.SpendLimit == nil || n.SpendLimit.String() != "250.00" ||
					n.SpendLimitDuration != card.DurationDaily || len(n.AllowedMCCs) != 1 || n.LineageID != old.LineageID {
					t.Fatalf("new card %+v", n)
				}
				if n.ShippingAddress == nil || n.ShippingAddress.City != "Göteborg" {
					t.Fatalf("the new card ships to %+v", n.ShippingAddress)
				}
				if string(f.pan(t, n).Reveal()) == oldPAN {
					t.Fatal("the new card has the compromised number")
				}
				rs, err := f.cards.Restrictions(ctx, f.a, n.ID)
				if err != nil || len(rs) != 1 || rs[0].MaxAmount.String() != "99.00" {
					t.Fatalf("restrictions %+v %v", rs, err)
				}
				o, err := f.cards.Card(ctx, f.a, old.ID)
				if err != nil || o.Status != status || o.ReplacedByID == nil || *o.ReplacedByID != n.ID || o.ShippingAddress.City != "Stockholm" {
					t.Fatalf("old card %+v %v", o, err)
				}
				_, err = f.cards.Reissue(ctx, f.a, old.ID, card.ReissueNewNumber, nil)
				var se *card.StateError
				if !errors.As(err, &se) {
					t.Fatalf("a second reissue: %v", err)
				}
			})
		}
		for _, status := range []card.Status{card.StatusBlocked, card.StatusClosed} {
			c := f.newCard(t, f.a)
			st := status
			if _, err := f.cards.UpdateCard(ctx, f.a, c.ID, card.Patch{Status: &st}); err != nil {
				t.Fatal(err)
			}
			var se *card.StateError
			if _, err := f.cards.Reissue(ctx, f.a, c.ID, card.ReissueNewNumber, nil); !errors.As(err, &se) {
				t.Fatalf("reissued a %s card: %v", status, err)
			}
		}
		// A virtual card has nowhere to ship.
		v := f.newCard(t, f.a)
		var fe *card.FieldError
		if _, err := f.cards.Reissue(ctx, f.a, v.ID, card.ReissueNewNumber, stockholm()); !errors.As(err, &fe) || fe.Field != "shipping_address" {
			t.Fatalf("a virtual reissue with an address: %v", err)
		}
	})
}

func TestTheSeedsWordsForStatuses(t *testing.T) {
	testCases := []struct {
		in   string
		want card.Status
	}{
		{"block", card.StatusBlocked},
		{"blocked", card.StatusBlocked},
		{"frozen", card.StatusFrozen},
		{"blok", card.Status("blok")},
	}
	for _, tc := range testCases {
		if got := card.ParseStatus(tc.in); got != tc.want {
			t.Errorf("ParseStatus(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if card.ParseStatus("blok").Valid() {
		t.Error("a misspelt status is valid")
	}
	for _, tc := range []struct {
		s      card.Status
		action string
		ok     bool
	}{
		{card.StatusNotActivated, card.ActionActivate, true},
		{card.StatusFrozen, card.ActionUnfreeze, true},
		{card.StatusActive, "", false},
		{card.StatusLost, "", false},
	} {
		if a, ok := tc.s.Activation(); a != tc.action || ok != tc.ok {
			t.Errorf("%s activation %q %v, want %q %v", tc.s, a, ok, tc.action, tc.ok)
		}
	}
}

func TestNamesAsACardCarriesThem(t *testing.T) {
	testCases := []struct{ first, last, want string }{
		{"Ada", "Lovelace", "ADA LOVELACE"},
		{"Søren", "Kierkegaard", "SOREN KIERKEGAARD"},
		{"Björn", "Åström-Ødegård", "BJORN ASTROM-ODEGARD"},
		{"Ægir", "Straße", "AEGIR STRASSE"},
		{"Łukasz", "Đurić", "LUKASZ DURIC"},
		{"Þóra", "O'Neill", "THORA O'NEILL"},
		{"Grace", "Brewster Murray Hopper Jr.", "GRACE BREWSTER MURRAY HOPP"},
		{"Иван", "Петров", ""},
		{"  ", "—", ""},
	}
	for _, tc := range testCases {
		if got := card.NameOnCard(tc.first, tc.last); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.first, tc.last, got, tc.want)
		}
	}
}

// A physical card is refused for a name it could not carry, a virtual card
// is not.
func TestAPhysicalCardNeedsANameItCanCarry(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		i, err := f.cards.CreateIndividual(ctx, f.a, card.IndividualInput{FirstName: "Иван", LastName: "Петров", Email: "ivan@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		acc, err := f.cards.CreateAccount(ctx, f.a, i.ID, "EUR")
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.cards.CreateCard(ctx, f.a, card.Input{IndividualID: i.ID, AccountID: acc.ID, Type: card.TypePhysical, ShippingAddress: stockholm()})
		var fe *card.FieldError
		if !errors.As(err, &fe) || fe.Field != "individual_id" {
			t.Fatalf("a physical card for a name in Cyrillic: %v", err)
		}
		if _, err := f.cards.CreateCard(ctx, f.a, card.Input{IndividualID: i.ID, AccountID: acc.ID, Type: card.TypeVirtual}); err != nil {
			t.Fatalf("a virtual card for the same cardholder: %v", err)
		}
	})
}
