package web_test

import (
	"context"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/vaultpage/vaultpage/docs"
)

// The query parameters the server takes are the ones docs/openapi.yaml
// documents, route by route, and every documented operation is routed.
func TestQueryParametersAreTheContracts(t *testing.T) {
	e := newEnv(t)
	doc, err := openapi3.NewLoader().LoadFromData(docs.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	routed := e.web.QueryParams()
	documented := map[string][]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			names := []string{}
			for _, p := range append(item.Parameters, op.Parameters...) {
				if p.Value.In == openapi3.ParameterInQuery {
					names = append(names, p.Value.Name)
				}
			}
			sort.Strings(names)
			documented[method+" "+path] = names
		}
	}
	for op, names := range documented {
		got, ok := routed[op]
		if !ok {
			t.Errorf("%s is documented but not routed", op)
			continue
		}
		if !slices.Equal(got, names) {
			t.Errorf("%s takes %v; docs/openapi.yaml documents %v", op, got, names)
		}
	}
	for op := range routed {
		if _, ok := documented[op]; !ok && op != "GET /v3/openapi.yaml" {
			t.Errorf("%s is routed but not documented", op)
		}
	}
	if len(documented) < 40 {
		t.Fatalf("only %d operations documented", len(documented))
	}
}

// A query parameter a route does not take is refused and named, so that a
// filter spelt as another issuer's API spells it never returns an unfiltered
// list.
func TestUnknownQueryParametersAreRefused(t *testing.T) {
	e := newEnv(t)
	cd := e.card(e.tokA)
	other := e.card(e.tokA)
	id := cd["id"].(string)
	testCases := []struct {
		name, target, field, code string
	}{
		{"Atelio's customer filter", "/v3/cards?customer_id=" + cd["individual_id"].(string), "customer_id", "unknown_parameter"},
		{"Atelio's closed cards", "/v3/cards?show_closed=true", "show_closed", "unknown_parameter"},
		{"ordering", "/v3/cards?order_by=created_at", "order_by", "unknown_parameter"},
		{"Privacy.com's page", "/v3/cards?page=2", "page", "unknown_parameter"},
		{"Privacy.com's page size", "/v3/cards?page_size=5", "page_size", "unknown_parameter"},
		{"Privacy.com's begin", "/v3/cards?begin=2026-01-01", "begin", "unknown_parameter"},
		{"a known filter beside an unknown one", "/v3/cards?status=active&customer=x", "customer", "unknown_parameter"},
		{"a parameter on a route that takes none", "/v3/cards/" + id + "?expand=account", "expand", "unknown_parameter"},
		{"a list filter on another list", "/v3/individuals?status=active", "status", "unknown_parameter"},
		{"the event stream", "/v3/events/stream?limit=5", "limit", "unknown_parameter"},
		{"a parameter given twice", "/v3/cards?individual_id=" + cd["individual_id"].(string) + "&individual_id=" + other["individual_id"].(string), "individual_id", "invalid_query"},
		{"a control character in a name", "/v3/cards?a%00b=1", "ab", "invalid_query"},
		{"a filter behind a semicolon", "/v3/cards?customer_id=x;status=frozen", "", "invalid_query"},
		{"a filter with a bad escape", "/v3/cards?status=frozen%", "", "invalid_query"},
		{"a parameter without a name", "/v3/cards?=frozen", "", "invalid_query"},
		{"a filter behind ten thousand parameters", "/v3/cards?status=frozen" + strings.Repeat("&limit=1", 10_001), "", "invalid_query"},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(http.MethodGet, tc.target, e.tokA, "", nil)
			expectProblem(t, r, http.StatusBadRequest, tc.code, tc.field)
		})
	}
	// The filters it does take still filter.
	r := e.do(http.MethodGet, "/v3/cards?individual_id="+cd["individual_id"].(string)+"&limit=10", e.tokA, "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	data := r.json(t)["data"].([]any)
	if len(data) != 1 || data[0].(map[string]any)["id"] != id {
		t.Fatalf("filtered list: %s", r.body)
	}
}

// HEAD is GET without the body (RFC 9110), but for a hosted link, whose
// token a HEAD must not use up.
func TestHeadIsGetWithoutTheBody(t *testing.T) {
	e := newEnv(t)
	cd := e.card(e.tokA)
	// Sent as a client sends it, beside the contract (which lists GETs).
	head := func(path, token string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodHead, e.srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = res.Body.Close() }()
		b, _ := io.ReadAll(res.Body)
		return res, b
	}
	for _, path := range []string{"/healthz", "/v3/cards/" + cd["id"].(string)} {
		get := e.do(http.MethodGet, path, e.tokA, "", nil)
		res, body := head(path, e.tokA)
		if res.StatusCode != http.StatusOK || get.status != http.StatusOK || len(body) != 0 || res.Header.Get("Content-Type") != get.header.Get("Content-Type") {
			t.Fatalf("HEAD %s: %d %q %q, GET %d %q", path, res.StatusCode, body, res.Header.Get("Content-Type"), get.status, get.header.Get("Content-Type"))
		}
	}
	if res, _ := head("/v3/cards/"+cd["id"].(string), ""); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("HEAD without a token: %d", res.StatusCode)
	}
	// A hosted link: a HEAD (a link preview's) does not use its token up.
	_, _, tok := e.startConsent(t, nil)
	if res, _ := head("/c/"+tok, ""); res.StatusCode/100 == 2 || res.StatusCode/100 == 3 {
		t.Fatalf("HEAD on a hosted link: %d", res.StatusCode)
	}
	if res, _ := get(t, browser(t), e.srv.URL+"/c/"+tok); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/consent" {
		t.Fatalf("the link after a HEAD: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
}

// A path the API serves under other methods answers 405 with Allow; a path
// it does not serve answers 404.
func TestWrongMethodIs405(t *testing.T) {
	e := newEnv(t)
	cd := e.card(e.tokA)
	testCases := []struct {
		name, method, path, allow string
		status                    int
	}{
		{"PUT on the card list", http.MethodPut, "/v3/cards", "GET, HEAD, POST", http.StatusMethodNotAllowed},
		{"POST on a card", http.MethodPost, "/v3/cards/" + cd["id"].(string), "GET, HEAD, PATCH, DELETE", http.StatusMethodNotAllowed},
		{"DELETE on the event feed", http.MethodDelete, "/v3/events", "GET, HEAD", http.StatusMethodNotAllowed},
		{"a path the API does not serve", http.MethodGet, "/v3/customers", "", http.StatusNotFound},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, e.tokA, "application/json", []byte(`{}`))
			if r.status != tc.status || r.header.Get("Allow") != tc.allow {
				t.Fatalf("%d Allow %q, want %d %q: %s", r.status, r.header.Get("Allow"), tc.status, tc.allow, r.body)
			}
		})
	}
	// A path no route serves is a 404 whatever its query.
	if r := e.do(http.MethodGet, "/v3/customers?x=1", e.tokA, "", nil); r.status != http.StatusNotFound {
		t.Fatalf("an unknown path with a query: %d", r.status)
	}
	// Without a token the answer is 401 whatever the method or the query.
	noToken, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, e.srv.URL+"/v3/cards?customer_id=x", nil)
	if res, err := e.srv.Client().Do(noToken); err != nil || res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("an unknown parameter without a token: %v %v", res, err)
	} else {
		_ = res.Body.Close()
	}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPut, e.srv.URL+"/v3/cards", nil)
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without a token: %d", res.StatusCode)
	}
}
