package web_test

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaultpage/vaultpage/consent"

	"github.com/vaultpage/vaultpage/store/storetest"
)

func TestEveryTimestampAnsweredIsTheOneStored(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, func(o *options) { o.db = b.Open(t) })
			c := e.activeCard(t, nil)
			e.post("/v3/accounts/"+c["account_id"].(string)+"/fundings", e.tokA, map[string]string{"amount": "20.00"})
			hook := e.post("/v3/webhook_endpoints", e.tokA, map[string]any{"url": "https://hooks.example/in"}).json(t)
			auth := e.authorize(t, c["id"].(string), "5.00")
			cs := consentOf(t, e.do(http.MethodGet, "/v3/cards/"+c["id"].(string)+"/credentials", e.tokA, "", nil))
			for _, x := range []struct {
				answered map[string]any
				path     string
			}{
				{c, "/v3/cards/" + c["id"].(string)},
				{auth, "/v3/authorizations/" + auth["id"].(string)},
				{hook, "/v3/webhook_endpoints/" + hook["id"].(string)},
				{cs, "/v3/consents/" + cs["id"].(string)},
			} {
				stored := e.do(http.MethodGet, x.path, e.tokA, "", nil).json(t)
				// (updated_at moves on: the card was activated since it was answered.)
				for _, field := range []string{"created_at", "expires_at"} {
					if a, ok := x.answered[field]; ok && a != stored[field] {
						t.Errorf("%s %s: answered %v, stored %v", x.path, field, a, stored[field])
					}
				}
			}
			// Events too: the feed's created_at is what the resource's
			// event was answered with.
			list := e.do(http.MethodGet, "/v3/events?limit=100", e.tokA, "", nil).json(t)["data"].([]any)
			for _, ev := range list {
				m := ev.(map[string]any)
				got := e.do(http.MethodGet, "/v3/events/"+m["id"].(string), e.tokA, "", nil).json(t)
				if got["created_at"] != m["created_at"] {
					t.Errorf("event %s: listed %v, read %v", m["id"], m["created_at"], got["created_at"])
				}
			}
		})
	}
}

// Simulating the approval of a consent past its expiry answers 409 and
// writes nothing, with or without an Idempotency-Key: the keyed request's
// transaction must not keep what the service's own would have rolled back
// (it kept the consent's expiry and its event).
func TestAKeyedRequestThatFailsKeepsNothingItsServiceRolledBack(t *testing.T) {
	var skew atomic.Int64
	e := newEnv(t, func(o *options) { o.now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) } })
	c := e.card(e.tokA)
	keyed := consentOf(t, e.do(http.MethodGet, "/v3/cards/"+c["id"].(string)+"/credentials", e.tokA, "", nil))["id"].(string)
	plain := consentOf(t, e.do(http.MethodGet, "/v3/cards/"+c["id"].(string)+"/credentials", e.tokA, "", nil))["id"].(string)
	skew.Store(int64(consent.Lifetime + time.Minute))
	r1 := e.post("/v3/simulations/consents/"+plain, e.tokA, map[string]string{"outcome": "approved"})
	r2 := e.post("/v3/simulations/consents/"+keyed, e.tokA, map[string]string{"outcome": "approved"}, "Idempotency-Key", "simulate-1")

	expired := map[string]int{}
	for _, ev := range e.do(http.MethodGet, "/v3/events?limit=100", e.tokA, "", nil).json(t)["data"].([]any) {
		m := ev.(map[string]any)
		if m["type"] == "consent.expired" {
			expired[m["resource_id"].(string)]++
		}
	}
	if r1.status != http.StatusConflict || r2.status != r1.status || expired[plain] != expired[keyed] {
		t.Fatalf("same answer (%d), different committed state: the keyed request kept writes its service rolled back", r1.status)
	}
}
