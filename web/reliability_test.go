package web_test

import (
	"net/http"
	"testing"

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
