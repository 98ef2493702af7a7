package spend_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/consent"
	"github.com/vaultpage/vaultpage/spend"
)

var webShop = spend.Payee{Name: "Web Shop", URL: "https://shop.example/checkout", MCC: "5732", Country: "SE", ID: "m-web"}

// authenticate asks for the authentication of a payment of amount on the
// card p presents.
func (f *fixture) authenticate(t *testing.T, p presented, amount string, pref spend.ChallengePreference) (spend.Authentication, error) {
	t.Helper()
	pid := f.actor.PartnerID
	return f.svc.Authenticate(context.Background(), &pid, spend.AuthenticationRequest{
		Card:   &spend.CardData{PAN: []byte(p.pan), ExpMonth: p.month, ExpYear: p.year},
		Amount: amount, Currency: "EUR", Payee: webShop, Preference: pref})
}

// The low-value exemption lets a payment of at most 30.00 through without
// SCA while the card's payments since its last SCA, this one counted,
// number at most five and add up to at most 100.00; past either, and when
// the merchant asks for it, the cardholder is challenged, and a challenge
// counts nothing. A card that cannot pay online is rejected with the
// reason. Each answer is recorded and read back as it was given.
func TestTheLowValueExemptionCountsInTheDatabase(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		c := f.activeCard(t, card.Input{})
		p := f.terminal(t, c)
		for _, tc := range []struct {
			name       string
			amount     string
			preference spend.ChallengePreference
			expected   spend.TransStatus
		}{
			{"a first small payment", "10.00", "", spend.TransAuthenticated},              // 1, 10.00
			{"one past 30.00", "30.01", "", spend.TransChallenge},                         // counts nothing
			{"30.00 exactly", "30.00", spend.PreferNoChallenge, spend.TransAuthenticated}, // 2, 40.00
			{"the merchant asks for a challenge", "1.00", spend.PreferChallenge, spend.TransChallenge},
			{"a third", "25.00", "", spend.TransAuthenticated},               // 3, 65.00
			{"a fourth", "25.00", "", spend.TransAuthenticated},              // 4, 90.00
			{"one past 100.00 in all", "10.01", "", spend.TransChallenge},    // would be 100.01
			{"100.00 in all exactly", "10.00", "", spend.TransAuthenticated}, // 5, 100.00
			{"a sixth, however small", "0.01", spend.PreferNothing, spend.TransChallenge},
		} {
			a, err := f.authenticate(t, p, tc.amount, tc.preference)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if a.TransStatus != tc.expected {
				t.Fatalf("%s: trans_status %s, want %s", tc.name, a.TransStatus, tc.expected)
			}
			if want := map[bool]string{true: spend.ExemptionLowValue}[tc.expected == spend.TransAuthenticated]; a.Exemption != want || a.Reason != "" {
				t.Fatalf("%s: exemption %q reason %q, want exemption %q", tc.name, a.Exemption, a.Reason, want)
			}
			got, err := f.svc.Authentication(ctx, f.actor.PartnerID, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got != a {
				t.Fatalf("%s: read back %+v, answered %+v", tc.name, got, a)
			}
		}

		other := f.activeCard(t, card.Input{})
		op := f.terminal(t, other)
		wrongExpiry := op
		wrongExpiry.year++
		frozen := f.activeCard(t, card.Input{})
		freeze := card.StatusFrozen
		if _, err := f.cards.UpdateCard(ctx, f.actor, frozen.ID, card.Patch{Status: &freeze}); err != nil {
			t.Fatal(err)
		}
		nobody := op
		nobody.pan = "4000000000000002"
		for _, tc := range []struct {
			name   string
			p      presented
			reason string
		}{
			{"a wrong expiry", wrongExpiry, spend.DeclineIncorrectExpiry},
			{"a frozen card", f.terminal(t, frozen), spend.DeclineCardFrozen},
			{"a number no card carries", nobody, spend.DeclineCardNotFound},
		} {
			a, err := f.authenticate(t, tc.p, "1.00", "")
			if err != nil || a.TransStatus != spend.TransRejected || a.Reason != tc.reason {
				t.Fatalf("%s: %s %q %v, want R %s", tc.name, a.TransStatus, a.Reason, err, tc.reason)
			}
		}
		if got, err := f.cards.Card(ctx, f.actor, other.ID); err != nil || got.CardDataTries != 1 {
			t.Fatalf("card data tries after a wrong expiry: %d %v", got.CardDataTries, err)
		}
		if a, err := f.authenticate(t, op, "1.00", ""); err != nil || a.TransStatus != spend.TransAuthenticated {
			t.Fatalf("the other card's own small payment: %s %v", a.TransStatus, err)
		}
	})
}

// A card reissued with its number goes on counting towards the exemption
// where the card it replaced left off: the counts are the lineage's.
// Article 16's limits are in euros, and a payment in another currency is
// challenged.
func TestTheExemptionCountsAcrossAReissue(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		c := f.activeCard(t, card.Input{})
		p := f.terminal(t, c)
		count := func(q presented, n int) (frictionless int) {
			t.Helper()
			for range n {
				a, err := f.authenticate(t, q, "10.00", "")
				if err != nil {
					t.Fatal(err)
				}
				if a.TransStatus == spend.TransAuthenticated {
					frictionless++
				}
			}
			return frictionless
		}
		before := count(p, 3)
		n, err := f.cards.Reissue(ctx, f.actor, c.ID, card.ReissueSameNumber, nil)
		if err != nil {
			t.Fatal(err)
		}
		q := f.terminal(t, f.activated(t, n))
		if q.pan != p.pan {
			t.Fatal("the reissued card has another number")
		}
		if after := count(q, 4); before != 3 || after != spend.LowValuePayments-3 {
			t.Fatalf("%d frictionless before the reissue and %d after, want 3 and %d", before, after, spend.LowValuePayments-3)
		}

		sekAccount, err := f.cards.CreateAccount(ctx, f.actor, f.ind.ID, "SEK")
		if err != nil {
			t.Fatal(err)
		}
		sek := f.activeCardOn(t, card.Input{AccountID: sekAccount.ID})
		pid := f.actor.PartnerID
		sp := f.terminal(t, sek)
		a, err := f.svc.Authenticate(ctx, &pid, spend.AuthenticationRequest{Card: &spend.CardData{PAN: []byte(sp.pan), ExpMonth: sp.month, ExpYear: sp.year},
			Amount: "1.00", Currency: "SEK", Payee: webShop})
		if err != nil || a.TransStatus != spend.TransChallenge {
			t.Fatalf("1.00 SEK: %s %v, want a challenge", a.TransStatus, err)
		}
	})
}

// Requests that are not well formed name their field.
func TestAuthenticationRequestsNameTheirField(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		c := f.activeCard(t, card.Input{})
		p := f.terminal(t, c)
		pid := f.actor.PartnerID
		for _, tc := range []struct {
			name  string
			edit  func(r *spend.AuthenticationRequest)
			field string
		}{
			{"no card", func(r *spend.AuthenticationRequest) { r.Card = nil }, "pan"},
			{"a CVV2", func(r *spend.AuthenticationRequest) { r.Card.CVV = []byte(p.cvv) }, "cvv"},
			{"a plain http site", func(r *spend.AuthenticationRequest) { r.Payee.URL = "http://shop.example/" }, "merchant.url"},
			{"a site with credentials", func(r *spend.AuthenticationRequest) { r.Payee.URL = "https://a:b@shop.example/" }, "merchant.url"},
			{"no merchant name", func(r *spend.AuthenticationRequest) { r.Payee.Name = " " }, "merchant.name"},
			{"no acquirer merchant id", func(r *spend.AuthenticationRequest) { r.Payee.ID = "" }, "merchant.id"},
			{"a made-up preference", func(r *spend.AuthenticationRequest) { r.Preference = "whatever" }, "challenge_preference"},
			{"no amount", func(r *spend.AuthenticationRequest) { r.Amount = "0" }, "amount"},
			{"a month 13", func(r *spend.AuthenticationRequest) { r.Card.ExpMonth = 13 }, "exp_month"},
		} {
			r := spend.AuthenticationRequest{Card: &spend.CardData{PAN: []byte(p.pan), ExpMonth: p.month, ExpYear: p.year},
				Amount: "1.00", Currency: "EUR", Payee: webShop}
			tc.edit(&r)
			_, err := f.svc.Authenticate(context.Background(), &pid, r)
			var fe *spend.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("%s: %v, want a field error on %s", tc.name, err, tc.field)
			}
		}
	})
}

// Payments racing the low-value exemption's limits never go past them
// together: twelve concurrent 10.00 payments on one card, five without
// SCA (the count); eight concurrent 25.00 on another, four (the 100.00).
func TestConcurrentPaymentsNeverPassTheExemptionsLimits(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		for _, tc := range []struct {
			name     string
			n        int
			amount   string
			expected int
		}{
			{"the count", 12, "10.00", spend.LowValuePayments},
			{"the cumulative amount", 8, "25.00", 4},
		} {
			p := f.terminal(t, f.activeCard(t, card.Input{}))
			var (
				wg                sync.WaitGroup
				mu                sync.Mutex
				frictionless, all int
				ids               = map[uuid.UUID]bool{}
			)
			for range tc.n {
				wg.Go(func() {
					a, err := f.authenticate(t, p, tc.amount, "")
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					defer mu.Unlock()
					all++
					ids[a.ID] = true
					if a.TransStatus == spend.TransAuthenticated {
						frictionless++
					} else if a.TransStatus != spend.TransChallenge {
						t.Errorf("%s: trans_status %s", tc.name, a.TransStatus)
					}
				})
			}
			wg.Wait()
			if frictionless != tc.expected || all != tc.n || len(ids) != tc.n {
				t.Fatalf("%s: %d of %d without SCA (%d answers), want %d", tc.name, frictionless, tc.n, all, tc.expected)
			}
		}
	})
}

// An online payment that names its authentication is accepted for the
// authenticated card, currency and payee, at most the authenticated
// amount, once: another amount, payee or card, a challenge not passed, a
// second use or a late one decline with the reason, and a decline for
// another cause leaves the authentication to be used.
func TestAnAuthenticationHoldsForItsPaymentOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.fund(t, "20.00")
		c := f.activeCard(t, card.Input{})
		p := f.terminal(t, c)
		other := f.terminal(t, f.activeCard(t, card.Input{}))
		shop := spend.Merchant{Name: webShop.Name, MCC: webShop.MCC, Country: webShop.Country, ID: "m-web"}
		frictionless := func(amount string) spend.Authentication {
			t.Helper()
			a, err := f.authenticate(t, p, amount, "")
			if err != nil || a.TransStatus != spend.TransAuthenticated {
				t.Fatalf("authenticating %s: %s %v", amount, a.TransStatus, err)
			}
			return a
		}
		pay := func(on presented, n spend.Authentication, amount string, m spend.Merchant) spend.Authorization {
			t.Helper()
			a, err := f.svc.Authorize(ctx, f.actor.PartnerID, spend.Request{Card: on.data(), Amount: amount, Currency: "EUR", Merchant: m,
				AuthenticationID: n.ID})
			if err != nil {
				t.Fatal(err)
			}
			return a
		}
		elsewhere := shop
		elsewhere.Name = "Another Shop"
		otherAcquirer := shop
		otherAcquirer.ID = "m-other"

		n := frictionless("10.00")
		expectDecision(t, pay(p, n, "10.01", shop), spend.DeclineAuthenticationMismatch)
		expectDecision(t, pay(p, n, "10.00", elsewhere), spend.DeclineAuthenticationMismatch)
		expectDecision(t, pay(p, n, "10.00", otherAcquirer), spend.DeclineAuthenticationMismatch)
		expectDecision(t, pay(other, n, "10.00", shop), spend.DeclineAuthenticationMismatch)
		a := pay(p, n, "9.50", shop) // a final amount below the authenticated one
		expectDecision(t, a, "")
		expectDecision(t, pay(p, n, "9.50", shop), spend.DeclineAuthenticationUsed)
		if got, err := f.svc.Authentication(ctx, f.actor.PartnerID, n.ID); err != nil || got.AuthorizationID != a.ID {
			t.Fatalf("the authentication's authorisation: %v %v, want %v", got.AuthorizationID, err, a.ID)
		}
		// It clears for the authenticated amount at most, though 20% over
		// the authorised 9.50 would be 11.40.
		var fe *spend.FieldError
		if _, err := f.svc.Clear(ctx, f.actor.PartnerID, a.ID, "10.01"); !errors.As(err, &fe) || fe.Field != "amount" {
			t.Fatalf("clearing past the authenticated amount: %v", err)
		}
		if cl, err := f.svc.Clear(ctx, f.actor.PartnerID, a.ID, "10.00"); err != nil || cl.Cleared == nil || cl.Cleared.String() != "10.00" {
			t.Fatalf("clearing the authenticated amount: %+v %v", cl.Cleared, err)
		}

		big := frictionless("25.00") // more than the 10.50 left on the account
		expectDecision(t, pay(p, big, "25.00", shop), spend.DeclineInsufficientFunds)
		f.fund(t, "20.00")
		expectDecision(t, pay(p, big, "25.00", shop), "") // the decline did not use it

		challenged, err := f.authenticate(t, p, "1.00", spend.PreferChallenge)
		if err != nil || challenged.TransStatus != spend.TransChallenge {
			t.Fatalf("a challenge: %s %v", challenged.TransStatus, err)
		}
		expectDecision(t, pay(p, challenged, "1.00", shop), spend.DeclineAuthenticationIncomplete)

		late := frictionless("1.00")
		f.now = f.now.Add(spend.AuthenticationTTL)
		expectDecision(t, pay(p, late, "1.00", shop), spend.DeclineAuthenticationExpired)

		_, err = f.svc.Authorize(ctx, f.actor.PartnerID, spend.Request{Card: p.data(), Amount: "1.00", Currency: "EUR", Merchant: shop,
			AuthenticationID: uuid.New()})
		if !errors.As(err, &fe) || fe.Field != "authentication_id" {
			t.Fatalf("an authentication no one made: %v", err)
		}
	})
}

// An online payment that names no authentication goes through only under
// the low-value exemption, counted with the card's frictionless
// authentications, or when it is outside SCA's scope; past the exemption
// it declines authentication_required. A payment the card is present for
// is not in this scope, nor one by card id.
func TestOnlinePaymentsWithoutAnAuthenticationNeedTheExemption(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.fund(t, "500.00")
		c := f.cardWithPIN(t, "8203")
		online := f.terminal(t, c)
		chip := online
		chip.mode, chip.withPIN, chip.pin = spend.EntryChip, true, "8203"
		moto := online
		moto.outOfScope = spend.OutOfScopeMOTO
		pay := func(p presented, amount string) spend.Authorization {
			t.Helper()
			a, err := f.svc.Authorize(ctx, f.actor.PartnerID, spend.Request{Card: p.data(), Amount: amount, Currency: "EUR", Merchant: shop, OutOfScope: p.outOfScope})
			if err != nil {
				t.Fatal(err)
			}
			return a
		}
		for _, tc := range []struct {
			name     string
			p        presented
			amount   string
			expected string
		}{
			{"one past 30.00", online, "30.01", spend.DeclineAuthenticationRequired}, // counts nothing
			{"a first small one", online, "20.00", ""},                               // 1, 20.00
			{"a telephone order, outside SCA's scope", moto, "250.00", ""},           // counts nothing
			{"at a chip terminal", chip, "60.00", ""},                                // counts nothing
			{"a second", online, "20.00", ""},                                        // 2, 40.00
		} {
			expectDecision(t, pay(tc.p, tc.amount), tc.expected)
		}
		// A frictionless authentication counts as the payments do: 3, 60.00.
		if a, err := f.authenticate(t, online, "20.00", ""); err != nil || a.TransStatus != spend.TransAuthenticated {
			t.Fatalf("a frictionless authentication: %s %v", a.TransStatus, err)
		}
		expectDecision(t, pay(online, "20.00"), "")                                  // 4, 80.00
		expectDecision(t, pay(online, "20.01"), spend.DeclineAuthenticationRequired) // 100.01
		expectDecision(t, pay(online, "20.00"), "")                                  // 5, 100.00
		expectDecision(t, pay(online, "0.01"), spend.DeclineAuthenticationRequired)  // a sixth
		expectDecision(t, f.authorize(t, c, "40.00", shop), "")                      // by card id: no entry mode
		if a, err := f.authenticate(t, online, "0.01", ""); err != nil || a.TransStatus != spend.TransChallenge {
			t.Fatalf("an authentication past the count: %s %v", a.TransStatus, err)
		}

		var fe *spend.FieldError
		for name, r := range map[string]spend.Request{
			"an unknown reason":             {Card: online.data(), OutOfScope: "phone"},
			"a payment the card is present": {Card: chip.data(), OutOfScope: spend.OutOfScopeMOTO},
			"with an authentication":        {Card: online.data(), OutOfScope: spend.OutOfScopeMerchantInitiated, AuthenticationID: uuid.New()},
		} {
			r.Amount, r.Currency, r.Merchant = "1.00", "EUR", shop
			if _, err := f.svc.Authorize(ctx, f.actor.PartnerID, r); !errors.As(err, &fe) || fe.Field != "out_of_scope" {
				t.Fatalf("%s: %v", name, err)
			}
		}
		a := pay(moto, "1.00")
		if got, err := f.svc.Authorization(ctx, f.actor.PartnerID, a.ID); err != nil || got.OutOfScope != spend.OutOfScopeMOTO {
			t.Fatalf("read back: %q %v", got.OutOfScope, err)
		}
	})
}

// Online payments racing the exemption's count without an authentication
// never pass it together.
func TestConcurrentOnlinePaymentsNeverPassTheExemption(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.fund(t, "500.00")
		p := f.terminal(t, f.activeCard(t, card.Input{}))
		var (
			wg                 sync.WaitGroup
			mu                 sync.Mutex
			approved, required int
		)
		for range 12 {
			wg.Go(func() {
				a, err := f.svc.Authorize(context.Background(), f.actor.PartnerID, spend.Request{Card: p.data(), Amount: "10.00", Currency: "EUR", Merchant: shop})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				switch a.DeclineReason {
				case "":
					approved++
				case spend.DeclineAuthenticationRequired:
					required++
				default:
					t.Errorf("declined %s", a.DeclineReason)
				}
			})
		}
		wg.Wait()
		if approved != spend.LowValuePayments || required != 12-spend.LowValuePayments {
			t.Fatalf("%d approved, %d authentication_required, want %d and %d", approved, required, spend.LowValuePayments, 12-spend.LowValuePayments)
		}
	})
}

// Under the partner's policy "always" nothing goes without the
// cardholder's SCA: authentication requests are challenged and online
// payments without an authentication decline, from the next decision on,
// while card-present payments and those outside SCA's scope go on. The
// change is audited.
func TestThePolicyAlwaysLeavesNoExemption(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.fund(t, "100.00")
		c := f.cardWithPIN(t, "8203")
		online := f.terminal(t, c)
		chip, moto := online, online
		chip.mode, chip.withPIN, chip.pin = spend.EntryChip, true, "8203"
		moto.outOfScope = spend.OutOfScopeMOTO
		if p, at, err := f.svc.SCAPolicyOf(ctx, f.actor.PartnerID); err != nil || p != spend.SCAPolicyExemptions || !at.IsZero() {
			t.Fatalf("the default policy: %s %v %v", p, at, err)
		}
		expectDecision(t, f.present(t, online), "") // the exemption
		// A card-present payment leaves the card known to PostgreSQL's
		// batch runner, whose next decision then checks that the policy
		// it knew is still the partner's.
		expectDecision(t, f.present(t, chip), "")
		if _, err := f.svc.SetSCAPolicy(ctx, f.actor.PartnerID, spend.SCAPolicyAlways); err != nil {
			t.Fatal(err)
		}
		expectDecision(t, f.present(t, online), spend.DeclineAuthenticationRequired)
		expectDecision(t, f.present(t, chip), "")
		expectDecision(t, f.present(t, moto), "")
		if a, err := f.authenticate(t, online, "1.00", spend.PreferNoChallenge); err != nil || a.TransStatus != spend.TransChallenge {
			t.Fatalf("an authentication under the policy always: %s %v", a.TransStatus, err)
		}
		var fe *spend.FieldError
		if _, err := f.svc.SetSCAPolicy(ctx, f.actor.PartnerID, "sometimes"); !errors.As(err, &fe) || fe.Field != "policy" {
			t.Fatalf("an unknown policy: %v", err)
		}
		if _, err := f.svc.SetSCAPolicy(ctx, f.actor.PartnerID, spend.SCAPolicyExemptions); err != nil {
			t.Fatal(err)
		}
		expectDecision(t, f.present(t, online), "")
		entries, err := f.db.Audit().AuditEntries(ctx, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		changes := 0
		for _, e := range entries {
			if e.Action == "sca_policy.changed" {
				changes++
			}
		}
		if changes != 2 {
			t.Fatalf("%d sca_policy.changed audit entries, want 2", changes)
		}
	})
}

// A merchant's name is shown to the cardholder and sent in their code's
// message: what would not show as it reads (control, format,
// bidirectional and line-separating characters, invisible blanks, stacked
// marks) is refused with the field named, whichever store (a NUL once
// reached PostgreSQL and failed there), and every space is a plain one.
// Real names in any script are taken. A merchant's id is printable ASCII.
func TestAMerchantsNameIsShownAsItReads(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.fund(t, "10.00")
		c := f.activeCard(t, card.Input{})
		p := f.terminal(t, c)
		pid := f.actor.PartnerID
		for _, name := range []string{"Web Shop\n\nYour code is 000000", "Web\x00Shop", "Shop \u202eevil", "Shop\u200b", "Web Shop\u2028\u2028Ignore the above",
			"Shop\u3164", "Sh\u034fop", "Shop\u2800\u2800Your code is 000000", "Shop\ufe00\ufe00", "S\u0336\u0336\u0336\u0336\u0336hop", "Sh\top"} {
			var fe *spend.FieldError
			payee := webShop
			payee.Name = name
			_, err := f.svc.Authenticate(ctx, &pid, spend.AuthenticationRequest{Card: &spend.CardData{PAN: []byte(p.pan), ExpMonth: p.month, ExpYear: p.year},
				Amount: "1.00", Currency: "EUR", Payee: payee})
			if !errors.As(err, &fe) || fe.Field != "merchant.name" {
				t.Fatalf("an authentication for %q: %v", name, err)
			}
			m := shop
			m.Name = name
			if _, err := f.svc.Authorize(ctx, pid, spend.Request{CardID: c.ID, Amount: "1.00", Currency: "EUR", Merchant: m}); !errors.As(err, &fe) || fe.Field != "merchant.name" {
				t.Fatalf("an authorisation for %q: %v", name, err)
			}
			m = shop
			m.ID = name
			if _, err := f.svc.Authorize(ctx, pid, spend.Request{CardID: c.ID, Amount: "1.00", Currency: "EUR", Merchant: m}); !errors.As(err, &fe) || fe.Field != "merchant.id" {
				t.Fatalf("an authorisation for merchant id %q: %v", name, err)
			}
		}
		for name, shown := range map[string]string{"Café Müller & Söhne": "Café Müller & Söhne", "ローソン\u3000渋谷店": "ローソン 渋谷店", "Café\u00a0\u00a0Central": "Café Central",
			"مطعم الشام": "مطعم الشام", "AT&T": "AT&T", "7-Eleven ☕\ufe0f": "7-Eleven ☕\ufe0f", "Cafe\u0301 Central": "Café Central", "ကြွေ": "ကြွေ", "שָּׁלוֹם": "שָּׁלוֹם"} {
			m := shop
			m.Name = name
			a, err := f.svc.Authorize(ctx, pid, spend.Request{CardID: c.ID, Amount: "0.01", Currency: "EUR", Merchant: m})
			if err != nil || a.Merchant.Name != shown {
				t.Fatalf("a payment to %q: %q %v, want %q", name, a.Merchant.Name, err, shown)
			}
		}
	})
}

// A wallet token's online payments are in SCA's scope, as card data's are:
// nothing in the request says the wallet verified the cardholder.
func TestAWalletsOnlinePaymentsNeedTheExemptionOrAnAuthentication(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.fund(t, "500.00")
		c := f.activeCard(t, card.Input{})
		if err := f.cards.Complete(ctx, f.actor.PartnerID, c.ID, card.ActionApplePay); err != nil {
			t.Fatal(err)
		}
		tokens, err := f.cards.Tokens(ctx, f.actor, c.ID)
		if err != nil || len(tokens) != 1 {
			t.Fatalf("tokens: %v %v", tokens, err)
		}
		pay := func(entry spend.EntryMode, amount string) spend.Authorization {
			t.Helper()
			a, err := f.svc.Authorize(ctx, f.actor.PartnerID, spend.Request{TokenID: tokens[0].ID, TokenEntry: entry, Amount: amount, Currency: "EUR", Merchant: shop})
			if err != nil {
				t.Fatal(err)
			}
			return a
		}
		expectDecision(t, pay(spend.EntryEcommerce, "40.00"), spend.DeclineAuthenticationRequired)
		expectDecision(t, pay(spend.EntryEcommerce, "10.00"), "")   // the exemption
		expectDecision(t, pay(spend.EntryContactless, "40.00"), "") // in a shop
	})
}

// A merchant-initiated payment under a mandate set up with the
// cardholder's SCA goes without an authentication, on both stores (on
// PostgreSQL the mandate is read in the decision's batch).
func TestAMandateSetUpWithSCACoversMerchantInitiatedPayments(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.fund(t, "500.00")
		c := f.activeCard(t, card.Input{})
		p := f.terminal(t, c)
		n, err := f.authenticate(t, p, "40.00", "")
		if err != nil || n.TransStatus != spend.TransChallenge {
			t.Fatalf("a challenge: %s %v", n.TransStatus, err)
		}
		cs := consent.Consent{ID: uuid.New(), PartnerID: f.actor.PartnerID, CardID: c.ID, Action: consent.ActionAuthenticatePayment,
			Status: consent.StatusApproved, Mode: consent.ModeChallenge, AuthenticatedAt: f.now}
		if err := f.db.Spend().LinkChallenge(ctx, n.ID, cs.ID); err != nil {
			t.Fatal(err)
		}
		if err := f.db.Spend().InTx(ctx, func(ctx context.Context) error { return f.svc.Ended(ctx, cs) }); err != nil {
			t.Fatal(err)
		}
		m := spend.Merchant{Name: webShop.Name, MCC: webShop.MCC, Country: webShop.Country, ID: webShop.ID}
		initial, err := f.svc.Authorize(ctx, f.actor.PartnerID, spend.Request{Card: p.data(), Amount: "40.00", Currency: "EUR", Merchant: m, AuthenticationID: n.ID})
		if err != nil {
			t.Fatal(err)
		}
		expectDecision(t, initial, "")
		mit := func(merchant spend.Merchant) spend.Authorization {
			t.Helper()
			a, err := f.svc.Authorize(ctx, f.actor.PartnerID, spend.Request{Card: p.data(), Amount: "45.00", Currency: "EUR", Merchant: merchant,
				OutOfScope: spend.OutOfScopeMerchantInitiated, InitialAuthorizationID: initial.ID})
			if err != nil {
				t.Fatal(err)
			}
			return a
		}
		expectDecision(t, mit(m), "")
		expectDecision(t, mit(m), "") // again: a subscription's next charge
		other := m
		other.ID = "m-other"
		expectDecision(t, mit(other), spend.DeclineAuthenticationRequired)
		var fe *spend.FieldError
		if _, err := f.svc.Authorize(ctx, f.actor.PartnerID, spend.Request{Card: p.data(), Amount: "1.00", Currency: "EUR", Merchant: m,
			OutOfScope: spend.OutOfScopeMerchantInitiated, InitialAuthorizationID: uuid.New()}); !errors.As(err, &fe) || fe.Field != "initial_authorization_id" {
			t.Fatalf("a mandate no one set up: %v", err)
		}
	})
}

// One name is one string whichever Unicode form the merchant's systems
// send: an authentication of "Café" composed is the payment's "Café"
// decomposed.
func TestAnAuthenticationHoldsForTheNameInEitherForm(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.fund(t, "50.00")
		p := f.terminal(t, f.activeCard(t, card.Input{}))
		pid := f.actor.PartnerID
		payee := webShop
		payee.Name = "Caf\u00e9 Central"
		n, err := f.svc.Authenticate(ctx, &pid, spend.AuthenticationRequest{Card: &spend.CardData{PAN: []byte(p.pan), ExpMonth: p.month, ExpYear: p.year},
			Amount: "10.00", Currency: "EUR", Payee: payee})
		if err != nil || n.TransStatus != spend.TransAuthenticated {
			t.Fatalf("the authentication: %s %v", n.TransStatus, err)
		}
		m := spend.Merchant{Name: "Cafe\u0301 Central", MCC: payee.MCC, Country: payee.Country, ID: payee.ID}
		a, err := f.svc.Authorize(ctx, pid, spend.Request{Card: p.data(), Amount: "10.00", Currency: "EUR", Merchant: m, AuthenticationID: n.ID})
		if err != nil {
			t.Fatal(err)
		}
		expectDecision(t, a, "")
	})
}
