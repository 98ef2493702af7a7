package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vaultpage/vaultpage/internal/testkit"
)

// serve opens the card network's listener on VAULTPAGE_NETWORK_ADDR with
// the configured certificate and client CA, and refuses a configuration
// that names the address without them.
func TestServeOpensTheNetworkListener(t *testing.T) {
	dir, addr, netAddr := t.TempDir(), freeAddr(t), freeAddr(t)
	ca := testkit.NewCA(t, "card network CA")
	caFile, certFile, keyFile := ca.WritePEM(t, dir, ca.Issue(t, "vaultpage", true, time.Now().Add(-time.Hour), time.Now().Add(time.Hour)))
	environ := map[string]string{"VAULTPAGE_DATA_DIR": filepath.Join(dir, "data"), "VAULTPAGE_NETWORK_ADDR": netAddr}
	var stdout, stderr syncBuffer
	err := run(context.Background(), []string{"vaultpage", "serve", "--addr", addr}, env(environ), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "VAULTPAGE_NETWORK_CERT") {
		t.Fatalf("a network address without a certificate: %v", err)
	}
	environ["VAULTPAGE_NETWORK_CERT"], environ["VAULTPAGE_NETWORK_KEY"], environ["VAULTPAGE_NETWORK_CLIENT_CA"] = certFile, keyFile, caFile
	environ["VAULTPAGE_NETWORK_ZONE_PIN_KEY"] = "0123456789abcdef"
	if err := run(context.Background(), []string{"vaultpage", "serve", "--addr", addr}, env(environ), &stdout, &stderr); err == nil ||
		!strings.Contains(err.Error(), "VAULTPAGE_NETWORK_ZONE_PIN_KEY") {
		t.Fatalf("a single-length zone PIN key: %v", err)
	}
	environ["VAULTPAGE_NETWORK_ZONE_PIN_KEY"] = "0123456789ABCDEF0123456789ABCDEF"
	if err := run(context.Background(), []string{"vaultpage", "serve", "--addr", addr}, env(environ), &stdout, &stderr); err == nil ||
		!strings.Contains(err.Error(), "VAULTPAGE_NETWORK_ZONE_PIN_KEY") {
		t.Fatalf("a double-length zone PIN key of two equal halves: %v", err)
	}
	// A key in the HSM instead: not both, and not without the token's
	// settings.
	environ["VAULTPAGE_NETWORK_ZONE_PIN_KEY"] = "AB9292288227277226252525224665FE"
	environ["VAULTPAGE_NETWORK_ZONE_PIN_KEY_LABEL"] = "zpk-2026"
	if err := run(context.Background(), []string{"vaultpage", "serve", "--addr", addr}, env(environ), &stdout, &stderr); err == nil ||
		!strings.Contains(err.Error(), "set one of the two") {
		t.Fatalf("a configured zone PIN key and one in the HSM: %v", err)
	}
	delete(environ, "VAULTPAGE_NETWORK_ZONE_PIN_KEY")
	if err := run(context.Background(), []string{"vaultpage", "serve", "--addr", addr}, env(environ), &stdout, &stderr); err == nil ||
		!strings.Contains(err.Error(), "VAULTPAGE_PKCS11_MODULE") {
		t.Fatalf("a zone PIN key label without the HSM's settings: %v", err)
	}
	delete(environ, "VAULTPAGE_NETWORK_ZONE_PIN_KEY_LABEL")
	environ["VAULTPAGE_NETWORK_ZONE_PIN_KEY"] = "AB9292288227277226252525224665FE"
	environ["VAULTPAGE_NETWORK_CLIENT_NAMES"] = "iso8583-adapter, iso8583-standby"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"vaultpage", "serve", "--addr", addr}, env(environ), &stdout, &stderr)
	}()
	waitHealthy(t, "http://"+addr)
	client := ca.Issue(t, "iso8583-adapter", false, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12,
		RootCAs: ca.Pool(), Certificates: []tls.Certificate{client}}}}
	body, _ := json.Marshal(map[string]any{"network_reference": "acq1:000001", "pan": "4000000000000002", "exp_month": "12", "exp_year": "2029", "entry_mode": "contactless",
		"amount": "1.00", "currency": "EUR", "merchant": map[string]string{"name": "Kiosk", "mcc": "5411", "country": "SE", "id": "k-1"}})
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "https://"+netAddr+"/network/v1/authorizations", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	_ = json.NewDecoder(res.Body).Decode(&got)
	_ = res.Body.Close()
	if res.StatusCode != http.StatusCreated || got["decline_reason"] != "card_not_found" {
		t.Fatalf("an authorisation on the network listener: %d %v", res.StatusCode, got)
	}
	// The CA's certificate for another client is refused in the
	// handshake: it is not one of the client names.
	stranger := ca.Issue(t, "someone-else", false, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	sc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12,
		RootCAs: ca.Pool(), Certificates: []tls.Certificate{stranger}}}}
	req, _ = http.NewRequestWithContext(context.Background(), http.MethodPost, "https://"+netAddr+"/network/v1/authorizations", bytes.NewReader(body))
	if res, err := sc.Do(req); err == nil {
		_ = res.Body.Close()
		t.Fatalf("a client certificate for someone-else got %d", res.StatusCode)
	}
	plain := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: ca.Pool()}}}
	req, _ = http.NewRequestWithContext(context.Background(), http.MethodPost, "https://"+netAddr+"/network/v1/authorizations", bytes.NewReader(body))
	if res, err := plain.Do(req); err == nil {
		_ = res.Body.Close()
		t.Fatalf("a client without a certificate got %d", res.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "card network listener") {
		t.Fatalf("serve did not say where the network listener is: %s", stdout.String())
	}
}
