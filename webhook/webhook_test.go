package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/vaultpage/vaultpage/events"
	"github.com/vaultpage/vaultpage/partner"
	"github.com/vaultpage/vaultpage/store"
	"github.com/vaultpage/vaultpage/store/storetest"
	"github.com/vaultpage/vaultpage/webhook"
)

// receiver is a partner's webhook endpoint: it records what arrives, and
// answers with whatever status the test sets, after an optional delay.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	status int
	delay  time.Duration
	got    []received
}

type received struct {
	headers http.Header
	body    []byte
	at      time.Time
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{status: http.StatusOK}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{headers: req.Header.Clone(), body: body, at: time.Now()})
		status, delay := r.status, r.delay
		r.mu.Unlock()
		time.Sleep(delay)
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) set(status int, delay time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status, r.delay = status, delay
}

func (r *receiver) received() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

type fixture struct {
	db      *store.DB
	svc     *webhook.Service
	now     time.Time
	partner uuid.UUID
	other   uuid.UUID
}

func (f *fixture) clock() time.Time { return f.now }

func newFixture(t *testing.T, db *store.DB, cfg webhook.Config) *fixture {
	t.Helper()
	ctx := context.Background()
	ring := storetest.Keyring(t, db)
	f := &fixture{db: db, now: time.Now().UTC()}
	f.svc = webhook.NewService(db.Webhooks(), ring, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), f.clock)
	for _, p := range []*uuid.UUID{&f.partner, &f.other} {
		creds, err := partner.NewService(db.Partners(), partner.Config{}, nil).Create(ctx, "P", nil)
		if err != nil {
			t.Fatal(err)
		}
		*p = creds.PartnerID
	}
	return f
}

func (f *fixture) emit(t *testing.T, partnerID uuid.UUID, typ string, data map[string]string) uuid.UUID {
	t.Helper()
	id, _ := uuid.NewV7()
	if err := f.db.Consents().Emit(context.Background(), events.Event{ID: id, PartnerID: partnerID, Type: typ, ResourceID: uuid.New(), Data: data, CreatedAt: f.now}); err != nil {
		t.Fatal(err)
	}
	return id
}

func (f *fixture) dispatch(t *testing.T) {
	t.Helper()
	if _, err := f.svc.Dispatch(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.svc.Wait()
}

var devConfig = webhook.Config{AllowPrivate: true, AllowHTTP: true, Timeout: 2 * time.Second}

func eachBackend(t *testing.T, cfg webhook.Config, fn func(t *testing.T, f *fixture)) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) { fn(t, newFixture(t, b.Open(t), cfg)) })
	}
}

// verify checks a delivery with the Standard Webhooks reference library.
func verify(t *testing.T, secret string, r received) {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	// The fixture's clock moves ahead for retries; the library's tolerance
	// check uses the real clock, so the timestamp is checked separately.
	if err := wh.VerifyIgnoringTimestamp(r.body, r.headers); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
}

func TestEveryEventArrivesSignedAfterTheEndpointRecovers(t *testing.T) {
	eachBackend(t, devConfig, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		rcv := newReceiver(t)
		ep, secret, err := f.svc.Create(ctx, f.partner, rcv.srv.URL+"/hooks", []string{"account.funded", "authorization.approved"})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(secret, "whsec_") {
			t.Fatalf("secret %q", secret)
		}
		want := map[uuid.UUID]bool{}
		for _, amt := range []string{"1.00", "2.00", "3.00"} {
			want[f.emit(t, f.partner, "account.funded", map[string]string{"amount": amt})] = true
		}
		f.emit(t, f.partner, "consent.approved", nil)                     // not subscribed
		f.emit(t, f.other, "account.funded", map[string]string{"x": "y"}) // another partner's

		rcv.set(http.StatusServiceUnavailable, 0)
		f.dispatch(t)
		if got := len(rcv.received()); got != 3 {
			t.Fatalf("first round: %d requests, want 3", got)
		}
		ds, err := f.svc.Deliveries(ctx, f.partner, ep.ID, webhook.StatusPending)
		if err != nil || len(ds) != 3 {
			t.Fatalf("pending deliveries: %d %v", len(ds), err)
		}
		for _, d := range ds {
			wait := d.NextAttemptAt.Sub(f.now)
			if d.Attempts != 1 || d.LastStatus != 503 || wait < 4*time.Second || wait > 6*time.Second {
				t.Fatalf("after a 503: attempts %d status %d next in %s", d.Attempts, d.LastStatus, wait)
			}
		}
		// Not due yet: nothing is sent.
		f.dispatch(t)
		if got := len(rcv.received()); got != 3 {
			t.Fatalf("before the backoff: %d requests", got)
		}
		rcv.set(http.StatusNoContent, 0)
		f.now = f.now.Add(7 * time.Second)
		f.dispatch(t)
		all := rcv.received()
		if len(all) != 6 {
			t.Fatalf("after recovery: %d requests, want 6", len(all))
		}
		got := map[uuid.UUID]bool{}
		for _, r := range all[3:] {
			verify(t, secret, r)
			if ts := r.headers.Get("webhook-timestamp"); ts == "" {
				t.Fatal("no webhook-timestamp")
			}
			var body struct {
				Type string
				Data struct {
					ID       string
					Sequence int64
					Data     map[string]string
				}
			}
			if err := json.Unmarshal(r.body, &body); err != nil || body.Type != "account.funded" || body.Data.Sequence == 0 {
				t.Fatalf("payload: %s", r.body)
			}
			id := uuid.MustParse(body.Data.ID)
			if r.headers.Get("webhook-id") != id.String() {
				t.Fatal("webhook-id is not the event id")
			}
			got[id] = true
		}
		for id := range want {
			if !got[id] {
				t.Fatalf("event %s never arrived", id)
			}
		}
		if ds, _ := f.svc.Deliveries(ctx, f.partner, ep.ID, webhook.StatusSucceeded); len(ds) != 3 {
			t.Fatalf("succeeded: %d", len(ds))
		}
		// A tampered body does not verify (the check above can fail).
		tampered := all[5]
		tampered.body = append([]byte(nil), tampered.body...)
		tampered.body[len(tampered.body)-2] ^= 1
		wh, _ := standardwebhooks.NewWebhook(secret)
		if wh.VerifyIgnoringTimestamp(tampered.body, tampered.headers) == nil {
			t.Fatal("a tampered body verified")
		}
	})
}

func TestTimeoutsEndInTheDeadLetterAndAManualRetryDelivers(t *testing.T) {
	cfg := devConfig
	cfg.Timeout = 300 * time.Millisecond
	eachBackend(t, cfg, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		rcv := newReceiver(t)
		rcv.set(http.StatusOK, time.Second) // slower than the timeout
		ep, _, err := f.svc.Create(ctx, f.partner, rcv.srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		f.emit(t, f.partner, "card.frozen", nil)
		var total time.Duration
		for i := 0; i <= len(webhook.Schedule); i++ {
			f.dispatch(t)
			if i < len(webhook.Schedule) {
				f.now = f.now.Add(webhook.Schedule[i] * 13 / 10)
				total += webhook.Schedule[i]
			}
		}
		if total < 24*time.Hour || total > 30*time.Hour {
			t.Fatalf("the schedule spans %s, not about a day", total)
		}
		dead, err := f.svc.Deliveries(ctx, f.partner, ep.ID, webhook.StatusDead)
		if err != nil || len(dead) != 1 || dead[0].Attempts != len(webhook.Schedule)+1 || !strings.Contains(dead[0].LastError, "no response") {
			t.Fatalf("dead letters: %+v %v", dead, err)
		}
		if len(rcv.received()) != len(webhook.Schedule)+1 {
			t.Fatalf("%d attempts reached the endpoint", len(rcv.received()))
		}
		rcv.set(http.StatusOK, 0)
		if _, err := f.svc.Retry(ctx, f.partner, dead[0].ID); err != nil {
			t.Fatal(err)
		}
		f.dispatch(t)
		if ok, _ := f.svc.Deliveries(ctx, f.partner, ep.ID, webhook.StatusSucceeded); len(ok) != 1 {
			t.Fatal("the retried dead letter was not delivered")
		}
		if _, err := f.svc.Retry(ctx, f.partner, dead[0].ID); err == nil {
			t.Fatal("retrying a delivered message was accepted")
		}
	})
}

func TestASlowEndpointDoesNotHoldBackTheOthers(t *testing.T) {
	db := storetest.SQLite(t)
	f := newFixture(t, db, webhook.Config{AllowPrivate: true, AllowHTTP: true, Timeout: 5 * time.Second, PerEndpoint: 2})
	ctx := context.Background()
	slow, fast := newReceiver(t), newReceiver(t)
	slow.set(http.StatusOK, 2*time.Second)
	if _, _, err := f.svc.Create(ctx, f.partner, slow.srv.URL, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.Create(ctx, f.partner, fast.srv.URL, nil); err != nil {
		t.Fatal(err)
	}
	for range 6 {
		f.emit(t, f.partner, "account.funded", nil)
	}
	start := time.Now()
	for len(fast.received()) < 6 && time.Since(start) < 4*time.Second {
		if _, err := f.svc.Dispatch(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(fast.received()); n != 6 || time.Since(start) > 1500*time.Millisecond {
		t.Fatalf("the fast endpoint got %d of 6 in %s", n, time.Since(start))
	}
	if n := len(slow.received()); n > 2 {
		t.Fatalf("%d requests in flight to the slow endpoint, limit 2", n)
	}
	f.svc.Wait()
}

func TestRotationSignsWithBothSecretsForADay(t *testing.T) {
	db := storetest.SQLite(t)
	f := newFixture(t, db, devConfig)
	ctx := context.Background()
	rcv := newReceiver(t)
	ep, oldSecret, err := f.svc.Create(ctx, f.partner, rcv.srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, newSecret, err := f.svc.Update(ctx, f.partner, ep.ID, webhook.Patch{RotateSecret: true})
	if err != nil || newSecret == oldSecret || newSecret == "" {
		t.Fatalf("rotate: %v", err)
	}
	f.emit(t, f.partner, "a.b", nil)
	f.dispatch(t)
	r := rcv.received()[0]
	if sigs := strings.Fields(r.headers.Get("webhook-signature")); len(sigs) != 2 {
		t.Fatalf("signatures during the overlap: %v", sigs)
	}
	verify(t, oldSecret, r)
	verify(t, newSecret, r)
	f.now = f.now.Add(webhook.RotationOverlap + time.Second)
	f.emit(t, f.partner, "a.c", nil)
	f.dispatch(t)
	r = rcv.received()[1]
	verify(t, newSecret, r)
	wh, _ := standardwebhooks.NewWebhook(oldSecret)
	if wh.VerifyIgnoringTimestamp(r.body, r.headers) == nil {
		t.Fatal("the old secret still verifies after the overlap")
	}
}

func TestProductionRefusesPrivateAddressesAndPlainHTTP(t *testing.T) {
	db := storetest.SQLite(t)
	f := newFixture(t, db, webhook.Config{Timeout: time.Second})
	ctx := context.Background()
	if _, _, err := f.svc.Create(ctx, f.partner, "http://hooks.example.com/in", nil); err == nil {
		t.Fatal("plain http accepted in production")
	}
	rcv := newReceiver(t) // on 127.0.0.1
	https := strings.Replace(rcv.srv.URL, "http://", "https://", 1)
	ep, _, err := f.svc.Create(ctx, f.partner, https, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.emit(t, f.partner, "a.b", nil)
	f.dispatch(t)
	ds, _ := f.svc.Deliveries(ctx, f.partner, ep.ID, "")
	if len(ds) != 1 || !strings.Contains(ds[0].LastError, "does not resolve to an address webhooks may reach") || strings.Contains(ds[0].LastError, "127.0.0.1") || len(rcv.received()) != 0 {
		t.Fatalf("delivery to loopback: %+v", ds)
	}
}

func TestTestEventsGoToTheirEndpointOnly(t *testing.T) {
	db := storetest.SQLite(t)
	f := newFixture(t, db, devConfig)
	ctx := context.Background()
	a, b := newReceiver(t), newReceiver(t)
	ea, _, _ := f.svc.Create(ctx, f.partner, a.srv.URL, nil)
	if _, _, err := f.svc.Create(ctx, f.partner, b.srv.URL, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Test(ctx, f.partner, ea.ID); err != nil {
		t.Fatal(err)
	}
	f.dispatch(t)
	if len(a.received()) != 1 || len(b.received()) != 0 || !strings.Contains(string(a.received()[0].body), `"type":"webhook.test"`) {
		t.Fatalf("test event: a got %d, b got %d", len(a.received()), len(b.received()))
	}
	if _, err := f.svc.Test(ctx, f.other, ea.ID); err == nil {
		t.Fatal("another partner could test Alpha's endpoint")
	}
}

// A process that claimed a delivery and died leaves a lease; another
// process (or the same after a restart) takes the delivery over once the
// lease ends, and not before.
func TestADeliveryLeasedByACrashedProcessIsTakenOver(t *testing.T) {
	eachBackend(t, devConfig, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		rcv := newReceiver(t)
		ep, _, err := f.svc.Create(ctx, f.partner, rcv.srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		f.emit(t, f.partner, "a.b", nil)
		if _, err := f.db.Consents().Sequence(ctx); err != nil {
			t.Fatal(err)
		}
		// The "crashed" process fanned out and leased the delivery, then died.
		hooks := f.db.Webhooks()
		evs, _ := hooks.EventsAfter(ctx, 0, 10)
		id, _ := uuid.NewV7()
		if err := hooks.AddDelivery(ctx, webhook.Delivery{ID: id, PartnerID: f.partner, EndpointID: ep.ID, EventID: evs[0].ID,
			Status: webhook.StatusPending, NextAttemptAt: f.now, CreatedAt: f.now, UpdatedAt: f.now}); err != nil {
			t.Fatal(err)
		}
		if err := hooks.SetFanoutCursor(ctx, evs[0].Seq); err != nil {
			t.Fatal(err)
		}
		if err := hooks.Lease(ctx, id, f.now.Add(30*time.Second)); err != nil {
			t.Fatal(err)
		}
		f.dispatch(t)
		if n := len(rcv.received()); n != 0 {
			t.Fatalf("%d sends while another process holds the lease", n)
		}
		f.now = f.now.Add(31 * time.Second)
		f.dispatch(t)
		if n := len(rcv.received()); n != 1 {
			t.Fatalf("after the lease ended: %d sends, want 1", n)
		}
		if d, _ := f.svc.Deliveries(ctx, f.partner, ep.ID, webhook.StatusSucceeded); len(d) != 1 || d[0].ID != id {
			t.Fatalf("the taken-over delivery: %+v", d)
		}
	})
}

func TestAnEndpointReceivesEventsFromItsCreationOn(t *testing.T) {
	eachBackend(t, devConfig, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.emit(t, f.partner, "a.before", nil)
		f.dispatch(t) // no endpoint yet: nothing to fan out
		f.now = f.now.Add(time.Second)
		rcv := newReceiver(t)
		if _, _, err := f.svc.Create(ctx, f.partner, rcv.srv.URL, nil); err != nil {
			t.Fatal(err)
		}
		f.emit(t, f.partner, "b.after", nil)
		f.dispatch(t)
		got := rcv.received()
		if len(got) != 1 || !strings.Contains(string(got[0].body), `"type":"b.after"`) {
			t.Fatalf("the new endpoint got %d deliveries", len(got))
		}
	})
}
