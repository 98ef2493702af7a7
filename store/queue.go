package store

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
)

// workQueue hands work from callers to the goroutine that owns a connection:
// SQLite's group committer (group.go) and PostgreSQL's decision batches
// (batch.go).
type workQueue[T any] struct {
	mu     sync.RWMutex // guards closed against sends on in
	in     chan T
	closed bool
}

// send queues v, unless the queue is closed or ctx ends first.
func (q *workQueue[T]) send(ctx context.Context, v T) error {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return errClosed
	}
	select {
	case q.in <- v:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close stops taking work; what is queued stays for the receiver, whose
// range over in then ends.
func (q *workQueue[T]) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.in)
	}
}

// more appends to batch what else is queued now, up to max in all.
func (q *workQueue[T]) more(batch []T, max int) []T {
	for len(batch) < max {
		select {
		case v, ok := <-q.in:
			if !ok {
				return batch
			}
			batch = append(batch, v)
		default:
			return batch
		}
	}
	return batch
}

// errClosed is what callers hear after Close.
var errClosed = errors.New("store: the database is closed")

// panicked carries a panic out of a caller's function, run by the
// goroutine that owns the connection, back to its caller.
type panicked struct {
	value any
	stack []byte
}

func (p *panicked) Error() string {
	return fmt.Sprintf("store: transaction panicked: %v\n%s", p.value, p.stack)
}

// recovering turns a panic into a *panicked error in *err.
func recovering(err *error) {
	if v := recover(); v != nil {
		*err = &panicked{value: v, stack: debug.Stack()}
	}
}

// outcome waits for a queued caller's outcome and raises again in the
// caller a panic its function raised.
func outcome(res <-chan error) error {
	err := <-res
	var p *panicked
	if errors.As(err, &p) {
		panic(p.value)
	}
	return err
}
