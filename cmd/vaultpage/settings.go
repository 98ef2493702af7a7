package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// setting documents one configuration setting: its variable, the flag that
// overrides it (if any), its default and what it means. This list is what
// `-h` prints, and a test holds it to what loadConfig reads and to the
// README's table.
type setting struct {
	env, flag, def, help string
	file                 bool // also read from the file VAR_FILE names
}

var settings = []setting{
	{env: "VAULTPAGE_ENV", flag: "env", def: envDevelopment, help: "development or production (production refuses unsafe defaults)"},
	{env: "VAULTPAGE_ADDR", flag: "addr", def: "127.0.0.1:8080", help: "listen address"},
	{env: "VAULTPAGE_PUBLIC_URL", flag: "public-url", def: "http://localhost:8080", help: "the URL partners and cardholders reach; its host is the passkeys' relying party"},
	{env: "VAULTPAGE_DATA_DIR", flag: "data-dir", def: "vaultpage-data", help: "SQLite database and, in development, the generated keys"},
	{env: "VAULTPAGE_DATABASE_URL", flag: "database-url", help: "postgres://… selects PostgreSQL (pool_max_conns=N bounds its pool); empty is SQLite"},
	{env: "VAULTPAGE_LOG_LEVEL", flag: "log-level", def: "info", help: "debug, info, warn or error"},
	{env: "VAULTPAGE_PROGRAMME_NAME", def: "vaultpage", help: "the card programme's name, on the hosted pages' \"Secured by\" line (at most 60 characters)"},
	{env: "VAULTPAGE_BIN", def: "489537", help: "the BIN card numbers are issued under"},
	{env: "VAULTPAGE_PAN_LENGTH", def: "16", help: "card number length"},
	{env: "VAULTPAGE_RATE_LIMIT", def: "50", help: "requests per second per partner (burst twice that)"},
	{env: "VAULTPAGE_TRUSTED_PROXIES", help: "addresses or CIDR ranges of reverse proxies whose X-Forwarded-For is believed"},
	{env: "VAULTPAGE_OPERATOR_ADDR", help: "a listener of its own for /metrics, /healthz and /readyz"},
	{env: "VAULTPAGE_METRICS_TOKEN", file: true, help: "the bearer token /metrics asks for"},
	{env: "VAULTPAGE_SESSION_KEYS", file: true, help: "two base64 32-byte keys, comma-separated, for the hosted session cookie (required in production)"},
	{env: "VAULTPAGE_SMTP_ADDR", help: "SMTP server (host:port) for emailed one-time codes"},
	{env: "VAULTPAGE_SMTP_FROM", help: "the codes' sender address"},
	{env: "VAULTPAGE_SMTP_USERNAME", help: "SMTP user"},
	{env: "VAULTPAGE_SMTP_PASSWORD", file: true, help: "SMTP password"},
	{env: "VAULTPAGE_SMTP_TLS", help: "1 for implicit TLS; otherwise STARTTLS when offered (required in production)"},
	{env: "VAULTPAGE_SMS_HOOK_URL", help: "the SMS provider's hook: vaultpage POSTs {\"to\",\"body\"}"},
	{env: "VAULTPAGE_SMS_HOOK_TOKEN", file: true, help: "the bearer token for the SMS hook"},
	{env: "VAULTPAGE_BUREAU_PUBLIC_KEY", help: "path of the card bureau's armored OpenPGP public key; with the signing key, turns the bureau export on"},
	{env: "VAULTPAGE_BUREAU_SIGNING_KEY", file: true, help: "vaultpage's armored OpenPGP private key that signs bureau files"},
	{env: "VAULTPAGE_BUREAU_DIR", def: "<data dir>/bureau", help: "where bureau files are written"},
	{env: "VAULTPAGE_BUREAU_EXPORT_EVERY", help: "how often serve writes a bureau file (a duration, at least 1m); empty: only `vaultpage bureau export`"},
	{env: "VAULTPAGE_NETWORK_ADDR", help: "the card network's listener (mutual TLS, /network/v1); empty: off"},
	{env: "VAULTPAGE_NETWORK_CERT", help: "the network listener's certificate (PEM file)"},
	{env: "VAULTPAGE_NETWORK_KEY", help: "the network listener's private key (PEM file)"},
	{env: "VAULTPAGE_NETWORK_CLIENT_CA", help: "the CA (PEM file) whose certificates the network's clients must present"},
	{env: "VAULTPAGE_NETWORK_CLIENT_NAMES", help: "comma-separated names (common name or DNS name) a client certificate must carry one of; empty: any from the CA"},
	{env: "VAULTPAGE_NETWORK_ZONE_PIN_KEY", file: true, help: "the zone PIN key PIN blocks arrive under: 32 or 48 hex digits (TDES)"},
	{env: "VAULTPAGE_NETWORK_ZONE_PIN_KEY_LABEL", help: "instead, the label of the zone PIN key (TDES) in the PKCS#11 token of VAULTPAGE_PKCS11_*"},
	{env: "VAULTPAGE_KEK_SOURCE", def: "dev in development", help: "key, components, pkcs11 or dev"},
	{env: "VAULTPAGE_KEK", file: true, help: "base64 32-byte key-encrypting key (source key)"},
	{env: "VAULTPAGE_KEK_COMPONENT_1..9", file: true, help: "full-length key components, combined by XOR (source components)"},
	{env: "VAULTPAGE_KEK_PREVIOUS", file: true, help: "comma-separated older KEKs, accepted for unwrapping until keys rewrap"},
	{env: "VAULTPAGE_PKCS11_MODULE", help: "the HSM's PKCS#11 module (source pkcs11)"},
	{env: "VAULTPAGE_PKCS11_TOKEN_LABEL", help: "the HSM token"},
	{env: "VAULTPAGE_PKCS11_PIN", file: true, help: "the HSM token's PIN"},
	{env: "VAULTPAGE_PKCS11_KEY_LABEL", help: "the AES key in the HSM"},
	{env: "VAULTPAGE_PKCS11_PREVIOUS_KEY_LABELS", file: true, help: "older HSM keys, comma-separated, for unwrapping until keys rewrap"},
}

// usageWith makes fs's -h print the command's flags and every setting.
func usageWith(fs *flag.FlagSet, w io.Writer) {
	fs.Usage = func() {
		_, _ = fmt.Fprintf(w, "usage of %s:\n", fs.Name())
		settingFlags := map[string]bool{}
		for _, s := range settings {
			settingFlags[s.flag] = s.flag != ""
		}
		first := true
		fs.VisitAll(func(f *flag.Flag) {
			if settingFlags[f.Name] {
				return
			}
			if first {
				_, _ = fmt.Fprintln(w, "\nthis command's flags:")
				first = false
			}
			_, _ = fmt.Fprintf(w, "  --%s\t%s\n", f.Name, f.Usage)
		})
		_, _ = fmt.Fprintln(w, "\nsettings (a flag, where there is one, overrides its variable; VAR_FILE names a file that holds a secret one):")
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		_, _ = fmt.Fprintln(tw, "  variable\tflag\tdefault\tmeaning")
		for _, s := range settings {
			f, def, env := "", s.def, s.env
			if s.flag != "" {
				f = "--" + s.flag
			}
			if def == "" {
				def = "-"
			}
			if s.file {
				env += " (or _FILE)"
			}
			_, _ = fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", env, f, def, s.help)
		}
		_ = tw.Flush()
	}
}

// documented reports whether name (a variable loadConfig reads) is in
// settings: itself, its _FILE form, or a numbered key component.
func documented(name string) bool {
	for _, s := range settings {
		base := strings.TrimSuffix(s.env, "1..9")
		switch {
		case name == s.env, s.file && name == s.env+"_FILE":
			return true
		case base != s.env && strings.HasPrefix(name, base) && (strings.HasSuffix(name, "_FILE") || len(name) == len(base)+1):
			return true
		}
	}
	return false
}
