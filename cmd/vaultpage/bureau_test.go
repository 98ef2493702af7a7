package main

import (
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vaultpage/vaultpage/audit"
	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/internal/testkit"
	"github.com/vaultpage/vaultpage/partner"
)

// `vaultpage bureau export` writes the physical cards a running service
// ordered into one file that GnuPG decrypts and verifies, once.
func TestBureauExportCommandWritesAFileGnuPGReads(t *testing.T) {
	g := testkit.NewGnuPG(t)
	dir, addr := t.TempDir(), freeAddr(t)
	pub := filepath.Join(dir, "bureau.asc")
	if err := os.WriteFile(pub, g.PublicKey(), 0o600); err != nil {
		t.Fatal(err)
	}
	priv, fingerprint := g.SigningKey()
	signing := filepath.Join(dir, "signing.asc")
	if err := os.WriteFile(signing, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	environ := map[string]string{"VAULTPAGE_DATA_DIR": filepath.Join(dir, "data"), "VAULTPAGE_BUREAU_PUBLIC_KEY": pub,
		"VAULTPAGE_BUREAU_SIGNING_KEY_FILE": signing, "VAULTPAGE_PROGRAMME_NAME": "Nordic Cards"}

	// A key that is missing its other half is a configuration error.
	var stdout, stderr syncBuffer
	err := run(context.Background(), []string{"vaultpage", "bureau", "export"}, env(map[string]string{"VAULTPAGE_DATA_DIR": dir, "VAULTPAGE_BUREAU_PUBLIC_KEY": pub}), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "VAULTPAGE_BUREAU_SIGNING_KEY") {
		t.Fatalf("a public key without a signing key: %v", err)
	}

	creds := runJSON(t, environ, "partners", "create", "--name", "Acme")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"vaultpage", "serve", "--addr", addr}, env(environ), &stdout, &stderr)
	}()
	waitHealthy(t, "http://"+addr)
	res, err := http.PostForm("http://"+addr+"/v3/oauth/token", url.Values{"grant_type": {"client_credentials"}, //nolint:noctx // Test.
		"client_id": {creds["client_id"].(string)}, "client_secret": {creds["client_secret"].(string)}})
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	_ = json.NewDecoder(res.Body).Decode(&tok)
	_ = res.Body.Close()
	c := &client{t: t, base: "http://" + addr, token: tok["access_token"].(string), http: http.DefaultClient}
	ind := c.call(http.MethodPost, "/v3/individuals", map[string]string{"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}, 201)
	acc := c.call(http.MethodPost, "/v3/accounts", map[string]string{"individual_id": ind["id"].(string), "currency": "EUR"}, 201)
	physical := c.call(http.MethodPost, "/v3/cards", map[string]any{"individual_id": ind["id"].(string), "account_id": acc["id"].(string), "type": "physical",
		"shipping_address": map[string]string{"line1": "12 St James's Square", "city": "London", "postal_code": "SW1Y 4JH", "country": "GB"}}, 201)
	c.call(http.MethodPost, "/v3/cards", map[string]any{"individual_id": ind["id"].(string), "account_id": acc["id"].(string)}, 201)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	out := runJSON(t, environ, "bureau", "export")
	file, _ := out["file"].(string)
	if out["cards"] != float64(1) || filepath.Dir(file) != filepath.Join(dir, "data", "bureau") {
		t.Fatalf("bureau export printed %v", out)
	}
	lines := g.Decrypt(file, fingerprint)
	if len(lines) != 2 || !strings.Contains(lines[0], `"programme":"Nordic Cards"`) || !strings.Contains(lines[1], `"card_id":"`+physical["id"].(string)+`"`) ||
		!strings.Contains(lines[1], `"name_on_card":"ADA LOVELACE"`) {
		t.Fatalf("the file holds %d lines, not the header and the physical card (the card data is not printed)", len(lines))
	}
	if again := runJSON(t, environ, "bureau", "export"); again["cards"] != float64(0) {
		t.Fatalf("a second export %v", again)
	}
	if strings.Contains(stderr.String(), string(priv[40:80])) {
		t.Fatal("the signing key reached the logs")
	}
}

// serve's schedule writes a file on its own once a card waits, and stops
// when serve does.
func TestScheduledBureauExportsWriteOnTheirOwn(t *testing.T) {
	g := testkit.NewGnuPG(t)
	dir := t.TempDir()
	pub := filepath.Join(dir, "bureau.asc")
	if err := os.WriteFile(pub, g.PublicKey(), 0o600); err != nil {
		t.Fatal(err)
	}
	priv, fingerprint := g.SigningKey()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg, err := loadConfig(fs, nil, env(map[string]string{"VAULTPAGE_DATA_DIR": filepath.Join(dir, "data"), "VAULTPAGE_BUREAU_PUBLIC_KEY": pub,
		"VAULTPAGE_BUREAU_SIGNING_KEY": string(priv), "VAULTPAGE_BUREAU_EXPORT_EVERY": "1m"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Bureau.Every != time.Minute {
		t.Fatalf("every %v", cfg.Bureau.Every)
	}
	ctx := context.Background()
	var logs syncBuffer
	logger := newLogger(&logs, "info")
	d, err := openDeps(ctx, cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.close() })
	x, err := newExporter(cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	cards := card.NewService(d.db.Cards(), d.ring, audit.NewLog(d.db.Audit(), nil), card.Config{BIN: cfg.BIN}, nil)
	creds, err := partner.NewService(d.db.Partners(), partner.Config{}, nil).Create(ctx, "Acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	a := card.Actor{PartnerID: creds.PartnerID}
	ind, err := cards.CreateIndividual(ctx, a, card.IndividualInput{FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := cards.CreateAccount(ctx, a, ind.ID, "EUR")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cards.CreateCard(ctx, a, card.Input{IndividualID: ind.ID, AccountID: acc.ID, Type: card.TypePhysical,
		ShippingAddress: &card.Address{Line1: "1 Main St", City: "Uppsala", PostalCode: "753 20", Country: "SE"}}); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() { defer close(stopped); exportEvery(runCtx, x, 20*time.Millisecond, logger) }()
	var files []string
	for deadline := time.Now().Add(10 * time.Second); len(files) == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		files, _ = filepath.Glob(filepath.Join(cfg.Bureau.Dir, "b_*.pgp"))
	}
	stop()
	<-stopped
	if len(files) != 1 {
		t.Fatalf("scheduled exports wrote %v", files)
	}
	if lines := g.Decrypt(files[0], fingerprint); len(lines) != 2 {
		t.Fatalf("the scheduled file has %d lines", len(lines))
	}
	if !strings.Contains(logs.String(), `"msg":"bureau export"`) {
		t.Fatalf("no log line for the export: %s", logs.String())
	}
}
