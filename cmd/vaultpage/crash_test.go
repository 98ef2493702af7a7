package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaultpage/vaultpage/internal/testkit"
)

// keyed is one request of a burst, sent with an Idempotency-Key.
type keyed struct {
	key, path string
	body      map[string]any
	// what the first attempt got: 0 when it got no answer.
	status int
	id     string
}

// send posts k's body with its key, and returns the status and the id in
// the answer (0 and an error when no answer came).
func (c *client) send(k *keyed) (int, string, error) {
	b, _ := json.Marshal(k.body)
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, c.base+k.path, bytes.NewReader(b))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", k.key)
	res, err := c.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = res.Body.Close() }()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, "", err
	}
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	id, _ := m["id"].(string)
	if res.StatusCode >= 300 {
		id = string(body)
	}
	return res.StatusCode, id, nil
}

// TestKeyedRequestsAreDoneOnceAcrossAKill sends bursts of keyed requests
// (card orders, fundings, authorisations) to the real binary and kills it
// with SIGKILL at a random moment of each, on both stores. After a restart
// every key is retried: each retry answers 2xx, a key answered before the
// kill answers the same resource again, and each key made one resource at
// most: the cards, the balance and the authorisations are counted.
func TestKeyedRequestsAreDoneOnceAcrossAKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			addr := freeAddr(t)
			environ := append(os.Environ(), "VAULTPAGE_DATA_DIR="+t.TempDir(), "VAULTPAGE_ADDR="+addr, "VAULTPAGE_RATE_LIMIT=100000")
			if backend == "postgres" {
				environ = append(environ, "VAULTPAGE_DATABASE_URL="+testkit.PostgresSchemaURL(t))
			}
			create := exec.Command(bin, "partners", "create", "--name", "Crash Fintech")
			create.Env = environ
			out, err := create.Output()
			if err != nil {
				t.Fatalf("partners create: %v", err)
			}
			var creds map[string]string
			if err := json.Unmarshal(out, &creds); err != nil {
				t.Fatal(err)
			}
			var logs testkit.SyncBuffer
			start := func() *exec.Cmd {
				serve := exec.Command(bin, "serve")
				serve.Env, serve.Stdout, serve.Stderr = environ, &logs, &logs
				if err := serve.Start(); err != nil {
					t.Fatal(err)
				}
				waitHealthy(t, "http://"+addr)
				return serve
			}
			serve := start()
			defer func() { _ = serve.Process.Kill(); _ = serve.Wait() }()
			hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
			form := url.Values{"grant_type": {"client_credentials"}, "client_id": {creds["client_id"]}, "client_secret": {creds["client_secret"]}}
			res, err := hc.PostForm("http://"+addr+"/v3/oauth/token", form)
			if err != nil {
				t.Fatal(err)
			}
			var tok map[string]any
			_ = json.NewDecoder(res.Body).Decode(&tok)
			_ = res.Body.Close()
			c := &client{t: t, base: "http://" + addr, token: tok["access_token"].(string), http: hc}
			ind := c.call(http.MethodPost, "/v3/individuals", map[string]string{"first_name": "Ada", "last_name": "L", "email": "ada@example.com"}, 201)
			acc := c.call(http.MethodPost, "/v3/accounts", map[string]string{"individual_id": ind["id"].(string), "currency": "EUR"}, 201)
			accID := acc["id"].(string)
			c.call(http.MethodPost, "/v3/accounts/"+accID+"/fundings", map[string]string{"amount": "100000.00"}, 201)
			card := c.call(http.MethodPost, "/v3/cards", map[string]string{"individual_id": ind["id"].(string), "account_id": accID}, 201)
			cardID := card["id"].(string) // virtual: active at once

			var all []*keyed
			for round := range 2 {
				burst := make([]*keyed, 240)
				for i := range burst {
					key := fmt.Sprintf("r%d-%03d", round, i)
					switch i % 3 {
					case 0:
						burst[i] = &keyed{key: key, path: "/v3/cards", body: map[string]any{"individual_id": ind["id"], "account_id": accID, "display_name": key}}
					case 1:
						burst[i] = &keyed{key: key, path: "/v3/accounts/" + accID + "/fundings", body: map[string]any{"amount": "1.00"}}
					default:
						burst[i] = &keyed{key: key, path: "/v3/simulations/authorizations", body: map[string]any{"card_id": cardID, "amount": "1.00",
							"currency": "EUR", "merchant": map[string]string{"name": key, "mcc": "5411", "country": "SE", "id": "m-1"}}}
					}
				}
				all = append(all, burst...)
				// The kill comes after a random number of answers, so that it
				// falls in the middle of the burst however fast the machine.
				work := make(chan *keyed)
				var (
					wg      sync.WaitGroup
					answers atomic.Int64
					once    sync.Once
				)
				killAt := int64(20 + rand.IntN(len(burst)-60)) //nolint:gosec // A moment, not a secret.
				kill := func() { once.Do(func() { _ = serve.Process.Kill() }) }
				for range 12 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for k := range work {
							if k.status, k.id, _ = c.send(k); k.status != 0 && answers.Add(1) == killAt {
								kill()
							}
						}
					}()
				}
				for _, k := range burst {
					work <- k
				}
				close(work)
				wg.Wait()
				kill()
				_ = serve.Wait()
				answered := 0
				for _, k := range burst {
					if k.status != 0 {
						answered++
					}
					if k.status >= 300 {
						t.Fatalf("before the kill %s answered %d %s", k.key, k.status, k.id)
					}
				}
				t.Logf("round %d: %d of %d answered before the kill", round, answered, len(burst))
				serve = start()
			}

			// Every key again, after the restarts.
			for _, k := range all {
				status, id, err := c.send(k)
				switch {
				case err != nil:
					t.Fatalf("retry %s: %v", k.key, err)
				case status != http.StatusCreated:
					t.Fatalf("retry %s answered %d: %s", k.key, status, id)
				case k.status != 0 && id != k.id:
					t.Fatalf("retry %s answered %s, the first answer was %s", k.key, id, k.id)
				}
			}
			cards, auths := map[string]int{}, map[string]int{}
			for _, list := range []struct {
				path  string
				count map[string]int
				name  func(map[string]any) string
			}{
				{"/v3/cards?account_id=" + accID, cards, func(m map[string]any) string { return m["display_name"].(string) }},
				{"/v3/authorizations?card_id=" + cardID, auths, func(m map[string]any) string { return m["merchant"].(map[string]any)["name"].(string) }},
			} {
				for cursor := ""; ; {
					page := c.call(http.MethodGet, list.path+"&limit=100"+cursor, nil, 200)
					for _, x := range page["data"].([]any) {
						list.count[list.name(x.(map[string]any))]++
					}
					next, _ := page["next_cursor"].(string)
					if next == "" {
						break
					}
					cursor = "&cursor=" + next
				}
			}
			fundings := 0
			for i, k := range all {
				switch i % 3 {
				case 0:
					if cards[k.key] != 1 {
						t.Errorf("key %s made %d cards", k.key, cards[k.key])
					}
				case 1:
					fundings++
				default:
					if auths[k.key] != 1 {
						t.Errorf("key %s made %d authorisations", k.key, auths[k.key])
					}
				}
			}
			bal := c.call(http.MethodGet, "/v3/accounts/"+accID, nil, 200)["balance"]
			if want := fmt.Sprintf("%d.00", 100000+fundings); bal != want {
				t.Errorf("balance %v after %d keyed fundings of 1.00, want %s", bal, fundings, want)
			}
		})
	}
}
