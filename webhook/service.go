package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/events"
	"github.com/vaultpage/vaultpage/vault"
)

// Store persists endpoints and deliveries.
type Store interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	CreateEndpoint(ctx context.Context, e Endpoint) error
	Endpoint(ctx context.Context, partnerID, id uuid.UUID) (Endpoint, error)
	Endpoints(ctx context.Context, partnerID uuid.UUID) ([]Endpoint, error)
	UpdateEndpoint(ctx context.Context, e Endpoint) error
	// DisableEndpoint disables the endpoint only if its URL is still url
	// and nothing changed it after since: one statement, so that a
	// partner's change made meanwhile (a new URL, a re-enabling) stands.
	DisableEndpoint(ctx context.Context, partnerID, id uuid.UUID, url string, since, at time.Time) error
	DeleteEndpoint(ctx context.Context, partnerID, id uuid.UUID) error
	// EnabledEndpoints returns every partner's enabled endpoints.
	EnabledEndpoints(ctx context.Context) ([]Endpoint, error)
	// LockDispatch makes the transaction the only fan-out or claim running
	// (an advisory lock on PostgreSQL; SQLite has one writer).
	LockDispatch(ctx context.Context) error
	FanoutCursor(ctx context.Context) (int64, error)
	SetFanoutCursor(ctx context.Context, seq int64) error
	// EventsAfter returns every partner's sequenced events after seq.
	EventsAfter(ctx context.Context, seq int64, limit int) ([]events.Event, error)
	// AddDelivery inserts a delivery unless the endpoint has one for the event.
	AddDelivery(ctx context.Context, d Delivery) error
	// DueDeliveries returns pending deliveries due at now and not leased,
	// of enabled endpoints, at most perEndpoint of each endpoint (its
	// oldest), so that one endpoint's backlog hides no other's.
	DueDeliveries(ctx context.Context, now time.Time, perEndpoint int) ([]Delivery, error)
	// Leased counts each endpoint's deliveries leased past now.
	Leased(ctx context.Context, now time.Time) (map[uuid.UUID]int, error)
	Lease(ctx context.Context, id uuid.UUID, until time.Time) error
	FinishAttempt(ctx context.Context, d Delivery) error
	Delivery(ctx context.Context, partnerID, id uuid.UUID) (Delivery, error)
	Deliveries(ctx context.Context, partnerID, endpointID uuid.UUID, status string, limit int) ([]Delivery, error)
	Event(ctx context.Context, partnerID, id uuid.UUID) (events.Event, error)
	Sequence(ctx context.Context) (int, error)
	Emit(ctx context.Context, e events.Event) error
}

// Secrets keeps signing secrets sealed in the vault.
type Secrets interface {
	PutSecret(ctx context.Context, o vault.Owner, field string, p vault.Purpose, s vault.Secret) error
	GetSecret(ctx context.Context, o vault.Owner, field string) (vault.Secret, error)
}

// Config tunes delivery.
type Config struct {
	// AllowPrivate lets deliveries reach loopback and private addresses
	// (development only; production refuses them: SSRF).
	AllowPrivate bool
	// AllowHTTP accepts http:// endpoint URLs (development only).
	AllowHTTP bool
	// Timeout bounds one delivery attempt (10 s when zero).
	Timeout time.Duration
	// PerEndpoint bounds the deliveries in flight to one endpoint (4 when
	// zero), so that a slow endpoint only slows itself.
	PerEndpoint int
}

// Service manages endpoints and delivers.
type Service struct {
	store   Store
	secrets Secrets
	cfg     Config
	client  *http.Client
	log     *slog.Logger
	now     func() time.Time
	jitter  func() float64
	wg      sync.WaitGroup
	// finished wakes Run when an attempt ends, so that an endpoint that
	// answers quickly gets its next deliveries at once, not at the next
	// tick.
	finished chan struct{}
}

// NewService builds the service; now defaults to time.Now.
func NewService(s Store, sec Secrets, cfg Config, log *slog.Logger, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	clock := now
	now = func() time.Time { return clock().UTC().Truncate(time.Microsecond) } // as PostgreSQL keeps them
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.PerEndpoint == 0 {
		cfg.PerEndpoint = 4
	}
	client := PartnerClient(cfg.AllowPrivate, cfg.Timeout, cfg.PerEndpoint)
	client.Timeout = cfg.Timeout
	return &Service{store: s, secrets: sec, cfg: cfg, client: client, log: log, now: now, jitter: rand.Float64, finished: make(chan struct{}, 1)}
}

// PartnerClient is the client for every request vaultpage sends to a URL
// a partner gave (webhooks, real-time decisions): the SSRF guard on every
// connection unless allowPrivate (development), no proxy, no redirect
// followed, timeout bounding the connection and the response's headers,
// idle connections kept per host.
func PartnerClient(allowPrivate bool, timeout time.Duration, idlePerHost int) *http.Client {
	dialer := &net.Dialer{Timeout: timeout}
	if !allowPrivate {
		dialer.Control = RefusePrivate
	}
	return &http.Client{
		Transport: &http.Transport{DialContext: dialer.DialContext, Proxy: nil, MaxIdleConnsPerHost: idlePerHost,
			IdleConnTimeout: 90 * time.Second, ResponseHeaderTimeout: timeout},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// errAddressRefused: the endpoint's host resolved to an address no webhook
// may reach. It names no address: the partner learns only that the address
// is not allowed, never what its host name resolves to inside our network.
var errAddressRefused = errors.New("the endpoint's host name does not resolve to an address webhooks may reach")

// RefusePrivate is a net.Dialer's Control that runs at connect time, on the
// address DNS resolved to, so that a name that resolves (or re-resolves) to
// an internal address is refused too: the SSRF guard of every request
// vaultpage sends to a partner's URL. Its error names no address.
func RefusePrivate(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return errAddressRefused
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return errAddressRefused
	}
	ip = ip.Unmap()
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() ||
		ip.IsMulticast() || ip.IsInterfaceLocalMulticast() || slices.ContainsFunc(reserved, func(p netip.Prefix) bool { return p.Contains(ip) }) {
		return errAddressRefused
	}
	return nil
}

// reserved are further ranges no webhook may reach: shared address space
// (carrier-grade NAT), "this network", IETF protocol assignments,
// benchmarking and the IPv4 broadcast address; and in IPv6 the ranges that
// carry an IPv4 address inside (IPv4-compatible ::a.b.c.d, NAT64 in its
// well-known and local-use prefixes, 6to4, Teredo), the discard prefix and
// documentation.
var reserved = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"), netip.MustParsePrefix("100.64.0.0/10"), netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("240.0.0.0/4"), netip.MustParsePrefix("255.255.255.255/32"),
	netip.MustParsePrefix("::/96"), netip.MustParsePrefix("64:ff9b::/96"), netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2002::/16"), netip.MustParsePrefix("2001::/32"), netip.MustParsePrefix("100::/64"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// describe says why a delivery got no response, in words that name no
// address: whatever the endpoint's host resolved to stays ours.
func describe(err error) string {
	var (
		dnsErr *net.DNSError
		netErr net.Error
		opErr  *net.OpError
	)
	switch {
	case errors.Is(err, errAddressRefused), errors.As(err, &dnsErr):
		// One answer for both: telling them apart would tell which of our
		// internal names exist.
		return "no response: " + errAddressRefused.Error()
	case errors.As(err, &netErr) && netErr.Timeout():
		return "no response: timed out"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "no response: the connection was refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "no response: the connection was closed"
	case strings.Contains(err.Error(), "tls:") || strings.Contains(err.Error(), "x509:"):
		return "no response: the TLS handshake failed"
	case errors.As(err, &opErr):
		return "no response: the connection failed"
	}
	return "no response"
}

func owner(e Endpoint) vault.Owner {
	return vault.Owner{PartnerID: e.PartnerID.String(), Table: "webhook_endpoints", RecordID: e.ID.String()}
}

// Secret fields in the vault.
const (
	fieldSecret   = "secret"
	fieldPrevious = "previous_secret"
	// RotationOverlap is how long a rotated-out secret keeps signing.
	RotationOverlap = 24 * time.Hour
)

func normaliseTypes(types []string) ([]string, error) {
	out := []string{}
	for i, t := range types {
		t = strings.TrimSpace(t)
		if t == "" || len(t) > 100 || strings.ContainsAny(t, ", ") {
			return nil, &FieldError{Field: "event_types[" + strconv.Itoa(i) + "]", Reason: "must be an event type such as authorization.approved"}
		}
		out = append(out, t)
	}
	return out, nil
}

// Create registers an endpoint and returns its secret, which is not shown
// again. Errors: *FieldError.
func (s *Service) Create(ctx context.Context, partnerID uuid.UUID, rawURL string, types []string) (Endpoint, string, error) {
	if err := ValidateURL(rawURL, s.cfg.AllowHTTP); err != nil {
		return Endpoint{}, "", err
	}
	types, err := normaliseTypes(types)
	if err != nil {
		return Endpoint{}, "", err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Endpoint{}, "", err
	}
	secret, err := NewSecret()
	if err != nil {
		return Endpoint{}, "", err
	}
	now := s.now().UTC()
	e := Endpoint{ID: id, PartnerID: partnerID, URL: rawURL, EventTypes: types, CreatedAt: now, UpdatedAt: now}
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.CreateEndpoint(ctx, e); err != nil {
			return err
		}
		return s.secrets.PutSecret(ctx, owner(e), fieldSecret, vault.PurposeWebhookSecret, vault.NewSecret([]byte(secret)))
	})
	return e, secret, err
}

// Endpoint returns one endpoint. Errors: ErrNotFound.
func (s *Service) Endpoint(ctx context.Context, partnerID, id uuid.UUID) (Endpoint, error) {
	return s.store.Endpoint(ctx, partnerID, id)
}

// Endpoints lists a partner's endpoints.
func (s *Service) Endpoints(ctx context.Context, partnerID uuid.UUID) ([]Endpoint, error) {
	return s.store.Endpoints(ctx, partnerID)
}

// Patch changes an endpoint; nil fields stay.
type Patch struct {
	URL          *string
	EventTypes   *[]string
	Disabled     *bool
	RotateSecret bool
}

// Update applies a patch. With RotateSecret it returns the new secret; the
// old one keeps signing alongside for RotationOverlap. Errors: *FieldError,
// ErrNotFound.
func (s *Service) Update(ctx context.Context, partnerID, id uuid.UUID, p Patch) (Endpoint, string, error) {
	var (
		out    Endpoint
		secret string
	)
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		e, err := s.store.Endpoint(ctx, partnerID, id)
		if err != nil {
			return err
		}
		if p.URL != nil {
			if err := ValidateURL(*p.URL, s.cfg.AllowHTTP); err != nil {
				return err
			}
			e.URL = *p.URL
		}
		if p.EventTypes != nil {
			if e.EventTypes, err = normaliseTypes(*p.EventTypes); err != nil {
				return err
			}
		}
		if p.Disabled != nil {
			e.Disabled = *p.Disabled
		}
		now := s.now().UTC()
		if p.RotateSecret {
			old, err := s.secrets.GetSecret(ctx, owner(e), fieldSecret)
			if err != nil {
				return err
			}
			if err := s.secrets.PutSecret(ctx, owner(e), fieldPrevious, vault.PurposeWebhookSecret, old); err != nil {
				return err
			}
			if secret, err = NewSecret(); err != nil {
				return err
			}
			if err := s.secrets.PutSecret(ctx, owner(e), fieldSecret, vault.PurposeWebhookSecret, vault.NewSecret([]byte(secret))); err != nil {
				return err
			}
			e.PreviousUntil = now.Add(RotationOverlap)
		}
		e.UpdatedAt = now
		out = e
		return s.store.UpdateEndpoint(ctx, e)
	})
	return out, secret, err
}

// Delete removes an endpoint and its pending deliveries. Errors: ErrNotFound.
func (s *Service) Delete(ctx context.Context, partnerID, id uuid.UUID) error {
	return s.store.DeleteEndpoint(ctx, partnerID, id)
}

// Test queues a webhook.test event for the endpoint alone. Errors:
// ErrNotFound.
func (s *Service) Test(ctx context.Context, partnerID, id uuid.UUID) (Delivery, error) {
	var d Delivery
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		e, err := s.store.Endpoint(ctx, partnerID, id)
		if err != nil {
			return err
		}
		eid, err := uuid.NewV7()
		if err != nil {
			return err
		}
		now := s.now().UTC()
		if err := s.store.Emit(ctx, events.Event{ID: eid, PartnerID: partnerID, Type: TestEventType, ResourceID: e.ID,
			Data: map[string]string{"endpoint_id": e.ID.String(), "message": "a test event from vaultpage"}, CreatedAt: now}); err != nil {
			return err
		}
		did, err := uuid.NewV7()
		if err != nil {
			return err
		}
		d = Delivery{ID: did, PartnerID: partnerID, EndpointID: e.ID, EventID: eid, Status: StatusPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}
		return s.store.AddDelivery(ctx, d)
	})
	return d, err
}

// TestEventType is the type of the events Test sends; the fan-out never
// sends them to other endpoints.
const TestEventType = "webhook.test"

// Deliveries lists an endpoint's deliveries, newest first, optionally by
// status (dead for the dead letters). Errors: ErrNotFound.
func (s *Service) Deliveries(ctx context.Context, partnerID, endpointID uuid.UUID, status string) ([]Delivery, error) {
	if _, err := s.store.Endpoint(ctx, partnerID, endpointID); err != nil {
		return nil, err
	}
	if status != "" && status != StatusPending && status != StatusSucceeded && status != StatusDead {
		return nil, &FieldError{Field: "status", Reason: "must be pending, succeeded or dead"}
	}
	return s.store.Deliveries(ctx, partnerID, endpointID, status, 100)
}

// Retry sends a dead delivery again, now, with a fresh schedule. Errors:
// ErrNotFound, *FieldError when it is not dead.
func (s *Service) Retry(ctx context.Context, partnerID, id uuid.UUID) (Delivery, error) {
	var out Delivery
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		d, err := s.store.Delivery(ctx, partnerID, id)
		if err != nil {
			return err
		}
		if d.Status != StatusDead {
			return &FieldError{Field: "status", Reason: "only a dead delivery can be retried; this one is " + d.Status}
		}
		now := s.now().UTC()
		d.Status, d.Attempts, d.NextAttemptAt, d.UpdatedAt = StatusPending, 0, now, now
		out = d
		return s.store.FinishAttempt(ctx, d)
	})
	return out, err
}

// Dispatch runs one round: fan the newly sequenced events out into
// deliveries, then start the due deliveries (each in its own goroutine,
// bounded per endpoint). It returns how many attempts it started.
func (s *Service) Dispatch(ctx context.Context) (int, error) {
	eps, err := s.store.EnabledEndpoints(ctx)
	if err != nil {
		return 0, err
	}
	if len(eps) > 0 { // with no endpoint there is nothing to fan out (endpoints get events from their creation on)
		if _, err := s.store.Sequence(ctx); err != nil {
			return 0, err
		}
		if err := s.fanOut(ctx, eps); err != nil {
			return 0, err
		}
	}
	claimed, err := s.claim(ctx)
	if err != nil {
		return 0, err
	}
	for _, d := range claimed {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.attempt(context.WithoutCancel(ctx), d)
			select {
			case s.finished <- struct{}{}:
			default: // a wake-up is pending already
			}
		}()
	}
	return len(claimed), nil
}

// Wait waits for the attempts Dispatch started.
func (s *Service) Wait() { s.wg.Wait() }

// Run dispatches at once, then every interval and whenever an attempt
// ends, until ctx ends; then it waits for the attempts in flight. A backlog
// thus goes out as fast as the endpoint answers, PerEndpoint at a time, and
// an event that arrives while its endpoint is idle waits at most interval;
// a slow endpoint holds its own PerEndpoint slots and no other endpoint's.
func (s *Service) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for first := true; ; first = false {
		if first {
			if _, err := s.Dispatch(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("webhook dispatch failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			s.Wait()
			return
		case <-t.C:
		case <-s.finished:
		}
		if _, err := s.Dispatch(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("webhook dispatch failed", "err", err)
		}
	}
}

func (s *Service) fanOut(ctx context.Context, eps []Endpoint) error {
	return s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.LockDispatch(ctx); err != nil {
			return err
		}
		cursor, err := s.store.FanoutCursor(ctx)
		if err != nil {
			return err
		}
		evs, err := s.store.EventsAfter(ctx, cursor, 500)
		if err != nil || len(evs) == 0 {
			return err
		}
		now := s.now().UTC()
		for _, ev := range evs {
			for _, ep := range eps {
				if ep.PartnerID != ev.PartnerID || !ep.Wants(ev.Type) || ev.Type == TestEventType || ev.CreatedAt.Before(ep.CreatedAt) {
					continue
				}
				id, err := uuid.NewV7()
				if err != nil {
					return err
				}
				if err := s.store.AddDelivery(ctx, Delivery{ID: id, PartnerID: ev.PartnerID, EndpointID: ep.ID, EventID: ev.ID,
					Status: StatusPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}); err != nil {
					return err
				}
			}
		}
		return s.store.SetFanoutCursor(ctx, evs[len(evs)-1].Seq)
	})
}

// lease is how long a claimed attempt has before another process may take
// the delivery over (the attempt's timeout and a margin).
func (s *Service) lease() time.Duration { return s.cfg.Timeout + 20*time.Second }

func (s *Service) claim(ctx context.Context) ([]Delivery, error) {
	var out []Delivery
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.LockDispatch(ctx); err != nil {
			return err
		}
		now := s.now().UTC()
		busy, err := s.store.Leased(ctx, now)
		if err != nil {
			return err
		}
		due, err := s.store.DueDeliveries(ctx, now, s.cfg.PerEndpoint)
		if err != nil {
			return err
		}
		for _, d := range due {
			if busy[d.EndpointID] >= s.cfg.PerEndpoint || len(out) >= 64 {
				continue
			}
			if err := s.store.Lease(ctx, d.ID, now.Add(s.lease())); err != nil {
				return err
			}
			busy[d.EndpointID]++
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// payload is the Standard Webhooks body: type, timestamp, data.
type payload struct {
	Type      string         `json:"type"`
	Timestamp string         `json:"timestamp"`
	Data      map[string]any `json:"data"`
}

// attempt sends one delivery and records the outcome.
func (s *Service) attempt(ctx context.Context, d Delivery) {
	began := s.now()
	status, url, err := s.send(ctx, d)
	now := s.now().UTC()
	d.Attempts++
	d.LastStatus, d.UpdatedAt = status, now
	switch {
	case err == nil:
		d.Status, d.LastError = StatusSucceeded, ""
	case status == http.StatusGone:
		// The Standard Webhooks way to say "stop": the endpoint is
		// disabled, and this delivery ends.
		d.Status, d.LastError = StatusDead, "endpoint answered 410 Gone; the endpoint is disabled"
		if derr := s.store.DisableEndpoint(ctx, d.PartnerID, d.EndpointID, url, began, s.now()); derr != nil {
			s.log.Warn("disabling a webhook endpoint that answered 410 failed", "endpoint_id", d.EndpointID, "err", derr)
		}
	default:
		d.LastError = err.Error()
		if wait, ok := backoff(d.Attempts, s.jitter); ok {
			d.NextAttemptAt = now.Add(wait)
		} else {
			d.Status = StatusDead
		}
	}
	if err := s.store.FinishAttempt(ctx, d); err != nil {
		s.log.Warn("recording a webhook attempt failed", "delivery_id", d.ID, "err", err)
	}
}

// send makes one attempt and returns the status, and the URL it went to.
func (s *Service) send(ctx context.Context, d Delivery) (int, string, error) {
	ep, err := s.store.Endpoint(ctx, d.PartnerID, d.EndpointID)
	if err != nil {
		return 0, "", err
	}
	ev, err := s.store.Event(ctx, d.PartnerID, d.EventID)
	if err != nil {
		return 0, ep.URL, err
	}
	data := map[string]any{"id": ev.ID.String(), "sequence": ev.Seq, "resource_id": ev.ResourceID.String(), "data": ev.Data,
		"created_at": ev.CreatedAt.UTC().Format(time.RFC3339Nano)}
	body, err := json.Marshal(payload{Type: ev.Type, Timestamp: ev.CreatedAt.UTC().Format(time.RFC3339Nano), Data: data})
	if err != nil {
		return 0, ep.URL, err
	}
	secrets, err := s.signingSecrets(ctx, ep)
	if err != nil {
		return 0, ep.URL, err
	}
	at := s.now()
	sig, err := Sign(ev.ID.String(), at, body, secrets...)
	if err != nil {
		return 0, ep.URL, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return 0, ep.URL, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vaultpage-webhooks/1")
	req.Header.Set("webhook-id", ev.ID.String())
	req.Header.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	res, err := s.client.Do(req)
	if err != nil {
		if errors.Is(err, errAddressRefused) {
			s.log.Warn("a webhook endpoint resolved to a refused address", "endpoint_id", ep.ID, "err", err)
		}
		return 0, ep.URL, errors.New(describe(err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	_ = res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return res.StatusCode, ep.URL, fmt.Errorf("endpoint answered %d", res.StatusCode)
	}
	return res.StatusCode, ep.URL, nil
}

// signingSecrets are the endpoint's current secret and, during a
// rotation's overlap, the previous one.
func (s *Service) signingSecrets(ctx context.Context, ep Endpoint) ([]string, error) {
	cur, err := s.secrets.GetSecret(ctx, owner(ep), fieldSecret)
	if err != nil {
		return nil, err
	}
	out := []string{string(cur.Reveal())}
	if s.now().Before(ep.PreviousUntil) {
		prev, err := s.secrets.GetSecret(ctx, owner(ep), fieldPrevious)
		if err != nil {
			return nil, err
		}
		out = append(out, string(prev.Reveal()))
	}
	return out, nil
}
