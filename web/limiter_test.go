package web

import (
	"strconv"
	"testing"
	"time"
)

func TestAFullLimiterResetsNobodysBucket(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	l := newLimiter(1, 2, func() time.Time { return now })
	// The victim spends its burst.
	for range 2 {
		if ok, _ := l.allow("victim"); !ok {
			t.Fatal("the victim's burst")
		}
	}
	// An attacker fills the limiter with keys that each hold a spent token.
	for i := range maxBuckets {
		l.allow("k" + strconv.Itoa(i))
	}
	if ok, _ := l.allow("victim"); ok {
		t.Fatal("the victim's spent bucket was reset")
	}
	// New keys share one bucket while the map is full.
	if ok, _ := l.allow("new-1"); !ok {
		t.Fatal("the first new key")
	}
	l.allow("new-2")
	if ok, _ := l.allow("new-3"); ok {
		t.Fatal("new keys got buckets of their own past the limit")
	}
	// Once buckets have refilled they are forgotten, at no one's gain.
	now = now.Add(10 * time.Second)
	if ok, _ := l.allow("new-4"); !ok || len(l.buckets) > 2 {
		t.Fatalf("after the buckets refilled: %v, %d kept", ok, len(l.buckets))
	}
}

func TestAnIPv6ClientIsLimitedByItsSlash64(t *testing.T) {
	testCases := []struct{ addr, expected string }{
		{"203.0.113.9", "203.0.113.9"},
		{"2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"::ffff:203.0.113.9", "::ffff:203.0.113.9"},
		{"not an address", "not an address"},
	}
	for _, tc := range testCases {
		if got := addressKey(tc.addr); got != tc.expected {
			t.Errorf("%s: %s, want %s", tc.addr, got, tc.expected)
		}
	}
}
