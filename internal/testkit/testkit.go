// Package testkit holds small helpers shared by vaultpage's tests that run
// servers: a log buffer safe for concurrent writers, a free loopback
// address, a wait for /healthz, and a fresh PostgreSQL schema.
package testkit

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// SyncBuffer is a bytes.Buffer that concurrent writers and a reader share.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// FreeAddr returns a loopback address nothing listens on right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// WaitHealthy polls base+"/healthz" until it answers 200, for 15 seconds.
func WaitHealthy(t testing.TB, base string) {
	t.Helper()
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, base+"/healthz", nil)
		if res, err := c.Do(req); err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never became healthy", base)
}

// HoldsWord reports whether secret appears in data as a word of its own:
// not part of a longer run of letters, digits or any of also. Tests look
// for short numeric secrets (a PIN, a one-time code) this way, so that
// "8203" inside a timestamp's nanoseconds (also ".") or a UUID (also "-")
// is not taken for the PIN.
func HoldsWord(data []byte, secret, also string) bool {
	word := func(c byte) bool {
		return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.IndexByte(also, c) >= 0
	}
	s := []byte(secret)
	for i := 0; ; {
		j := bytes.Index(data[i:], s)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(s)
		if (start == 0 || !word(data[start-1])) && (end == len(data) || !word(data[end])) {
			return true
		}
		i = start + 1
	}
}
