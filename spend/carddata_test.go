package spend_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/events"
	"github.com/vaultpage/vaultpage/partner"
	"github.com/vaultpage/vaultpage/spend"
	"github.com/vaultpage/vaultpage/vault"
)

var shop = spend.Merchant{Name: "Corner Shop", MCC: "5411", Country: "SE", ID: "m-1"}

// presented is what a terminal reads off c: its number, expiry and, for
// an online payment, its CVV2.
type presented struct {
	pan, cvv, pin  string
	month, year    int
	mode           spend.EntryMode
	noCVV, withPIN bool
	outOfScope     string // why an online payment is outside SCA's scope
}

func (f *fixture) terminal(t *testing.T, c card.Card) presented {
	t.Helper()
	ctx := context.Background()
	o := vault.Owner{PartnerID: c.PartnerID.String(), Table: "cards", RecordID: c.ID.String()}
	pan, err := f.ring.LoadPAN(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	cvv, err := f.ring.CVV(ctx, o, vault.Expiry{Year: c.ExpYear, Month: c.ExpMonth}, vault.ServiceCodeCVV2)
	if err != nil {
		t.Fatal(err)
	}
	return presented{pan: string(pan.Reveal()), cvv: string(cvv.Reveal()), month: c.ExpMonth, year: c.ExpYear, mode: spend.EntryEcommerce}
}

// cardWithPIN orders an active card whose PIN is pin.
func (f *fixture) cardWithPIN(t *testing.T, pin string) card.Card {
	t.Helper()
	c := f.activeCard(t, card.Input{})
	if err := f.ring.SetPIN(context.Background(), vault.Owner{PartnerID: c.PartnerID.String(), Table: "cards", RecordID: c.ID.String()}, vault.SecretString(pin)); err != nil {
		t.Fatal(err)
	}
	return c
}

func (p presented) data() *spend.CardData {
	d := &spend.CardData{PAN: []byte(p.pan), ExpMonth: p.month, ExpYear: p.year, EntryMode: p.mode}
	if !p.noCVV && p.mode == spend.EntryEcommerce {
		d.CVV = []byte(p.cvv)
	}
	if p.withPIN {
		d.PIN = []byte(p.pin)
	}
	return d
}

func (f *fixture) present(t *testing.T, p presented) spend.Authorization {
	t.Helper()
	a, err := f.svc.Authorize(context.Background(), f.actor.PartnerID, spend.Request{Card: p.data(), Amount: "1.00", Currency: "EUR", Merchant: shop,
		OutOfScope: p.outOfScope})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func expectChecks(t *testing.T, a spend.Authorization, cvv, expiry, pin spend.Check) {
	t.Helper()
	v := a.Verification
	if v == nil || v.CVV != cvv || v.Expiry != expiry || v.PIN != pin {
		t.Fatalf("verification %+v, want cvv %s, expiry %s, pin %s", v, cvv, expiry, pin)
	}
}

// Every outcome of the card data checks, with its decline reason, recorded
// with what was checked and read back.
func TestCardDataIsCheckedByTheVault(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.fund(t, "100.00")
		c := f.cardWithPIN(t, "8203")
		ok := f.terminal(t, c)
		chip := ok
		chip.mode, chip.withPIN, chip.pin = spend.EntryChip, true, "8203"
		wrongDigit := func(s string) string { b := []byte(s); b[len(b)-1] = '0' + (b[len(b)-1]-'0'+1)%10; return string(b) }
		testCases := []struct {
			name             string
			change           func(p *presented)
			reason           string
			cvv, expiry, pin spend.Check
		}{
			{"online, all right", func(p *presented) {}, "", spend.CheckMatch, spend.CheckMatch, spend.CheckNotProvided},
			{"online, one CVV digit wrong", func(p *presented) { p.cvv = wrongDigit(p.cvv) }, spend.DeclineIncorrectCVV, spend.CheckMismatch, spend.CheckMatch, spend.CheckNotProvided},
			{"online, without a CVV", func(p *presented) { p.noCVV = true }, "", spend.CheckNotProvided, spend.CheckMatch, spend.CheckNotProvided},
			// Nothing is checked after the first mismatch: a wrong expiry says
			// nothing of the CVV2, which could otherwise be tried apart.
			{"online, the wrong month", func(p *presented) { p.month = p.month%12 + 1 }, spend.DeclineIncorrectExpiry, spend.CheckNotProvided, spend.CheckMismatch, spend.CheckNotProvided},
			{"online, the wrong year", func(p *presented) { p.year++ }, spend.DeclineIncorrectExpiry, spend.CheckNotProvided, spend.CheckMismatch, spend.CheckNotProvided},
			{"online, the wrong year, the right CVV", func(p *presented) { p.year++ }, spend.DeclineIncorrectExpiry, spend.CheckNotProvided, spend.CheckMismatch, spend.CheckNotProvided},
			{"online, the wrong year and CVV", func(p *presented) { p.year++; p.cvv = wrongDigit(p.cvv) }, spend.DeclineIncorrectExpiry, spend.CheckNotProvided, spend.CheckMismatch, spend.CheckNotProvided},
			{"an ATM, the wrong year and the right PIN", func(p *presented) { p.mode, p.withPIN, p.pin, p.year = spend.EntryATM, true, "8203", p.year+1 }, spend.DeclineIncorrectExpiry, spend.CheckNotProvided, spend.CheckMismatch, spend.CheckNotProvided},
			{"chip and the right PIN", func(p *presented) { p.mode, p.withPIN, p.pin = spend.EntryChip, true, "8203" }, "", spend.CheckNotProvided, spend.CheckMatch, spend.CheckMatch},
			{"contactless without a PIN", func(p *presented) { p.mode = spend.EntryContactless }, "", spend.CheckNotProvided, spend.CheckMatch, spend.CheckNotProvided},
			{"an ATM and a wrong PIN", func(p *presented) { p.mode, p.withPIN, p.pin = spend.EntryATM, true, "8204" }, spend.DeclineIncorrectPIN, spend.CheckNotProvided, spend.CheckMatch, spend.CheckMismatch},
			{"magstripe and the right PIN", func(p *presented) { p.mode, p.withPIN, p.pin = spend.EntryMagstripe, true, "8203" }, "", spend.CheckNotProvided, spend.CheckMatch, spend.CheckMatch},
		}
		for _, tc := range testCases {
			t.Run(tc.name, func(t *testing.T) {
				p := ok
				tc.change(&p)
				a := f.present(t, p)
				expectDecision(t, a, tc.reason)
				expectChecks(t, a, tc.cvv, tc.expiry, tc.pin)
				if a.CardID != c.ID || a.EntryMode != p.mode {
					t.Fatalf("authorisation of card %s by %s", a.CardID, a.EntryMode)
				}
				got, err := f.svc.Authorization(ctx, f.actor.PartnerID, a.ID)
				if err != nil {
					t.Fatal(err)
				}
				expectChecks(t, got, tc.cvv, tc.expiry, tc.pin)
				// The right card data starts the count of wrong ones again,
				// so that the cases together lock nothing: at a chip
				// terminal, with the PIN, so that the online payments
				// without SCA stay within the low-value exemption.
				expectDecision(t, f.present(t, chip), "")
			})
		}
		// A card that is not active declines by its status, and its data is
		// not checked: a wrong CVV2 says nothing either.
		frozen := card.StatusFrozen
		if _, err := f.cards.UpdateCard(ctx, f.actor, c.ID, card.Patch{Status: &frozen}); err != nil {
			t.Fatal(err)
		}
		a := f.present(t, ok)
		expectDecision(t, a, spend.DeclineCardFrozen)
		expectChecks(t, a, spend.CheckNotProvided, spend.CheckNotProvided, spend.CheckNotProvided)
		bad := ok
		bad.cvv = wrongDigit(ok.cvv)
		a = f.present(t, bad)
		expectDecision(t, a, spend.DeclineCardFrozen)
		expectChecks(t, a, spend.CheckNotProvided, spend.CheckNotProvided, spend.CheckNotProvided)
		list, err := f.svc.Authorizations(ctx, f.actor.PartnerID, &c.ID, card.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range list {
			if a.Verification == nil {
				t.Fatalf("authorisation %s listed without its checks", a.ID)
			}
		}
	})
}

// A number no card of the partner carries declines card_not_found, the
// same whether no card has it or another partner's card does.
func TestCardNotFoundNeverTellsWhoseCardItIs(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		creds, err := partner.NewService(f.db.Partners(), partner.Config{}, nil).Create(ctx, "Beta", nil)
		if err != nil {
			t.Fatal(err)
		}
		beta := card.Actor{PartnerID: creds.PartnerID}
		ind, err := f.cards.CreateIndividual(ctx, beta, card.IndividualInput{FirstName: "B", LastName: "C", Email: "b@c.co"})
		if err != nil {
			t.Fatal(err)
		}
		acc, err := f.cards.CreateAccount(ctx, beta, ind.ID, "EUR")
		if err != nil {
			t.Fatal(err)
		}
		betaCard, err := f.cards.CreateCard(ctx, beta, card.Input{IndividualID: ind.ID, AccountID: acc.ID})
		if err != nil {
			t.Fatal(err)
		}
		theirs := f.terminal(t, betaCard)
		unknown := theirs
		unknown.pan = luhnPAN(theirs.pan[:6] + "000000000")
		var answers []spend.Authorization
		for _, p := range []presented{theirs, unknown} {
			a := f.present(t, p)
			expectDecision(t, a, spend.DeclineCardNotFound)
			expectChecks(t, a, spend.CheckNotProvided, spend.CheckNotProvided, spend.CheckNotProvided)
			if _, err := f.svc.Authorization(ctx, f.actor.PartnerID, a.ID); !errors.Is(err, spend.ErrNotFound) {
				t.Fatalf("a card_not_found decline was recorded: %v", err)
			}
			a.ID, a.CreatedAt, a.UpdatedAt = [16]byte{}, f.now, f.now
			answers = append(answers, a)
		}
		if !reflect.DeepEqual(answers[0], answers[1]) {
			t.Fatalf("the two answers differ:\n%+v\n%+v", answers[0], answers[1])
		}
	})
}

// luhnPAN completes a payload with its Luhn check digit.
func luhnPAN(payload string) string {
	sum := 0
	for i := len(payload) - 1; i >= 0; i-- {
		d := int(payload[i] - '0')
		if (len(payload)-i)%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return payload + string(rune('0'+(10-sum%10)%10))
}

// Three wrong PINs in a row block the PIN, counted in the database:
// concurrent wrong PINs never get past three. A new PIN unblocks it.
func TestThreeWrongPINsBlockThePIN(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.fund(t, "100.00")
		c := f.cardWithPIN(t, "8203")
		chip := f.terminal(t, c)
		chip.mode, chip.withPIN = spend.EntryChip, true
		withPIN := func(pin string) presented { p := chip; p.pin = pin; return p }
		// Two wrong, then the right one: the count starts again.
		expectDecision(t, f.present(t, withPIN("1111")), spend.DeclineIncorrectPIN)
		expectDecision(t, f.present(t, withPIN("2222")), spend.DeclineIncorrectPIN)
		expectDecision(t, f.present(t, withPIN("8203")), "")
		if got, _ := f.cards.Card(ctx, f.actor, c.ID); got.PINTries != 0 {
			t.Fatalf("after the right PIN %d tries are counted", got.PINTries)
		}
		// Twelve wrong PINs at once.
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			reasons = map[string]int{}
		)
		for i := range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a, err := f.svc.Authorize(ctx, f.actor.PartnerID, spend.Request{Card: withPIN(fmt.Sprintf("%04d", 1000+i)).data(), Amount: "1.00", Currency: "EUR", Merchant: shop})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				reasons[a.DeclineReason]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if reasons[spend.DeclineIncorrectPIN] != card.MaxPINTries || reasons[spend.DeclinePINTriesExceeded] != 12-card.MaxPINTries {
			t.Fatalf("declines %v", reasons)
		}
		got, err := f.cards.Card(ctx, f.actor, c.ID)
		if err != nil || !got.PINBlocked || got.PINTries != card.MaxPINTries {
			t.Fatalf("card %v tries %d blocked %v", err, got.PINTries, got.PINBlocked)
		}
		// Blocked: the PIN is no longer checked, so neither the right one
		// nor a wrong one says which it was; online payments go on.
		for _, pin := range []string{"8203", "9999"} {
			a := f.present(t, withPIN(pin))
			expectDecision(t, a, spend.DeclinePINTriesExceeded)
			expectChecks(t, a, spend.CheckNotProvided, spend.CheckMatch, spend.CheckNotProvided)
		}
		online := f.terminal(t, c)
		expectDecision(t, f.present(t, online), "")
		if _, err := f.db.Consents().Sequence(ctx); err != nil {
			t.Fatal(err)
		}
		if evs, err := f.db.Consents().Events(ctx, f.actor.PartnerID, events.Filter{Type: "card.pin_blocked", Limit: 10}); err != nil || len(evs) != 1 {
			t.Fatalf("%d card.pin_blocked events: %v", len(evs), err)
		}
		// The cardholder changes the PIN on the hosted pages.
		if err := f.cards.ChoosePIN(ctx, f.actor.PartnerID, c.ID, card.Cardholder{IndividualID: c.IndividualID}, []byte("5791"), true); err != nil {
			t.Fatal(err)
		}
		if got, _ := f.cards.Card(ctx, f.actor, c.ID); got.PINBlocked || got.PINTries != 0 {
			t.Fatalf("after a new PIN: tries %d blocked %v", got.PINTries, got.PINBlocked)
		}
		expectDecision(t, f.present(t, withPIN("5791")), "")
	})
}

// Card data that is not card data is a field error, not a decline.
func TestMalformedCardDataNamesTheField(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		c := f.activeCard(t, card.Input{})
		ok := f.terminal(t, c)
		testCases := []struct {
			name   string
			change func(d *spend.CardData)
			field  string
		}{
			{"a short number", func(d *spend.CardData) { d.PAN = d.PAN[:12] }, "pan"},
			{"letters in the number", func(d *spend.CardData) { d.PAN[3] = 'x' }, "pan"},
			{"month 13", func(d *spend.CardData) { d.ExpMonth = 13 }, "exp_month"},
			{"a two-digit year", func(d *spend.CardData) { d.ExpYear = 29 }, "exp_year"},
			{"no entry mode", func(d *spend.CardData) { d.EntryMode = "" }, "entry_mode"},
			{"a four-digit CVV", func(d *spend.CardData) { d.CVV = []byte("1234") }, "cvv"},
			{"an ATM without a PIN", func(d *spend.CardData) { d.EntryMode, d.CVV = spend.EntryATM, nil }, "pin"},
			{"a PIN online", func(d *spend.CardData) { d.PIN = []byte("1234") }, "pin"},
			{"a CVV at a terminal", func(d *spend.CardData) { d.EntryMode = spend.EntryChip }, "cvv"},
			{"a three-digit PIN", func(d *spend.CardData) { d.EntryMode, d.CVV, d.PIN = spend.EntryChip, nil, []byte("123") }, "pin"},
		}
		for _, tc := range testCases {
			t.Run(tc.name, func(t *testing.T) {
				d := ok.data()
				tc.change(d)
				_, err := f.svc.Authorize(context.Background(), f.actor.PartnerID, spend.Request{Card: d, Amount: "1.00", Currency: "EUR", Merchant: shop})
				var fe *spend.FieldError
				if !errors.As(err, &fe) || fe.Field != tc.field {
					t.Fatalf("error %v, want a field error on %s", err, tc.field)
				}
			})
		}
	})
}

// Five wrong expiry dates or CVV2s in a row lock the card's data for a
// day, counted in the database: concurrent guesses never get past five,
// and while the data is locked nothing is checked. Only a matching CVV2 or
// PIN starts the count again.
func TestFiveWrongCardDataTriesLockTheCardData(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.fund(t, "100.00")
		c := f.cardWithPIN(t, "8203")
		right := f.terminal(t, c)
		wrongCVV := func(i int) presented {
			p := right
			p.cvv = fmt.Sprintf("%03d", (atoi(t, right.cvv)+1+i)%1000)
			return p
		}
		wrongExpiry := right
		wrongExpiry.year++
		noCVV := right
		noCVV.noCVV = true
		chip := right
		chip.mode, chip.withPIN, chip.pin = spend.EntryChip, true, "8203"
		wrongPIN := chip
		wrongPIN.pin = "1111"
		tries := func() card.Card {
			t.Helper()
			got, err := f.cards.Card(ctx, f.actor, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}

		expectDecision(t, f.present(t, wrongCVV(0)), spend.DeclineIncorrectCVV)
		expectDecision(t, f.present(t, wrongExpiry), spend.DeclineIncorrectExpiry)
		// A right expiry without a CVV2 proves nothing, nor does a wrong
		// PIN count as wrong card data.
		expectDecision(t, f.present(t, noCVV), "")
		expectDecision(t, f.present(t, wrongPIN), spend.DeclineIncorrectPIN)
		if got := tries(); got.CardDataTries != 2 || got.CardDataLockedUntil != nil {
			t.Fatalf("after two wrong tries, a bare expiry and a wrong PIN: %d tries, locked until %v", got.CardDataTries, got.CardDataLockedUntil)
		}
		expectDecision(t, f.present(t, right), "")
		if got := tries(); got.CardDataTries != 0 {
			t.Fatalf("after a right CVV2 %d tries are counted", got.CardDataTries)
		}
		expectDecision(t, f.present(t, wrongExpiry), spend.DeclineIncorrectExpiry)
		expectDecision(t, f.present(t, chip), "")
		if got := tries(); got.CardDataTries != 0 || got.PINTries != 0 {
			t.Fatalf("after a right PIN: %d card data tries, %d PIN tries", got.CardDataTries, got.PINTries)
		}

		// Twelve wrong CVV2s at once, while the partner renames the card:
		// each is decided, five are checked.
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			reasons = map[string]int{}
		)
		for i := range 12 {
			wg.Add(2)
			go func() {
				defer wg.Done()
				a, err := f.svc.Authorize(ctx, f.actor.PartnerID, spend.Request{Card: wrongCVV(i).data(), Amount: "1.00", Currency: "EUR", Merchant: shop})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				reasons[a.DeclineReason]++
				mu.Unlock()
			}()
			go func() {
				defer wg.Done()
				name := fmt.Sprintf("Travel %d", i)
				if _, err := f.cards.UpdateCard(ctx, f.actor, c.ID, card.Patch{DisplayName: &name}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if reasons[spend.DeclineIncorrectCVV] != card.MaxCardDataTries || reasons[spend.DeclineCardDataTriesExceeded] != 12-card.MaxCardDataTries {
			t.Fatalf("declines %v", reasons)
		}
		locked := tries()
		if want := f.now.Add(card.CardDataLockout); locked.CardDataTries != card.MaxCardDataTries || locked.CardDataLockedUntil == nil || !locked.CardDataLockedUntil.Equal(want) {
			t.Fatalf("card data %d tries, locked until %v, want until %v", locked.CardDataTries, locked.CardDataLockedUntil, want)
		}
		if _, err := f.db.Consents().Sequence(ctx); err != nil {
			t.Fatal(err)
		}
		if evs, err := f.db.Consents().Events(ctx, f.actor.PartnerID, events.Filter{Type: "card.card_data_locked", Limit: 10}); err != nil || len(evs) != 1 ||
			evs[0].Data["locked_until"] != locked.CardDataLockedUntil.Format(time.RFC3339) {
			t.Fatalf("card.card_data_locked events %v: %v", evs, err)
		}
		// Locked: neither the right data nor a PIN is checked; a payment by
		// card id goes on.
		for _, p := range []presented{right, wrongCVV(0), chip} {
			a := f.present(t, p)
			expectDecision(t, a, spend.DeclineCardDataTriesExceeded)
			expectChecks(t, a, spend.CheckNotProvided, spend.CheckNotProvided, spend.CheckNotProvided)
		}
		expectDecision(t, f.authorize(t, c, "1.00", shop), "")

		// A day on, the lock has ended and the count starts from nought.
		f.now = f.now.Add(card.CardDataLockout)
		expectDecision(t, f.present(t, wrongCVV(0)), spend.DeclineIncorrectCVV)
		if got := tries(); got.CardDataTries != 1 || got.CardDataLockedUntil != nil {
			t.Fatalf("after the lock, one wrong try: %d tries, locked until %v", got.CardDataTries, got.CardDataLockedUntil)
		}
		expectDecision(t, f.present(t, right), "")
		if got := tries(); got.CardDataTries != 0 {
			t.Fatalf("after the lock and a right CVV2: %d tries", got.CardDataTries)
		}

		// The cardholder's own payments between the guesses buy no more
		// than ten wrong ones a day: four, a right one, four, a right
		// one, and the second of the next two locks.
		f.now = f.now.Add(card.CardDataLockout) // a new day
		for round := range 3 {
			for i := range 4 {
				a := f.present(t, wrongCVV(10*round+i))
				if round == 2 && i == 1 {
					expectDecision(t, a, spend.DeclineIncorrectCVV)
					break
				}
				expectDecision(t, a, spend.DeclineIncorrectCVV)
			}
			if round < 2 {
				expectDecision(t, f.present(t, right), "")
			}
		}
		if got := tries(); got.CardDataWrongToday != card.MaxCardDataTriesPerDay || got.CardDataLockedUntil == nil {
			t.Fatalf("after ten wrong tries in a day between right ones: %d today, locked until %v", got.CardDataWrongToday, got.CardDataLockedUntil)
		}
		expectDecision(t, f.present(t, right), spend.DeclineCardDataTriesExceeded)
	})
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
