package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vaultpage/vaultpage/bureau"
	"github.com/vaultpage/vaultpage/notify"
	"github.com/vaultpage/vaultpage/vault"
	"github.com/vaultpage/vaultpage/web"
)

// Environments.
const (
	envDevelopment = "development"
	envProduction  = "production"
)

// config is everything vaultpage reads from flags and VAULTPAGE_*
// environment variables. Secrets in it are never printed.
type config struct {
	Env         string
	Addr        string
	PublicURL   string
	DataDir     string
	DatabaseURL string
	LogLevel    string
	// Programme is the card programme's name, shown on the hosted pages.
	Programme string
	BIN       vault.BINRange
	KEK       vault.KEKConfig
	RateLimit float64 // requests per second per partner
	RateBurst int
	// SessionKeys is "hash,block": two base64 32-byte keys for the hosted
	// pages' session cookie (empty: generated in the data directory, in
	// development only).
	SessionKeys string
	// One-time code delivery: SMTP for email, an HTTP hook for SMS.
	SMTP    notify.SMTP
	SMSHook notify.SMSHook
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is
	// believed (addresses or CIDR ranges).
	TrustedProxies []*net.IPNet
	// OperatorAddr, when set, is a listener of its own for /metrics,
	// /healthz and /readyz; /metrics then leaves the partner listener.
	OperatorAddr string
	// MetricsToken, when set, is the bearer token /metrics asks for.
	MetricsToken string
	// Bureau is the card bureau export: off unless its keys are set.
	Bureau bureauConfig
	// Network is the card network's listener: off unless Addr is set.
	Network networkConfig
}

// networkConfig is the card network's listener: mutual TLS with the
// server's certificate and key, clients' certificates from ClientCA, and
// the zone PIN key PIN blocks arrive under.
type networkConfig struct {
	Addr, Cert, Key, ClientCA string
	// ClientNames, when set, are the only names (a certificate's common
	// name or a DNS name) a client certificate may carry.
	ClientNames []string
	// ZonePINKey is hex, a double- or triple-length TDES key (a secret);
	// ZonePINKeyLabel, instead, names it in the PKCS#11 token.
	ZonePINKey, ZonePINKeyLabel string
}

// tls reads the listener's TLS configuration.
func (n networkConfig) tls() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Clean(n.Cert), filepath.Clean(n.Key))
	if err != nil {
		return nil, fmt.Errorf("VAULTPAGE_NETWORK_CERT/VAULTPAGE_NETWORK_KEY: %w", err)
	}
	pem, err := os.ReadFile(filepath.Clean(n.ClientCA))
	if err != nil {
		return nil, fmt.Errorf("VAULTPAGE_NETWORK_CLIENT_CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("VAULTPAGE_NETWORK_CLIENT_CA: no PEM certificate in the file")
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	if len(n.ClientNames) > 0 {
		names := n.ClientNames
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("network listener: no client certificate")
			}
			leaf := cs.PeerCertificates[0]
			if slices.Contains(names, leaf.Subject.CommonName) || slices.ContainsFunc(leaf.DNSNames, func(d string) bool { return slices.Contains(names, d) }) {
				return nil
			}
			return errors.New("network listener: the client certificate names no client of VAULTPAGE_NETWORK_CLIENT_NAMES")
		}
	}
	return cfg, nil
}

// zonePINKey opens the zone PIN key: from VAULTPAGE_NETWORK_ZONE_PIN_KEY,
// or by its label in the PKCS#11 token the KEK's settings name (nil when
// neither is set). With open false a key in the HSM is only checked for
// its settings (validation; the service opens it when it starts).
func (n networkConfig) zonePINKey(hsm vault.PKCS11Config, open bool) (*vault.ZonePINKey, error) {
	switch {
	case n.ZonePINKey != "" && n.ZonePINKeyLabel != "":
		return nil, errors.New("VAULTPAGE_NETWORK_ZONE_PIN_KEY and VAULTPAGE_NETWORK_ZONE_PIN_KEY_LABEL: set one of the two")
	case n.ZonePINKeyLabel != "":
		if hsm.Module == "" || hsm.TokenLabel == "" {
			return nil, errors.New("VAULTPAGE_NETWORK_ZONE_PIN_KEY_LABEL: needs VAULTPAGE_PKCS11_MODULE, VAULTPAGE_PKCS11_TOKEN_LABEL and VAULTPAGE_PKCS11_PIN")
		}
		if !open {
			return nil, nil
		}
		k, err := vault.OpenZonePINKey(hsm, n.ZonePINKeyLabel)
		if err != nil {
			return nil, fmt.Errorf("VAULTPAGE_NETWORK_ZONE_PIN_KEY_LABEL: %w", err)
		}
		return k, nil
	case n.ZonePINKey == "":
		return nil, nil
	}
	k, err := hex.DecodeString(n.ZonePINKey)
	if err != nil || (len(k) != 16 && len(k) != 24) {
		return nil, errors.New("VAULTPAGE_NETWORK_ZONE_PIN_KEY: must be a double- or triple-length TDES key, 32 or 48 hexadecimal digits")
	}
	zpk, err := vault.NewZonePINKey(k)
	if err != nil {
		// Two equal halves (or neighbouring thirds) make TDES single DES.
		return nil, errors.New("VAULTPAGE_NETWORK_ZONE_PIN_KEY: its 8-byte parts must differ, or TDES is single DES")
	}
	return zpk, nil
}

// bureauConfig is where card bureau files go, the keys they are made with
// and how often serve writes one.
type bureauConfig struct {
	Dir string
	// PublicKey is the path of the bureau's armored public key.
	PublicKey string
	// SigningKey is vaultpage's armored private signing key (a secret).
	SigningKey string
	// Every, when not zero, is how often serve exports.
	Every time.Duration
}

// on reports whether the export is configured.
func (b bureauConfig) on() bool { return b.PublicKey != "" || b.SigningKey != "" }

// defaultConfig is what `vaultpage serve` runs on with no configuration.
func defaultConfig() config {
	return config{
		Env:       envDevelopment,
		Addr:      "127.0.0.1:8080",
		PublicURL: "http://localhost:8080",
		DataDir:   "vaultpage-data",
		LogLevel:  "info",
		Programme: web.DefaultProgramme,
		BIN:       vault.BINRange{Prefix: "489537", Length: vault.DefaultPANLength},
		RateLimit: 50,
		RateBurst: 100,
	}
}

// loadConfig reads the environment, then the flags (flags win), then the
// secrets named by *_FILE variables, and validates the result, reporting every
// problem at once.
func loadConfig(fs *flag.FlagSet, args []string, getenv func(string) string) (config, error) {
	c := defaultConfig()
	str := func(dst *string, name string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	str(&c.Env, "VAULTPAGE_ENV")
	str(&c.Addr, "VAULTPAGE_ADDR")
	str(&c.PublicURL, "VAULTPAGE_PUBLIC_URL")
	str(&c.DataDir, "VAULTPAGE_DATA_DIR")
	str(&c.DatabaseURL, "VAULTPAGE_DATABASE_URL")
	str(&c.LogLevel, "VAULTPAGE_LOG_LEVEL")
	str(&c.OperatorAddr, "VAULTPAGE_OPERATOR_ADDR")
	str(&c.BIN.Prefix, "VAULTPAGE_BIN")
	str(&c.Programme, "VAULTPAGE_PROGRAMME_NAME")
	var problems []error
	if v := getenv("VAULTPAGE_PAN_LENGTH"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			problems = append(problems, errors.New("VAULTPAGE_PAN_LENGTH: must be a number"))
		}
		c.BIN.Length = n
	}

	if v := getenv("VAULTPAGE_RATE_LIMIT"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			problems = append(problems, errors.New("VAULTPAGE_RATE_LIMIT: must be a positive number of requests per second"))
		}
		c.RateLimit = f
		c.RateBurst = max(1, int(2*f))
	}
	fs.StringVar(&c.Env, "env", c.Env, "environment: development or production (VAULTPAGE_ENV)")
	fs.StringVar(&c.Addr, "addr", c.Addr, "listen address (VAULTPAGE_ADDR)")
	fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, "URL cardholders and partners reach (VAULTPAGE_PUBLIC_URL)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "data directory for SQLite and dev keys (VAULTPAGE_DATA_DIR)")
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "postgres:// URL; empty means SQLite in the data directory (VAULTPAGE_DATABASE_URL)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error (VAULTPAGE_LOG_LEVEL)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}

	c.SMTP = notify.SMTP{Addr: getenv("VAULTPAGE_SMTP_ADDR"), From: getenv("VAULTPAGE_SMTP_FROM"),
		Username: getenv("VAULTPAGE_SMTP_USERNAME"), TLS: getenv("VAULTPAGE_SMTP_TLS") == "1",
		RequireTLS: c.Env == envProduction} // one-time codes never cross a network in clear in production
	c.SMSHook = notify.SMSHook{URL: getenv("VAULTPAGE_SMS_HOOK_URL")}
	for _, s := range []struct {
		name string
		dst  *string
	}{{"VAULTPAGE_SMTP_PASSWORD", &c.SMTP.Password}, {"VAULTPAGE_SMS_HOOK_TOKEN", &c.SMSHook.Token}, {"VAULTPAGE_METRICS_TOKEN", &c.MetricsToken},
		{"VAULTPAGE_BUREAU_SIGNING_KEY", &c.Bureau.SigningKey}, {"VAULTPAGE_NETWORK_ZONE_PIN_KEY", &c.Network.ZonePINKey}} {
		*s.dst = getenv(s.name)
		if path := getenv(s.name + "_FILE"); *s.dst == "" && path != "" {
			b, err := os.ReadFile(filepath.Clean(path))
			if err != nil {
				problems = append(problems, fmt.Errorf("%s_FILE: %w", s.name, err))
			}
			*s.dst = strings.TrimSpace(string(b))
		}
	}
	if v := getenv("VAULTPAGE_TRUSTED_PROXIES"); v != "" {
		nets, err := parseNetworks(v)
		if err != nil {
			problems = append(problems, fmt.Errorf("VAULTPAGE_TRUSTED_PROXIES: %w", err))
		}
		c.TrustedProxies = nets
	}
	if c.DataDir != "" {
		c.Bureau.Dir = filepath.Join(c.DataDir, "bureau")
	}
	str(&c.Bureau.Dir, "VAULTPAGE_BUREAU_DIR")
	str(&c.Bureau.PublicKey, "VAULTPAGE_BUREAU_PUBLIC_KEY")
	str(&c.Network.Addr, "VAULTPAGE_NETWORK_ADDR")
	str(&c.Network.Cert, "VAULTPAGE_NETWORK_CERT")
	str(&c.Network.Key, "VAULTPAGE_NETWORK_KEY")
	str(&c.Network.ClientCA, "VAULTPAGE_NETWORK_CLIENT_CA")
	str(&c.Network.ZonePINKeyLabel, "VAULTPAGE_NETWORK_ZONE_PIN_KEY_LABEL")
	if v := getenv("VAULTPAGE_NETWORK_CLIENT_NAMES"); v != "" {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				c.Network.ClientNames = append(c.Network.ClientNames, name)
			}
		}
	}
	if v := getenv("VAULTPAGE_BUREAU_EXPORT_EVERY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute {
			problems = append(problems, errors.New("VAULTPAGE_BUREAU_EXPORT_EVERY: must be a duration of at least 1m, such as 24h"))
		}
		c.Bureau.Every = d
	}
	c.SessionKeys = getenv("VAULTPAGE_SESSION_KEYS")
	if path := getenv("VAULTPAGE_SESSION_KEYS_FILE"); c.SessionKeys == "" && path != "" {
		b, err := os.ReadFile(filepath.Clean(path))
		if err != nil {
			problems = append(problems, fmt.Errorf("VAULTPAGE_SESSION_KEYS_FILE: %w", err))
		}
		c.SessionKeys = strings.TrimSpace(string(b))
	}
	kek, err := kekConfig(c, getenv)
	if err != nil {
		problems = append(problems, err)
	}
	c.KEK = kek
	problems = append(problems, c.validate()...)
	return c, errors.Join(problems...)
}

// kekConfig reads the KEK source. In development the default is a generated
// key in the data directory; production must name a source.
func kekConfig(c config, getenv func(string) string) (vault.KEKConfig, error) {
	k := vault.KEKConfig{Source: vault.KEKSource(getenv("VAULTPAGE_KEK_SOURCE")), DataDir: c.DataDir, Production: c.Env == envProduction}
	var problems []error
	secret := func(name string) string {
		if v := getenv(name); v != "" {
			return v
		}
		if path := getenv(name + "_FILE"); path != "" {
			b, err := os.ReadFile(filepath.Clean(path))
			if err != nil {
				problems = append(problems, fmt.Errorf("%s_FILE: %w", name, err))
				return ""
			}
			return strings.TrimSpace(string(b))
		}
		return ""
	}
	list := func(name string) []string {
		var out []string
		for _, v := range strings.Split(secret(name), ",") {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, v)
			}
		}
		return out
	}
	if k.Source == "" {
		switch {
		case getenv("VAULTPAGE_KEK") != "" || getenv("VAULTPAGE_KEK_FILE") != "":
			k.Source = vault.KEKSourceKey
		case !k.Production:
			k.Source = vault.KEKSourceDev
		}
	}
	k.Key = secret("VAULTPAGE_KEK")
	k.Previous = list("VAULTPAGE_KEK_PREVIOUS")
	for i := 1; i <= 9; i++ {
		if v := secret("VAULTPAGE_KEK_COMPONENT_" + strconv.Itoa(i)); v != "" {
			k.Components = append(k.Components, v)
		}
	}
	k.PKCS11 = vault.PKCS11Config{
		Module:     getenv("VAULTPAGE_PKCS11_MODULE"),
		TokenLabel: getenv("VAULTPAGE_PKCS11_TOKEN_LABEL"),
		PIN:        secret("VAULTPAGE_PKCS11_PIN"),
		KeyLabel:   getenv("VAULTPAGE_PKCS11_KEY_LABEL"),
		Previous:   list("VAULTPAGE_PKCS11_PREVIOUS_KEY_LABELS"),
	}
	if k.Source == "" {
		problems = append(problems, errors.New("VAULTPAGE_KEK_SOURCE: production needs key, components or pkcs11"))
	} else if err := k.Validate(); err != nil {
		problems = append(problems, err)
	}
	return k, errors.Join(problems...)
}

// validate lists every problem with the configuration.
func (c config) validate() []error {
	var p []error
	if c.Env != envDevelopment && c.Env != envProduction {
		p = append(p, fmt.Errorf("VAULTPAGE_ENV: must be %s or %s", envDevelopment, envProduction))
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		p = append(p, errors.New("VAULTPAGE_ADDR: must be host:port"))
	}
	if _, _, err := net.SplitHostPort(c.OperatorAddr); c.OperatorAddr != "" && err != nil {
		p = append(p, errors.New("VAULTPAGE_OPERATOR_ADDR: must be host:port"))
	}
	u, err := url.Parse(c.PublicURL)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		p = append(p, errors.New("VAULTPAGE_PUBLIC_URL: must be an absolute http(s) URL"))
	case c.Env == envProduction && u.Scheme != "https":
		p = append(p, errors.New("VAULTPAGE_PUBLIC_URL: production needs https"))
	}
	if n := utf8.RuneCountInString(c.Programme); n > 60 || strings.ContainsFunc(c.Programme, unicode.IsControl) || strings.TrimSpace(c.Programme) == "" {
		p = append(p, errors.New("VAULTPAGE_PROGRAMME_NAME: must be 1 to 60 characters, none of them control characters"))
	}
	if c.Bureau.on() || c.Bureau.Every > 0 {
		if _, err := c.Bureau.keys(); err != nil {
			p = append(p, err)
		}
		if c.Bureau.Dir == "" {
			p = append(p, errors.New("VAULTPAGE_BUREAU_DIR: needed when no data directory is set"))
		}
	}
	if c.Network.Addr != "" {
		if _, _, err := net.SplitHostPort(c.Network.Addr); err != nil {
			p = append(p, errors.New("VAULTPAGE_NETWORK_ADDR: must be host:port"))
		}
		if _, err := c.Network.tls(); err != nil {
			p = append(p, err)
		}
	}
	if _, err := c.Network.zonePINKey(c.KEK.PKCS11, false); err != nil {
		p = append(p, err)
	}
	if c.DataDir == "" && c.DatabaseURL == "" {
		p = append(p, errors.New("VAULTPAGE_DATA_DIR: needed when no database URL is set"))
	}
	if err := c.BIN.Validate(); err != nil {
		p = append(p, fmt.Errorf("VAULTPAGE_BIN/VAULTPAGE_PAN_LENGTH: %w", err))
	}
	if c.SMTP.Addr != "" && c.SMTP.From == "" {
		p = append(p, errors.New("VAULTPAGE_SMTP_FROM: needed with VAULTPAGE_SMTP_ADDR"))
	}
	if c.SMSHook.URL != "" && !strings.HasPrefix(c.SMSHook.URL, "https://") && c.Env == envProduction {
		p = append(p, errors.New("VAULTPAGE_SMS_HOOK_URL: production needs https"))
	}
	if c.Env == envProduction && c.SMTP.Addr == "" && c.SMSHook.URL == "" {
		p = append(p, errors.New("VAULTPAGE_SMTP_ADDR or VAULTPAGE_SMS_HOOK_URL: production needs a way to deliver one-time codes"))
	}
	if c.Env == envProduction && c.SessionKeys == "" {
		p = append(p, errors.New("VAULTPAGE_SESSION_KEYS: production needs hosted-page session keys (two base64 32-byte keys, comma-separated)"))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		p = append(p, errors.New("VAULTPAGE_LOG_LEVEL: must be debug, info, warn or error"))
	}
	return p
}

// parseNetworks reads comma-separated IP addresses and CIDR ranges; an
// address is a range of one.
func parseNetworks(v string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if !strings.Contains(item, "/") {
			ip := net.ParseIP(item)
			if ip == nil {
				return nil, fmt.Errorf("%q is not an IP address or CIDR range", item)
			}
			bits := 128
			if ip.To4() != nil {
				ip, bits = ip.To4(), 32
			}
			out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		_, n, err := net.ParseCIDR(item)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address or CIDR range", item)
		}
		out = append(out, n)
	}
	return out, nil
}

// publicMetrics says whether /metrics is served on the partner listener:
// not when operators have a listener of their own, and in production only
// behind the metrics token.
func (c config) publicMetrics() bool {
	return c.OperatorAddr == "" && (c.Env == envDevelopment || c.MetricsToken != "")
}

// keys reads the bureau's public key and vaultpage's signing key.
func (b bureauConfig) keys() (bureau.Config, error) {
	if b.PublicKey == "" || b.SigningKey == "" {
		return bureau.Config{}, errors.New("VAULTPAGE_BUREAU_PUBLIC_KEY and VAULTPAGE_BUREAU_SIGNING_KEY: the bureau export needs both")
	}
	pub, err := os.ReadFile(filepath.Clean(b.PublicKey))
	if err != nil {
		return bureau.Config{}, fmt.Errorf("VAULTPAGE_BUREAU_PUBLIC_KEY: %w", err)
	}
	to, signer, err := bureau.ReadKeys(bytes.NewReader(pub), strings.NewReader(b.SigningKey))
	if err != nil {
		return bureau.Config{}, fmt.Errorf("VAULTPAGE_BUREAU_PUBLIC_KEY/VAULTPAGE_BUREAU_SIGNING_KEY: %w", err)
	}
	return bureau.Config{Dir: b.Dir, Recipients: to, Signer: signer}, nil
}
