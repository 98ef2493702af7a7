package web

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/events"
)

// Live feed limits.
const (
	// StreamsPerPartner bounds a partner's open event streams; one more is
	// answered 429.
	StreamsPerPartner = 10
	// maxStreams bounds the open event streams of all partners together.
	maxStreams = 2_000
)

// streamHub shares the polling of open event streams: whatever the number of
// a partner's streams, one watcher asks the store for the partner's newest
// sequence number each streamPoll (and the sequencer runs once per poll for
// the whole process), and a stream reads events only when there are new
// ones. It also counts streams against the limits, and ends them all on
// shutdown.
type streamHub struct {
	feed events.Feed

	mu       sync.Mutex
	partners map[uuid.UUID]*partnerWatch
	open     int
	closing  chan struct{} // closed on shutdown
	closed   bool
	// lastSequenced is when the sequencer last ran, for running it once a
	// poll across watchers.
	lastSequenced time.Time
}

// partnerWatch is one partner's watcher and its streams.
type partnerWatch struct {
	streams int
	head    int64
	changed chan struct{} // closed when head moves, then replaced
	stop    context.CancelFunc
}

func newStreamHub(feed events.Feed) *streamHub {
	return &streamHub{feed: feed, partners: map[uuid.UUID]*partnerWatch{}, closing: make(chan struct{})}
}

// Outcomes of joining.
const (
	joined = iota
	joinFull
	joinShuttingDown
)

// join counts a new stream of the partner, starting its watcher if it is
// the first; it refuses past the limits (joinFull) or once shutting down.
func (h *streamHub) join(partnerID uuid.UUID) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	w := h.partners[partnerID]
	switch {
	case h.closed:
		return joinShuttingDown
	case h.open >= maxStreams || (w != nil && w.streams >= StreamsPerPartner):
		return joinFull
	}
	if w == nil {
		ctx, stop := context.WithCancel(context.Background())
		w = &partnerWatch{changed: make(chan struct{}), stop: stop}
		h.partners[partnerID] = w
		go h.watch(ctx, partnerID, w)
	}
	w.streams++
	h.open++
	return joined
}

// leave uncounts a stream; the partner's last one stops its watcher.
func (h *streamHub) leave(partnerID uuid.UUID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	w := h.partners[partnerID]
	if w == nil {
		return
	}
	w.streams--
	h.open--
	if w.streams == 0 {
		w.stop()
		delete(h.partners, partnerID)
	}
}

// changed returns a channel that is closed when the partner's newest
// sequence number passes after.
func (h *streamHub) changed(partnerID uuid.UUID, after int64) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	w := h.partners[partnerID]
	if w == nil || w.head > after {
		c := make(chan struct{})
		close(c)
		return c
	}
	return w.changed
}

// head is the partner's newest sequence number the watcher has seen.
func (h *streamHub) head(partnerID uuid.UUID) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if w := h.partners[partnerID]; w != nil {
		return w.head
	}
	return 0
}

// watch polls the partner's newest sequence number until stopped.
func (h *streamHub) watch(ctx context.Context, partnerID uuid.UUID, w *partnerWatch) {
	t := time.NewTicker(streamPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if h.sequenceDue() {
			_, _ = h.feed.Sequence(ctx) // a failed round is retried by the next
		}
		head, err := h.feed.LatestSeq(ctx, partnerID)
		if err != nil {
			continue
		}
		h.mu.Lock()
		if head > w.head {
			w.head = head
			close(w.changed)
			w.changed = make(chan struct{})
		}
		h.mu.Unlock()
	}
}

// sequenceDue reports whether the sequencer should run now: once a poll for
// the whole process, whichever watcher asks first.
func (h *streamHub) sequenceDue() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	if now.Sub(h.lastSequenced) < streamPoll/2 {
		return false
	}
	h.lastSequenced = now
	return true
}

// shutdown ends every open stream and refuses new ones.
func (h *streamHub) shutdown() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.closing)
	}
}
