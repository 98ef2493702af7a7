package decision_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vaultpage/vaultpage/decision"
	"github.com/vaultpage/vaultpage/spend"
	"github.com/vaultpage/vaultpage/store/storetest"
)

// BenchmarkStandInAfterTimeout asks an endpoint that never answers, with
// the shortest timeout, and reports how long after the timeout the
// fallback answered (ms-past-timeout, the mean) and the worst of the run:
//
//	go test -run XXX -bench StandIn -benchtime 50x ./decision
func BenchmarkStandInAfterTimeout(b *testing.B) {
	f := newFixture(b, storetest.SQLite(b), dev)
	h := f.holder(b, "Silent", "1000000.00")
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-hang }))
	defer srv.Close()
	defer close(hang)
	if _, _, err := f.decisions.Put(context.Background(), h.actor.PartnerID, decision.Input{URL: srv.URL, TimeoutMS: 100, Fallback: decision.FallbackApprove}); err != nil {
		b.Fatal(err)
	}
	q := spend.Question{Authorization: spend.Authorization{Amount: 100}}
	var past, worst time.Duration
	for b.Loop() {
		a := f.decisions.Ask(context.Background(), h.actor.PartnerID, q)
		if a.By != spend.DecidedByStandIn || a.Cause != spend.CauseTimeout {
			b.Fatalf("%+v", a)
		}
		over := a.Latency - decision.MinTimeout
		past += over
		worst = max(worst, over)
	}
	b.ReportMetric(float64(past.Microseconds())/1000/float64(b.N), "ms-past-timeout")
	b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms-past-timeout")
}
