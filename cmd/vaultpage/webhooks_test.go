package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// TestServeDeliversWebhooks: a running serve fans events out and delivers
// them on its own, signed, to a registered endpoint.
func TestServeDeliversWebhooks(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	e := map[string]string{"VAULTPAGE_DATA_DIR": dir}
	creds := runJSON(t, e, "partners", "create", "--name", "Hooked")
	var (
		mu     sync.Mutex
		bodies []string
		secret string
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil || wh.Verify(body, r.Header) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		bodies = append(bodies, string(body))
	}))
	defer rcv.Close()
	serveFor(t, e, addr, func(base string) {
		hc := &http.Client{Timeout: 10 * time.Second}
		res, err := hc.PostForm(base+"/v3/oauth/token", url.Values{"grant_type": {"client_credentials"},
			"client_id": {creds["client_id"].(string)}, "client_secret": {creds["client_secret"].(string)}})
		if err != nil {
			t.Fatal(err)
		}
		var tokBody map[string]any
		_ = json.NewDecoder(res.Body).Decode(&tokBody)
		_ = res.Body.Close()
		tok, _ := tokBody["access_token"].(string)
		c := &client{t: t, base: base, token: tok, http: hc}
		ep := c.call(http.MethodPost, "/v3/webhook_endpoints", map[string]any{"url": rcv.URL, "event_types": []string{"account.funded"}}, 201)
		mu.Lock()
		secret = ep["secret"].(string)
		mu.Unlock()
		ind := c.call(http.MethodPost, "/v3/individuals", map[string]string{"first_name": "A", "last_name": "B", "email": "a@example.com"}, 201)
		acc := c.call(http.MethodPost, "/v3/accounts", map[string]string{"individual_id": ind["id"].(string), "currency": "EUR"}, 201)
		c.call(http.MethodPost, "/v3/accounts/"+acc["id"].(string)+"/fundings", map[string]string{"amount": "12.34"}, 201)
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			n := len(bodies)
			mu.Unlock()
			if n > 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(bodies) != 1 || !strings.Contains(bodies[0], `"amount":"12.34"`) {
			t.Fatalf("deliveries: %q", bodies)
		}
	})
}
