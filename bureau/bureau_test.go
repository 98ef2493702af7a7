package bureau_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/audit"
	"github.com/vaultpage/vaultpage/bureau"
	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/internal/luhn"
	"github.com/vaultpage/vaultpage/internal/testkit"
	"github.com/vaultpage/vaultpage/partner"
	"github.com/vaultpage/vaultpage/store"
	"github.com/vaultpage/vaultpage/store/storetest"
	"github.com/vaultpage/vaultpage/vault"
)

type fixture struct {
	db          *store.DB
	ring        *vault.Keyring
	cards       *card.Service
	actors      []card.Actor
	gpg         *testkit.GnuPG
	fingerprint string
	keys        bureau.Config
	dir         string
}

func setup(t *testing.T, db *store.DB, g *testkit.GnuPG) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{db: db, ring: storetest.Keyring(t, db), gpg: g, dir: filepath.Join(t.TempDir(), "bureau")}
	f.cards = card.NewService(db.Cards(), f.ring, audit.NewLog(db.Audit(), nil), card.Config{BIN: vault.BINRange{Prefix: "489537", Length: 16}, Outbox: db.Consents()}, nil)
	ps := partner.NewService(db.Partners(), partner.Config{}, nil)
	for range 2 {
		creds, err := ps.Create(ctx, "partner", nil)
		if err != nil {
			t.Fatal(err)
		}
		f.actors = append(f.actors, card.Actor{PartnerID: creds.PartnerID})
	}
	var priv []byte
	priv, f.fingerprint = g.SigningKey()
	recipients, signing, err := bureau.ReadKeys(bytes.NewReader(g.PublicKey()), bytes.NewReader(priv))
	if err != nil {
		t.Fatal(err)
	}
	f.keys = bureau.Config{Dir: f.dir, Recipients: recipients, Signer: signing, Programme: "Test Programme"}
	return f
}

func (f *fixture) exporter(t *testing.T) *bureau.Exporter {
	t.Helper()
	x, err := bureau.New(f.cards, f.keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// order makes a card of type t for the cardholder first last.
func (f *fixture) order(t *testing.T, a card.Actor, typ card.Type, first, last string) card.Card {
	t.Helper()
	ctx := context.Background()
	i, err := f.cards.CreateIndividual(ctx, a, card.IndividualInput{FirstName: first, LastName: last, Email: "c@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := f.cards.CreateAccount(ctx, a, i.ID, "EUR")
	if err != nil {
		t.Fatal(err)
	}
	in := card.Input{IndividualID: i.ID, AccountID: acc.ID, Type: typ}
	if typ == card.TypePhysical {
		in.ShippingAddress = &card.Address{Line1: "Drottninggatan 1", Line2: "lgh 1101", City: "Stockholm", PostalCode: "111 51", Country: "SE"}
	}
	c, err := f.cards.CreateCard(ctx, a, in)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type line struct {
	PAN             string            `json:"pan"`
	CVV2            string            `json:"cvv2"`
	CardID          string            `json:"card_id"`
	PartnerID       string            `json:"partner_id"`
	NameOnCard      string            `json:"name_on_card"`
	ExpMonth        string            `json:"exp_month"`
	ExpYear         string            `json:"exp_year"`
	Brand           string            `json:"brand"`
	ShippingAddress map[string]string `json:"shipping_address"`
}

// read decrypts a file with gpg and checks every record against the vault:
// the number is the card's and Luhn-valid, the CVV2 is the card's.
func (f *fixture) read(t *testing.T, path, batch string) map[string]line {
	t.Helper()
	ctx := context.Background()
	lines := f.gpg.Decrypt(path, f.fingerprint)
	var h struct {
		Format, Batch, Programme string
		Cards                    int
	}
	if err := json.Unmarshal([]byte(lines[0]), &h); err != nil || h.Format != bureau.Format || h.Batch != batch || h.Programme != "Test Programme" || h.Cards != len(lines)-1 {
		t.Fatalf("header %s (%v)", lines[0], err)
	}
	out := map[string]line{}
	for _, l := range lines[1:] {
		var r line
		dec := json.NewDecoder(strings.NewReader(l))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("record %v", err)
		}
		pid, id := uuid.MustParse(r.PartnerID), uuid.MustParse(r.CardID)
		o := vault.Owner{PartnerID: pid.String(), Table: "cards", RecordID: id.String()}
		pan, err := f.ring.LoadPAN(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		c, err := f.cards.Card(ctx, card.Actor{PartnerID: pid}, id)
		if err != nil {
			t.Fatal(err)
		}
		cvv, err := f.ring.CVV(ctx, o, vault.Expiry{Year: c.ExpYear, Month: c.ExpMonth}, vault.ServiceCodeCVV2)
		if err != nil {
			t.Fatal(err)
		}
		if r.PAN != string(pan.Reveal()) || !luhn.Valid([]byte(r.PAN)) || r.CVV2 != string(cvv.Reveal()) || len(r.CVV2) != 3 {
			t.Fatalf("card %s: the file's number or CVV2 is not the vault's", id)
		}
		if c.Fulfilment == nil || c.Fulfilment.Status != card.FulfilmentSentToBureau || c.Fulfilment.Batch != batch {
			t.Fatalf("card %s fulfilment %+v", id, c.Fulfilment)
		}
		if r.ExpYear == "" || len(r.ExpMonth) != 2 || r.Brand != "visa" || r.ShippingAddress["city"] != "Stockholm" || r.ShippingAddress["line2"] != "lgh 1101" {
			t.Fatalf("record %+v", r)
		}
		if _, dup := out[r.CardID]; dup {
			t.Fatalf("card %s twice in one file", r.CardID)
		}
		out[r.CardID] = r
	}
	return out
}

func TestTheBureauFileIsReadByGnuPGAndHoldsEveryWaitingCardOnce(t *testing.T) {
	g := testkit.NewGnuPG(t)
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			f := setup(t, b.Open(t), g)
			ctx := context.Background()
			want := map[string]card.Card{}
			for i, name := range [][2]string{{"Ada", "Lovelace"}, {"Björn", "Åström-Ödegård"}, {"Grace", "Brewster Murray Hopper Jr."}} {
				c := f.order(t, f.actors[i%2], card.TypePhysical, name[0], name[1])
				want[c.ID.String()] = c
			}
			f.order(t, f.actors[0], card.TypeVirtual, "Vera", "Virtual")
			lost := f.order(t, f.actors[1], card.TypePhysical, "Lars", "Lost")
			st := card.StatusLost
			if _, err := f.cards.UpdateCard(ctx, f.actors[1], lost.ID, card.Patch{Status: &st}); err != nil {
				t.Fatal(err)
			}

			res, err := f.exporter(t).Export(ctx, "operator:test")
			if err != nil {
				t.Fatal(err)
			}
			if res.Cards != 3 || filepath.Base(res.File) != res.Batch+".pgp" {
				t.Fatalf("export %+v", res)
			}
			st2, err := os.Stat(res.File)
			if err != nil || st2.Mode().Perm() != 0o600 {
				t.Fatalf("file mode %v %v", st2.Mode(), err)
			}
			raw, err := os.ReadFile(res.File)
			if err != nil {
				t.Fatal(err)
			}
			got := f.read(t, res.File, res.Batch)
			if len(got) != 3 {
				t.Fatalf("%d records, want 3", len(got))
			}
			for id, r := range got {
				if _, ok := want[id]; !ok {
					t.Fatalf("card %s should not be in the file", id)
				}
				if bytes.Contains(raw, []byte(r.PAN)) {
					t.Fatal("a card number is in the file in clear")
				}
			}
			names := map[string]bool{}
			for _, r := range got {
				names[r.NameOnCard] = true
			}
			if !names["ADA LOVELACE"] || !names["BJORN ASTROM-ODEGARD"] || !names["GRACE BREWSTER MURRAY HOPP"] {
				t.Fatalf("names on the cards %v", names)
			}
			// Nothing waits now: no file, no batch.
			again, err := f.exporter(t).Export(ctx, "operator:test")
			if err != nil || again.Cards != 0 || again.File != "" {
				t.Fatalf("a second export %+v %v", again, err)
			}
			files, _ := filepath.Glob(filepath.Join(f.dir, "b_*"))
			if len(files) != 1 {
				t.Fatalf("files in the bureau directory: %v", files)
			}
			if _, err := audit.Verify(ctx, f.db.Audit()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Exports that race claim disjoint cards: every waiting card is in exactly
// one file.
func TestRacingExportsSendEachCardOnce(t *testing.T) {
	g := testkit.NewGnuPG(t)
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			f := setup(t, b.Open(t), g)
			ctx := context.Background()
			const n = 24
			for i := range n {
				f.order(t, f.actors[i%2], card.TypePhysical, "Card", "Holder")
			}
			f.keys.Limit = 5
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				results []bureau.Result
			)
			// Two hosts, each with its directory, each running two exports.
			for i := range 4 {
				wg.Add(1)
				cfg := f.keys
				cfg.Dir = filepath.Join(f.dir, []string{"host-a", "host-b"}[i%2])
				go func() {
					defer wg.Done()
					x, err := bureau.New(f.cards, cfg, nil)
					if err != nil {
						t.Error(err)
						return
					}
					for {
						r, err := x.Export(ctx, "system:schedule")
						if err != nil {
							t.Error(err)
							return
						}
						if r.Cards == 0 {
							return
						}
						mu.Lock()
						results = append(results, r)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			seen := map[string]string{}
			for _, r := range results {
				for id := range f.read(t, r.File, r.Batch) {
					if other, dup := seen[id]; dup {
						t.Fatalf("card %s in batches %s and %s", id, other, r.Batch)
					}
					seen[id] = r.Batch
				}
			}
			if len(seen) != n {
				t.Fatalf("%d cards sent, want %d", len(seen), n)
			}
		})
	}
}

// A file whose write fails sends nothing; an interrupted export's file is
// finished by the next export, and one of a batch that never committed is
// removed.
func TestAnInterruptedExportIsFinishedOrUndone(t *testing.T) {
	g := testkit.NewGnuPG(t)
	f := setup(t, storetest.SQLite(t), g)
	ctx := context.Background()
	c := f.order(t, f.actors[0], card.TypePhysical, "Ada", "Lovelace")
	failed := errors.New("disk full")
	if _, err := f.cards.SendToBureau(ctx, "operator:test", "b_failed", 10, func(context.Context, []card.Personalisation) error { return failed }); !errors.Is(err, failed) {
		t.Fatalf("a failed write: %v", err)
	}
	if got, _ := f.cards.Card(ctx, f.actors[0], c.ID); got.Fulfilment.Status != card.FulfilmentPending {
		t.Fatalf("after a failed write the card is %s", got.Fulfilment.Status)
	}
	res, err := f.exporter(t).Export(ctx, "operator:test")
	if err != nil || res.Cards != 1 {
		t.Fatalf("export %+v %v", res, err)
	}
	// As a crash between commit and rename leaves it, and a stray one.
	if err := os.Rename(res.File, res.File+".part"); err != nil {
		t.Fatal(err)
	}
	stray := filepath.Join(f.dir, "b_"+uuid.NewString()+".pgp.part")
	if err := os.WriteFile(stray, []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.exporter(t).Export(ctx, "operator:test"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(res.File); err != nil {
		t.Fatalf("the committed batch's file was not finished: %v", err)
	}
	if _, err := os.Stat(stray); !os.IsNotExist(err) {
		t.Fatalf("the uncommitted batch's file is still there: %v", err)
	}
	if got := f.read(t, res.File, res.Batch); len(got) != 1 {
		t.Fatalf("%d records", len(got))
	}
}

// Physical cards ordered before addresses and fulfilment were kept (rows
// the migrations left without either) never block an export, and a
// reissue of one asks where to ship the new card.
func TestCardsFromBeforeFulfilmentNeverBlockAnExport(t *testing.T) {
	g := testkit.NewGnuPG(t)
	dir := t.TempDir()
	db, err := store.Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	f := setup(t, db, g)
	ctx := context.Background()
	legacy := f.order(t, f.actors[0], card.TypePhysical, "Old", "Card")
	pendingNoAddress := f.order(t, f.actors[0], card.TypePhysical, "Odd", "Card")
	fresh := f.order(t, f.actors[0], card.TypePhysical, "New", "Card")
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, store.SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = raw.Close() }()
	if _, err := raw.Exec(`UPDATE cards SET shipping_address = '', fulfilment_status = '', fulfilment_updated_at = NULL WHERE id = $1`, legacy.ID.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE cards SET shipping_address = '' WHERE id = $1`, pendingNoAddress.ID.String()); err != nil {
		t.Fatal(err)
	}
	res, err := f.exporter(t).Export(ctx, "operator:test")
	if err != nil || res.Cards != 1 {
		t.Fatalf("export %+v %v", res, err)
	}
	if got := f.read(t, res.File, res.Batch); len(got) != 1 || got[fresh.ID.String()].CardID == "" {
		t.Fatalf("the file holds %d cards, not the new one alone", len(got))
	}
	_, err = f.cards.Reissue(ctx, f.actors[0], legacy.ID, card.ReissueNewNumber, nil)
	var fe *card.FieldError
	if !errors.As(err, &fe) || fe.Field != "shipping_address" {
		t.Fatalf("a reissue of a card without an address: %v", err)
	}
}
