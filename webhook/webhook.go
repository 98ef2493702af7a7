// Package webhook delivers events to partners' HTTP endpoints, signed as
// the Standard Webhooks specification says (webhook-id, webhook-timestamp,
// webhook-signature: v1 HMAC-SHA256 over "id.timestamp.body" with a
// whsec_ secret). Delivery is at least once: deliveries are rows in the
// database, fanned out from the event feed by one dispatcher at a time,
// claimed with a lease, retried with exponential backoff and jitter for
// about a day, then kept as dead letters that a partner can retry. A slow
// or failing endpoint only delays its own deliveries. Order is not
// guaranteed across deliveries; each carries the event's sequence number.
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Endpoint is where a partner receives events.
type Endpoint struct {
	ID         uuid.UUID
	PartnerID  uuid.UUID
	URL        string
	EventTypes []string // empty: every type
	Disabled   bool
	// PreviousUntil is when the secret replaced by the last rotation stops
	// signing (zero when there is none).
	PreviousUntil time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Wants reports whether the endpoint subscribes to an event type.
func (e Endpoint) Wants(typ string) bool {
	return !e.Disabled && (len(e.EventTypes) == 0 || slices.Contains(e.EventTypes, typ))
}

// Delivery statuses (stored values).
const (
	StatusPending   = "pending"
	StatusSucceeded = "succeeded"
	StatusDead      = "dead"
)

// Delivery is one event on its way to one endpoint.
type Delivery struct {
	ID            uuid.UUID
	PartnerID     uuid.UUID
	EndpointID    uuid.UUID
	EventID       uuid.UUID
	Status        string
	Attempts      int
	NextAttemptAt time.Time
	LastStatus    int    // HTTP status of the last attempt, 0 for none or no response
	LastError     string // why the last attempt failed, without secrets
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Schedule is how long to wait after each failed attempt before the next
// (Standard Webhooks' suggested schedule: about 28 hours in all); after the
// last, the delivery is dead.
var Schedule = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}

// Errors.
var (
	// ErrNotFound means the partner has no such endpoint or delivery.
	ErrNotFound = errors.New("webhook: not found")
)

// FieldError names the input field that is not acceptable.
type FieldError struct {
	Field, Reason string
}

func (e *FieldError) Error() string { return "webhook: " + e.Field + " " + e.Reason }

// InvalidField names the request field and says, safely for the partner,
// what is wrong with it.
func (e *FieldError) InvalidField() (field, reason string) { return e.Field, e.Reason }

// ValidateURL accepts https URLs (and, when allowHTTP, http ones) without
// credentials or fragments.
func ValidateURL(raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || len(raw) > 2000 {
		return &FieldError{Field: "url", Reason: "must be an absolute URL without credentials or fragment"}
	}
	if u.Scheme != "https" && (u.Scheme != "http" || !allowHTTP) {
		return &FieldError{Field: "url", Reason: "must use https"}
	}
	return nil
}

// NewSecret returns a new signing secret: "whsec_" and 32 random bytes in
// base64.
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b), nil
}

// Sign returns the webhook-signature header value for a message signed
// with each of the secrets ("v1,<base64>" entries separated by spaces).
func Sign(msgID string, at time.Time, body []byte, secrets ...string) (string, error) {
	var parts []string
	for _, s := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
		if err != nil {
			return "", fmt.Errorf("webhook: malformed secret")
		}
		m := hmac.New(sha256.New, key)
		m.Write([]byte(msgID + "." + strconv.FormatInt(at.Unix(), 10) + "."))
		m.Write(body)
		parts = append(parts, "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
	}
	return strings.Join(parts, " "), nil
}

// backoff is the wait after the attempt-th failure, with ±20% jitter;
// ok=false when the schedule is exhausted.
func backoff(attempt int, jitter func() float64) (time.Duration, bool) {
	if attempt < 1 || attempt > len(Schedule) {
		return 0, false
	}
	d := Schedule[attempt-1]
	return time.Duration(float64(d) * (0.8 + 0.4*jitter())), true
}
