// Package decision asks partners' real-time authorisation decision
// endpoints (just-in-time funding): a partner registers one URL, with a
// timeout and a fallback; vaultpage POSTs each authorisation its own checks
// approve there, signed per Standard Webhooks, and takes the answer, or the
// fallback when none comes in time. It implements spend.RealTime.
package decision

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/spend"
	"github.com/vaultpage/vaultpage/vault"
	"github.com/vaultpage/vaultpage/webhook"
)

// Fallback is what an unanswered question decides. Stored values.
type Fallback string

// Fallbacks.
const (
	FallbackApprove Fallback = "approve"
	FallbackDecline Fallback = "decline"
)

// Limits of an endpoint.
const (
	MinTimeout = 100 * time.Millisecond
	MaxTimeout = 3000 * time.Millisecond
	// MaxInFlight bounds the questions to one partner in flight in one
	// process; past it an authorisation gets the fallback at once (cause
	// busy), so a slow endpoint holds no more goroutines and connections
	// than that.
	MaxInFlight = 256
	// maxAnswer bounds the body of an answer read.
	maxAnswer = 16 << 10
	// cacheFor is how long a process keeps what it read of a partner's
	// registration: a change takes effect within it everywhere.
	cacheFor = time.Second
)

// Endpoint is a partner's decision endpoint.
type Endpoint struct {
	PartnerID uuid.UUID
	URL       string
	Timeout   time.Duration
	Fallback  Fallback
	CreatedAt time.Time
	UpdatedAt time.Time
	// PreviousUntil is until when the secret rotated out signs too.
	PreviousUntil time.Time
}

// Errors.
var (
	// ErrNotFound: the partner has no decision endpoint.
	ErrNotFound = errors.New("decision: no decision endpoint")
)

// FieldError names the input field that is not acceptable.
type FieldError struct{ Field, Reason string }

func (e *FieldError) Error() string { return "decision: " + e.Field + " " + e.Reason }

// InvalidField names the request field and says, safely for the partner,
// what is wrong with it.
func (e *FieldError) InvalidField() (field, reason string) { return e.Field, e.Reason }

// Store keeps the endpoints, one a partner.
type Store interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	// PutDecisionEndpoint creates or replaces the partner's endpoint.
	PutDecisionEndpoint(ctx context.Context, e Endpoint) error
	// DecisionEndpoint reads it; ErrNotFound if there is none.
	DecisionEndpoint(ctx context.Context, partnerID uuid.UUID) (Endpoint, error)
	// DeleteDecisionEndpoint removes it; ErrNotFound if there is none.
	DeleteDecisionEndpoint(ctx context.Context, partnerID uuid.UUID) error
}

// Secrets keeps the signing secrets sealed in the vault.
type Secrets interface {
	PutSecret(ctx context.Context, o vault.Owner, field string, p vault.Purpose, s vault.Secret) error
	GetSecret(ctx context.Context, o vault.Owner, field string) (vault.Secret, error)
}

// Config configures the service.
type Config struct {
	// AllowPrivate lets questions reach loopback and private addresses
	// (development only; production refuses them: SSRF).
	AllowPrivate bool
	// AllowHTTP accepts http:// URLs (development only).
	AllowHTTP bool
}

// Asked is one question's outcome, for metrics.
type Asked struct {
	By      spend.DecidedBy
	Cause   string
	Latency time.Duration
}

// Service registers endpoints and asks them.
type Service struct {
	store    Store
	secrets  Secrets
	cfg      Config
	client   *http.Client
	log      *slog.Logger
	now      func() time.Time
	observe  func(Asked)
	mu       sync.Mutex
	cache    map[uuid.UUID]cached
	inFlight map[uuid.UUID]int
}

// cached is what the process last read of a partner's registration.
type cached struct {
	at      time.Time
	ep      *Endpoint
	secrets []string // the current one, and during a rotation the previous one
}

// NewService builds the service; now defaults to time.Now.
func NewService(s Store, sec Secrets, cfg Config, log *slog.Logger, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	clock := now
	now = func() time.Time { return clock().UTC().Truncate(time.Microsecond) }
	// Each question bounds itself with its endpoint's timeout.
	client := webhook.PartnerClient(cfg.AllowPrivate, MaxTimeout, 64)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: s, secrets: sec, cfg: cfg, client: client, log: log, now: now, observe: func(Asked) {},
		cache: map[uuid.UUID]cached{}, inFlight: map[uuid.UUID]int{}}
}

// Observe calls fn with each question's outcome (for /metrics).
func (s *Service) Observe(fn func(Asked)) { s.observe = fn }

func owner(partnerID uuid.UUID) vault.Owner {
	return vault.Owner{PartnerID: partnerID.String(), Table: "decision_endpoints", RecordID: partnerID.String()}
}

const (
	fieldSecret   = "secret"
	fieldPrevious = "previous_secret"
)

// Input is a registration as the partner gives it.
type Input struct {
	URL       string
	TimeoutMS int // 0 for the default, 2,000
	Fallback  Fallback
	// RotateSecret makes a new signing secret; the one it replaces signs
	// beside it for webhook.RotationOverlap.
	RotateSecret bool
}

// Put registers the partner's endpoint, or replaces it. A new endpoint gets
// a new signing secret, returned once; a replaced one keeps its secret
// (""), unless in.RotateSecret, which returns a new one and signs with the
// old one too for webhook.RotationOverlap.
// Errors: *FieldError.
func (s *Service) Put(ctx context.Context, partnerID uuid.UUID, in Input) (Endpoint, string, error) {
	if err := webhook.ValidateURL(in.URL, s.cfg.AllowHTTP); err != nil {
		return Endpoint{}, "", &FieldError{Field: "url", Reason: strings.TrimPrefix(err.Error(), "webhook: url ")}
	}
	if in.TimeoutMS == 0 {
		in.TimeoutMS = 2000
	}
	if in.TimeoutMS < int(MinTimeout/time.Millisecond) || in.TimeoutMS > int(MaxTimeout/time.Millisecond) {
		return Endpoint{}, "", &FieldError{Field: "timeout_ms", Reason: "must be 100 to 3000"}
	}
	if in.Fallback != FallbackApprove && in.Fallback != FallbackDecline {
		return Endpoint{}, "", &FieldError{Field: "fallback", Reason: "must be approve or decline"}
	}
	now := s.now()
	e := Endpoint{PartnerID: partnerID, URL: in.URL, Timeout: time.Duration(in.TimeoutMS) * time.Millisecond, Fallback: in.Fallback,
		CreatedAt: now, UpdatedAt: now}
	var secret string
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		old, err := s.store.DecisionEndpoint(ctx, partnerID)
		switch {
		case err == nil && in.RotateSecret:
			e.CreatedAt, e.PreviousUntil = old.CreatedAt, now.Add(webhook.RotationOverlap)
			cur, err := s.secrets.GetSecret(ctx, owner(partnerID), fieldSecret)
			if err != nil {
				return err
			}
			err = s.secrets.PutSecret(ctx, owner(partnerID), fieldPrevious, vault.PurposeDecisionSecret, cur)
			cur.Wipe()
			if err != nil {
				return err
			}
			if secret, err = webhook.NewSecret(); err != nil {
				return err
			}
			if err := s.secrets.PutSecret(ctx, owner(partnerID), fieldSecret, vault.PurposeDecisionSecret, vault.NewSecret([]byte(secret))); err != nil {
				return err
			}
		case err == nil:
			e.CreatedAt, e.PreviousUntil = old.CreatedAt, old.PreviousUntil
		case errors.Is(err, ErrNotFound):
			if secret, err = webhook.NewSecret(); err != nil {
				return err
			}
			if err := s.secrets.PutSecret(ctx, owner(partnerID), fieldSecret, vault.PurposeDecisionSecret, vault.NewSecret([]byte(secret))); err != nil {
				return err
			}
		default:
			return err
		}
		return s.store.PutDecisionEndpoint(ctx, e)
	})
	s.forget(partnerID)
	return e, secret, err
}

// Endpoint returns the partner's endpoint. Errors: ErrNotFound.
func (s *Service) Endpoint(ctx context.Context, partnerID uuid.UUID) (Endpoint, error) {
	return s.store.DecisionEndpoint(ctx, partnerID)
}

// Delete removes the partner's endpoint: its authorisations are decided
// by vaultpage alone again. Errors: ErrNotFound.
func (s *Service) Delete(ctx context.Context, partnerID uuid.UUID) error {
	err := s.store.DeleteDecisionEndpoint(ctx, partnerID)
	s.forget(partnerID)
	return err
}

func (s *Service) forget(partnerID uuid.UUID) {
	s.mu.Lock()
	delete(s.cache, partnerID)
	s.mu.Unlock()
}

// registration is the partner's endpoint and secret, read at most every
// cacheFor (nil when it has none).
func (s *Service) registration(ctx context.Context, partnerID uuid.UUID) (cached, error) {
	now := time.Now()
	s.mu.Lock()
	c, ok := s.cache[partnerID]
	s.mu.Unlock()
	if ok && now.Sub(c.at) < cacheFor {
		return c, nil
	}
	stale := c
	c = cached{at: now}
	ep, err := s.store.DecisionEndpoint(ctx, partnerID)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		// What was read before, if anything, with the error: the caller
		// knows the fallback.
		return cached{ep: stale.ep}, err
	default:
		fields := []string{fieldSecret}
		if time.Now().Before(ep.PreviousUntil) {
			fields = append(fields, fieldPrevious)
		}
		for _, f := range fields {
			sec, err := s.secrets.GetSecret(ctx, owner(partnerID), f)
			if err != nil {
				return cached{ep: &ep}, err
			}
			c.secrets = append(c.secrets, string(sec.Reveal()))
			sec.Wipe()
		}
		c.ep = &ep
	}
	s.mu.Lock()
	if len(s.cache) > 10_000 {
		clear(s.cache) // bounded: partners are few, but a map never grows without end
	}
	s.cache[partnerID] = c
	s.mu.Unlock()
	return c, nil
}

// Registered implements spend.RealTime.
func (s *Service) Registered(ctx context.Context, partnerID uuid.UUID) (bool, error) {
	c, err := s.registration(ctx, partnerID)
	if err != nil && c.ep != nil {
		return true, nil // known, its secret unreadable: Ask takes its fallback
	}
	return c.ep != nil, err
}

// question is the body of a question: the authorisation as the partner
// API shows it, and what the account has available.
type question struct {
	Type      string `json:"type"`
	Timestamp string `json:"timestamp"`
	Data      any    `json:"data"` // questionData or authenticationQuestion
}

type questionData struct {
	ID               string            `json:"id"`
	CardID           string            `json:"card_id"`
	AccountID        string            `json:"account_id"`
	Amount           string            `json:"amount"`
	Currency         string            `json:"currency"`
	Merchant         map[string]string `json:"merchant"`
	EntryMode        string            `json:"entry_mode,omitempty"`
	TokenID          string            `json:"token_id,omitempty"`
	OutOfScope       string            `json:"out_of_scope,omitempty"`
	InitialAuthID    string            `json:"initial_authorization_id,omitempty"`
	Verification     map[string]string `json:"verification,omitempty"`
	AccountAvailable string            `json:"account_available"`
	CreatedAt        string            `json:"created_at"`
}

// authenticationQuestion is the data of a question about an online
// payment's authentication: what the merchant asked for.
type authenticationQuestion struct {
	ID                  string            `json:"id"`
	CardID              string            `json:"card_id"`
	Amount              string            `json:"amount"`
	Currency            string            `json:"currency"`
	Merchant            map[string]string `json:"merchant"`
	ChallengePreference string            `json:"challenge_preference"`
	CreatedAt           string            `json:"created_at"`
}

// answer is the body of an answer.
type answer struct {
	Approved  *bool   `json:"approved"`
	Amount    *string `json:"amount"`
	Fund      *string `json:"fund"`
	Challenge *bool   `json:"challenge"`
	Reason    *string `json:"reason"`
}

// Ask implements spend.RealTime: one POST to the partner's endpoint,
// within its timeout.
func (s *Service) Ask(ctx context.Context, partnerID uuid.UUID, q spend.Question) spend.Answer {
	start := time.Now()
	c, err := s.registration(ctx, partnerID)
	switch {
	case err != nil && c.ep == nil:
		// Nothing known of the endpoint, not even its fallback: declined.
		s.log.Error("a decision endpoint could not be read", "partner_id", partnerID, "err", err)
		return s.done(spend.Answer{By: spend.DecidedByStandIn, Cause: spend.CauseConnection, Latency: time.Since(start)})
	case err == nil && c.ep == nil:
		// Deleted since it was found: vaultpage's approval stands.
		return s.done(spend.Answer{By: spend.DecidedByVaultpage, Approved: true, Latency: time.Since(start)})
	}
	ep := *c.ep
	standIn := func(cause string) spend.Answer {
		return s.done(spend.Answer{By: spend.DecidedByStandIn, Approved: ep.Fallback == FallbackApprove, Cause: cause, Latency: time.Since(start)})
	}
	if err != nil {
		// The endpoint or its secret could not be read: its fallback.
		s.log.Error("a decision endpoint could not be read", "partner_id", partnerID, "err", err)
		return standIn(spend.CauseConnection)
	}
	if !s.enter(partnerID) {
		return standIn(spend.CauseBusy)
	}
	defer s.leave(partnerID)
	id, asked := q.Authorization.ID, q.Authorization.Amount
	var question any = questionOf(q, s.now())
	if n := q.Authentication; n != nil {
		id, asked, question = n.ID, n.Amount, authenticationQuestionOf(*n, s.now())
	}
	body, err := json.Marshal(question)
	if err != nil {
		return standIn(spend.CauseMalformed)
	}
	at := s.now()
	sig, err := webhook.Sign(id.String(), at, body, c.secrets...)
	if err != nil {
		return standIn(spend.CauseConnection)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ep.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return standIn(spend.CauseConnection)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vaultpage-decisions/1")
	req.Header.Set("webhook-id", id.String())
	req.Header.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	res, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return standIn(spend.CauseTimeout)
		}
		return standIn(spend.CauseConnection)
	}
	defer func() { _ = res.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer+1))
	switch {
	case err != nil && ctx.Err() != nil:
		return standIn(spend.CauseTimeout)
	case err != nil:
		return standIn(spend.CauseConnection)
	case res.StatusCode != http.StatusOK:
		return standIn(spend.CauseStatus)
	case len(raw) > maxAnswer:
		return standIn(spend.CauseMalformed)
	}
	a, ok := parseAnswer(raw, asked, q.Authentication != nil)
	if !ok {
		return standIn(spend.CauseMalformed)
	}
	a.By, a.Latency = spend.DecidedByPartner, time.Since(start)
	return s.done(a)
}

func (s *Service) done(a spend.Answer) spend.Answer {
	s.observe(Asked{By: a.By, Cause: a.Cause, Latency: a.Latency})
	return a
}

func (s *Service) enter(partnerID uuid.UUID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inFlight[partnerID] >= MaxInFlight {
		return false
	}
	s.inFlight[partnerID]++
	return true
}

func (s *Service) leave(partnerID uuid.UUID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inFlight[partnerID]--; s.inFlight[partnerID] <= 0 {
		delete(s.inFlight, partnerID)
	}
}

func questionOf(q spend.Question, now time.Time) question {
	a := q.Authorization
	d := questionData{ID: a.ID.String(), CardID: a.CardID.String(), AccountID: a.AccountID.String(), Amount: a.Amount.String(), Currency: a.Currency,
		Merchant:  map[string]string{"name": a.Merchant.Name, "mcc": a.Merchant.MCC, "country": a.Merchant.Country, "id": a.Merchant.ID},
		EntryMode: string(a.EntryMode), AccountAvailable: q.Available.String(), CreatedAt: a.CreatedAt.UTC().Format(time.RFC3339Nano)}
	if a.TokenID != uuid.Nil {
		d.TokenID = a.TokenID.String()
	}
	d.OutOfScope = a.OutOfScope
	if a.InitialAuthorizationID != uuid.Nil {
		d.InitialAuthID = a.InitialAuthorizationID.String()
	}
	if v := a.Verification; v != nil {
		d.Verification = map[string]string{"cvv": string(v.CVV), "expiry": string(v.Expiry), "pin": string(v.PIN)}
	}
	return question{Type: "authorization.request", Timestamp: now.Format(time.RFC3339Nano), Data: d}
}

// parseAnswer reads an answer: approved is required; amount, when given
// with an approval, is a partial approval of at most what was asked; fund
// is a positive amount of at most what is approved; reason is at most 100
// printable characters. An answer about an authentication takes
// approved, challenge and reason only.
func parseAnswer(raw []byte, asked card.Amount, authentication bool) (spend.Answer, bool) {
	var in answer
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&in); err != nil || in.Approved == nil || dec.More() {
		return spend.Answer{}, false
	}
	if authentication && (in.Amount != nil || in.Fund != nil) {
		return spend.Answer{}, false
	}
	if !authentication && in.Challenge != nil {
		return spend.Answer{}, false
	}
	a := spend.Answer{Approved: *in.Approved, Challenge: in.Challenge != nil && *in.Challenge}
	if in.Reason != nil {
		if len(*in.Reason) > 100 || strings.ContainsFunc(*in.Reason, func(r rune) bool { return !unicode.IsPrint(r) }) {
			return spend.Answer{}, false
		}
		a.Reason = *in.Reason
	}
	if !a.Approved {
		return a, true
	}
	approved := asked
	if in.Amount != nil {
		amt, err := card.ParseAmount(*in.Amount)
		if err != nil || amt <= 0 || amt > asked {
			return spend.Answer{}, false
		}
		a.Amount, approved = &amt, amt
	}
	if in.Fund != nil {
		f, err := card.ParseAmount(*in.Fund)
		if err != nil || f <= 0 || f > approved {
			return spend.Answer{}, false
		}
		a.Fund = f
	}
	return a, true
}

func authenticationQuestionOf(n spend.Authentication, now time.Time) question {
	p := n.Payee
	d := authenticationQuestion{ID: n.ID.String(), CardID: n.CardID.String(), Amount: n.Amount.String(), Currency: n.Currency,
		Merchant: map[string]string{"name": p.Name, "url": p.URL, "mcc": p.MCC, "country": p.Country, "id": p.ID}, ChallengePreference: string(n.Preference),
		CreatedAt: n.CreatedAt.UTC().Format(time.RFC3339Nano)}
	return question{Type: "authentication.request", Timestamp: now.Format(time.RFC3339Nano), Data: d}
}
