package card

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// FulfilmentStatus is where a physical card is on its way to the
// cardholder:
//
//	pending ──bureau export──▶ sent_to_bureau ──▶ shipped ──▶ delivered
//	                                                 └──────▶ returned
//
// A returned card is reissued to a new address. Stored values; never
// renamed.
type FulfilmentStatus string

// Fulfilment statuses.
const (
	FulfilmentPending      FulfilmentStatus = "pending"
	FulfilmentSentToBureau FulfilmentStatus = "sent_to_bureau"
	FulfilmentShipped      FulfilmentStatus = "shipped"
	FulfilmentDelivered    FulfilmentStatus = "delivered"
	FulfilmentReturned     FulfilmentStatus = "returned"
)

// fulfilmentFrom is the status each one is reached from.
var fulfilmentFrom = map[FulfilmentStatus]FulfilmentStatus{
	FulfilmentSentToBureau: FulfilmentPending,
	FulfilmentShipped:      FulfilmentSentToBureau,
	FulfilmentDelivered:    FulfilmentShipped,
	FulfilmentReturned:     FulfilmentShipped,
}

// Valid reports whether s is a fulfilment status.
func (s FulfilmentStatus) Valid() bool {
	_, ok := fulfilmentFrom[s]
	return ok || s == FulfilmentPending
}

// Fulfilment is a physical card's way to the cardholder.
type Fulfilment struct {
	Status FulfilmentStatus
	// Carrier and TrackingNumber are set when the card ships.
	Carrier, TrackingNumber string
	// Batch names the card bureau export that sent the card ("" before).
	Batch     string
	UpdatedAt time.Time
}

// Limits of a shipment's carrier and tracking number.
const (
	maxCarrier  = 60
	maxTracking = 64
)

// advance moves f to the next status; shipping names the carrier and the
// tracking number. Errors: *FieldError, *FulfilmentError.
func (f *Fulfilment) advance(to FulfilmentStatus, carrier, tracking string, now time.Time) error {
	from, ok := fulfilmentFrom[to]
	if !ok {
		return invalid("status", "must be sent_to_bureau, shipped, delivered or returned")
	}
	if f.Status != from {
		return &FulfilmentError{From: f.Status, To: to}
	}
	carrier, tracking = strings.TrimSpace(carrier), strings.TrimSpace(tracking)
	if to == FulfilmentShipped {
		switch {
		case carrier == "" || utf8.RuneCountInString(carrier) > maxCarrier:
			return invalid("carrier", "is required when the card ships, at most 60 characters")
		case tracking == "" || len(tracking) > maxTracking || strings.ContainsAny(tracking, " \t"):
			return invalid("tracking_number", "is required when the card ships, at most 64 characters without spaces")
		}
		f.Carrier, f.TrackingNumber = carrier, tracking
	} else if carrier != "" || tracking != "" {
		return invalid("carrier", "only a card that ships has a carrier and a tracking number")
	}
	f.Status, f.UpdatedAt = to, now
	return nil
}

// FulfilmentError is a fulfilment step out of order.
type FulfilmentError struct {
	From, To FulfilmentStatus
}

func (e *FulfilmentError) Error() string {
	return fmt.Sprintf("card: fulfilment cannot go from %s to %s", e.From, e.To)
}

// InvalidState says, safely for the partner, what was refused.
func (e *FulfilmentError) InvalidState() string {
	return "the card's fulfilment is " + string(e.From) + "; it cannot become " + string(e.To)
}
