package notify

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/vaultpage/vaultpage/consent"
)

// mailbox is an in-process SMTP server's backend that keeps what arrives.
type mailbox struct {
	mu   sync.Mutex
	from []string
	to   []string
	data []string
}

func (m *mailbox) NewSession(*gosmtp.Conn) (gosmtp.Session, error) { return &session{m: m}, nil }

type session struct{ m *mailbox }

func (s *session) Reset()        {}
func (s *session) Logout() error { return nil }
func (s *session) Mail(from string, _ *gosmtp.MailOptions) error {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	s.m.from = append(s.m.from, from)
	return nil
}

func (s *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	s.m.to = append(s.m.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	s.m.data = append(s.m.data, string(b))
	return err
}

func TestSMTPDeliversTheCode(t *testing.T) {
	box := &mailbox{}
	srv := gosmtp.NewServer(box)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	n := SMTP{Addr: ln.Addr().String(), From: "codes@cards.example"}
	msg := consent.Message{To: "ada@example.com", Subject: "Din kod från vaultpage", Body: "Din kod är 123456."}
	if err := n.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	box.mu.Lock()
	if len(box.data) != 1 || box.from[0] != "codes@cards.example" || box.to[0] != "ada@example.com" {
		t.Fatalf("mailbox %+v", box)
	}
	if !strings.Contains(box.data[0], "Din kod är 123456.") || !strings.Contains(box.data[0], "Subject: =?utf-8?q?") {
		t.Fatalf("message:\n%s", box.data[0])
	}
	box.mu.Unlock()
	if err := n.Send(context.Background(), consent.Message{To: "a@b.c\r\nBcc: evil@example.com", Body: "x"}); err == nil {
		t.Fatal("a header injection was sent")
	}
	// Where TLS is required (production), a server without STARTTLS gets
	// nothing.
	n.RequireTLS = true
	if err := n.Send(context.Background(), msg); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("a code over plain SMTP: %v", err)
	}
	box.mu.Lock()
	defer box.mu.Unlock()
	if len(box.data) != 1 {
		t.Fatalf("%d messages arrived", len(box.data))
	}
}

func TestSMSHookPostsToTheProvider(t *testing.T) {
	var got map[string]string
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		_ = json.NewDecoder(r.Body).Decode(&got)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	h := SMSHook{URL: srv.URL, Token: "provider-token"}
	if err := h.Send(context.Background(), consent.Message{To: "+46701234567", Body: "Your code is 654321."}); err != nil {
		t.Fatal(err)
	}
	if got["to"] != "+46701234567" || got["body"] != "Your code is 654321." || auth != "Bearer provider-token" {
		t.Fatalf("provider got %v with %q", got, auth)
	}
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) }))
	defer failing.Close()
	err := SMSHook{URL: failing.URL}.Send(context.Background(), consent.Message{To: "+46701234567", Body: "Your code is 654321."})
	if err == nil || strings.Contains(err.Error(), "654321") {
		t.Fatalf("failure: %v", err)
	}
}

func TestRouterPicksByAddress(t *testing.T) {
	var email, sms []string
	r := Router{
		Email: notifierFunc(func(m consent.Message) { email = append(email, m.To) }),
		SMS:   notifierFunc(func(m consent.Message) { sms = append(sms, m.To) }),
	}
	_ = r.Send(context.Background(), consent.Message{To: "ada@example.com"})
	_ = r.Send(context.Background(), consent.Message{To: "+46701234567"})
	if len(email) != 1 || len(sms) != 1 {
		t.Fatalf("email %v sms %v", email, sms)
	}
	if err := (Router{}).Send(context.Background(), consent.Message{To: "ada@example.com"}); err == nil {
		t.Fatal("sent with no delivery configured")
	}
}

type notifierFunc func(consent.Message)

func (f notifierFunc) Send(_ context.Context, m consent.Message) error { f(m); return nil }
