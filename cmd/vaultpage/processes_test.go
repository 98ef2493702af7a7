package main

import (
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vaultpage/vaultpage/store/storetest"
)

// TestTwoProcessesOnOnePostgresNeverApproveTooMuch runs two vaultpage
// processes on one PostgreSQL and sends 200 authorisations of 10.00, half
// to each, first against a card with a 1,000.00 limit, then against an
// account holding 1,000.00: exactly 100 are approved each time, and the
// account never goes below zero.
func TestTwoProcessesOnOnePostgresNeverApproveTooMuch(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary twice")
	}
	dsn := storetest.PostgresURL(t)
	bin := buildBinary(t)
	base := append(os.Environ(), "VAULTPAGE_DATABASE_URL="+dsn, "VAULTPAGE_RATE_LIMIT=100000")
	create := exec.Command(bin, "partners", "create", "--name", "Two Process Fintech")
	create.Env = append(base, "VAULTPAGE_DATA_DIR="+t.TempDir())
	out, err := create.Output()
	if err != nil {
		t.Fatalf("partners create: %v", err)
	}
	var creds map[string]string
	if err := json.Unmarshal(out, &creds); err != nil {
		t.Fatal(err)
	}
	var clients []*client
	for range 2 {
		addr := freeAddr(t)
		serve := exec.Command(bin, "serve")
		// Each process has its own data directory; dev keys are in the
		// database's key table, wrapped by the KEK, so both need the same KEK.
		serve.Env = append(base, "VAULTPAGE_ADDR="+addr, "VAULTPAGE_DATA_DIR="+t.TempDir(), "VAULTPAGE_KEK_SOURCE=key",
			"VAULTPAGE_KEK=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
		if err := serve.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = serve.Process.Signal(syscall.SIGTERM)
			_ = serve.Wait()
		})
		waitHealthy(t, "http://"+addr)
		hc := &http.Client{Timeout: 30 * time.Second}
		res, err := hc.PostForm("http://"+addr+"/v3/oauth/token", url.Values{"grant_type": {"client_credentials"},
			"client_id": {creds["client_id"]}, "client_secret": {creds["client_secret"]}})
		if err != nil {
			t.Fatal(err)
		}
		var tok map[string]any
		_ = json.NewDecoder(res.Body).Decode(&tok)
		_ = res.Body.Close()
		clients = append(clients, &client{t: t, base: "http://" + addr, token: tok["access_token"].(string), http: hc})
	}
	a := clients[0]
	ind := a.call(http.MethodPost, "/v3/individuals", map[string]string{"first_name": "A", "last_name": "B", "email": "a@example.com"}, 201)
	newCard := func(funding string, extra map[string]string) (string, string) {
		acc := a.call(http.MethodPost, "/v3/accounts", map[string]string{"individual_id": ind["id"].(string), "currency": "EUR"}, 201)
		a.call(http.MethodPost, "/v3/accounts/"+acc["id"].(string)+"/fundings", map[string]string{"amount": funding}, 201)
		body := map[string]string{"individual_id": ind["id"].(string), "account_id": acc["id"].(string)}
		for k, v := range extra {
			body[k] = v
		}
		c := a.call(http.MethodPost, "/v3/cards", body, 201) // virtual: active at once
		return c["id"].(string), acc["id"].(string)
	}
	burst := func(cardID string) int {
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			approved int
		)
		for i := range 200 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := clients[i%2].call(http.MethodPost, "/v3/simulations/authorizations", map[string]any{"card_id": cardID, "amount": "10.00",
					"currency": "EUR", "merchant": map[string]string{"name": "Shop", "mcc": "5411", "country": "SE", "id": "m-1"}}, 201)
				if r["status"] == "approved" {
					mu.Lock()
					approved++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		return approved
	}
	limited, _ := newCard("100000.00", map[string]string{"spend_limit": "1000.00", "spend_limit_duration": "FOREVER"})
	if n := burst(limited); n != 100 {
		t.Fatalf("against a 1,000.00 limit: %d approved, want 100", n)
	}
	funded, acct := newCard("1000.00", nil)
	if n := burst(funded); n != 100 {
		t.Fatalf("against a 1,000.00 balance: %d approved, want 100", n)
	}
	got := clients[1].call(http.MethodGet, "/v3/accounts/"+acct, nil, 200)
	if got["available"] != "0.00" || got["balance"] != "1000.00" {
		t.Fatalf("account after: %v", got)
	}
	// Every decision, approved or declined, was recorded by a batch that
	// the processes' /metrics counted.
	var recorded float64
	for _, c := range clients {
		res, err := c.http.Get(c.base + "/metrics") //nolint:noctx // Test.
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "vaultpage_store_decision_batch_decisions_sum "); ok {
				n, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatal(err)
				}
				recorded += n
			}
		}
	}
	if recorded != 400 {
		t.Fatalf("/metrics counted %v decisions in batches, want 400", recorded)
	}

	// The partner decides in real time, answering in 0 to 50 ms: no lock
	// is held while it answers, and the balance, decided again once it has,
	// still approves exactly 100.
	var asked atomic.Int32
	partnerApp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		asked.Add(1)
		time.Sleep(time.Duration(rand.IntN(50)) * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"approved": true}`)
	}))
	defer partnerApp.Close()
	a.call(http.MethodPut, "/v3/decision_endpoint", map[string]any{"url": partnerApp.URL, "timeout_ms": 3000, "fallback": "decline"}, 201)
	time.Sleep(1100 * time.Millisecond) // both processes read the registration anew (they keep it for a second)
	decided, acct := newCard("1000.00", nil)
	if n := burst(decided); n != 100 {
		t.Fatalf("against a 1,000.00 balance, the partner asked: %d approved, want 100", n)
	}
	if n := asked.Load(); n != 200 {
		t.Fatalf("the partner was asked %d times, want 200", n)
	}
	got = clients[1].call(http.MethodGet, "/v3/accounts/"+acct, nil, 200)
	if got["available"] != "0.00" || got["balance"] != "1000.00" {
		t.Fatalf("account after the partner's decisions: %v", got)
	}
}
