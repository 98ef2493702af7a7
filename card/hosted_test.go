package card_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/vault"
)

func TestTheHostedActionsShowAndSetSecretsAndAuditEach(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		c := f.newCard(t, f.a)
		by := card.Cardholder{IndividualID: c.IndividualID, ConsentID: uuid.New()}
		pan := f.pan(t, c)
		d, err := f.cards.RevealDetails(ctx, f.a.PartnerID, c.ID, by, false)
		if err != nil {
			t.Fatal(err)
		}
		if strings.ReplaceAll(string(d.Number), " ", "") != string(pan.Reveal()) || d.Number[4] != ' ' || d.Expiry != "12/29" || d.CVV != nil {
			t.Fatalf("details: %d bytes, expiry %q, cvv %d bytes", len(d.Number), d.Expiry, len(d.CVV))
		}
		d.Wipe()
		if strings.Trim(string(d.Number), "\x00") != "" {
			t.Fatal("Wipe left the number")
		}
		d, err = f.cards.RevealDetails(ctx, f.a.PartnerID, c.ID, by, true)
		if err != nil || len(d.CVV) != 3 {
			t.Fatalf("with the CVV: %d bytes, %v", len(d.CVV), err)
		}
		if _, err := f.cards.ShowPIN(ctx, f.a.PartnerID, c.ID, by); !errors.Is(err, card.ErrNoPIN) {
			t.Fatalf("a PIN before one was chosen: %v", err)
		}
		var pe *card.PINError
		if err := f.cards.ChoosePIN(ctx, f.a.PartnerID, c.ID, by, []byte("1234"), false); !errors.As(err, &pe) || !pe.Weak {
			t.Fatalf("a run as the PIN: %v", err)
		}
		if err := f.cards.ChoosePIN(ctx, f.a.PartnerID, c.ID, by, []byte("12a4"), false); !errors.As(err, &pe) || pe.Weak {
			t.Fatalf("letters in the PIN: %v", err)
		}
		if err := f.cards.ChoosePIN(ctx, f.a.PartnerID, c.ID, by, []byte("8203"), false); err != nil {
			t.Fatal(err)
		}
		if err := f.cards.ChoosePIN(ctx, f.a.PartnerID, c.ID, by, []byte("5831"), true); err != nil {
			t.Fatal(err)
		}
		pin, err := f.cards.ShowPIN(ctx, f.a.PartnerID, c.ID, by)
		if err != nil || string(pin) != "5831" {
			t.Fatalf("the PIN shown: %v", err)
		}
		if ok, err := f.ring.VerifyPIN(ctx, vault.Owner{PartnerID: c.PartnerID.String(), Table: "cards", RecordID: c.ID.String()}, vault.SecretString("5831")); !ok || err != nil {
			t.Fatalf("the vault holds another PIN: %v", err)
		}
		// Another partner's card is no card.
		if _, err := f.cards.RevealDetails(ctx, f.b.PartnerID, c.ID, by, false); !errors.Is(err, card.ErrNotFound) {
			t.Fatalf("another partner's card: %v", err)
		}
		entries, err := f.db.Audit().AuditEntries(ctx, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, e := range entries {
			if e.Target == "card:"+c.ID.String() && e.Actor == "cardholder:"+c.IndividualID.String() && e.Details["consent_id"] == by.ConsentID.String() {
				seen[e.Action]++
			}
		}
		for action, n := range map[string]int{"card.revealed": 1, "card.cvv_revealed": 1, "card.pin_set": 1, "card.pin_changed": 1, "card.pin_viewed": 1} {
			if seen[action] != n {
				t.Errorf("%s audited %d times, want %d (%v)", action, seen[action], n, seen)
			}
		}
		if to, err := f.cards.CodeContact(ctx, f.a.PartnerID, c.IndividualID); err != nil || to != "ada@example.com" {
			t.Fatalf("the code contact: %q %v", to, err)
		}
	})
}
