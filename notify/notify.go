// Package notify delivers one-time codes to cardholders: by email over SMTP
// and by SMS through an HTTP hook to the programme's SMS provider. A message
// goes by email when the address has an @, else by SMS.
package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/smtp"
	"strings"
	"time"

	"github.com/vaultpage/vaultpage/consent"
)

// SMTP sends email. With a username, it authenticates with PLAIN, which
// net/smtp allows only over TLS (or to localhost).
type SMTP struct {
	Addr     string // host:port
	From     string
	Username string
	Password string
	// TLS makes the whole connection TLS (port 465); otherwise STARTTLS is
	// used whenever the server offers it.
	TLS bool
	// RequireTLS refuses to send over a connection that is not encrypted: a
	// server that offers no STARTTLS gets no message (production sets it).
	RequireTLS bool
	Timeout    time.Duration
}

// Send implements consent.Notifier.
func (s SMTP) Send(ctx context.Context, m consent.Message) error {
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return fmt.Errorf("notify: smtp address: %w", err)
	}
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	d := &net.Dialer{Timeout: timeout}
	var conn net.Conn
	if s.TLS {
		conn, err = (&tls.Dialer{NetDialer: d, Config: &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}}).DialContext(ctx, "tcp", s.Addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", s.Addr)
	}
	if err != nil {
		return fmt.Errorf("notify: smtp dial: %w", err)
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("notify: smtp: %w", err)
	}
	defer func() { _ = c.Close() }()
	if !s.TLS {
		ok, _ := c.Extension("STARTTLS")
		if !ok && s.RequireTLS {
			return errors.New("notify: the smtp server offers no STARTTLS and TLS is required")
		}
		if ok {
			if err := c.StartTLS(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
				return fmt.Errorf("notify: smtp starttls: %w", err)
			}
		}
	}
	if s.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, host)); err != nil {
			return fmt.Errorf("notify: smtp auth: %w", err)
		}
	}
	if strings.ContainsAny(m.To, "\r\n") || strings.ContainsAny(s.From, "\r\n") {
		return errors.New("notify: address holds a line break")
	}
	if err := c.Mail(s.From); err != nil {
		return fmt.Errorf("notify: smtp mail: %w", err)
	}
	if err := c.Rcpt(m.To); err != nil {
		return fmt.Errorf("notify: smtp rcpt: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("notify: smtp data: %w", err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n",
		s.From, m.To, mime.QEncoding.Encode("utf-8", m.Subject), time.Now().UTC().Format(time.RFC1123Z), m.Body)
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("notify: smtp write: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("notify: smtp send: %w", err)
	}
	return c.Quit()
}

// SMSHook posts {"to","body"} as JSON to the SMS provider's URL with a
// bearer token; any 2xx answer counts as accepted.
type SMSHook struct {
	URL    string
	Token  string
	Client *http.Client
}

// Send implements consent.Notifier.
func (h SMSHook) Send(ctx context.Context, m consent.Message) error {
	body, err := json.Marshal(map[string]string{"to": m.To, "body": m.Body})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("notify: sms hook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if h.Token != "" {
		req.Header.Set("Authorization", "Bearer "+h.Token)
	}
	c := h.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	res, err := c.Do(req)
	if err != nil {
		// The error names the hook, never the message.
		return fmt.Errorf("notify: sms hook: %w", errors.Unwrap(err))
	}
	_ = res.Body.Close()
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("notify: sms hook answered %d", res.StatusCode)
	}
	return nil
}

// Router sends email addresses to Email and phone numbers to SMS.
type Router struct {
	Email consent.Notifier
	SMS   consent.Notifier
}

// Send implements consent.Notifier.
func (r Router) Send(ctx context.Context, m consent.Message) error {
	n := r.SMS
	if strings.Contains(m.To, "@") {
		n = r.Email
	}
	if n == nil {
		return errors.New("notify: no delivery configured for this kind of address")
	}
	return n.Send(ctx, m)
}
