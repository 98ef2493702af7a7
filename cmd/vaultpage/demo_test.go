package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serveFor runs serve until fn returns, and returns what it printed.
func serveFor(t *testing.T, e map[string]string, addr string, fn func(base string)) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"vaultpage", "serve", "--addr", addr}, env(e), &stdout, &stderr) }()
	waitHealthy(t, "http://"+addr)
	fn("http://" + addr)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v\n%s", err, stderr.String())
		}
	case <-time.After(35 * time.Second):
		t.Fatal("no shutdown")
	}
	return stdout.String()
}

func TestDevelopmentServeHasADemoPartnerThatSurvivesRestarts(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	public := "http://localhost:" + addr[strings.LastIndex(addr, ":")+1:]
	e := map[string]string{"VAULTPAGE_DATA_DIR": dir, "VAULTPAGE_PUBLIC_URL": public}
	demoPage := func(base string) {
		res, err := http.Get(base + "/demo") //nolint:noctx // Test.
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "Demo Fintech") {
			t.Fatalf("/demo: %d", res.StatusCode)
		}
	}
	out := serveFor(t, e, addr, demoPage)
	if !strings.Contains(out, "try it: "+public+"/demo") {
		t.Fatalf("serve does not point to the demo: %q", out)
	}
	demoState := func() map[string]string {
		b, err := os.ReadFile(filepath.Join(dir, demoFile))
		if err != nil {
			t.Fatal(err)
		}
		info, _ := os.Stat(filepath.Join(dir, demoFile))
		if info.Mode().Perm() != 0o600 {
			t.Fatalf("%s is %v", demoFile, info.Mode().Perm())
		}
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	first := demoState()
	serveFor(t, e, addr, demoPage)
	if again := demoState(); again["partner_id"] != first["partner_id"] || again["individual_id"] != first["individual_id"] {
		t.Fatalf("a restart made a new demo partner: %v → %v", first, again)
	}
}
