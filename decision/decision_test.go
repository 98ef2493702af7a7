package decision_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/vaultpage/vaultpage/audit"
	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/decision"
	"github.com/vaultpage/vaultpage/events"
	"github.com/vaultpage/vaultpage/partner"
	"github.com/vaultpage/vaultpage/spend"
	"github.com/vaultpage/vaultpage/store"
	"github.com/vaultpage/vaultpage/store/storetest"
	"github.com/vaultpage/vaultpage/vault"
)

var shop = spend.Merchant{Name: "Corner Shop", MCC: "5411", Country: "SE", ID: "m-1"}

// fixture is a store, the card and spend services with the decision
// service as their real-time decider, and one partner with a card.
type fixture struct {
	db        *store.DB
	ring      *vault.Keyring
	cards     *card.Service
	decisions *decision.Service
	svc       *spend.Service
}

type holder struct {
	actor card.Actor
	acct  card.Account
	card  card.Card
}

func newFixture(t testing.TB, db *store.DB, cfg decision.Config) *fixture {
	t.Helper()
	ring := storetest.Keyring(t, db)
	log := audit.NewLog(db.Audit(), nil)
	f := &fixture{db: db, ring: ring}
	f.cards = card.NewService(db.Cards(), ring, log, card.Config{BIN: vault.BINRange{Prefix: "489537", Length: 16}}, nil)
	f.decisions = decision.NewService(db.Decisions(), ring, cfg, nil, nil)
	f.svc = spend.NewService(db.Spend(), db.Consents(), log, spend.Config{Sandbox: true, Vault: ring, RealTime: f.decisions}, nil)
	return f
}

// holder makes a partner with a funded account and an active card.
func (f *fixture) holder(t testing.TB, name, funds string) holder {
	t.Helper()
	ctx := context.Background()
	creds, err := partner.NewService(f.db.Partners(), partner.Config{}, nil).Create(ctx, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := holder{actor: card.Actor{PartnerID: creds.PartnerID}}
	ind, err := f.cards.CreateIndividual(ctx, h.actor, card.IndividualInput{FirstName: "A", LastName: "B", Email: "a@b.co"})
	if err != nil {
		t.Fatal(err)
	}
	if h.acct, err = f.cards.CreateAccount(ctx, h.actor, ind.ID, "EUR"); err != nil {
		t.Fatal(err)
	}
	if funds != "" {
		if _, _, err := f.svc.Fund(ctx, h.actor.PartnerID, h.acct.ID, funds); err != nil {
			t.Fatal(err)
		}
	}
	if h.card, err = f.cards.CreateCard(ctx, h.actor, card.Input{IndividualID: ind.ID, AccountID: h.acct.ID}); err != nil {
		t.Fatal(err)
	}
	return h
}

func (f *fixture) register(t *testing.T, h holder, url string, timeoutMS int, fallback decision.Fallback) string {
	t.Helper()
	_, secret, err := f.decisions.Put(context.Background(), h.actor.PartnerID, decision.Input{URL: url, TimeoutMS: timeoutMS, Fallback: fallback})
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

func (f *fixture) pay(t *testing.T, h holder, amount string) spend.Authorization {
	t.Helper()
	a, err := f.svc.Authorize(context.Background(), h.actor.PartnerID, spend.Request{CardID: h.card.ID, Amount: amount, Currency: "EUR", Merchant: shop})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (f *fixture) account(t *testing.T, h holder) card.Account {
	t.Helper()
	a, err := f.cards.Account(context.Background(), h.actor, h.acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func eachBackend(t *testing.T, cfg decision.Config, fn func(t *testing.T, f *fixture)) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) { fn(t, newFixture(t, b.Open(t), cfg)) })
	}
}

var dev = decision.Config{AllowPrivate: true, AllowHTTP: true}

// asked is one question as the endpoint received it.
type asked struct {
	headers http.Header
	body    []byte
}

// endpoint is a partner's decision endpoint: a real local server that
// answers with answer(question), after its pause.
type endpoint struct {
	*httptest.Server
	mu    sync.Mutex
	asked []asked
}

func newEndpoint(t *testing.T, answer func(w http.ResponseWriter, q map[string]any)) *endpoint {
	t.Helper()
	e := &endpoint{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		e.asked = append(e.asked, asked{headers: r.Header.Clone(), body: b})
		e.mu.Unlock()
		var q map[string]any
		_ = json.Unmarshal(b, &q)
		answer(w, q)
	}))
	t.Cleanup(e.Close)
	return e
}

func reply(body string) func(w http.ResponseWriter, q map[string]any) {
	return func(w http.ResponseWriter, _ map[string]any) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}
}

// Every answer a partner's endpoint can give, and every way it can fail
// to, decides as documented, and the decision records who made it.
func TestThePartnerDecidesInRealTime(t *testing.T) {
	eachBackend(t, dev, func(t *testing.T, f *fixture) {
		testCases := []struct {
			name     string
			answer   func(w http.ResponseWriter, q map[string]any)
			fallback decision.Fallback
			funds    string
			// expected
			reason, by, cause, amount, held, funded, partnerReason string
		}{
			{name: "approve", answer: reply(`{"approved": true}`), fallback: decision.FallbackDecline, funds: "100.00",
				by: "partner", amount: "10.00", held: "10.00"},
			{name: "decline with a reason", answer: reply(`{"approved": false, "reason": "card paused in the app"}`), fallback: decision.FallbackApprove,
				funds: "100.00", reason: spend.DeclinePartnerDeclined, by: "partner", amount: "10.00", held: "0.00", partnerReason: "card paused in the app"},
			{name: "partial approval", answer: reply(`{"approved": true, "amount": "6.00"}`), fallback: decision.FallbackDecline, funds: "100.00",
				by: "partner", amount: "6.00", held: "6.00"},
			{name: "just-in-time funding of an empty account", answer: reply(`{"approved": true, "fund": "10.00"}`), fallback: decision.FallbackDecline,
				by: "partner", amount: "10.00", held: "10.00", funded: "10.00"},
			{name: "a 500, fallback decline", answer: func(w http.ResponseWriter, _ map[string]any) { w.WriteHeader(http.StatusInternalServerError) },
				fallback: decision.FallbackDecline, funds: "100.00", reason: spend.DeclinePartnerUnavailable, by: "stand_in", cause: spend.CauseStatus, amount: "10.00", held: "0.00"},
			{name: "a 500, fallback approve", answer: func(w http.ResponseWriter, _ map[string]any) { w.WriteHeader(http.StatusInternalServerError) },
				fallback: decision.FallbackApprove, funds: "100.00", by: "stand_in", cause: spend.CauseStatus, amount: "10.00", held: "10.00"},
			{name: "a body that is no answer", answer: reply(`{"ok": true}`), fallback: decision.FallbackDecline, funds: "100.00",
				reason: spend.DeclinePartnerUnavailable, by: "stand_in", cause: spend.CauseMalformed, amount: "10.00", held: "0.00"},
			{name: "more than was asked", answer: reply(`{"approved": true, "amount": "10.01"}`), fallback: decision.FallbackDecline, funds: "100.00",
				reason: spend.DeclinePartnerUnavailable, by: "stand_in", cause: spend.CauseMalformed, amount: "10.00", held: "0.00"},
			{name: "funding more than is approved", answer: reply(`{"approved": true, "fund": "20.00"}`), fallback: decision.FallbackDecline, funds: "100.00",
				reason: spend.DeclinePartnerUnavailable, by: "stand_in", cause: spend.CauseMalformed, amount: "10.00", held: "0.00"},
			{name: "an approval the balance does not cover", answer: reply(`{"approved": true}`), fallback: decision.FallbackDecline, funds: "",
				reason: spend.DeclineInsufficientFunds, by: "vaultpage", amount: "10.00", held: "0.00"},
		}
		for _, tc := range testCases {
			t.Run(tc.name, func(t *testing.T) {
				h := f.holder(t, "Partner "+tc.name, tc.funds)
				e := newEndpoint(t, tc.answer)
				secret := f.register(t, h, e.URL, 1000, tc.fallback)
				a := f.pay(t, h, "10.00")
				if a.DeclineReason != tc.reason || a.Amount.String() != tc.amount || a.Held.String() != tc.held {
					t.Fatalf("%s %q amount %s held %s, want %q %s held %s", a.Status, a.DeclineReason, a.Amount, a.Held, tc.reason, tc.amount, tc.held)
				}
				d := a.Decision
				if d == nil || string(d.By) != tc.by || d.Cause != tc.cause || d.Requested.String() != "10.00" || d.Reason != tc.partnerReason {
					t.Fatalf("decision %+v", d)
				}
				if tc.funded != "" && d.Funded.String() != tc.funded {
					t.Fatalf("funded %s, want %s", d.Funded, tc.funded)
				}
				got, err := f.svc.Authorization(context.Background(), h.actor.PartnerID, a.ID)
				if err != nil || got.Decision == nil || *got.Decision != *d {
					t.Fatalf("read back: %+v %v, want %+v", got.Decision, err, d)
				}
				acct := f.account(t, h)
				if tc.funded != "" && (acct.Balance.String() != tc.funded || acct.Available != 0) {
					t.Fatalf("after funding %s: balance %s available %s", tc.funded, acct.Balance, acct.Available)
				}
				// What the endpoint was asked, signed by the reference
				// library's reckoning, names no card data.
				if len(e.asked) != 1 {
					t.Fatalf("asked %d times", len(e.asked))
				}
				q := e.asked[0]
				wh, err := standardwebhooks.NewWebhook(secret)
				if err != nil {
					t.Fatal(err)
				}
				if err := wh.Verify(q.body, q.headers); err != nil {
					t.Fatalf("the question's signature: %v", err)
				}
				if q.headers.Get("webhook-id") != a.ID.String() || !strings.Contains(string(q.body), `"amount":"10.00"`) ||
					!strings.Contains(string(q.body), `"type":"authorization.request"`) {
					t.Fatalf("asked %v %s", q.headers, q.body)
				}
				if _, err := f.db.Consents().Sequence(context.Background()); err != nil {
					t.Fatal(err)
				}
				evs, err := f.db.Consents().Events(context.Background(), h.actor.PartnerID, events.Filter{Type: "authorization." + string(a.Status), Limit: 10})
				if err != nil || len(evs) != 1 || evs[0].Data["decided_by"] != tc.by || evs[0].Data["requested_amount"] != "10.00" {
					t.Fatalf("events %v %v", evs, err)
				}
			})
		}
	})
}

// An endpoint slower than its timeout is not waited for: the fallback
// decides once the timeout has passed, and the cause is recorded.
func TestASlowEndpointIsNotWaitedFor(t *testing.T) {
	eachBackend(t, dev, func(t *testing.T, f *fixture) {
		h := f.holder(t, "Slow", "100.00")
		release := make(chan struct{})
		defer close(release)
		e := newEndpoint(t, func(w http.ResponseWriter, _ map[string]any) {
			select {
			case <-release:
			case <-time.After(10 * time.Second):
			}
			reply(`{"approved": false}`)(w, nil)
		})
		f.register(t, h, e.URL, 150, decision.FallbackApprove)
		a := f.pay(t, h, "10.00")
		d := a.Decision
		if a.Status != spend.StatusApproved || d == nil || d.By != spend.DecidedByStandIn || d.Cause != spend.CauseTimeout {
			t.Fatalf("%s %s decision %+v", a.Status, a.DeclineReason, d)
		}
		// The latency recorded is the timeout's and a little, never the
		// endpoint's ten seconds (the figures: docs/benchmarks.md).
		if d.Latency < 150*time.Millisecond || d.Latency >= 5*time.Second {
			t.Fatalf("stand-in after %s", d.Latency)
		}
	})
}

// A partner whose endpoint hangs delays no other partner, and holds no
// lock while it hangs: its own account takes a funding meanwhile.
func TestAHangingEndpointDelaysNoOneElse(t *testing.T) {
	eachBackend(t, dev, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		hanging, quick := f.holder(t, "Hanging", "100.00"), f.holder(t, "Quick", "100.00")
		release := make(chan struct{})
		var waiting atomic.Int32
		he := newEndpoint(t, func(w http.ResponseWriter, _ map[string]any) {
			waiting.Add(1)
			<-release
			reply(`{"approved": true}`)(w, nil)
		})
		qe := newEndpoint(t, reply(`{"approved": true}`))
		f.register(t, hanging, he.URL, 3000, decision.FallbackDecline)
		f.register(t, quick, qe.URL, 3000, decision.FallbackDecline)
		var (
			wg   sync.WaitGroup
			done atomic.Int32
		)
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := f.svc.Authorize(ctx, hanging.actor.PartnerID, spend.Request{CardID: hanging.card.ID, Amount: "1.00", Currency: "EUR", Merchant: shop}); err != nil {
					t.Error(err)
				}
				done.Add(1)
			}()
		}
		for waiting.Load() < 10 {
			time.Sleep(time.Millisecond)
		}
		// All ten wait on the hanging endpoint: the other partner is
		// decided, and the hanging partner's account takes a funding.
		for range 10 {
			if a := f.pay(t, quick, "1.00"); a.Status != spend.StatusApproved || a.Decision.By != spend.DecidedByPartner {
				t.Fatalf("the quick partner: %s %s", a.Status, a.DeclineReason)
			}
		}
		if _, _, err := f.svc.Fund(ctx, hanging.actor.PartnerID, hanging.acct.ID, "5.00"); err != nil {
			t.Fatal(err)
		}
		if n := done.Load(); n != 0 {
			t.Fatalf("%d of the hanging partner's authorisations were decided while its endpoint hung", n)
		}
		close(release)
		wg.Wait()
		if acct := f.account(t, hanging); acct.Available.String() != "95.00" {
			t.Fatalf("after ten approvals of 1.00 and a funding of 5.00: %s available", acct.Available)
		}
	})
}

// Past MaxInFlight questions to one partner, the next is not asked: the
// fallback decides at once, cause busy.
func TestQuestionsInFlightAreBounded(t *testing.T) {
	f := newFixture(t, storetest.Backends()[0].Open(t), dev)
	ctx := context.Background()
	h := f.holder(t, "Busy", "1000.00")
	release := make(chan struct{})
	var waiting atomic.Int32
	e := newEndpoint(t, func(w http.ResponseWriter, _ map[string]any) {
		waiting.Add(1)
		<-release
		reply(`{"approved": true}`)(w, nil)
	})
	f.register(t, h, e.URL, 3000, decision.FallbackDecline)
	var wg sync.WaitGroup
	for range decision.MaxInFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.svc.Authorize(ctx, h.actor.PartnerID, spend.Request{CardID: h.card.ID, Amount: "1.00", Currency: "EUR", Merchant: shop}); err != nil {
				t.Error(err)
			}
		}()
	}
	for waiting.Load() < decision.MaxInFlight {
		time.Sleep(time.Millisecond)
	}
	a := f.pay(t, h, "1.00")
	close(release)
	wg.Wait()
	if a.Decision == nil || a.Decision.Cause != spend.CauseBusy || a.DeclineReason != spend.DeclinePartnerUnavailable {
		t.Fatalf("the question past the bound: %s %s %+v", a.Status, a.DeclineReason, a.Decision)
	}
}

// The balance is decided once the partner has answered, under the
// account's lock: 200 authorisations of 10.00 against 1,000.00, asked of an
// endpoint that answers in 0 to 50 ms, approve exactly 100.
func TestApprovalsAfterTheAnswerStayExactlyOnce(t *testing.T) {
	eachBackend(t, dev, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		h := f.holder(t, "Racing", "1000.00")
		e := newEndpoint(t, func(w http.ResponseWriter, _ map[string]any) {
			time.Sleep(time.Duration(rand.IntN(50)) * time.Millisecond)
			reply(`{"approved": true}`)(w, nil)
		})
		f.register(t, h, e.URL, 3000, decision.FallbackDecline)
		var (
			wg       sync.WaitGroup
			approved atomic.Int32
		)
		for range 200 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a, err := f.svc.Authorize(ctx, h.actor.PartnerID, spend.Request{CardID: h.card.ID, Amount: "10.00", Currency: "EUR", Merchant: shop})
				if err != nil {
					t.Error(err)
					return
				}
				if a.Status == spend.StatusApproved {
					approved.Add(1)
				}
			}()
		}
		wg.Wait()
		if n := approved.Load(); n != 100 {
			t.Fatalf("%d approved, want 100", n)
		}
		if acct := f.account(t, h); acct.Available != 0 || acct.Balance.String() != "1000.00" {
			t.Fatalf("after: balance %s available %s", acct.Balance, acct.Available)
		}
	})
}

// Outside development a decision endpoint on a private address is never
// reached (SSRF): the fallback decides, cause connection.
func TestAPrivateAddressIsNotAsked(t *testing.T) {
	f := newFixture(t, storetest.Backends()[0].Open(t), decision.Config{AllowHTTP: true})
	h := f.holder(t, "Internal", "100.00")
	e := newEndpoint(t, reply(`{"approved": true}`))
	f.register(t, h, e.URL, 1000, decision.FallbackDecline)
	a := f.pay(t, h, "10.00")
	if a.Decision == nil || a.Decision.Cause != spend.CauseConnection || len(e.asked) != 0 {
		t.Fatalf("%s %s %+v, asked %d times", a.Status, a.DeclineReason, a.Decision, len(e.asked))
	}
}

// Registration: the limits are named fields; a new endpoint's secret is
// shown once, a change keeps it, a deletion ends the questions.
func TestRegistrationNamesItsFields(t *testing.T) {
	f := newFixture(t, storetest.Backends()[0].Open(t), decision.Config{})
	ctx := context.Background()
	h := f.holder(t, "Registrar", "100.00")
	pid := h.actor.PartnerID
	for _, tc := range []struct {
		in    decision.Input
		field string
	}{
		{decision.Input{URL: "http://partner.example/decide", Fallback: decision.FallbackApprove}, "url"},
		{decision.Input{URL: "https://partner.example/decide", TimeoutMS: 99, Fallback: decision.FallbackApprove}, "timeout_ms"},
		{decision.Input{URL: "https://partner.example/decide", TimeoutMS: 3001, Fallback: decision.FallbackApprove}, "timeout_ms"},
		{decision.Input{URL: "https://partner.example/decide", Fallback: "maybe"}, "fallback"},
	} {
		_, _, err := f.decisions.Put(ctx, pid, tc.in)
		var fe *decision.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Fatalf("%+v: %v, want a field error on %s", tc.in, err, tc.field)
		}
	}
	e, secret, err := f.decisions.Put(ctx, pid, decision.Input{URL: "https://partner.example/decide", Fallback: decision.FallbackApprove})
	if err != nil || !strings.HasPrefix(secret, "whsec_") || e.Timeout != 2*time.Second {
		t.Fatalf("%+v %q %v", e, secret, err)
	}
	e2, again, err := f.decisions.Put(ctx, pid, decision.Input{URL: "https://partner.example/v2", TimeoutMS: 500, Fallback: decision.FallbackDecline})
	if err != nil || again != "" || e2.URL != "https://partner.example/v2" || !e2.CreatedAt.Equal(e.CreatedAt) {
		t.Fatalf("a change: %+v %q %v", e2, again, err)
	}
	if err := f.decisions.Delete(ctx, pid); err != nil {
		t.Fatal(err)
	}
	if _, err := f.decisions.Endpoint(ctx, pid); !errors.Is(err, decision.ErrNotFound) {
		t.Fatalf("after the deletion: %v", err)
	}
	if err := f.decisions.Delete(ctx, pid); !errors.Is(err, decision.ErrNotFound) {
		t.Fatalf("deleted twice: %v", err)
	}
	// Deleted: vaultpage decides alone again.
	if a := f.pay(t, h, "1.00"); a.Status != spend.StatusApproved || a.Decision != nil {
		t.Fatalf("after the deletion: %s %+v", a.Status, a.Decision)
	}
}

func (f *fixture) panOf(t *testing.T, h holder) string {
	t.Helper()
	pan, err := f.ring.LoadPAN(context.Background(), vault.Owner{PartnerID: h.actor.PartnerID.String(), Table: "cards", RecordID: h.card.ID.String()})
	if err != nil {
		t.Fatal(err)
	}
	return string(pan.Reveal())
}

// networkRequest is what the network sends for h's card, contactless.
func (f *fixture) networkRequest(t *testing.T, h holder, ref, amount string) spend.Request {
	t.Helper()
	return spend.Request{Card: &spend.CardData{PAN: []byte(f.panOf(t, h)), ExpMonth: h.card.ExpMonth, ExpYear: h.card.ExpYear, EntryMode: spend.EntryContactless},
		NetworkReference: ref, Amount: amount, Currency: "EUR", Merchant: shop}
}

// A resend of a request the partner approved in part is the same request:
// it is answered with the partial approval, not refused.
func TestAResendOfAPartialApprovalIsAnswered(t *testing.T) {
	eachBackend(t, dev, func(t *testing.T, f *fixture) {
		h := f.holder(t, "Partial", "100.00")
		e := newEndpoint(t, reply(`{"approved": true, "amount": "6.00"}`))
		f.register(t, h, e.URL, 1000, decision.FallbackDecline)
		n := f.svc.Network()
		a, replayed, err := n.Authorize(context.Background(), f.networkRequest(t, h, "acq:1", "10.00"))
		if err != nil || replayed || a.Status != spend.StatusApproved || a.Amount.String() != "6.00" {
			t.Fatalf("first: %s %s %v %v", a.Status, a.Amount, replayed, err)
		}
		b, replayed, err := n.Authorize(context.Background(), f.networkRequest(t, h, "acq:1", "10.00"))
		if err != nil || !replayed || b.ID != a.ID {
			t.Fatalf("the resend: %v %v, want the first answered", replayed, err)
		}
	})
}

type failingSecrets struct{ decision.Secrets }

func (failingSecrets) GetSecret(context.Context, vault.Owner, string) (vault.Secret, error) {
	return vault.Secret{}, errors.New("vault unavailable")
}

// A registration that cannot be read is no approval: the endpoint's own
// fallback decides, as a stand-in, and through the whole engine that is a
// decline, not an error.
func TestAnUnreadableRegistrationTakesTheFallback(t *testing.T) {
	db := storetest.SQLite(t)
	f := newFixture(t, db, dev)
	h := f.holder(t, "Unreadable", "100.00")
	e := newEndpoint(t, reply(`{"approved": true}`))
	f.register(t, h, e.URL, 1000, decision.FallbackDecline)
	broken := decision.NewService(db.Decisions(), failingSecrets{f.ring}, dev, nil, nil)
	ans := broken.Ask(context.Background(), h.actor.PartnerID, spend.Question{Authorization: spend.Authorization{Amount: 1000}})
	if ans.Approved || ans.By != spend.DecidedByStandIn || ans.Cause != spend.CauseConnection || len(e.asked) != 0 {
		t.Fatalf("%+v, asked %d times", ans, len(e.asked))
	}
	svc := spend.NewService(db.Spend(), db.Consents(), audit.NewLog(db.Audit(), nil), spend.Config{Sandbox: true, Vault: f.ring, RealTime: broken}, nil)
	a, err := svc.Authorize(context.Background(), h.actor.PartnerID, spend.Request{CardID: h.card.ID, Amount: "1.00", Currency: "EUR", Merchant: shop})
	if err != nil || a.Decision == nil || a.Decision.By != spend.DecidedByStandIn || a.DeclineReason != spend.DeclinePartnerUnavailable {
		t.Fatalf("an unreadable secret through the engine: %s %s %+v %v", a.Status, a.DeclineReason, a.Decision, err)
	}
}

// A resend that arrives while the partner is still answering the first
// sending waits for that answer: the partner is asked once, under one
// webhook-id, and both sendings hear the one decision.
func TestAResendWhileThePartnerAnswersWaitsForIt(t *testing.T) {
	eachBackend(t, dev, func(t *testing.T, f *fixture) {
		h := f.holder(t, "Resent", "100.00")
		var asking, release = make(chan struct{}), make(chan struct{})
		var once sync.Once
		e := newEndpoint(t, func(w http.ResponseWriter, _ map[string]any) {
			once.Do(func() { close(asking) })
			<-release
			reply(`{"approved": true}`)(w, nil)
		})
		f.register(t, h, e.URL, 3000, decision.FallbackDecline)
		type answer struct {
			a        spend.Authorization
			replayed bool
			err      error
		}
		answers := make(chan answer, 2)
		send := func() {
			a, replayed, err := f.svc.Network().Authorize(context.Background(), f.networkRequest(t, h, "acq:2", "10.00"))
			answers <- answer{a, replayed, err}
		}
		go send()
		<-asking // the first sending's question is with the partner
		go send()
		time.Sleep(50 * time.Millisecond) // the resend reaches its wait (if it asked instead, the count below says so)
		close(release)
		first, second := <-answers, <-answers
		if first.err != nil || second.err != nil || first.a.ID != second.a.ID || first.replayed == second.replayed {
			t.Fatalf("answers %+v and %+v", first, second)
		}
		if len(e.asked) != 1 {
			t.Fatalf("one request sent twice asked the partner %d times", len(e.asked))
		}
		if acct := f.account(t, h); acct.Available.String() != "90.00" {
			t.Fatalf("%s available after one approval of 10.00", acct.Available)
		}
	})
}

// A first sending the network gives up on while the partner answers is
// decided all the same, so that the resend finds its decision at once.
func TestADecisionOnceBegunIsMade(t *testing.T) {
	eachBackend(t, dev, func(t *testing.T, f *fixture) {
		h := f.holder(t, "Abandoned", "100.00")
		asking := make(chan struct{}, 4)
		release := make(chan struct{})
		e := newEndpoint(t, func(w http.ResponseWriter, _ map[string]any) {
			asking <- struct{}{}
			<-release
			reply(`{"approved": true}`)(w, nil)
		})
		f.register(t, h, e.URL, 3000, decision.FallbackDecline)
		ctx, cancel := context.WithCancel(context.Background())
		type answer struct {
			a   spend.Authorization
			err error
		}
		done := make(chan answer, 1)
		go func() {
			a, _, err := f.svc.Network().Authorize(ctx, f.networkRequest(t, h, "acq:9", "10.00"))
			done <- answer{a, err}
		}()
		<-asking
		cancel() // the adapter's connection closes
		close(release)
		first := <-done
		if first.err != nil || first.a.Status != spend.StatusApproved {
			t.Fatalf("the abandoned sending: %s %v", first.a.Status, first.err)
		}
		a, replayed, err := f.svc.Network().Authorize(context.Background(), f.networkRequest(t, h, "acq:9", "10.00"))
		if err != nil || !replayed || a.ID != first.a.ID || len(e.asked) != 1 {
			t.Fatalf("the resend: %v %v, asked %d times", replayed, err, len(e.asked))
		}
	})
}

// A rotated secret signs at once, and the one it replaced signs beside it
// for the overlap: the partner's check passes with either while it
// switches.
func TestARotatedSecretSignsBesideTheOldOne(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t), dev)
	ctx := context.Background()
	h := f.holder(t, "Rotating", "100.00")
	e := newEndpoint(t, reply(`{"approved": true}`))
	old := f.register(t, h, e.URL, 1000, decision.FallbackDecline)
	ep, fresh, err := f.decisions.Put(ctx, h.actor.PartnerID, decision.Input{URL: e.URL, TimeoutMS: 1000, Fallback: decision.FallbackDecline, RotateSecret: true})
	if err != nil || fresh == "" || fresh == old || ep.PreviousUntil.IsZero() {
		t.Fatalf("rotate: %+v %q %v", ep, fresh, err)
	}
	f.pay(t, h, "1.00") // Put forgets what this process had read
	if len(e.asked) != 1 {
		t.Fatalf("asked %d times", len(e.asked))
	}
	q := e.asked[0]
	if n := len(strings.Fields(q.headers.Get("webhook-signature"))); n != 2 {
		t.Fatalf("%d signatures during the overlap, want 2", n)
	}
	for name, secret := range map[string]string{"old": old, "new": fresh} {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(q.body, q.headers); err != nil {
			t.Fatalf("the %s secret does not verify: %v", name, err)
		}
	}
}

// A partner's endpoint is asked about its cards' authentication requests:
// it may decline one (R) or have the cardholder authenticate it (C); its
// approval leaves vaultpage's answer (the exemption, when one applies), and
// it cannot exempt a payment no exemption lets through. Without an answer,
// an approving fallback leaves vaultpage's answer and a declining one has
// the cardholder authenticate.
func TestThePartnerAnswersAuthenticationsInRealTime(t *testing.T) {
	eachBackend(t, dev, func(t *testing.T, f *fixture) {
		payee := spend.Payee{Name: "Web Shop", URL: "https://shop.example/checkout", MCC: "5732", Country: "SE", ID: "m-web"}
		for _, tc := range []struct {
			name     string
			answer   func(w http.ResponseWriter, q map[string]any)
			fallback decision.Fallback
			amount   string
			// expected
			status         spend.TransStatus
			reason, by     string
			exemption      string
			signedAndTyped bool
		}{
			{name: "approve, within the exemption", answer: reply(`{"approved": true}`), fallback: decision.FallbackDecline, amount: "10.00",
				status: spend.TransAuthenticated, by: "partner", exemption: spend.ExemptionLowValue, signedAndTyped: true},
			{name: "approve, past the exemption", answer: reply(`{"approved": true}`), fallback: decision.FallbackDecline, amount: "60.00",
				status: spend.TransChallenge, by: "partner"},
			{name: "challenge", answer: reply(`{"approved": true, "challenge": true}`), fallback: decision.FallbackApprove, amount: "10.00",
				status: spend.TransChallenge, by: "partner"},
			{name: "decline", answer: reply(`{"approved": false, "reason": "card paused in the app"}`), fallback: decision.FallbackApprove, amount: "10.00",
				status: spend.TransRejected, reason: spend.DeclinePartnerDeclined, by: "partner"},
			{name: "an amount is no answer to an authentication", answer: reply(`{"approved": true, "amount": "5.00"}`), fallback: decision.FallbackDecline,
				amount: "10.00", status: spend.TransChallenge, by: "stand_in"},
			{name: "a 500, fallback approve", answer: func(w http.ResponseWriter, _ map[string]any) { w.WriteHeader(http.StatusInternalServerError) },
				fallback: decision.FallbackApprove, amount: "10.00", status: spend.TransAuthenticated, by: "stand_in", exemption: spend.ExemptionLowValue},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				h := f.holder(t, "Partner "+tc.name, "100.00")
				e := newEndpoint(t, tc.answer)
				secret := f.register(t, h, e.URL, 1000, tc.fallback)
				pan, err := f.ring.LoadPAN(ctx, vault.Owner{PartnerID: h.actor.PartnerID.String(), Table: "cards", RecordID: h.card.ID.String()})
				if err != nil {
					t.Fatal(err)
				}
				pid := h.actor.PartnerID
				a, err := f.svc.Authenticate(ctx, &pid, spend.AuthenticationRequest{Card: &spend.CardData{PAN: pan.Reveal(), ExpMonth: h.card.ExpMonth,
					ExpYear: h.card.ExpYear}, Amount: tc.amount, Currency: "EUR", Payee: payee})
				if err != nil {
					t.Fatal(err)
				}
				if a.TransStatus != tc.status || a.Reason != tc.reason || string(a.DecidedBy) != tc.by || a.Exemption != tc.exemption {
					t.Fatalf("%s %q by %s exemption %q, want %s %q by %s %q", a.TransStatus, a.Reason, a.DecidedBy, a.Exemption, tc.status, tc.reason, tc.by, tc.exemption)
				}
				if got, err := f.svc.Authentication(ctx, pid, a.ID); err != nil || got.DecidedBy != a.DecidedBy {
					t.Fatalf("read back: %s %v", got.DecidedBy, err)
				}
				if len(e.asked) != 1 {
					t.Fatalf("asked %d times", len(e.asked))
				}
				if tc.signedAndTyped {
					q := e.asked[0]
					wh, err := standardwebhooks.NewWebhook(secret)
					if err != nil {
						t.Fatal(err)
					}
					if err := wh.Verify(q.body, q.headers); err != nil {
						t.Fatalf("the question's signature: %v", err)
					}
					if q.headers.Get("webhook-id") != a.ID.String() || !strings.Contains(string(q.body), `"type":"authentication.request"`) ||
						!strings.Contains(string(q.body), `"url":"https://shop.example/checkout"`) || strings.Contains(string(q.body), string(pan.Reveal())) {
						t.Fatalf("asked %v %s", q.headers, q.body)
					}
				}
			})
		}
	})
}
