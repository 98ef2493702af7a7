package web_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// expectOAuthError holds a token endpoint's answer to RFC 6749 5.2: JSON
// with error and error_description, never cached.
func expectOAuthError(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("content type %q, want application/json", ct)
	}
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" {
		t.Fatalf("cache headers %q %q", r.header.Get("Cache-Control"), r.header.Get("Pragma"))
	}
	m := r.json(t)
	if m["error"] != code || m["error_description"] == nil || m["error_description"] == "" {
		t.Fatalf("OAuth error %s, want error %s with a description", r.body, code)
	}
}

// The token endpoint works with golang.org/x/oauth2's client credentials
// flow, an independent OAuth 2.0 client, whichever way it sends the
// credentials, and that client reads vaultpage's errors as OAuth errors.
func TestStandardOAuthClientGetsTokens(t *testing.T) {
	e := newEnv(t)
	for _, style := range []struct {
		name string
		auth oauth2.AuthStyle
	}{{"HTTP Basic", oauth2.AuthStyleInHeader}, {"form fields", oauth2.AuthStyleInParams}, {"detected", oauth2.AuthStyleAutoDetect}} {
		t.Run(style.name, func(t *testing.T) {
			ctx := context.WithValue(context.Background(), oauth2.HTTPClient, e.srv.Client())
			cfg := clientcredentials.Config{ClientID: e.a.ClientID, ClientSecret: e.a.ClientSecret, TokenURL: e.srv.URL + "/v3/oauth/token", AuthStyle: style.auth}
			tok, err := cfg.Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tok.TokenType != "Bearer" || tok.Expiry.IsZero() {
				t.Fatalf("token %+v", tok)
			}
			if r := e.do(http.MethodGet, "/v3/cards", tok.AccessToken, "", nil); r.status != http.StatusOK {
				t.Fatalf("the token does not authenticate: %d %s", r.status, r.body)
			}
			cfg.ClientSecret = "vps_wrong"
			_, err = cfg.Token(ctx)
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) || re.ErrorCode != "invalid_client" || re.ErrorDescription == "" || re.Response.StatusCode != http.StatusUnauthorized {
				t.Fatalf("a wrong secret: %v", err)
			}
		})
	}
}

func TestTokenEndpointFollowsRFC6749(t *testing.T) {
	e := newEnv(t)
	form := "application/x-www-form-urlencoded"
	basic := "Basic " + basicAuth(e.a.ClientID, e.a.ClientSecret)
	params := func(kv ...string) []byte {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return []byte(v.Encode())
	}
	testCases := []struct {
		name    string
		body    []byte
		headers []string
		status  int
		code    string
	}{
		{"grant_type missing", params("client_id", e.a.ClientID, "client_secret", e.a.ClientSecret), nil, http.StatusBadRequest, "invalid_request"},
		{"grant_type empty", params("grant_type", "", "client_id", e.a.ClientID, "client_secret", e.a.ClientSecret), nil, http.StatusBadRequest, "invalid_request"},
		{"another grant", params("grant_type", "password", "client_id", e.a.ClientID, "client_secret", e.a.ClientSecret), nil, http.StatusBadRequest, "unsupported_grant_type"},
		{"grant_type twice", params("grant_type", "client_credentials", "grant_type", "client_credentials", "client_id", e.a.ClientID, "client_secret", e.a.ClientSecret), nil, http.StatusBadRequest, "invalid_request"},
		{"client_id twice", params("grant_type", "client_credentials", "client_id", e.b.ClientID, "client_id", e.a.ClientID, "client_secret", e.a.ClientSecret), nil, http.StatusBadRequest, "invalid_request"},
		{"Basic and form credentials, the form's secret wrong", params("grant_type", "client_credentials", "client_id", e.a.ClientID, "client_secret", "vps_wrong"), []string{"Authorization", basic}, http.StatusBadRequest, "invalid_request"},
		{"Basic and a form client_id", params("grant_type", "client_credentials", "client_id", e.a.ClientID), []string{"Authorization", basic}, http.StatusBadRequest, "invalid_request"},
		{"Basic and a form secret", params("grant_type", "client_credentials", "client_secret", e.a.ClientSecret), []string{"Authorization", basic}, http.StatusBadRequest, "invalid_request"},
		{"a bearer token instead of client credentials", params("grant_type", "client_credentials"), []string{"Authorization", "Bearer " + e.tokA}, http.StatusUnauthorized, "invalid_client"},
		{"Basic with a bad escape", params("grant_type", "client_credentials"), []string{"Authorization", "Basic " + basicAuth("vpc_%zz", e.a.ClientSecret)}, http.StatusUnauthorized, "invalid_client"},
		{"no credentials", params("grant_type", "client_credentials"), nil, http.StatusUnauthorized, "invalid_client"},
		{"wrong secret", params("grant_type", "client_credentials", "client_id", e.a.ClientID, "client_secret", "vps_wrong"), nil, http.StatusUnauthorized, "invalid_client"},
		{"a query string", nil, nil, http.StatusBadRequest, "invalid_request"},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			path := "/v3/oauth/token"
			if tc.body == nil {
				path += "?client_secret=" + url.QueryEscape(e.a.ClientSecret)
				tc.body = params("grant_type", "client_credentials", "client_id", e.a.ClientID)
			}
			r := e.do(http.MethodPost, path, "", form, tc.body, tc.headers...)
			expectOAuthError(t, r, tc.status, tc.code)
			if tc.status == http.StatusUnauthorized && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
				t.Fatalf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
			}
		})
	}
	t.Run("a JSON body", func(t *testing.T) {
		r := e.do(http.MethodPost, "/v3/oauth/token", "", "application/json", []byte(`{"grant_type":"client_credentials"}`))
		expectOAuthError(t, r, http.StatusUnsupportedMediaType, "invalid_request")
	})
	t.Run("Basic credentials are form-urldecoded", func(t *testing.T) {
		// RFC 6749 2.3.1: the client encodes id and secret with
		// application/x-www-form-urlencoded before Basic; "_" escaped as
		// %5F must read as "_".
		id := strings.ReplaceAll(e.a.ClientID, "_", "%5F")
		r := e.do(http.MethodPost, "/v3/oauth/token", "", form, params("grant_type", "client_credentials"), "Authorization", "Basic "+basicAuth(id, e.a.ClientSecret))
		if r.status != http.StatusOK {
			t.Fatalf("an escaped client id: %d %s", r.status, r.body)
		}
	})
	t.Run("the token response is not cached", func(t *testing.T) {
		r := e.do(http.MethodPost, "/v3/oauth/token", "", form, params("grant_type", "client_credentials"), "Authorization", basic)
		if r.status != http.StatusOK || r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" {
			t.Fatalf("%d %q %q", r.status, r.header.Get("Cache-Control"), r.header.Get("Pragma"))
		}
	})
	t.Run("GET is not allowed", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, e.srv.URL+"/v3/oauth/token", nil)
		res, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(res.Header.Get("Allow"), http.MethodPost) {
			t.Fatalf("GET: %d, Allow %q", res.StatusCode, res.Header.Get("Allow"))
		}
	})
	if strings.Contains(e.logs.String(), e.a.ClientSecret) {
		t.Fatal("the client secret reached the logs")
	}
}

// Every token issued and every wrong secret for a real client is in the
// audit trail, with the client's address; a secret never is, even one sent
// as the id.
func TestClientAuthenticationIsAudited(t *testing.T) {
	e := newEnv(t)
	form := "application/x-www-form-urlencoded"
	body := func(id, secret string) []byte {
		return []byte(url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}.Encode())
	}
	if r := e.do(http.MethodPost, "/v3/oauth/token", "", form, body(e.a.ClientID, e.a.ClientSecret)); r.status != http.StatusOK {
		t.Fatalf("the right credentials: %d %s", r.status, r.body)
	}
	// A wrong secret; an unknown client; the secret sent as the id.
	for _, b := range [][]byte{body(e.a.ClientID, "vps_wrong"), body("vpc_nobody", "vps_wrong"), body(e.a.ClientSecret, e.a.ClientID)} {
		if r := e.do(http.MethodPost, "/v3/oauth/token", "", form, b); r.status != http.StatusUnauthorized {
			t.Fatalf("wrong credentials: %d %s", r.status, r.body)
		}
	}
	entries, err := e.db.Audit().AuditEntries(context.Background(), 0, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, en := range entries {
		count[en.Action]++
		if strings.Contains(fmt.Sprint(en), e.a.ClientSecret) || strings.Contains(fmt.Sprint(en), "vps_wrong") {
			t.Fatalf("a secret in the audit trail: %+v", en)
		}
		if en.Action == "partner.authentication_failed" && (en.Source == "" || en.Result != "failed") {
			t.Fatalf("a failed authentication without its address: %+v", en)
		}
	}
	// Only the attempt on a real client is in the trail.
	if count["partner.token_issued"] < 1 || count["partner.authentication_failed"] != 1 {
		t.Fatalf("audit entries %v", count)
	}
}
