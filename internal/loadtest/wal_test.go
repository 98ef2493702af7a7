package loadtest

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// TestWALStaysBounded orders cards at a steady rate against the real binary
// on SQLite and samples the size of the write-ahead log and of the database
// every half second, with /healthz measured in the same run for the
// machine's floor. Opt-in; it prints a table and fails only if the WAL
// passes the bound the store promises by far (three times walLimit).
//
//	VAULTPAGE_LOAD=1 go test -count=1 -run TestWALStaysBounded -v ./internal/loadtest
//
// VAULTPAGE_LOAD_WAL_RATE and VAULTPAGE_LOAD_WAL_SECONDS change the rate
// (250/s) and the length (60 s).
func TestWALStaysBounded(t *testing.T) {
	if os.Getenv("VAULTPAGE_LOAD") != "1" {
		t.Skip("load runs are opt-in: VAULTPAGE_LOAD=1 go test -run TestWALStaysBounded -v ./internal/loadtest")
	}
	rate, seconds := 250, 60
	if v := os.Getenv("VAULTPAGE_LOAD_WAL_RATE"); v != "" {
		_, _ = fmt.Sscan(v, &rate)
	}
	if v := os.Getenv("VAULTPAGE_LOAD_WAL_SECONDS"); v != "" {
		_, _ = fmt.Sscan(v, &seconds)
	}
	bin := filepath.Join(t.TempDir(), "vaultpage")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/vaultpage").CombinedOutput(); err != nil {
		t.Fatalf("build: %v %s", err, out)
	}
	dir := t.TempDir()
	s := start(t, bin, append(os.Environ(), "VAULTPAGE_DATA_DIR="+dir), "sqlite", "file:"+filepath.Join(dir, "vaultpage.db")+"?_pragma=busy_timeout(10000)")
	floor := attack(vegeta.Target{Method: http.MethodGet, URL: s.base + "/healthz"}, rate, 5*time.Second)

	var (
		mu       sync.Mutex
		wal, db  []int64
		stop     = make(chan struct{})
		sampling sync.WaitGroup
	)
	size := func(name string) int64 {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			return 0
		}
		return st.Size()
	}
	sampling.Add(1)
	go func() {
		defer sampling.Done()
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				mu.Lock()
				wal, db = append(wal, size("vaultpage.db-wal")), append(db, size("vaultpage.db"))
				mu.Unlock()
			}
		}
	}()
	orders := attack(vegeta.Target{Method: http.MethodPost, URL: s.base + "/v3/cards", Body: []byte(s.cardBody()), Header: s.header()},
		rate, time.Duration(seconds)*time.Second)
	close(stop)
	sampling.Wait()

	sorted := slices.Clone(wal)
	slices.Sort(sorted)
	pct := func(p float64) int64 { return sorted[int(p*float64(len(sorted)-1))] }
	mib := func(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
	var b strings.Builder
	fmt.Fprintf(&b, "\nSQLite WAL during %d s of card orders at %d/s (%d samples, one each 0.5 s):\n\n", seconds, rate, len(wal))
	fmt.Fprintf(&b, "| | orders | /healthz (floor) |\n| --- | --- | --- |\n")
	fmt.Fprintf(&b, "| requests, success | %d, %.2f%% | %d, %.2f%% |\n", orders.Requests, 100*orders.Success, floor.Requests, 100*floor.Success)
	fmt.Fprintf(&b, "| p50, p99 | %s, %s | %s, %s |\n", orders.Latencies.P50.Round(10*time.Microsecond), orders.Latencies.P99.Round(10*time.Microsecond),
		floor.Latencies.P50.Round(10*time.Microsecond), floor.Latencies.P99.Round(10*time.Microsecond))
	fmt.Fprintf(&b, "\n| WAL p50 | WAL p99 | WAL max | database at the end |\n| --- | --- | --- | --- |\n| %s | %s | %s | %s |\n",
		mib(pct(0.5)), mib(pct(0.99)), mib(sorted[len(sorted)-1]), mib(db[len(db)-1]))
	t.Log(b.String())
	if p := os.Getenv("VAULTPAGE_LOAD_OUT"); p != "" {
		_ = os.WriteFile(p, []byte(b.String()), 0o600)
	}
	if orders.Success < 1 {
		t.Errorf("%d of %d orders failed", orders.Requests-uint64(float64(orders.Requests)*orders.Success), orders.Requests)
	}
	if limit := int64(3 * 8 << 20); sorted[len(sorted)-1] > limit {
		t.Errorf("the WAL reached %s, past three times the store's 8 MiB limit", mib(sorted[len(sorted)-1]))
	}
}
