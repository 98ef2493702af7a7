package loadtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/vaultpage/vaultpage/store"
	"github.com/vaultpage/vaultpage/vault"
)

// presentedCard is what a cardholder reads off the reveal page.
type presentedCard struct {
	pan, cvv    string
	month, year int
}

// cardDataTargets are authorisation targets that present the cards of
// cardIDs as a telephone order does (number, expiry, CVV2: the card-data
// checks of an online payment, outside SCA's scope, so that the payments
// do not run into the low-value exemption's count).
func (s *service) cardDataTargets(t *testing.T, dataDir, databaseURL string, cardIDs []string) []vegeta.Target {
	t.Helper()
	var targets []vegeta.Target
	for _, c := range s.presentedCards(t, dataDir, databaseURL, cardIDs) {
		body := fmt.Sprintf(`{"pan":"%s","exp_month":"%02d","exp_year":"%d","cvv":"%s","entry_mode":"ecommerce","out_of_scope":"moto","amount":"1.00",`+
			`"currency":"EUR","merchant":{"name":"Load Shop","mcc":"5411","country":"SE","id":"m-1"}}`, c.pan, c.month, c.year, c.cvv)
		targets = append(targets, vegeta.Target{Method: "POST", URL: s.base + "/v3/simulations/authorizations", Header: s.header(), Body: []byte(body)})
	}
	return targets
}

// authenticationTargets are a web shop's authentication requests for
// 1.00 on each card, as its 3-D Secure server sends them.
func (s *service) authenticationTargets(cards []presentedCard) []vegeta.Target {
	var targets []vegeta.Target
	for _, c := range cards {
		body := fmt.Sprintf(`{"pan":"%s","exp_month":"%02d","exp_year":"%d","amount":"1.00","currency":"EUR",`+
			`"merchant":{"name":"Load Shop","url":"https://shop.example/checkout","mcc":"5411","country":"SE","id":"m-1"}}`, c.pan, c.month, c.year)
		targets = append(targets, vegeta.Target{Method: "POST", URL: s.base + "/v3/simulations/authentications", Header: s.header(), Body: []byte(body)})
	}
	return targets
}

// presentedCards reads the cards of cardIDs from the service's own vault
// (the development KEK in its data directory) the way the cardholder reads
// them off the reveal page.
func (s *service) presentedCards(t *testing.T, dataDir, databaseURL string, cardIDs []string) []presentedCard {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, databaseURL, dataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	keks, err := vault.OpenKEKs(ctx, vault.KEKConfig{Source: vault.KEKSourceDev, DataDir: dataDir}, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = keks.Close() }()
	ring, err := vault.Open(ctx, vault.Options{Store: db.Vault(), KEKs: keks, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Close()
	var partnerID string
	if err := s.db.QueryRow(`SELECT partner_id FROM cards WHERE id = $1`, cardIDs[0]).Scan(&partnerID); err != nil {
		t.Fatal(err)
	}
	var cards []presentedCard
	for _, id := range cardIDs {
		var month, year int
		if err := s.db.QueryRow(`SELECT exp_month, exp_year FROM cards WHERE id = $1`, id).Scan(&month, &year); err != nil {
			t.Fatal(err)
		}
		o := vault.Owner{PartnerID: partnerID, Table: "cards", RecordID: id}
		pan, err := ring.LoadPAN(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		cvv, err := ring.CVV(ctx, o, vault.Expiry{Year: year, Month: month}, vault.ServiceCodeCVV2)
		if err != nil {
			t.Fatal(err)
		}
		cards = append(cards, presentedCard{pan: string(pan.Reveal()), cvv: string(cvv.Reveal()), month: month, year: year})
	}
	return cards
}

// fdatasyncProbe measures the disk under dir as a durable commit meets it:
// one 8 kB write and fdatasync, n times, 1 ms apart, in a preallocated
// file. It returns the p50 and p99.
func fdatasyncProbe(t *testing.T, dir string, n int) (p50, p99 time.Duration) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, "fdatasync.probe"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close(); _ = os.Remove(f.Name()) }()
	const size, block = 16 << 20, 8 << 10
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, block)
	took := make([]time.Duration, 0, n)
	for i := range n {
		off := int64(i*block) % size
		start := time.Now()
		if _, err := f.WriteAt(buf, off); err != nil {
			t.Fatal(err)
		}
		if err := fdatasync(f); err != nil {
			t.Fatal(err)
		}
		took = append(took, time.Since(start))
		time.Sleep(time.Millisecond)
	}
	slices.Sort(took)
	return took[len(took)/2], took[len(took)*99/100]
}
