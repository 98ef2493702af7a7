package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vaultpage/vaultpage/internal/panscan"
)

// buildBinary compiles vaultpage into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vaultpage")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type client struct {
	t     *testing.T
	base  string
	token string
	http  *http.Client
}

func (c *client) call(method, path string, body any, want int) map[string]any {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		c.t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, b)
	}
	if found := panscan.Find(b, "489537"); len(found) > 0 {
		c.t.Fatalf("%s %s answered with a card number", method, path)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// TestRealBinary builds vaultpage, registers a partner with the CLI while
// nothing runs, serves, walks token → individual → account → cards over HTTP,
// stops it with SIGTERM, verifies the audit trail, and scans the SQLite files
// and the captured logs for card numbers.
func TestRealBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	environ := append(os.Environ(), "VAULTPAGE_DATA_DIR="+dir, "VAULTPAGE_ADDR="+addr, "VAULTPAGE_RATE_LIMIT=100000")

	create := exec.Command(bin, "partners", "create", "--name", "Demo Fintech", "--return-url", "https://demo.example/return")
	create.Env = environ
	out, err := create.Output()
	if err != nil {
		t.Fatalf("partners create: %v", err)
	}
	var creds struct{ PartnerID, ClientID, ClientSecret string }
	if err := json.Unmarshal(out, &struct {
		PartnerID    *string `json:"partner_id"`
		ClientID     *string `json:"client_id"`
		ClientSecret *string `json:"client_secret"`
	}{&creds.PartnerID, &creds.ClientID, &creds.ClientSecret}); err != nil || creds.ClientSecret == "" {
		t.Fatalf("partners create printed %q", out)
	}

	var logs bytes.Buffer
	serve := exec.Command(bin, "serve")
	serve.Env = environ
	serve.Stderr = &logs
	var stdout bytes.Buffer
	serve.Stdout = &stdout
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = serve.Process.Kill() }()
	waitHealthy(t, "http://"+addr)

	// A partner registered while the service runs can authenticate at once.
	live := exec.Command(bin, "partners", "create", "--name", "Second Fintech")
	live.Env = environ
	liveOut, err := live.Output()
	if err != nil {
		t.Fatalf("partners create while serving: %v", err)
	}
	var second map[string]string
	if err := json.Unmarshal(liveOut, &second); err != nil || second["client_secret"] == "" {
		t.Fatalf("partners create while serving printed %q", liveOut)
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	secondForm := url.Values{"grant_type": {"client_credentials"}, "client_id": {second["client_id"]}, "client_secret": {second["client_secret"]}}
	sres, err := hc.PostForm("http://"+addr+"/v3/oauth/token", secondForm)
	if err != nil {
		t.Fatal(err)
	}
	_ = sres.Body.Close()
	if sres.StatusCode != http.StatusOK {
		t.Fatalf("the partner created while serving cannot get a token: %d", sres.StatusCode)
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://"+addr+"/v3/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(creds.ClientID, creds.ClientSecret)
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(res.Body).Decode(&tok)
	_ = res.Body.Close()
	if tok.AccessToken == "" {
		t.Fatalf("token endpoint answered %d", res.StatusCode)
	}
	c := &client{t: t, base: "http://" + addr, token: tok.AccessToken, http: hc}
	ind := c.call(http.MethodPost, "/v3/individuals", map[string]string{"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}, 201)
	acc := c.call(http.MethodPost, "/v3/accounts", map[string]string{"individual_id": ind["id"].(string), "currency": "EUR"}, 201)
	const cards = 2000
	for i := 0; i < cards; i++ {
		c.call(http.MethodPost, "/v3/cards", map[string]string{"individual_id": ind["id"].(string), "account_id": acc["id"].(string)}, 201)
	}
	// Scan while the service runs: the WAL holds the latest writes.
	scan := func(when string) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if found := panscan.Find(b, "489537"); len(found) > 0 {
				t.Fatalf("%s: %s holds %d card numbers in clear", when, e.Name(), len(found))
			}
		}
	}
	scan("while serving")

	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- serve.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v\n%s", err, logs.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
	scan("after shutdown")
	if found := panscan.Find(logs.Bytes(), "489537"); len(found) > 0 {
		t.Fatalf("the logs hold %d card numbers", len(found))
	}
	if strings.Contains(logs.String(), creds.ClientSecret) || strings.Contains(logs.String(), tok.AccessToken) {
		t.Fatal("a credential reached the logs")
	}
	if !strings.Contains(stdout.String(), "listening on "+addr) {
		t.Fatalf("serve did not say where it listens: %q", stdout.String())
	}

	verify := exec.Command(bin, "audit", "verify")
	verify.Env = environ
	out, err = verify.Output()
	if err != nil {
		t.Fatalf("audit verify: %v", err)
	}
	var rep struct {
		Entries int64 `json:"entries"`
	}
	if err := json.Unmarshal(out, &rep); err != nil || rep.Entries != cards+4 { // a card.created each; two partner.created, two partner.token_issued
		t.Fatalf("audit verify: %s", out)
	}
}
