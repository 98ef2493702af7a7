package webhook_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/vaultpage/vaultpage/webhook"
)

// running starts the dispatcher with the given tick, stopped when the test
// ends.
func running(t *testing.T, f *fixture, tick time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.svc.Run(ctx, tick) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestABacklogGoesOutAsFastAsTheEndpointAnswers queues 600 events for one
// endpoint and starts a dispatcher that ticks only once a minute: they all
// arrive before the first tick, driven by the attempts that end (with one
// dispatch a tick, four went out a tick). How long they took is logged,
// not held to a time: that is the machine's.
func TestABacklogGoesOutAsFastAsTheEndpointAnswers(t *testing.T) {
	eachBackend(t, devConfig, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		rcv := newReceiver(t)
		if _, _, err := f.svc.Create(ctx, f.partner, rcv.srv.URL+"/hooks", nil); err != nil {
			t.Fatal(err)
		}
		const n = 600
		for range n {
			f.emit(t, f.partner, "account.funded", nil)
		}
		began := time.Now()
		running(t, f, time.Minute)
		deadline := began.Add(50 * time.Second) // before the first tick
		for len(rcv.received()) < n && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if got := len(rcv.received()); got != n {
			t.Fatalf("%d of %d events delivered before the dispatcher's first tick", got, n)
		}
		t.Logf("%d events delivered in %s, %.0f a second", n, time.Since(began).Round(time.Millisecond), n/time.Since(began).Seconds())
	})
}

func TestASlowEndpointsBacklogHidesNoOtherEndpoint(t *testing.T) {
	cfg := devConfig
	cfg.PerEndpoint = 16 // fewer rounds: the race detector slows SQLite's
	eachBackend(t, cfg, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		slow, fast := newReceiver(t), newReceiver(t)
		slow.set(http.StatusOK, time.Second)
		// The slow endpoint's backlog is older than anything the fast one
		// gets, and longer than a dispatcher round reads.
		if _, _, err := f.svc.Create(ctx, f.partner, slow.srv.URL+"/hooks", nil); err != nil {
			t.Fatal(err)
		}
		const n = 520
		for range n {
			f.emit(t, f.partner, "account.funded", nil)
		}
		f.dispatch(t) // fans the backlog out (and waits for the first attempts, which read the clock)
		f.now = f.now.Add(time.Second)
		if _, _, err := f.svc.Create(ctx, f.partner, fast.srv.URL+"/hooks", nil); err != nil {
			t.Fatal(err)
		}
		for range n {
			f.emit(t, f.partner, "account.funded", nil)
		}
		running(t, f, 500*time.Millisecond)
		began := time.Now()
		deadline := began.Add(3 * time.Minute)
		for len(fast.received()) < n && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		took := time.Since(began)
		if got := len(fast.received()); got != n {
			t.Fatalf("the fast endpoint got %d of %d while the slow one got %d", got, n, len(slow.received()))
		}
		// The slow one has had its sixteen at a time, a second each, meanwhile.
		if got, most := len(slow.received()), cfg.PerEndpoint*(int(took/time.Second)+2); got > most {
			t.Fatalf("the slow endpoint got %d in %s, more than %d a second", got, took, cfg.PerEndpoint)
		}
		t.Logf("the fast endpoint got all %d in %s; the slow one %d", n, took.Round(time.Millisecond), len(slow.received()))
	})
}

func TestAnEndpointThatAnswersGoneIsDisabled(t *testing.T) {
	eachBackend(t, devConfig, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		rcv := newReceiver(t)
		ep, _, err := f.svc.Create(ctx, f.partner, rcv.srv.URL+"/hooks", nil)
		if err != nil {
			t.Fatal(err)
		}
		rcv.set(http.StatusGone, 0)
		f.emit(t, f.partner, "account.funded", nil)
		f.dispatch(t)
		got, err := f.svc.Endpoint(ctx, f.partner, ep.ID)
		if err != nil || !got.Disabled {
			t.Fatalf("after 410 Gone: disabled %v %v", got.Disabled, err)
		}
		ds, _ := f.svc.Deliveries(ctx, f.partner, ep.ID, webhook.StatusDead)
		if len(ds) != 1 || ds[0].Attempts != 1 {
			t.Fatalf("the delivery that got 410: %+v", ds)
		}
		// Nothing more goes to it, even once due.
		f.emit(t, f.partner, "account.funded", nil)
		f.now = f.now.Add(time.Hour)
		f.dispatch(t)
		if n := len(rcv.received()); n != 1 {
			t.Fatalf("%d requests to a disabled endpoint", n)
		}
	})
}

func TestAGoneAnswerDoesNotUndoTheEndpointsNewURL(t *testing.T) {
	eachBackend(t, devConfig, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		old, moved := newReceiver(t), newReceiver(t)
		old.set(http.StatusGone, 300*time.Millisecond)
		ep, _, err := f.svc.Create(ctx, f.partner, old.srv.URL+"/hooks", nil)
		if err != nil {
			t.Fatal(err)
		}
		f.emit(t, f.partner, "account.funded", nil)
		if _, err := f.svc.Dispatch(ctx); err != nil {
			t.Fatal(err)
		}
		// While the old URL takes its time to say 410, the partner moves the
		// endpoint.
		newURL := moved.srv.URL + "/hooks"
		if _, _, err := f.svc.Update(ctx, f.partner, ep.ID, webhook.Patch{URL: &newURL}); err != nil {
			t.Fatal(err)
		}
		f.svc.Wait()
		got, err := f.svc.Endpoint(ctx, f.partner, ep.ID)
		if err != nil || got.Disabled || got.URL != newURL {
			t.Fatalf("after the old URL answered 410: disabled %v, url %s, %v", got.Disabled, got.URL, err)
		}
	})
}
