// Package events is vaultpage's durable outbox: every state change partners
// may want to hear about is recorded as an event in the same transaction as
// the change, for the event feed and webhooks to deliver.
package events

import (
	"context"
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
}

// Outbox records events; called with a context that carries a store
// transaction, the event commits with the change.
type Outbox interface {
	Emit(ctx context.Context, e Event) error
}
