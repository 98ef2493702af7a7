package web_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// BenchmarkGetCard measures GET /v3/cards/{id} through the whole handler
// stack on SQLite, without the network; BenchmarkHealthz is its baseline.
func BenchmarkGetCard(b *testing.B) {
	e := newEnv(&testing.T{}, func(o *options) { o.rateLimit = 1e9 })
	id := e.card(e.tokA)["id"].(string)
	h := e.srv.Config.Handler
	req := httptest.NewRequest(http.MethodGet, "/v3/cards/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+e.tokA)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}

func BenchmarkHealthz(b *testing.B) {
	e := newEnv(&testing.T{}, func(o *options) { o.rateLimit = 1e9 })
	h := e.srv.Config.Handler
	req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
	}
}

// BenchmarkGetConsent measures the consent polling partners do,
// GET /v3/consents/{id}, through the whole handler stack on SQLite.
func BenchmarkGetConsent(b *testing.B) {
	e := newEnv(&testing.T{}, func(o *options) { o.rateLimit = 1e9 })
	id := e.card(e.tokA)["id"].(string)
	cs := e.post("/v3/cards/"+id+"/activate", e.tokA, nil)
	if cs.status != http.StatusPreconditionFailed {
		b.Fatal(cs.status)
	}
	cid := cs.json(&testing.T{})["consent"].(map[string]any)["id"].(string)
	h := e.srv.Config.Handler
	req := httptest.NewRequest(http.MethodGet, "/v3/consents/"+cid, nil)
	req.Header.Set("Authorization", "Bearer "+e.tokA)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkGetConsentMany polls 20,000 consents in turn, so that (nearly)
// every poll misses the status cache and reads the database.
func BenchmarkGetConsentMany(b *testing.B) {
	e := newEnv(&testing.T{}, func(o *options) { o.rateLimit = 1e9 })
	id := e.card(e.tokA)["id"].(string)
	var reqs []*http.Request
	for range 20000 {
		r := e.do(http.MethodGet, "/v3/cards/"+id+"/credentials", e.tokA, "", nil)
		cid := r.json(&testing.T{})["consent"].(map[string]any)["id"].(string)
		req := httptest.NewRequest(http.MethodGet, "/v3/consents/"+cid, nil)
		req.Header.Set("Authorization", "Bearer "+e.tokA)
		reqs = append(reqs, req)
	}
	h := e.srv.Config.Handler
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, reqs[i%len(reqs)])
		i++
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkAuthorize decides authorisations through the whole handler
// stack on SQLite, in parallel over 50 funded cards with monthly limits:
// what the load run's authorisation scenario does, without the network.
func BenchmarkAuthorize(b *testing.B) {
	t := &testing.T{}
	e := newEnv(t, func(o *options) { o.rateLimit = 1e9 })
	var bodies [][]byte
	for range 50 {
		c := e.activeCard(t, map[string]any{"spend_limit": "1000000.00", "spend_limit_duration": "MONTHLY"})
		if f := e.post("/v3/accounts/"+c["account_id"].(string)+"/fundings", e.tokA, map[string]string{"amount": "1000000.00"}); f.status != http.StatusCreated {
			b.Fatal(f.status)
		}
		body, _ := json.Marshal(map[string]any{"card_id": c["id"], "amount": "1.00", "currency": "EUR", "merchant": shop})
		bodies = append(bodies, body)
	}
	h := e.srv.Config.Handler
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, "/v3/simulations/authorizations", bytes.NewReader(bodies[int(n.Add(1))%len(bodies)]))
			req.Header.Set("Authorization", "Bearer "+e.tokA)
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusCreated || !bytes.Contains(w.Body.Bytes(), []byte(`"approved"`)) {
				b.Fatalf("%d %s", w.Code, w.Body)
			}
		}
	})
}
