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

// Store remembers requests by partner and key. A keyed request runs in one
// database transaction that holds its claim, its work and its response
// (InTx, Claim, the work, Complete): they commit together or not at all.
// A claim therefore never outlives its request: if the request fails on
// the server's side, its transaction rolls back, and if its process dies or
// its connection is lost, the database rolls it back, and the key is free
// again at once.
type Store interface {
	// InTx runs fn in one database transaction; store methods called with
	// the context fn receives join it.
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	// Claim claims the key for a request with hash, in the transaction in
	// ctx, unless the key is taken. Taken, it returns the request that holds
	// it and claimed=false: Done with its response, or Running (and no
	// hash) while another transaction that claimed the key is still in
	// flight. A claim made before notBefore is replaced.
	Claim(ctx context.Context, partnerID, key string, hash []byte, now, notBefore time.Time) (existing Request, claimed bool, err error)
	// Attempt runs the request's work, fn, inside a savepoint of the
	// transaction in ctx: when fn fails, everything it wrote is undone (as
	// its own transaction would have been without a key) and its error
	// returned, and the transaction can still keep the claim and the
	// response.
	Attempt(ctx context.Context, fn func(ctx context.Context) error) error
	// Answered tells whether the key holds a response made at or after
	// notBefore (outside any transaction: a peek, for a caller that does
	// work before it claims the key).
	Answered(ctx context.Context, partnerID, key string, notBefore time.Time) (bool, error)
	// Complete stores the response of the request that claimed the key, in
	// its transaction.
	Complete(ctx context.Context, partnerID, key string, status int, contentType string, body []byte) error
}
