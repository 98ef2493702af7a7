package spend_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/spend"
	"github.com/vaultpage/vaultpage/store/storetest"
)

// BenchmarkAuthorize decides authorisations in parallel over 50 funded
// cards with monthly limits, on each store (go test -bench Authorize
// -run XXX ./spend; PostgreSQL with VAULTPAGE_TEST_DATABASE_URL).
func BenchmarkAuthorize(b *testing.B) {
	for _, be := range storetest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			t := &testing.T{}
			f := newFixture(t, be.Open(b))
			var cards []card.Card
			for range 50 {
				acct, err := f.cards.CreateAccount(context.Background(), f.actor, f.ind.ID, "EUR")
				if err != nil {
					b.Fatal(err)
				}
				f.acct = acct
				f.fund(t, "1000000.00")
				cards = append(cards, f.activeCard(t, card.Input{SpendLimit: "1000000.00", SpendLimitDuration: card.DurationMonthly}))
			}
			var n atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					c := cards[int(n.Add(1))%len(cards)]
					a, err := f.svc.Authorize(context.Background(), f.actor.PartnerID, spend.Request{CardID: c.ID, Amount: "1.00", Currency: "EUR", Merchant: grocer})
					if err != nil || a.Status != spend.StatusApproved {
						b.Fatalf("%v %s", err, a.DeclineReason)
					}
				}
			})
		})
	}
}
