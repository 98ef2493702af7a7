package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vaultpage/vaultpage/internal/testkit"
	"github.com/vaultpage/vaultpage/store"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func freeAddr(t *testing.T) string { return testkit.FreeAddr(t) }

func waitHealthy(t *testing.T, url string) { testkit.WaitHealthy(t, url) }

type syncBuffer = testkit.SyncBuffer

func TestServeRunsOnDefaultsAndShutsDownCleanly(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"vaultpage", "serve", "--addr", addr}, env(map[string]string{"VAULTPAGE_DATA_DIR": dir}), &stdout, &stderr)
	}()
	waitHealthy(t, "http://"+addr)
	if !strings.Contains(stdout.String(), "listening on "+addr) {
		t.Fatalf("does not say where it listens: %q", stdout.String())
	}
	resp, err := http.Get("http://" + addr + "/readyz") //nolint:noctx // Test.
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz = %d", resp.StatusCode)
	}
	if err := run(ctx, []string{"vaultpage", "healthcheck", "--addr", addr}, env(map[string]string{"VAULTPAGE_DATA_DIR": dir}), &stdout, &stderr); err != nil {
		t.Fatalf("healthcheck against a running service: %v", err)
	}
	// SQLite's group commits show in /metrics (the webhook dispatcher
	// commits every half second, if nothing else does).
	var commits string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/metrics") //nolint:noctx // Test.
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		for _, line := range strings.Split(string(b), "\n") {
			if n, ok := strings.CutPrefix(line, "vaultpage_store_commit_transactions_count "); ok {
				commits = n
			}
		}
		if commits != "" && commits != "0" {
			break
		}
	}
	if commits == "" || commits == "0" {
		t.Fatalf("no group commit counted in /metrics (vaultpage_store_commit_transactions_count %q)", commits)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v", err)
		}
	case <-time.After(35 * time.Second):
		t.Fatal("no shutdown")
	}
	if !strings.Contains(stderr.String(), "generated a development key-encrypting key") {
		t.Fatalf("no dev key warning in logs: %s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "shut down cleanly") {
		t.Fatalf("no clean shutdown in logs: %s", stderr.String())
	}
	if err := run(context.Background(), []string{"vaultpage", "healthcheck", "--addr", addr}, env(map[string]string{"VAULTPAGE_DATA_DIR": dir}), &stdout, &stderr); err == nil {
		t.Fatal("healthcheck passed with the service stopped")
	}
}

func TestProductionRefusesUnsafeDefaultsListingEveryProblem(t *testing.T) {
	var stdout, stderr syncBuffer
	err := run(context.Background(), []string{"vaultpage", "serve"}, env(map[string]string{
		"VAULTPAGE_ENV": "production", "VAULTPAGE_KEK_SOURCE": "dev", "VAULTPAGE_DATA_DIR": t.TempDir(),
	}), &stdout, &stderr)
	if err == nil {
		t.Fatal("production started on dev keys")
	}
	for _, want := range []string{"refused in production", "production needs https", "VAULTPAGE_SESSION_KEYS", "deliver one-time codes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q: %v", want, err)
		}
	}
	err = run(context.Background(), []string{"vaultpage", "serve"}, env(map[string]string{
		"VAULTPAGE_ENV": "production", "VAULTPAGE_PUBLIC_URL": "https://cards.example", "VAULTPAGE_DATA_DIR": t.TempDir(),
	}), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "VAULTPAGE_KEK_SOURCE") {
		t.Fatalf("production without a KEK source: %v", err)
	}
}

func TestConfigNeverPrintsTheKEK(t *testing.T) {
	const kek = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	var stdout, stderr syncBuffer
	err := run(context.Background(), []string{"vaultpage", "serve", "--addr", "nonsense"}, env(map[string]string{
		"VAULTPAGE_KEK": kek, "VAULTPAGE_DATA_DIR": t.TempDir(),
	}), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "VAULTPAGE_ADDR") {
		t.Fatalf("want an address problem, got %v", err)
	}
	if strings.Contains(err.Error()+stdout.String()+stderr.String(), kek) {
		t.Fatal("the KEK was printed")
	}
}

func runJSON(t *testing.T, e map[string]string, args ...string) map[string]any {
	t.Helper()
	var stdout, stderr syncBuffer
	if err := run(context.Background(), append([]string{"vaultpage"}, args...), env(e), &stdout, &stderr); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, stderr.String())
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(stdout.String()), &out); err != nil {
		t.Fatalf("%v: output is not JSON: %q", args, stdout.String())
	}
	return out
}

func TestKeysCommandsRotateRewrapRetire(t *testing.T) {
	e := map[string]string{"VAULTPAGE_DATA_DIR": t.TempDir()}
	st := runJSON(t, e, "keys", "status")
	if n := len(st["keys"].([]any)); n != 4 {
		t.Fatalf("%d keys after first start, want one per purpose", n)
	}
	rot := runJSON(t, e, "keys", "rotate", "data")
	newID := rot["new_key_id"].(float64)
	if newID != 5 {
		t.Fatalf("new key id %v", newID)
	}
	rep := runJSON(t, e, "keys", "rewrap")
	if _, ok := rep["secrets_resealed"]; !ok {
		t.Fatalf("rewrap report %v", rep)
	}
	ret := runJSON(t, e, "keys", "retire", "1")
	if ret["retired"].(float64) != 1 {
		t.Fatalf("retire answered %v", ret)
	}
	st = runJSON(t, e, "keys", "status")
	states := map[float64]string{}
	for _, k := range st["keys"].([]any) {
		m := k.(map[string]any)
		states[m["id"].(float64)] = m["state"].(string)
	}
	if states[1] != "retired" || states[5] != "active" {
		t.Fatalf("states %v", states)
	}
	var stdout, stderr syncBuffer
	if err := run(context.Background(), []string{"vaultpage", "keys", "retire", "5"}, env(e), &stdout, &stderr); err == nil || !strings.Contains(err.Error(), "active") {
		t.Fatalf("retiring the active key: %v", err)
	}
	// The audit trail says the refused retirement failed, and the one done succeeded.
	db, err := store.Open(context.Background(), "", e["VAULTPAGE_DATA_DIR"])
	if err != nil {
		t.Fatal(err)
	}
	entries, err := db.Audit().AuditEntries(context.Background(), 0, 1000)
	_ = db.Close()
	if err != nil {
		t.Fatal(err)
	}
	results := map[string]string{}
	for _, en := range entries {
		results[en.Action+" "+en.Target] = en.Result
	}
	if results["key.retire key:5"] != "failed" || results["key.retired key:1"] != "ok" {
		t.Fatalf("retirements in the audit trail: %v", results)
	}
	if err := run(context.Background(), []string{"vaultpage", "keys", "rotate", "gold"}, env(e), &stdout, &stderr); err == nil {
		t.Fatal("rotated an unknown purpose")
	}
	if err := run(context.Background(), []string{"vaultpage", "frobnicate"}, env(e), &stdout, &stderr); err == nil {
		t.Fatal("accepted an unknown command")
	}
}

func TestAnOperatorAddressTakesMetricsOffThePartnerListener(t *testing.T) {
	dir, addr, opAddr := t.TempDir(), freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"vaultpage", "serve", "--addr", addr}, env(map[string]string{"VAULTPAGE_DATA_DIR": dir,
			"VAULTPAGE_OPERATOR_ADDR": opAddr, "VAULTPAGE_METRICS_TOKEN": "scrape-me"}), &stdout, &stderr)
	}()
	waitHealthy(t, "http://"+addr)
	waitHealthy(t, "http://"+opAddr)
	status := func(u, auth string) int {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if s := status("http://"+addr+"/metrics", "Bearer scrape-me"); s != http.StatusNotFound {
		t.Fatalf("/metrics on the partner listener: %d", s)
	}
	if s := status("http://"+opAddr+"/metrics", ""); s != http.StatusUnauthorized {
		t.Fatalf("/metrics without the token: %d", s)
	}
	if s := status("http://"+opAddr+"/metrics", "Bearer scrape-me"); s != http.StatusOK {
		t.Fatalf("/metrics with the token: %d", s)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run returned %v", err)
	}
	if strings.Contains(stderr.String(), "scrape-me") || strings.Contains(stdout.String(), "scrape-me") {
		t.Fatal("the metrics token was printed")
	}
}

func TestShutdownWithAnOpenEventStreamIsQuickAndClean(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	environ := map[string]string{"VAULTPAGE_DATA_DIR": dir}
	var out, logs syncBuffer
	if err := run(context.Background(), []string{"vaultpage", "partners", "create", "--name", "Streamer"}, env(environ), &out, &logs); err != nil {
		t.Fatal(err)
	}
	var creds map[string]string
	if err := json.Unmarshal([]byte(out.String()), &creds); err != nil {
		t.Fatalf("partners create printed %q", out.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"vaultpage", "serve", "--addr", addr}, env(environ), &stdout, &stderr)
	}()
	waitHealthy(t, "http://"+addr)
	res, err := http.PostForm("http://"+addr+"/v3/oauth/token", url.Values{"grant_type": {"client_credentials"}, //nolint:noctx // Test.
		"client_id": {creds["client_id"]}, "client_secret": {creds["client_secret"]}})
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	_ = json.NewDecoder(res.Body).Decode(&tok)
	_ = res.Body.Close()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+addr+"/v3/events/stream", nil)
	req.Header.Set("Authorization", "Bearer "+tok["access_token"].(string))
	stream, err := http.DefaultClient.Do(req)
	if err != nil || stream.StatusCode != http.StatusOK {
		t.Fatalf("stream: %v", err)
	}
	defer func() { _ = stream.Body.Close() }()
	ended := make(chan string, 1)
	go func() { b, _ := io.ReadAll(stream.Body); ended <- string(b) }()
	time.Sleep(300 * time.Millisecond)
	began := time.Now()
	cancel() // what SIGTERM does
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("shutdown with an open stream took more than 10 s")
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Fatalf("shutdown took %v", took)
	}
	if last := <-ended; !strings.Contains(last, "shutting down") {
		t.Fatalf("the stream ended without saying so: %q", last)
	}
}

func TestTheProgrammeNameIsCheckedBeforeItReachesAPage(t *testing.T) {
	testCases := []struct {
		name, value string
		ok          bool
	}{
		{"a name", "Nordkort Card Programme", true},
		{"sixty characters", strings.Repeat("é", 60), true},
		{"too long", strings.Repeat("x", 61), false},
		{"a control character", "Nord\x1bkort", false},
		{"only spaces", "   ", false},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(flag.NewFlagSet("serve", flag.ContinueOnError), nil, env(map[string]string{"VAULTPAGE_PROGRAMME_NAME": tc.value}))
			switch {
			case tc.ok && (err != nil || c.Programme != tc.value):
				t.Fatalf("%q refused or changed: %v %q", tc.value, err, c.Programme)
			case !tc.ok && (err == nil || !strings.Contains(err.Error(), "VAULTPAGE_PROGRAMME_NAME")):
				t.Fatalf("%q accepted: %v", tc.value, err)
			}
		})
	}
}
