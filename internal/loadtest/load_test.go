// Package loadtest holds the load runs behind docs/benchmarks.md. They build
// and start the real binary, drive it over loopback with vegeta, and report
// each scenario as a ratio against /healthz measured in the same run. They
// run only with VAULTPAGE_LOAD=1 and never fail on timing: they print a table.
package loadtest

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/vaultpage/vaultpage/internal/testkit"
	"github.com/vaultpage/vaultpage/spend"
	_ "github.com/vaultpage/vaultpage/store" // registers the sqlite and pgx drivers
	"github.com/vaultpage/vaultpage/store/storetest"
)

type service struct {
	// dataDir and databaseURL are the service's, for reading its vault.
	dataDir, databaseURL string
	base, token          string
	ind, acc, id         string
	db                   *sql.DB
	proc                 *exec.Cmd
}

func start(t *testing.T, bin string, environ []string, dsnDriver, dsn string) *service {
	t.Helper()
	addr := testkit.FreeAddr(t)
	environ = append(environ, "VAULTPAGE_ADDR="+addr, "VAULTPAGE_RATE_LIMIT=1000000", "VAULTPAGE_LOG_LEVEL=info")
	create := exec.Command(bin, "partners", "create", "--name", "Load")
	create.Env = environ
	out, err := create.Output()
	if err != nil {
		t.Fatalf("partners create: %v", err)
	}
	var creds map[string]string
	_ = json.Unmarshal(out, &creds)
	proc := exec.Command(bin, "serve")
	proc.Env = environ
	proc.Stderr = io.Discard // info-level request logs, as in production, written nowhere
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	s := &service{base: "http://" + addr, proc: proc}
	t.Cleanup(func() {
		_ = proc.Process.Signal(syscall.SIGTERM)
		_ = proc.Wait()
	})
	testkit.WaitHealthy(t, s.base)
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {creds["client_id"]}, "client_secret": {creds["client_secret"]}}
	r, err := http.PostForm(s.base+"/v3/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	_ = json.NewDecoder(r.Body).Decode(&tok)
	_ = r.Body.Close()
	s.token = tok["access_token"].(string)
	s.ind = s.post(t, "/v3/individuals", `{"first_name":"Load","last_name":"Test","email":"load@example.com"}`)
	s.acc = s.post(t, "/v3/accounts", `{"individual_id":"`+s.ind+`","currency":"EUR"}`)
	s.id = s.post(t, "/v3/cards", s.cardBody())
	if s.db, err = sql.Open(dsnDriver, dsn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.db.Close() })
	return s
}

func (s *service) cardBody() string {
	return `{"individual_id":"` + s.ind + `","account_id":"` + s.acc + `","display_name":"Load"}`
}

func (s *service) header() http.Header {
	return http.Header{"Authorization": {"Bearer " + s.token}, "Content-Type": {"application/json"}}
}

func (s *service) post(t *testing.T, path, body string) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, s.base+path, strings.NewReader(body))
	req.Header = s.header()
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Body.Close() }()
	var m map[string]any
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &m); err != nil || m["id"] == nil {
		t.Fatalf("POST %s: %d %s", path, r.StatusCode, b)
	}
	return m["id"].(string)
}

// decideInRealTime registers a decision endpoint for the service's
// partner, a local server that approves at once, and returns what removes
// it again.
func (s *service) decideInRealTime(t *testing.T) (stop func()) {
	t.Helper()
	partner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"approved": true}`)
	}))
	s.call(t, http.MethodPut, "/v3/decision_endpoint", `{"url":"`+partner.URL+`","timeout_ms":2000,"fallback":"decline"}`, http.StatusCreated)
	time.Sleep(1100 * time.Millisecond) // the service reads a registration anew each second
	return func() {
		s.call(t, http.MethodDelete, "/v3/decision_endpoint", "", http.StatusNoContent)
		time.Sleep(1100 * time.Millisecond)
		partner.Close()
	}
}

// call sends one request and wants its status.
func (s *service) call(t *testing.T, method, path, body string, want int) {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), method, s.base+path, strings.NewReader(body))
	req.Header = s.header()
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if r.StatusCode != want {
		t.Fatalf("%s %s: %d %s", method, path, r.StatusCode, b)
	}
}

// decisionLatency is what /metrics says of the partner's answers: how many,
// their mean, and the share within 1 and 2.5 ms.
func (s *service) decisionLatency(t *testing.T) string {
	t.Helper()
	r, err := http.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	_ = r.Body.Close()
	vals := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		for _, k := range []string{`vaultpage_decision_endpoint_seconds_bucket{decided_by="partner",le="0.001"}`, `vaultpage_decision_endpoint_seconds_bucket{decided_by="partner",le="0.0025"}`,
			`vaultpage_decision_endpoint_seconds_sum{decided_by="partner"}`, `vaultpage_decision_endpoint_seconds_count{decided_by="partner"}`} {
			if v, ok := strings.CutPrefix(line, k+" "); ok {
				vals[k], _ = strconv.ParseFloat(v, 64)
			}
		}
	}
	n := vals[`vaultpage_decision_endpoint_seconds_count{decided_by="partner"}`]
	if n == 0 {
		return "no answers"
	}
	return fmt.Sprintf("%.0f answers, mean %.2f ms, %.1f%% within 1 ms, %.1f%% within 2.5 ms", n,
		1000*vals[`vaultpage_decision_endpoint_seconds_sum{decided_by="partner"}`]/n,
		100*vals[`vaultpage_decision_endpoint_seconds_bucket{decided_by="partner",le="0.001"}`]/n,
		100*vals[`vaultpage_decision_endpoint_seconds_bucket{decided_by="partner",le="0.0025"}`]/n)
}

// attack runs one scenario, round-robin over its targets. rate 0 means as
// fast as the workers go.
func attack(target vegeta.Target, rate int, d time.Duration, more ...vegeta.Target) vegeta.Metrics {
	opts := []func(*vegeta.Attacker){vegeta.KeepAlive(true), vegeta.Connections(64)}
	pacer := vegeta.Pacer(vegeta.Rate{Freq: rate, Per: time.Second})
	if rate == 0 {
		opts = append(opts, vegeta.Workers(16), vegeta.MaxWorkers(16))
		pacer = vegeta.Rate{Freq: 0}
	}
	a := vegeta.NewAttacker(opts...)
	var m vegeta.Metrics
	for res := range a.Attack(vegeta.NewStaticTargeter(append([]vegeta.Target{target}, more...)...), pacer, d, "load") {
		m.Add(res)
	}

	m.Close()
	return m
}

// seed inserts cards directly until the table holds n, in batches.
func (s *service) seed(t *testing.T, n int) {
	t.Helper()
	var have int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM cards`).Scan(&have); err != nil {
		t.Fatal(err)
	}
	var partnerID string
	if err := s.db.QueryRow(`SELECT partner_id FROM cards WHERE id = $1`, s.id).Scan(&partnerID); err != nil {
		t.Fatal(err)
	}
	const batch = 500
	now := time.Now().UTC()
	for have < n {
		tx, err := s.db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		for k := 0; k < 100 && have < n; k++ {
			var (
				b    strings.Builder
				args []any
			)
			b.WriteString(`INSERT INTO cards (id, partner_id, account_id, individual_id, display_name, type, brand, region, currency, last4,
				exp_month, exp_year, status, spend_limit_duration, created_at, updated_at, version) VALUES `)
			for i := 0; i < batch && have < n; i++ {
				if i > 0 {
					b.WriteString(",")
				}
				id, _ := uuid.NewV7()
				p := len(args)
				fmt.Fprintf(&b, "($%d,$%d,$%d,$%d,'Seed','virtual','visa','europe','EUR','0000',12,2029,'not_activated','',$%d,$%d,1)", p+1, p+2, p+3, p+4, p+5, p+6)
				args = append(args, id.String(), partnerID, s.acc, s.ind, now, now)
				have++
			}
			if _, err := tx.Exec(b.String(), args...); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
}

// authCards sets up n funded, active cards, each on its own account, with
// a monthly spend limit (so that every decision sums the window), and
// returns authorisation targets that cycle through them.
func (s *service) authCards(t *testing.T, n int) []vegeta.Target {
	t.Helper()
	var targets []vegeta.Target
	for range n {
		acc := s.post(t, "/v3/accounts", `{"individual_id":"`+s.ind+`","currency":"EUR"}`)
		s.post(t, "/v3/accounts/"+acc+"/fundings", `{"amount":"1000000.00"}`)
		id := s.post(t, "/v3/cards", `{"individual_id":"`+s.ind+`","account_id":"`+acc+`","spend_limit":"1000000.00","spend_limit_duration":"MONTHLY"}`) // virtual: active at once
		targets = append(targets, vegeta.Target{Method: "POST", URL: s.base + "/v3/simulations/authorizations", Header: s.header(),
			Body: []byte(`{"card_id":"` + id + `","amount":"1.00","currency":"EUR","merchant":{"name":"Load Shop","mcc":"5411","country":"SE","id":"m-1"}}`)})
	}
	return targets
}

// requireConsent asks to see the card's details and returns the pending
// consent's id from the 412.
func (s *service) requireConsent(t *testing.T) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, s.base+"/v3/cards/"+s.id+"/credentials", nil)
	req.Header = s.header()
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Body.Close() }()
	var body struct {
		Consent struct {
			ID string `json:"id"`
		} `json:"consent"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || r.StatusCode != http.StatusPreconditionFailed {
		t.Fatalf("credentials: %d %v", r.StatusCode, err)
	}
	return body.Consent.ID
}

// serverBuckets reads the POST /v3/cards latency histogram from /metrics.
func (s *service) serverBuckets(t *testing.T) map[string]float64 {
	return s.routeBuckets(t, "/v3/cards")
}

// routeBuckets reads a POST route's server-side latency histogram from /metrics.
func (s *service) routeBuckets(t *testing.T, route string) map[string]float64 {
	t.Helper()
	r, err := http.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Body.Close() }()
	b, _ := io.ReadAll(r.Body)
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		prefix := `vaultpage_http_request_duration_seconds_bucket{method="POST",route="` + route + `",le="`
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			le, val, _ := strings.Cut(rest, `"} `)
			var f float64
			_, _ = fmt.Sscanf(val, "%g", &f)
			out[le] = f
		}
	}
	return out
}

type row struct {
	name string
	m    vegeta.Metrics
	base float64
}

func report(t *testing.T, name string, rows []row) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "\n%s:\n\n| scenario | requests | success | throughput (req/s) | ratio to /healthz | p50 | p99 |\n| --- | --- | --- | --- | --- | --- | --- |\n", name)
	for _, r := range rows {
		ratio := "—"
		if r.base > 0 {
			ratio = fmt.Sprintf("%.2f", r.m.Throughput/r.base)
		}
		fmt.Fprintf(&b, "| %s | %d | %.2f%% | %.0f | %s | %s | %s |\n", r.name, r.m.Requests, r.m.Success*100, r.m.Throughput, ratio,
			r.m.Latencies.P50.Round(10*time.Microsecond), r.m.Latencies.P99.Round(10*time.Microsecond))
	}
	t.Log(b.String())
	return b.String()
}

// pollConsents is how many consents the many-consents polling scenario
// cycles through.
const pollConsents = 5000

// cardIDsOf are the cards that authCards' targets name.
func cardIDsOf(targets []vegeta.Target) []string {
	ids := make([]string, 0, len(targets))
	for _, tg := range targets {
		var body struct {
			CardID string `json:"card_id"`
		}
		_ = json.Unmarshal(tg.Body, &body)
		ids = append(ids, body.CardID)
	}
	return ids
}

// authCards is how many cards (each on its own account) the authorisation
// scenario spreads its requests over.
const authCards = 50

func TestLoad(t *testing.T) {
	if os.Getenv("VAULTPAGE_LOAD") != "1" {
		t.Skip("load runs are opt-in: VAULTPAGE_LOAD=1 go test -run TestLoad -v -timeout 60m ./internal/loadtest")
	}
	bin := filepath.Join(t.TempDir(), "vaultpage")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/vaultpage").CombinedOutput(); err != nil {
		t.Fatalf("build: %v %s", err, out)
	}
	seconds := 10 * time.Second
	cards := 1_000_000
	if os.Getenv("VAULTPAGE_LOAD_QUICK") == "1" {
		seconds, cards = 2*time.Second, 20_000
	}
	var out strings.Builder
	backends := []string{"sqlite", "postgres"}
	if only := os.Getenv("VAULTPAGE_LOAD_STORES"); only != "" {
		backends = strings.Split(only, ",") // while working on one store
	}
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			dir := t.TempDir()
			environ := append(os.Environ(), "VAULTPAGE_DATA_DIR="+dir)
			driver, dsn := "sqlite", "file:"+filepath.Join(dir, "vaultpage.db")+"?_pragma=busy_timeout(10000)"
			if backend == "postgres" {
				u := storetest.PostgresURL(t)
				environ = append(environ, "VAULTPAGE_DATABASE_URL="+distant(t, u))
				driver, dsn = "pgx", testkit.PlainURL(u)
			}
			// Go's default (what this process has, on the same machine),
			// unless VAULTPAGE_LOAD_GOMAXPROCS sets another for the service
			// (docs/benchmarks.md measures 1 and 2 on PostgreSQL).
			procs := strconv.Itoa(runtime.GOMAXPROCS(0))
			if v := os.Getenv("VAULTPAGE_LOAD_GOMAXPROCS"); v != "" {
				procs = v
				environ = append(environ, "GOMAXPROCS="+v)
			}
			heading := backend + " (service GOMAXPROCS=" + procs + ")"
			if v := os.Getenv("VAULTPAGE_LOAD_DB_DELAY"); v != "" && backend == "postgres" {
				heading = backend + " (service GOMAXPROCS=" + procs + ", every byte to and from PostgreSQL held " + v + ")"
			}
			s := start(t, bin, environ, driver, dsn)
			s.dataDir = dir
			if backend == "postgres" {
				s.databaseURL = storetestURL(environ)
			}
			out.WriteString(run(t, s, heading, seconds, cards))
		})
	}
	if p := os.Getenv("VAULTPAGE_LOAD_OUT"); p != "" {
		_ = os.WriteFile(p, []byte(out.String()), 0o600)
	}
}

// distant is the PostgreSQL URL u as the service is to reach it: u itself,
// or with VAULTPAGE_LOAD_DB_DELAY set (a Go duration), through a proxy that
// holds every chunk of bytes it forwards, each way, for that long, as a
// database on another host would. On one machine a round trip to the
// database costs next to nothing; in production it costs the network's
// round trip.
func distant(t *testing.T, u string) string {
	v := os.Getenv("VAULTPAGE_LOAD_DB_DELAY")
	if v == "" {
		return u
	}
	delay, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("VAULTPAGE_LOAD_DB_DELAY: %v", err)
	}
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	target := parsed.Host
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				d, err := net.Dial("tcp", target)
				if err != nil {
					_ = c.Close()
					return
				}
				go forward(d, c, delay)
				go forward(c, d, delay)
			}()
		}
	}()
	parsed.Host = ln.Addr().String()
	return parsed.String()
}

// forward copies src to dst, each chunk delay after it arrived, in order,
// and closes both when either side ends.
func forward(dst, src net.Conn, delay time.Duration) {
	type chunk struct {
		b   []byte
		due time.Time
	}
	chunks := make(chan chunk, 4096)
	go func() {
		defer close(chunks)
		for {
			b := make([]byte, 64<<10)
			n, err := src.Read(b)
			if n > 0 {
				chunks <- chunk{b[:n], time.Now().Add(delay)}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range chunks {
		// nanosleep blocks this goroutine's thread and wakes it within
		// tens of microseconds; time.Sleep can wake a millisecond late.
		if w := time.Until(c.due); w > 0 {
			ts := syscall.NsecToTimespec(w.Nanoseconds())
			_ = syscall.Nanosleep(&ts, nil)
		}
		if _, err := dst.Write(c.b); err != nil {
			break
		}
	}
	_ = dst.Close()
	_ = src.Close()
	for range chunks { // until the reader sees src closed
	}
}

// selected tells whether a scenario runs: all of them, unless
// VAULTPAGE_LOAD_SCENARIOS names some (get, poll, create, authorize, pages).
// The /healthz baseline and latency floor always run.
func selected(name string) bool {
	only := os.Getenv("VAULTPAGE_LOAD_SCENARIOS")
	if only == "" {
		return true
	}
	for _, s := range strings.Split(only, ",") {
		if strings.TrimSpace(s) == name {
			return true
		}
	}
	return false
}

// run drives the scenarios against one running service and returns its
// report.
func run(t *testing.T, s *service, name string, seconds time.Duration, cards int) string {
	var out strings.Builder
	h := s.header()
	health := attack(vegeta.Target{Method: "GET", URL: s.base + "/healthz"}, 0, seconds)
	base := health.Throughput
	// The latency floor at the rate the write scenarios run: the same
	// machine, client and server, with nothing behind the route.
	floor := attack(vegeta.Target{Method: "GET", URL: s.base + "/healthz"}, 1000, seconds)
	rows := []row{
		{"GET /healthz (baseline)", health, base},
		{"GET /healthz at a constant 1,000/s (latency floor)", floor, base},
	}
	if selected("get") {
		get := attack(vegeta.Target{Method: "GET", URL: s.base + "/v3/cards/" + s.id, Header: h}, 0, seconds)
		rows = append(rows, row{"GET /v3/cards/{id}", get, base})
	}
	if selected("poll") {
		consentID := s.requireConsent(t)
		poll := attack(vegeta.Target{Method: "GET", URL: s.base + "/v3/consents/" + consentID, Header: h}, 0, seconds)
		// Many consents polled in turn: each is asked for far less often than
		// the status cache keeps it, so nearly every poll reads the database.
		var polls []vegeta.Target
		for range pollConsents {
			polls = append(polls, vegeta.Target{Method: "GET", URL: s.base + "/v3/consents/" + s.requireConsent(t), Header: h})
		}
		pollMany := attack(polls[0], 0, seconds, polls[1:]...)
		rows = append(rows,
			row{"GET /v3/consents/{id}, one consent (status polling, served from the status cache)", poll, base},
			row{fmt.Sprintf("GET /v3/consents/{id}, %d consents in turn (status polling, from the database)", pollConsents), pollMany, base})
	}
	type histogram struct {
		route         string
		before, after map[string]float64
		cpu           usage // the machine's CPU during the run
	}
	var histograms []histogram
	if selected("create") {
		before, cpu := s.serverBuckets(t), cpuTicks()
		create := attack(vegeta.Target{Method: "POST", URL: s.base + "/v3/cards", Header: h, Body: []byte(s.cardBody())}, 1000, 2*seconds)
		histograms = append(histograms, histogram{"POST /v3/cards at a constant 1,000/s", before, s.serverBuckets(t), busy(cpu)})
		rows = append(rows, row{"POST /v3/cards at a constant 1,000/s", create, base})
	}
	if selected("carddata") {
		// Authorisations that present the card's number, expiry and CVV2,
		// against the same decisions by card id, at one rate the machine
		// holds, with the disk's fdatasync measured in the same run: a
		// durable decision cannot beat it.
		const rate = 250
		byID := s.authCards(t, authCards)
		ids := cardIDsOf(byID)
		byData := s.cardDataTargets(t, s.dataDir, s.databaseURL, ids)
		p50, p99 := fdatasyncProbe(t, s.dataDir, 2000)
		floorAt := attack(vegeta.Target{Method: "GET", URL: s.base + "/healthz"}, rate, seconds)
		id := attack(byID[0], rate, 2*seconds, byID[1:]...)
		data := attack(byData[0], rate, 2*seconds, byData[1:]...)
		dataMax := attack(byData[0], 0, seconds, byData[1:]...)
		// The same with the partner deciding in real time, its endpoint on
		// loopback answering at once.
		stop := s.decideInRealTime(t)
		asked := attack(byData[0], rate, 2*seconds, byData[1:]...)
		askedMax := attack(byData[0], 0, seconds, byData[1:]...)
		partner := s.decisionLatency(t)
		stop()
		rows = append(rows,
			row{fmt.Sprintf("GET /healthz at a constant %d/s (latency floor at this rate)", rate), floorAt, base},
			row{fmt.Sprintf("POST /v3/simulations/authorizations by card id at a constant %d/s", rate), id, base},
			row{fmt.Sprintf("POST /v3/simulations/authorizations by card data (pan, expiry, CVV2; a telephone order) at a constant %d/s", rate), data, base},
			row{fmt.Sprintf("the same, the partner's decision endpoint asked, at a constant %d/s", rate), asked, base},
			row{"by card data as fast as 16 workers go (capacity)", dataMax, base},
			row{"by card data, the partner asked, as fast as 16 workers go (capacity)", askedMax, base})
		fmt.Fprintf(&out, "the partner's endpoint as vaultpage saw it (vaultpage_decision_endpoint_seconds): %s\n", partner)
		var approved, checked int
		if err := s.db.QueryRow(`SELECT COUNT(*), COUNT(*) FILTER (WHERE a.status IN ('approved', 'cleared')) FROM authorization_checks c
			JOIN authorizations a ON a.id = c.authorization_id WHERE c.cvv = 'match' AND c.expiry = 'match'`).Scan(&checked, &approved); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "by card data: %d decisions with the CVV2 and expiry checked and matching, %d of them approved\n", checked, approved)
		fmt.Fprintf(&out, "fdatasync of 8 kB in the data directory, same run: p50 %v, p99 %v\n\n", p50.Round(time.Microsecond), p99.Round(time.Microsecond))
	}
	if selected("authenticate") {
		// Authentication requests that end frictionless (the low-value
		// exemption): each card takes as many as the exemption's count, at
		// one rate the machine holds, against /healthz at that rate.
		const rate, d = 250, 4 * time.Second
		n := rate * int(d/time.Second) / spend.LowValuePayments
		byID := s.authCards(t, n)
		ids := cardIDsOf(byID)
		targets := s.authenticationTargets(s.presentedCards(t, s.dataDir, s.databaseURL, ids))
		floorAt := attack(vegeta.Target{Method: "GET", URL: s.base + "/healthz"}, rate, d)
		before, cpu := s.routeBuckets(t, "/v3/simulations/authentications"), cpuTicks()
		authn := attack(targets[0], rate, d, targets[1:]...)
		name := fmt.Sprintf("POST /v3/simulations/authentications at a constant %d/s over %d cards", rate, n)
		histograms = append(histograms, histogram{name, before, s.routeBuckets(t, "/v3/simulations/authentications"), busy(cpu)})
		rows = append(rows,
			row{fmt.Sprintf("GET /healthz at a constant %d/s (latency floor at this rate)", rate), floorAt, base},
			row{name, authn, base})
		var all, frictionless int
		if err := s.db.QueryRow(`SELECT COUNT(*), COUNT(*) FILTER (WHERE trans_status = 'Y' AND exemption = 'low_value') FROM authentications`).Scan(&all,
			&frictionless); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "authentications: %d answered and recorded, %d of them frictionless (Y, low_value)\n\n", all, frictionless)
	}
	if selected("authorize") {
		// The target rate last; the lower rates before it show how latency
		// grows with the rate on the same machine.
		auths := s.authCards(t, authCards)
		for _, rate := range []int{250, 500, 1000} {
			before, cpu := s.routeBuckets(t, "/v3/simulations/authorizations"), cpuTicks()
			authorize := attack(auths[0], rate, 2*seconds, auths[1:]...)
			name := fmt.Sprintf("POST /v3/simulations/authorizations at a constant %s/s over %d cards", thousands(rate), authCards)
			histograms = append(histograms, histogram{name, before, s.routeBuckets(t, "/v3/simulations/authorizations"), busy(cpu)})
			rows = append(rows, row{name, authorize, base})
		}
	}
	var ratio float64
	if selected("pages") {
		s.seed(t, cards)
		var cursor string
		if err := s.db.QueryRow(`SELECT id FROM cards ORDER BY id DESC LIMIT 1 OFFSET 19980`).Scan(&cursor); err != nil {
			t.Fatal(err)
		}
		page1 := attack(vegeta.Target{Method: "GET", URL: s.base + "/v3/cards?limit=20", Header: h}, 0, seconds)
		page1000 := attack(vegeta.Target{Method: "GET", URL: s.base + "/v3/cards?limit=20&cursor=" + cursor, Header: h}, 0, seconds)
		rows = append(rows,
			row{fmt.Sprintf("GET /v3/cards page 1 of %d cards", cards), page1, base},
			row{"GET /v3/cards page 1,000 (cursor after 19,980 cards)", page1000, base})
		if page1000.Throughput > 0 {
			ratio = page1.Throughput / page1000.Throughput
		}
	}
	out.WriteString(report(t, name, rows))
	for _, h := range histograms {
		fmt.Fprintf(&out, "\nserver-side latency of %s (from /metrics):", h.route)
		total := h.after["+Inf"] - h.before["+Inf"]
		for _, le := range []string{"0.005", "0.01", "0.025", "0.05", "0.1"} {
			var sec float64
			_, _ = fmt.Sscanf(le, "%g", &sec)
			fmt.Fprintf(&out, " ≤%gms %.2f%%", sec*1000, 100*(h.after[le]-h.before[le])/total)
		}
		fmt.Fprintf(&out, "; the machine's CPU was %.0f%% busy, %.0f%% taken by the host\n", h.cpu.busy, h.cpu.steal)
	}
	if ratio > 0 {
		fmt.Fprintf(&out, "\npage 1 / page 1,000 throughput: %.2f\n", ratio)
	}
	return out.String()
}

// thousands writes n with a comma between thousands, as the tables do.
func thousands(n int) string {
	if n < 1000 {
		return fmt.Sprint(n)
	}
	return fmt.Sprintf("%d,%03d", n/1000, n%1000)
}

// cpu is a reading of the machine's CPU time from /proc/stat, all cores.
type cpu struct{ busy, steal, total uint64 }

// cpuTicks reads the machine's CPU time.
func cpuTicks() cpu {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpu{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	var c cpu
	for i, f := range strings.Fields(line)[1:] {
		var v uint64
		_, _ = fmt.Sscan(f, &v)
		c.total += v
		switch i {
		case 3, 4: // idle, iowait
		case 7: // steal: time the host gave to others
			c.steal += v
		default:
			c.busy += v
		}
	}
	return c
}

// usage describes the machine's CPU since the reading from cpuTicks: the
// share busy here and the share the host took (steal), in percent.
type usage struct{ busy, steal float64 }

func busy(since cpu) usage {
	now := cpuTicks()
	total := float64(now.total - since.total)
	if total == 0 {
		return usage{}
	}
	return usage{100 * float64(now.busy-since.busy) / total, 100 * float64(now.steal-since.steal) / total}
}

// storetestURL is the database URL the service was started with.
func storetestURL(environ []string) string {
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "VAULTPAGE_DATABASE_URL="); ok {
			return v
		}
	}
	return ""
}
