// Package idempotency declares how vaultpage remembers partner requests made
// with an Idempotency-Key, so that a retried POST, PATCH or DELETE does its
// work once. The HTTP edge applies it; package store keeps the records.
package idempotency

import (
	"context"
	"time"
)

// TTL is how long a key is remembered.
const TTL = 24 * time.Hour

// State is where a remembered request is.
type State string

// States of a remembered request. Stored values.
const (
	Running State = "running"
	Done    State = "done"
)

// Request is a remembered request and, once done, its response.
type Request struct {
	Hash        []byte
	State       State
	Status      int
	ContentType string
	Body        []byte
}

// Store remembers requests by partner and key. Begin decides, in the
// database, which of several concurrent requests with one key runs.
type Store interface {
	// Begin claims the key for a running request with hash, unless a live
	// claim exists: then it returns that one and claimed=false. A claim
	// created before notBefore is replaced.
	Begin(ctx context.Context, partnerID, key string, hash []byte, now, notBefore time.Time) (existing Request, claimed bool, err error)
	// Complete stores the response of a claimed request.
	Complete(ctx context.Context, partnerID, key string, status int, contentType string, body []byte) error
	// Release forgets a claim (the request failed on the server's side and
	// may be retried).
	Release(ctx context.Context, partnerID, key string) error
}
