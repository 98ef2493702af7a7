package consent

import (
	"errors"
	"testing"
	"time"
)

func TestTransitions(t *testing.T) {
	testCases := []struct {
		name     string
		from     Status
		do       func(*Consent) error
		expected Status
		ok       bool
	}{
		{"start pending", StatusPending, (*Consent).Start, StatusStarted, true},
		{"start twice", StatusStarted, (*Consent).Start, StatusStarted, false},
		{"approve started", StatusStarted, func(c *Consent) error { return c.Approve(false) }, StatusApproved, true},
		{"approve pending needs sandbox", StatusPending, func(c *Consent) error { return c.Approve(false) }, StatusPending, false},
		{"sandbox approves pending", StatusPending, func(c *Consent) error { return c.Approve(true) }, StatusApproved, true},
		{"fail started", StatusStarted, (*Consent).Fail, StatusFailed, true},
		{"fail pending", StatusPending, (*Consent).Fail, StatusPending, false},
		{"cancel started", StatusStarted, (*Consent).Cancel, StatusCanceled, true},
		{"approved is final", StatusApproved, (*Consent).Cancel, StatusApproved, false},
		{"expired is final", StatusExpired, (*Consent).Decline, StatusExpired, false},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			c := &Consent{Status: tc.from}
			err := tc.do(c)
			if tc.ok != (err == nil) || c.Status != tc.expected {
				t.Fatalf("status %s, err %v", c.Status, err)
			}
			var se *StateError
			if err != nil && !errors.As(err, &se) {
				t.Fatalf("want *StateError, got %v", err)
			}
		})
	}
}

func TestExpireIfDue(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	c := &Consent{Status: StatusStarted, ExpiresAt: now}
	if c.ExpireIfDue(now.Add(-time.Second)) || c.Status != StatusStarted {
		t.Fatal("expired early")
	}
	if !c.ExpireIfDue(now) || c.Status != StatusExpired {
		t.Fatal("not expired on time")
	}
	done := &Consent{Status: StatusApproved, ExpiresAt: now}
	if done.ExpireIfDue(now.Add(time.Hour)) {
		t.Fatal("a final consent expired")
	}
}
