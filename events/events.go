// Package events is vaultpage's durable outbox: every state change partners
// may want to hear about is recorded as an event in the same transaction as
// the change, for the event feed and webhooks to deliver.
package events

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
)

// Event is one recorded state change. Data never holds secrets.
type Event struct {
	ID         uuid.UUID
	PartnerID  uuid.UUID
	Type       string // "consent.created", "consent.approved", ...
	ResourceID uuid.UUID
	Data       map[string]string
	CreatedAt  time.Time
	// Seq orders the feed: given after commit, by one sequencer at a time
	// (0 until then). Readers page by it.
	Seq int64
}

// ErrNotFound means the partner has no such event.
var ErrNotFound = errors.New("events: not found")

// Filter narrows a feed read.
type Filter struct {
	After int64  // events with a greater sequence number
	Type  string // "" for every type
	Limit int
}

// Feed reads a partner's events in sequence order.
type Feed interface {
	// Sequence numbers the committed events that have none yet, oldest
	// first, and returns how many it numbered.
	Sequence(ctx context.Context) (int, error)
	Events(ctx context.Context, partnerID uuid.UUID, f Filter) ([]Event, error)
	Event(ctx context.Context, partnerID, id uuid.UUID) (Event, error)
	// LatestSeq is the partner's newest sequence number (0 for none).
	LatestSeq(ctx context.Context, partnerID uuid.UUID) (int64, error)
}

// Outbox records events; called with a context that carries a store
// transaction, the event commits with the change.
type Outbox interface {
	Emit(ctx context.Context, e Event) error
}
