package web

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestABurstOfFailuresProbesTheDatabaseOnce(t *testing.T) {
	var r readiness
	var calls atomic.Int32
	slow := func(context.Context) error {
		calls.Add(1)
		time.Sleep(200 * time.Millisecond) // a hung database
		return errors.New("database hung")
	}
	var (
		wg    sync.WaitGroup
		ready atomic.Int32
	)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r.check(context.Background(), slow) {
				ready.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := calls.Load(); n != 1 || ready.Load() != 0 {
		t.Fatalf("50 failing requests probed the database %d times; %d were told it is ready", n, ready.Load())
	}
}
