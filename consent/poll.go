package consent

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Polling: partners poll GET /v3/consents/{id} while the cardholder is on
// the hosted pages, often several times a second across many consents.
// Poll answers from a small per-process cache: a final status never
// changes, so it is kept; a status that can still change is kept for at
// most PollTTL (and never past the consent's expiry, where the lazy expiry
// must run). A status change made by this process drops its entry at once;
// one made by another instance shows within PollTTL. Everything that acts
// on a consent (the hosted pages, transitions) reads through Get, never
// through this cache.

// PollTTL bounds how stale a polled status that can still change may be.
const PollTTL = 250 * time.Millisecond

// pollCacheMax bounds the cache; when full, it starts over.
const pollCacheMax = 50_000

type polled struct {
	c     Consent
	until time.Time // zero for a final status
}

type pollCache struct {
	mu sync.Mutex
	m  map[uuid.UUID]polled
}

func (p *pollCache) get(id uuid.UUID, now time.Time) (Consent, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.m[id]
	if !ok || (!e.until.IsZero() && !now.Before(e.until)) {
		return Consent{}, false
	}
	return e.c, true
}

func (p *pollCache) put(c Consent, now time.Time) {
	e := polled{c: c}
	if !c.Status.Final() {
		e.until = now.Add(PollTTL)
		if c.ExpiresAt.Before(e.until) {
			e.until = c.ExpiresAt
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil || len(p.m) >= pollCacheMax {
		p.m = make(map[uuid.UUID]polled)
	}
	p.m[c.ID] = e
}

func (p *pollCache) drop(id uuid.UUID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.m, id)
}

// Poll is Get for status polling: at most PollTTL stale for a status that
// can still change, exact for a final one. Errors: as Get.
func (s *Service) Poll(ctx context.Context, partnerID, id uuid.UUID) (Consent, error) {
	now := s.now()
	if c, ok := s.polls.get(id, now); ok && c.PartnerID == partnerID {
		return c, nil
	}
	c, err := s.Get(ctx, partnerID, id)
	if err != nil {
		return c, err
	}
	s.polls.put(c, now)
	return c, nil
}
