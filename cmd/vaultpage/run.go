package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaultpage/vaultpage/audit"
	"github.com/vaultpage/vaultpage/bureau"
	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/consent"
	"github.com/vaultpage/vaultpage/decision"
	"github.com/vaultpage/vaultpage/idempotency"
	"github.com/vaultpage/vaultpage/internal/logmask"
	"github.com/vaultpage/vaultpage/notify"
	"github.com/vaultpage/vaultpage/partner"
	"github.com/vaultpage/vaultpage/spend"
	"github.com/vaultpage/vaultpage/store"
	"github.com/vaultpage/vaultpage/vault"
	"github.com/vaultpage/vaultpage/web"
	"github.com/vaultpage/vaultpage/webhook"
)

const usage = `usage: vaultpage <command> [flags]

commands:
  serve                      run the service (defaults: SQLite in ./vaultpage-data, dev keys, 127.0.0.1:8080)
  migrate                    bring the database schema up to date
  keys status                list key versions and how many records each protects
  keys rotate PURPOSE        create a new active key (data, blind_index, cvk, pin)
  keys rewrap                move every record and wrapped key to the newest versions
  keys retire ID             refuse a key version that nothing uses any more
  partners create --name NAME [--return-url URL ...]
                             register a partner; prints its client id and secret (shown once)
  partners add-key --partner ID --key-id ID --public-key FILE
                             register a request-signing key (PEM; Ed25519, P-256, P-384); the
                             partner must then sign every request (RFC 9421)
  audit verify               check the audit trail's hash chain; prints the head hash
  bureau export              write the physical cards waiting to be made as one card bureau file,
                             OpenPGP-encrypted to the bureau and signed (see docs/bureau.md)
  healthcheck                exit 0 when the service on VAULTPAGE_ADDR answers /healthz (for container health checks)
  version                    print the version

Every command takes the same flags and VAULTPAGE_* variables; run "vaultpage serve -h" to list them.
`

// run is the whole program: main only calls it. Tests call it too.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		_, _ = io.WriteString(stderr, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[1], args[2:]
	switch cmd {
	case "version", "--version":
		_, err := fmt.Fprintln(stdout, "vaultpage", version())
		return err
	case "help", "-h", "--help":
		_, err := io.WriteString(stdout, usage)
		return err
	case "serve", "migrate", "keys", "healthcheck", "partners", "audit", "bureau":
	default:
		_, _ = io.WriteString(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
	fs := flag.NewFlagSet("vaultpage "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	usageWith(fs, stderr)
	var sub subcommand
	if cmd == "partners" || cmd == "audit" || cmd == "keys" || cmd == "bureau" {
		// The action comes first: "partners create --name …".
		if len(rest) == 0 {
			return fmt.Errorf("%s: want a subcommand", cmd)
		}
		sub.name, rest = rest[0], rest[1:]
		fs.StringVar(&sub.partnerName, "name", "", "partner name (partners create)")
		fs.StringVar(&sub.partnerID, "partner", "", "partner id (partners add-key)")
		fs.StringVar(&sub.keyID, "key-id", "", "key id the partner's signatures name (partners add-key)")
		fs.StringVar(&sub.keyFile, "public-key", "", "PEM public key file (partners add-key)")
		fs.Func("return-url", "a return URL the partner registers; repeat for more (partners create)", func(v string) error {
			sub.returnURLs = append(sub.returnURLs, v)
			return nil
		})
	}
	cfg, err := loadConfig(fs, rest, getenv)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	logger := newLogger(stderr, cfg.LogLevel)
	switch cmd {
	case "serve":
		return serve(ctx, cfg, logger, stdout)
	case "healthcheck":
		return healthcheck(ctx, cfg.Addr)
	case "migrate":
		db, err := store.Open(ctx, cfg.DatabaseURL, cfg.DataDir)
		if err != nil {
			return err
		}
		_, _ = fmt.Fprintf(stdout, "schema up to date (%s)\n", db.Dialect())
		return db.Close()
	case "partners":
		return partners(ctx, cfg, logger, sub, stdout)
	case "audit":
		return auditCmd(ctx, cfg, sub, stdout)
	case "bureau":
		return bureauCmd(ctx, cfg, logger, sub, stdout)
	default:
		return keys(ctx, cfg, logger, append([]string{sub.name}, fs.Args()...), stdout)
	}
}

// subcommand holds the action and flags of a two-word command.
type subcommand struct {
	name        string
	partnerName string
	returnURLs  []string
	partnerID   string
	keyID       string
	keyFile     string
}

func partners(ctx context.Context, cfg config, logger *slog.Logger, sub subcommand, stdout io.Writer) error {
	if sub.name != "create" && sub.name != "add-key" {
		return fmt.Errorf("partners: unknown subcommand %q (create, add-key)", sub.name)
	}
	db, err := store.Open(ctx, cfg.DatabaseURL, cfg.DataDir)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	if sub.name == "add-key" {
		return addKey(ctx, db, sub, stdout)
	}
	if sub.partnerName == "" {
		return errors.New("partners create: --name is required")
	}
	creds, err := partner.NewService(db.Partners(), partner.Config{Production: cfg.Env == envProduction}, nil).Create(ctx, sub.partnerName, sub.returnURLs)
	if err != nil {
		return err
	}
	if err := audit.NewLog(db.Audit(), nil).Append(ctx, audit.Entry{Actor: "operator", Action: "partner.created",
		Target: "partner:" + creds.PartnerID.String(), Source: "cli", Details: map[string]string{"client_id": creds.ClientID}}); err != nil {
		return err
	}
	logger.Info("partner created", "partner_id", creds.PartnerID, "client_id", creds.ClientID)
	// The secret is shown once, to the operator who created the partner.
	return json.NewEncoder(stdout).Encode(creds) //nolint:gosec // Printing the new secret is the point.
}

func addKey(ctx context.Context, db *store.DB, sub subcommand, stdout io.Writer) error {
	id, err := uuid.Parse(sub.partnerID)
	if err != nil {
		return errors.New("partners add-key: --partner must be a partner id")
	}
	pemKey, err := os.ReadFile(filepath.Clean(sub.keyFile))
	if err != nil {
		return fmt.Errorf("partners add-key: %w", err)
	}
	k, err := partner.NewService(db.Partners(), partner.Config{}, nil).AddSigningKey(ctx, id, sub.keyID, pemKey)
	if err != nil {
		return err
	}
	if err := audit.NewLog(db.Audit(), nil).Append(ctx, audit.Entry{Actor: "operator", Action: "partner.signing_key_added",
		Target: "partner:" + id.String(), Source: "cli", Details: map[string]string{"key_id": k.KeyID, "alg": string(k.Alg)}}); err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(map[string]string{"partner_id": id.String(), "key_id": k.KeyID, "alg": string(k.Alg)})
}

func auditCmd(ctx context.Context, cfg config, sub subcommand, stdout io.Writer) error {
	if sub.name != "verify" {
		return fmt.Errorf("audit: unknown subcommand %q (verify)", sub.name)
	}
	db, err := store.Open(ctx, cfg.DatabaseURL, cfg.DataDir)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	rep, err := audit.Verify(ctx, db.Audit())
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(rep)
}

// bureauCmd is "bureau export": one card bureau file, now.
func bureauCmd(ctx context.Context, cfg config, logger *slog.Logger, sub subcommand, stdout io.Writer) (err error) {
	if sub.name != "export" {
		return fmt.Errorf("bureau: unknown subcommand %q (export)", sub.name)
	}
	if !cfg.Bureau.on() {
		return errors.New("bureau export: set VAULTPAGE_BUREAU_PUBLIC_KEY and VAULTPAGE_BUREAU_SIGNING_KEY")
	}
	d, err := openDeps(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, d.close()) }()
	x, err := newExporter(cfg, d)
	if err != nil {
		return err
	}
	res, err := x.Export(ctx, "operator:cli")
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(res)
}

// newExporter builds the bureau exporter on the card service.
func newExporter(cfg config, d *deps) (*bureau.Exporter, error) {
	bc, err := cfg.Bureau.keys()
	if err != nil {
		return nil, err
	}
	bc.Programme = cfg.Programme
	cards := card.NewService(d.db.Cards(), d.ring, audit.NewLog(d.db.Audit(), nil), card.Config{BIN: cfg.BIN, Outbox: d.db.Consents()}, nil)
	return bureau.New(cards, bc, nil)
}

// exportEvery writes a bureau file every interval until ctx ends.
func exportEvery(ctx context.Context, x *bureau.Exporter, every time.Duration, logger *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			res, err := x.Export(ctx, "system:schedule")
			if err != nil {
				logger.Error("bureau export failed", "err", err)
				continue
			}
			logger.Info("bureau export", "batch", res.Batch, "cards", res.Cards, "file", res.File)
		}
	}
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(logmask.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})))
}

// deps are the long-lived services every command builds the same way.
type deps struct {
	db   *store.DB
	keks *vault.KEKSet
	ring *vault.Keyring
}

func openDeps(ctx context.Context, cfg config, logger *slog.Logger) (*deps, error) {
	db, err := store.Open(ctx, cfg.DatabaseURL, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	keks, err := vault.OpenKEKs(ctx, cfg.KEK, logger)
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	ring, err := vault.Open(ctx, vault.Options{Store: db.Vault(), KEKs: keks, Logger: logger})
	if err != nil {
		return nil, errors.Join(err, keks.Close(), db.Close())
	}
	return &deps{db: db, keks: keks, ring: ring}, nil
}

func (d *deps) close() error {
	d.ring.Close()
	return errors.Join(d.keks.Close(), d.db.Close())
}

func keys(ctx context.Context, cfg config, logger *slog.Logger, args []string, stdout io.Writer) (err error) {
	if len(args) == 0 {
		return errors.New("keys: want status, rotate, rewrap or retire")
	}
	d, err := openDeps(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, d.close()) }()
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	log := audit.NewLog(d.db.Audit(), nil)
	record := func(action, target string, details map[string]string) error {
		result := "ok"
		if details["error"] != "" {
			result = "failed"
		}
		return log.Append(ctx, audit.Entry{Actor: "operator", Action: action, Target: target, Source: "cli", Result: result, Details: details})
	}
	switch args[0] {
	case "status":
		st, err := d.ring.Status(ctx)
		if err != nil {
			return err
		}
		return enc.Encode(map[string]any{"kek": d.keks.Current().ID(), "keys": st})
	case "rotate":
		if len(args) != 2 {
			return errors.New("keys rotate: want a purpose: data, blind_index, cvk or pin")
		}
		p := vault.KeyPurpose(args[1])
		valid := false
		for _, known := range vault.KeyPurposes {
			valid = valid || p == known
		}
		if !valid {
			return fmt.Errorf("keys rotate: unknown purpose %q (data, blind_index, cvk, pin)", args[1])
		}
		k, err := d.ring.Rotate(ctx, p)
		if err != nil {
			return err
		}
		if err := record("key.rotated", "key:"+strconv.FormatUint(uint64(k.ID), 10), map[string]string{"purpose": string(p)}); err != nil {
			return err
		}
		return enc.Encode(map[string]any{"rotated": p, "new_key_id": k.ID})
	case "rewrap":
		rep, err := d.ring.Rewrap(ctx, vault.RewrapOptions{AfterBatch: func(r vault.RewrapReport) {
			logger.Info("rewrap progress", "secrets", r.Secrets, "index_entries", r.Indexes, "batches", r.Batches)
		}})
		if err != nil {
			return err
		}
		if err := record("key.rewrapped", "keys", map[string]string{"keys": strconv.Itoa(rep.Keys),
			"secrets": strconv.Itoa(rep.Secrets), "index_entries": strconv.Itoa(rep.Indexes)}); err != nil {
			return err
		}
		return enc.Encode(rep)
	case "retire":
		if len(args) != 2 {
			return errors.New("keys retire: want a key id")
		}
		id, err := strconv.ParseUint(args[1], 10, 32)
		if err != nil {
			return errors.New("keys retire: key id must be a number")
		}
		if err := d.ring.Retire(ctx, uint32(id)); err != nil {
			_ = record("key.retire", "key:"+args[1], map[string]string{"error": err.Error()})
			return err
		}
		if err := record("key.retired", "key:"+args[1], nil); err != nil {
			return err
		}
		return enc.Encode(map[string]any{"retired": id})
	default:
		return fmt.Errorf("keys: unknown subcommand %q", args[0])
	}
}

// webhookInterval is how often serve fans events out and starts due
// webhook deliveries.
const webhookInterval = 500 * time.Millisecond

// keyringRefresh is how often a running service picks up key rotations and
// retirements made by another process.
const keyringRefresh = 30 * time.Second

func serve(ctx context.Context, cfg config, logger *slog.Logger, stdout io.Writer) (err error) {
	d, err := openDeps(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, d.close()) }()

	auditLog := audit.NewLog(d.db.Audit(), nil)
	cards := card.NewService(d.db.Cards(), d.ring, auditLog, card.Config{BIN: cfg.BIN, Outbox: d.db.Consents(), Sandbox: cfg.Env == envDevelopment}, nil)
	keys, err := sessionKeys(cfg, logger)
	if err != nil {
		return err
	}
	consents := consent.NewService(d.db.Consents(), d.db.Consents(), cards,
		consent.Config{PublicURL: cfg.PublicURL, Sandbox: cfg.Env == envDevelopment}, nil)
	cards.EndConsentsWith(consents)
	var (
		outbox *web.DevOutbox
		router notify.Router
	)
	if cfg.SMTP.Addr != "" {
		router.Email = cfg.SMTP
	}
	if cfg.SMSHook.URL != "" {
		router.SMS = cfg.SMSHook
	}
	var notifier consent.Notifier = router
	if cfg.Env == envDevelopment && router.Email == nil && router.SMS == nil {
		outbox = &web.DevOutbox{}
		notifier = outbox
		logger.Warn("one-time codes go to the development outbox at /dev/outbox")
	}
	sca := consent.NewSCA(d.db.SCA(), consents, notifier, auditLog, consent.SCAConfig{CodeKey: derive(keys.Hash, "vaultpage/sca-code-key/v1")})
	if u, err := url.Parse(cfg.PublicURL); err == nil {
		rp := consent.PasskeyConfig{RPID: u.Hostname(), RPName: "vaultpage", Origins: []string{u.Scheme + "://" + u.Host}}
		if err := sca.UsePasskeys(d.db.SCA(), rp); err != nil {
			// WebAuthn needs a domain name: http://127.0.0.1 cannot have passkeys.
			logger.Warn("passkeys are off; cardholders use one-time codes and passcodes", "public_url", cfg.PublicURL, "err", err)
		}
	}
	partners := partner.NewService(d.db.Partners(), partner.Config{Production: cfg.Env == envProduction, Audit: auditLog}, nil)
	dev := cfg.Env == envDevelopment
	webhooks := webhook.NewService(d.db.Webhooks(), d.ring, webhook.Config{AllowPrivate: dev, AllowHTTP: dev}, logger, nil)
	dispatchCtx, stopDispatch := context.WithCancel(context.WithoutCancel(ctx))
	dispatched := make(chan struct{})
	go func() {
		defer close(dispatched)
		webhooks.Run(dispatchCtx, webhookInterval)
	}()
	defer func() {
		stopDispatch()
		<-dispatched // attempts in flight finish and are recorded
	}()
	zpk, err := cfg.Network.zonePINKey(cfg.KEK.PKCS11, true)
	if err != nil {
		return err
	}
	if zpk != nil {
		defer func() { _ = zpk.Close() }()
		logger.Info("PIN blocks are taken under the zone PIN key", "key", zpk.ID())
	}
	if cfg.Bureau.on() && cfg.Bureau.Every > 0 {
		x, err := newExporter(cfg, d)
		if err != nil {
			return err
		}
		exportCtx, stopExports := context.WithCancel(ctx)
		exported := make(chan struct{})
		go func() {
			defer close(exported)
			exportEvery(exportCtx, x, cfg.Bureau.Every, logger)
		}()
		defer func() {
			stopExports()
			<-exported // an export in flight commits or rolls back first
		}()
		logger.Info("bureau files are written every "+cfg.Bureau.Every.String(), "dir", cfg.Bureau.Dir)
	}
	var demo *web.Demo
	if cfg.Env == envDevelopment {
		if demo, err = ensureDemo(ctx, cfg, partners, cards); err != nil {
			return fmt.Errorf("demo partner: %w", err)
		}
		logger.Info("the demo partner app is at " + web.DemoReturnURL(cfg.PublicURL))
	}
	decisions := decision.NewService(d.db.Decisions(), d.ring, decision.Config{AllowPrivate: dev, AllowHTTP: dev}, logger, nil)
	spends := spend.NewService(d.db.Spend(), d.db.Consents(), auditLog, spend.Config{Sandbox: cfg.Env == envDevelopment, Consents: consents, Cards: cards,
		Vault: d.ring, ZonePINKey: zpk, RealTime: decisions, Challenges: consents}, nil)
	consents.UsePayments(spends)
	handler := web.New(web.Deps{
		Collectors: append(storeMetrics(d.db), decisionMetrics(decisions)...), Decisions: decisions,
		Logger: logger, Version: version(), Ready: d.db.Ready, Demo: demo, Events: d.db.Consents(), Webhooks: webhooks,
		Spend:    spends,
		Partners: partners, Cards: cards, Consents: consents, Idempotency: d.db.Idempotency(),
		RateLimit: cfg.RateLimit, Burst: cfg.RateBurst, PublicURL: cfg.PublicURL, SessionKeys: keys, Programme: cfg.Programme,
		SCA: sca, DevOutbox: outbox, TrustedProxies: cfg.TrustedProxies,
		PublicMetrics: cfg.publicMetrics(), MetricsToken: cfg.MetricsToken,
	})
	if cfg.OperatorAddr == "" && !cfg.publicMetrics() {
		logger.Warn("/metrics is off: set VAULTPAGE_OPERATOR_ADDR or VAULTPAGE_METRICS_TOKEN to serve it")
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(handler.EndStreams)
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return err
	}
	_, _ = fmt.Fprintf(stdout, "vaultpage %s listening on %s, public URL %s (%s, %s)\n", version(), ln.Addr(), cfg.PublicURL, cfg.Env, d.db.Dialect())
	if demo != nil {
		_, _ = fmt.Fprintf(stdout, "try it: %s\n", web.DemoReturnURL(cfg.PublicURL))
	}

	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	if cfg.OperatorAddr != "" {
		opLn, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.OperatorAddr)
		if err != nil {
			return errors.Join(err, srv.Close())
		}
		op := &http.Server{Handler: handler.OperatorHandler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second,
			WriteTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
		go func() { errc <- op.Serve(opLn) }()
		defer func() { _ = op.Close() }()
		_, _ = fmt.Fprintf(stdout, "operator endpoints (/metrics, /healthz, /readyz) on %s\n", opLn.Addr())
	}
	if cfg.Network.Addr != "" {
		tc, err := cfg.Network.tls()
		if err != nil {
			return errors.Join(err, srv.Close())
		}
		netLn, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Network.Addr)
		if err != nil {
			return errors.Join(err, srv.Close())
		}
		nw := &http.Server{Handler: handler.NetworkHandler(), TLSConfig: tc, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
		go func() { errc <- nw.Serve(tls.NewListener(netLn, tc)) }()
		defer func() {
			// Decisions in flight finish; a connection that stays idle is closed.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			_ = nw.Shutdown(sctx)
		}()
		_, _ = fmt.Fprintf(stdout, "card network listener (mutual TLS, /network/v1) on %s\n", netLn.Addr())
	}
	tick := time.NewTicker(keyringRefresh)
	defer tick.Stop()
	for {
		select {
		case err := <-errc:
			return err
		case <-tick.C:
			if err := d.ring.Refresh(ctx); err != nil {
				logger.Error("key ring refresh failed", "err", err)
			}
			if _, err := d.db.Idempotency().Purge(ctx, time.Now().Add(-idempotency.TTL)); err != nil {
				logger.Error("purging idempotency keys failed", "err", err)
			}
		case <-ctx.Done():
			logger.Info("shutting down: finishing in-flight requests")
			shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := srv.Shutdown(shutdownCtx); err != nil {
				return err
			}
			logger.Info("shut down cleanly")
			return nil
		}
	}
}

// healthcheck asks the local service for /healthz, so that a container needs
// no shell or curl to check itself.
func healthcheck(ctx context.Context, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 3 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthz answered %d", resp.StatusCode)
	}
	return nil
}

// sessionKeysFile holds the development session keys in the data directory.
const sessionKeysFile = "session.keys"

// sessionKeys reads the hosted-page session keys from the configuration or,
// in development, from (or into) the data directory.
func sessionKeys(cfg config, logger *slog.Logger) (web.SessionKeys, error) {
	raw := cfg.SessionKeys
	if raw == "" {
		path := filepath.Join(cfg.DataDir, sessionKeysFile)
		b, err := os.ReadFile(path) //nolint:gosec // The operator's own data directory.
		switch {
		case errors.Is(err, os.ErrNotExist):
			keys := make([]byte, 64)
			if _, err := rand.Read(keys); err != nil {
				return web.SessionKeys{}, err
			}
			raw = base64.StdEncoding.EncodeToString(keys[:32]) + "," + base64.StdEncoding.EncodeToString(keys[32:])
			if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
				return web.SessionKeys{}, err
			}
			if err := os.WriteFile(path, []byte(raw+"\n"), 0o600); err != nil {
				return web.SessionKeys{}, err
			}
			logger.Warn("generated development session keys in the data directory; production must set VAULTPAGE_SESSION_KEYS", "path", path)
		case err != nil:
			return web.SessionKeys{}, err
		default:
			raw = strings.TrimSpace(string(b))
		}
	}
	hash, block, ok := strings.Cut(raw, ",")
	h, err1 := base64.StdEncoding.DecodeString(strings.TrimSpace(hash))
	k, err2 := base64.StdEncoding.DecodeString(strings.TrimSpace(block))
	if !ok || err1 != nil || err2 != nil || len(h) != 32 || len(k) != 32 {
		return web.SessionKeys{}, errors.New("session keys: want two base64 32-byte keys, comma-separated")
	}
	return web.SessionKeys{Hash: h, Block: k}, nil
}

// derive makes a purpose-bound key from a configured one (HMAC-SHA-256).
func derive(key []byte, purpose string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// storeMetrics are the store's collectors for /metrics: on SQLite, how long
// group commits take and how many transactions each carries; on
// PostgreSQL, the same of batches of authorisation decisions.
func storeMetrics(db *store.DB) []prometheus.Collector {
	if db.Dialect() != store.SQLite {
		took, size := sharedWork("vaultpage_store_decision_batch", "PostgreSQL batches of authorisation decisions: their round trips and the commit.",
			"decisions", "Authorisations recorded by each PostgreSQL batch of decisions.")
		trips := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vaultpage_store_decision_batches_total",
			Help: "PostgreSQL batches of decisions, by round trips: 1 when made from the subjects the runner knew, 2 when read first."}, []string{"round_trips"})
		stale := prometheus.NewCounter(prometheus.CounterOpts{Name: "vaultpage_store_decisions_stale_total",
			Help: "Decisions made from a subject the runner knew that had changed under the lock, and were made again from a fresh read."})
		db.ObserveBatches(func(b store.DecisionBatch) {
			took.Observe(b.Took.Seconds())
			size.Observe(float64(b.Decisions))
			trips.WithLabelValues(strconv.Itoa(b.RoundTrips)).Inc()
			stale.Add(float64(b.Stale))
		})
		queued := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vaultpage_store_decisions_queued",
			Help: "PostgreSQL decisions waiting for a batch."}, func() float64 { return float64(db.QueuedDecisions()) })
		return []prometheus.Collector{took, size, trips, stale, queued}
	}
	took, size := sharedWork("vaultpage_store_commit", "SQLite group commits: the WAL write and its fsync.",
		"transactions", "Transactions carried by each SQLite group commit.")
	db.ObserveCommits(func(g store.GroupCommit) {
		took.Observe(g.Took.Seconds())
		size.Observe(float64(g.Transactions))
	})
	resets := func(outcome string, n func() int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "vaultpage_store_wal_resets_total",
			Help:        "SQLite WAL resets past 8 MiB: done, or busy (a reader held the WAL; tried again later).",
			ConstLabels: prometheus.Labels{"outcome": outcome}}, func() float64 { return float64(n()) })
	}
	return []prometheus.Collector{took, size,
		resets("done", func() int64 { done, _ := db.WALResets(); return done }),
		resets("busy", func() int64 { _, busy := db.WALResets(); return busy })}
}

// decisionMetrics are the real-time decision endpoints' collectors: how
// long partners took to answer, by who decided, and the stand-ins by cause.
func decisionMetrics(d *decision.Service) []prometheus.Collector {
	took := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vaultpage_decision_endpoint_seconds",
		Help:    "Questions to partners' real-time decision endpoints, from asking to the answer or the stand-in, by who decided.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2, 3}}, []string{"decided_by"})
	standIns := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vaultpage_decision_stand_ins_total",
		Help: "Authorisations the partner's fallback decided, by cause: timeout, connection, status, malformed, busy."}, []string{"cause"})
	for _, c := range []string{spend.CauseTimeout, spend.CauseConnection, spend.CauseStatus, spend.CauseMalformed, spend.CauseBusy} {
		standIns.WithLabelValues(c)
	}
	d.Observe(func(a decision.Asked) {
		took.WithLabelValues(string(a.By)).Observe(a.Latency.Seconds())
		if a.By == spend.DecidedByStandIn {
			standIns.WithLabelValues(a.Cause).Inc()
		}
	})
	return []prometheus.Collector{took, standIns}
}

// sharedWork makes the two histograms of work that callers share: how long
// each shared unit took (prefix_seconds) and how many it carried
// (prefix_unit).
func sharedWork(prefix, tookHelp, unit, sizeHelp string) (took, size prometheus.Histogram) {
	took = prometheus.NewHistogram(prometheus.HistogramOpts{Name: prefix + "_seconds", Help: tookHelp,
		Buckets: []float64{.00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25}})
	size = prometheus.NewHistogram(prometheus.HistogramOpts{Name: prefix + "_" + unit, Help: sizeHelp,
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64}})
	return took, size
}
