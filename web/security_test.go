package web_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestAskingForCodesTooOftenShowsWhenToAskAgain(t *testing.T) {
	e := newEnv(t)
	_, _, tok := e.startConsent(t, nil)
	b := browser(t)
	get(t, b, e.srv.URL+"/c/"+tok)
	_, landing := get(t, b, e.srv.URL+"/consent")
	res, verify := post(t, b, e.srv.URL+"/consent/code", csrfOf(t, landing))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("first code: %d", res.StatusCode)
	}
	sent := len(e.outbox.Messages())
	res, again := post(t, b, e.srv.URL+"/consent/code", csrfOf(t, verify))
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "30" {
		t.Fatalf("a second code at once: %d, Retry-After %q", res.StatusCode, res.Header.Get("Retry-After"))
	}
	if msg := again.Find(`[data-testid="error"]`).Text(); !strings.Contains(msg, "last code we sent") {
		t.Fatalf("the page says %q", msg)
	}
	if again.Find(`[data-testid="code"]`).Length() != 1 {
		t.Fatal("the page no longer takes the code already sent")
	}
	if n := len(e.outbox.Messages()); n != sent {
		t.Fatalf("%d more codes went out", n-sent)
	}
}
