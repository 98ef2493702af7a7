package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/vaultpage/vaultpage/idempotency"
)

func TestWebhookEndpointsOverTheAPI(t *testing.T) {
	e := newEnv(t)
	var (
		mu   sync.Mutex
		seen []map[string]any
		fail = true
	)
	var secret string
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil || wh.Verify(body, r.Header) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if fail {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		seen = append(seen, m)
	}))
	defer rcv.Close()

	expectProblem(t, e.post("/v3/webhook_endpoints", e.tokA, map[string]any{"url": "ftp://x"}), http.StatusUnprocessableEntity, "invalid_field", "url")
	expectProblem(t, e.post("/v3/webhook_endpoints", e.tokA, map[string]any{}), http.StatusUnprocessableEntity, "invalid_field", "url")
	r := e.post("/v3/webhook_endpoints", e.tokA, map[string]any{"url": rcv.URL, "event_types": []string{"account.funded"}})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	ep := r.json(t)
	mu.Lock()
	secret = ep["secret"].(string)
	mu.Unlock()
	id := ep["id"].(string)
	if got := e.do(http.MethodGet, "/v3/webhook_endpoints/"+id, e.tokA, "", nil).json(t); got["secret"] != nil {
		t.Fatal("the secret is shown again")
	}
	expectProblem(t, e.do(http.MethodGet, "/v3/webhook_endpoints/"+id, e.tokB, "", nil), http.StatusNotFound, "not_found", "")

	c := e.activeCard(t, nil)
	e.post("/v3/accounts/"+c["account_id"].(string)+"/fundings", e.tokA, map[string]string{"amount": "5.00"})
	ctx := context.Background()
	dispatch := func() {
		if _, err := e.hooks.Dispatch(ctx); err != nil {
			t.Fatal(err)
		}
		e.hooks.Wait()
	}
	dispatch()
	pending := e.do(http.MethodGet, "/v3/webhook_endpoints/"+id+"/deliveries?status=pending", e.tokA, "", nil).json(t)["data"].([]any)
	if len(pending) != 1 || pending[0].(map[string]any)["last_status"].(float64) != 500 {
		t.Fatalf("after a 500: %v", pending)
	}
	// The retry is not due for 5 s; a test event goes out at once, and the
	// receiver has recovered.
	mu.Lock()
	fail = false
	mu.Unlock()
	if tr := e.post("/v3/webhook_endpoints/"+id+"/test", e.tokA, nil); tr.status != http.StatusAccepted {
		t.Fatalf("test: %d %s", tr.status, tr.body)
	}
	dispatch()
	mu.Lock()
	if len(seen) != 1 || seen[0]["type"] != "webhook.test" {
		t.Fatalf("received: %v", seen)
	}
	mu.Unlock()
	// Rotation answers with a new secret.
	rot := e.do(http.MethodPatch, "/v3/webhook_endpoints/"+id, e.tokA, "application/json", []byte(`{"rotate_secret": true, "event_types": []}`))
	if rot.status != http.StatusOK || rot.json(t)["secret"] == nil || rot.json(t)["secret"] == secret {
		t.Fatalf("rotate: %d %s", rot.status, rot.body)
	}
	if r := e.do(http.MethodDelete, "/v3/webhook_endpoints/"+id, e.tokA, "", nil); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d", r.status)
	}
	if l := e.do(http.MethodGet, "/v3/webhook_endpoints", e.tokA, "", nil).json(t)["data"].([]any); len(l) != 0 {
		t.Fatalf("after delete: %v", l)
	}
}

// A webhook secret is shown once: an idempotent replay answers without it,
// and the kept response never holds it.
func TestWebhookSecretsAreNotKeptForIdempotentReplays(t *testing.T) {
	e := newEnv(t)
	body := []byte(`{"url": "http://127.0.0.1:9/hook"}`)
	first := e.do(http.MethodPost, "/v3/webhook_endpoints", e.tokA, "application/json", body, "Idempotency-Key", "hook-1")
	secret, _ := first.json(t)["secret"].(string)
	if first.status != http.StatusCreated || secret == "" {
		t.Fatalf("create: %d %s", first.status, first.body)
	}
	again := e.do(http.MethodPost, "/v3/webhook_endpoints", e.tokA, "application/json", body, "Idempotency-Key", "hook-1")
	if again.status != http.StatusCreated || again.header.Get("Idempotent-Replayed") != "true" || again.json(t)["id"] != first.json(t)["id"] {
		t.Fatalf("replay: %d %s", again.status, again.body)
	}
	if strings.Contains(string(again.body), secret) || again.json(t)["secret"] != nil {
		t.Fatal("the replay shows the secret again")
	}
	id := first.json(t)["id"].(string)
	rot := e.do(http.MethodPatch, "/v3/webhook_endpoints/"+id, e.tokA, "application/json", []byte(`{"rotate_secret": true}`), "Idempotency-Key", "rot-1")
	newSecret, _ := rot.json(t)["secret"].(string)
	if newSecret == "" {
		t.Fatalf("rotate: %d %s", rot.status, rot.body)
	}
	if replay := e.do(http.MethodPatch, "/v3/webhook_endpoints/"+id, e.tokA, "application/json", []byte(`{"rotate_secret": true}`), "Idempotency-Key", "rot-1"); strings.Contains(string(replay.body), newSecret) {
		t.Fatal("the rotation's replay shows the new secret")
	}
	// The kept responses (read back from the idempotency table) hold neither secret.
	for key, s := range map[string]string{"hook-1": secret, "rot-1": newSecret} {
		var (
			kept    idempotency.Request
			claimed bool
		)
		err := e.db.Idempotency().InTx(context.Background(), func(ctx context.Context) (err error) {
			kept, claimed, err = e.db.Idempotency().Claim(ctx, e.a.PartnerID.String(), key, []byte("another request"), time.Now(), time.Now().Add(-time.Hour))
			return err
		})
		if err != nil || claimed || len(kept.Body) == 0 {
			t.Fatalf("%s: kept response %v %v", key, claimed, err)
		}
		if strings.Contains(string(kept.Body), s) || strings.Contains(string(kept.Body), "whsec_") {
			t.Fatalf("%s: the idempotency table keeps the secret in clear", key)
		}
	}
}
