package web_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strings"
	"testing"
)

func pngLogo(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		img.Set(x, x%h, color.RGBA{R: 10, G: 92, B: 54, A: 255})
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func (e *env) put(path, token string, body any) response {
	e.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.do(http.MethodPut, path, token, "application/json", b)
}

func TestBrandingRefusesWhatWouldBreakThePages(t *testing.T) {
	e := newEnv(t)
	huge := make([]byte, 30<<10)
	copy(huge, pngLogo(t, 8, 8))
	testCases := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"a colour name", map[string]any{"color": "green"}, "color"},
		{"too light for white text", map[string]any{"color": "#ffd700"}, "color"},
		{"not base64", map[string]any{"logo_png": "%%%"}, "logo_png"},
		{"not a PNG", map[string]any{"logo_png": base64.StdEncoding.EncodeToString([]byte("<svg onload=alert(1)>"))}, "logo_png"},
		{"too many bytes", map[string]any{"logo_png": base64.StdEncoding.EncodeToString(huge)}, "logo_png"},
		{"too many pixels", map[string]any{"logo_png": base64.StdEncoding.EncodeToString(pngLogo(t, 600, 10))}, "logo_png"},
		{"a wildcard origin", map[string]any{"frame_ancestors": []string{"https://*.alpha.example"}}, "frame_ancestors[0]"},
		{"plain http", map[string]any{"frame_ancestors": []string{"https://alpha.example", "http://alpha.example"}}, "frame_ancestors[1]"},
		{"a URL with a path", map[string]any{"frame_ancestors": []string{"https://alpha.example/app"}}, "frame_ancestors[0]"},
		{"a CSP keyword", map[string]any{"frame_ancestors": []string{"'self'"}}, "frame_ancestors[0]"},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			expectProblem(t, e.put("/v3/branding", e.tokA, tc.body), http.StatusUnprocessableEntity, "invalid_field", tc.field)
		})
	}
	r := e.do(http.MethodGet, "/v3/branding", e.tokA, "", nil)
	if r.status != http.StatusOK || r.json(t)["color"] != "" {
		t.Fatalf("branding after refusals: %d %s", r.status, r.body)
	}
}

func TestPartnerBrandingShowsOnItsHostedPagesOnly(t *testing.T) {
	e := newEnv(t)
	logo := pngLogo(t, 64, 32)
	r := e.put("/v3/branding", e.tokA, map[string]any{
		"color": "#0A5C36", "logo_png": base64.StdEncoding.EncodeToString(logo), "frame_ancestors": []string{"https://App.Alpha.example"},
	})
	if r.status != http.StatusOK {
		t.Fatalf("put branding: %d %s", r.status, r.body)
	}
	got := r.json(t)
	logoURL, _ := got["logo_url"].(string)
	if got["color"] != "#0a5c36" || !strings.HasPrefix(logoURL, "http://localhost:8080/brand/") || got["frame_ancestors"].([]any)[0] != "https://app.alpha.example" {
		t.Fatalf("stored branding: %s", r.body)
	}

	// Alpha's cardholder sees Alpha's colour and logo; Alpha's app may frame the page.
	_, _, tok := e.startConsent(t, nil)
	b := browser(t)
	get(t, b, e.srv.URL+"/c/"+tok)
	res, landing := get(t, b, e.srv.URL+"/consent")
	style := landing.Find("head style").Text()
	nonce, _ := landing.Find("head style").Attr("nonce")
	if !strings.Contains(style, "--brand: #0a5c36") || nonce == "" || !strings.Contains(res.Header.Get("Content-Security-Policy"), "'nonce-"+nonce+"'") {
		t.Fatalf("brand colour: style %q nonce %q", style, nonce)
	}
	src, _ := landing.Find(`[data-testid="partner-logo"]`).Attr("src")
	if !strings.HasPrefix(logoURL, "http://localhost:8080"+src) || src == "" {
		t.Fatalf("logo src %q, API says %q", src, logoURL)
	}
	csp := res.Header.Get("Content-Security-Policy")
	if !strings.HasSuffix(csp, "frame-ancestors https://app.alpha.example") || res.Header.Get("X-Frame-Options") != "" {
		t.Fatalf("framing: CSP %q, X-Frame-Options %q", csp, res.Header.Get("X-Frame-Options"))
	}
	lres, err := b.Get(e.srv.URL + src)
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	_, _ = body.ReadFrom(lres.Body)
	_ = lres.Body.Close()
	if lres.StatusCode != http.StatusOK || lres.Header.Get("Content-Type") != "image/png" || !bytes.Equal(body.Bytes(), logo) ||
		!strings.Contains(lres.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Fatalf("logo: %d %s %d bytes", lres.StatusCode, lres.Header.Get("Content-Type"), body.Len())
	}

	// Beta's cardholder sees vaultpage's defaults, and nobody may frame Beta's pages.
	bc := e.card(e.tokB)
	cs := consentOf(t, e.post("/v3/cards/"+bc["id"].(string)+"/activate", e.tokB, nil))
	tokB := e.post("/v3/consents/"+cs["id"].(string), e.tokB, nil).json(t)["method"].(map[string]any)["token"].(string)
	b2 := browser(t)
	get(t, b2, e.srv.URL+"/c/"+tokB)
	res, landing = get(t, b2, e.srv.URL+"/consent")
	if landing.Find("head style").Length() != 0 || landing.Find(`[data-testid="partner-logo"]`).Length() != 0 {
		t.Fatal("Beta's page carries a brand it never set")
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.HasSuffix(csp, "frame-ancestors 'none'") || res.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("Beta framing: %q", csp)
	}
	// Pages without a session (the 410 page) are never framable.
	res, _ = get(t, browser(t), e.srv.URL+"/consent")
	if csp := res.Header.Get("Content-Security-Policy"); !strings.HasSuffix(csp, "frame-ancestors 'none'") {
		t.Fatalf("gone page framing: %q", csp)
	}
}
