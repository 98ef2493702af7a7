package web_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vaultpage/vaultpage/internal/httpsig"
	"github.com/vaultpage/vaultpage/partner"
)

func TestPartnersWithSigningKeysMustSignEveryRequest(t *testing.T) {
	e := newEnv(t)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(pub)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	svc := partner.NewService(e.db.Partners(), partner.Config{}, nil)
	if _, err := svc.AddSigningKey(context.Background(), e.a.PartnerID, "alpha-2026", pemKey); err != nil {
		t.Fatal(err)
	}
	tok := e.token(e.a)
	// Signatures cover the public URL partners address, not the listener.
	host := "localhost:8080"
	send := func(method, path string, body []byte, sign bool, tamper func(*http.Request)) response {
		req, _ := http.NewRequestWithContext(context.Background(), method, e.srv.URL+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if sign {
			if err := httpsig.Sign(req, body, "alpha-2026", priv, time.Now(), "http", host); err != nil {
				t.Fatal(err)
			}
		}
		if tamper != nil {
			tamper(req)
		}
		res, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = res.Body.Close() }()
		b, _ := io.ReadAll(res.Body)
		e.validate(req, res, b)
		return response{status: res.StatusCode, header: res.Header, body: b}
	}
	body := []byte(`{"first_name":"Ada","last_name":"Lovelace","email":"ada@example.com"}`)
	expectProblem(t, send(http.MethodGet, "/v3/cards", nil, false, nil), http.StatusUnauthorized, "invalid_signature", "")
	if r := send(http.MethodGet, "/v3/cards", nil, true, nil); r.status != http.StatusOK {
		t.Fatalf("signed GET: %d %s", r.status, r.body)
	}
	if r := send(http.MethodPost, "/v3/individuals", body, true, nil); r.status != http.StatusCreated {
		t.Fatalf("signed POST: %d %s", r.status, r.body)
	}
	// The body is bound through Content-Digest.
	r := send(http.MethodPost, "/v3/individuals", body, true, func(req *http.Request) {
		req.Body = io.NopCloser(bytes.NewReader([]byte(`{"first_name":"Eve","last_name":"Lovelace","email":"eve@example.com"}`)))
		req.ContentLength = -1
	})
	expectProblem(t, r, http.StatusUnauthorized, "invalid_signature", "")
	// The target URI is covered.
	expectProblem(t, send(http.MethodGet, "/v3/cards", nil, true, func(req *http.Request) { req.URL.RawQuery = "status=active" }),
		http.StatusUnauthorized, "invalid_signature", "")
	if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Signature") {
		t.Fatalf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
	}
	// A partner without keys is not asked to sign.
	if r := e.do(http.MethodGet, "/v3/cards", e.tokB, "", nil); r.status != http.StatusOK {
		t.Fatalf("partner without keys: %d", r.status)
	}
	if _, err := svc.AddSigningKey(context.Background(), e.a.PartnerID, "alpha-2026", pemKey); err == nil {
		t.Fatal("a key id was registered twice")
	}
	if _, err := svc.AddSigningKey(context.Background(), e.a.PartnerID, "bad", []byte("not a key")); err == nil {
		t.Fatal("accepted a malformed key")
	}
}
