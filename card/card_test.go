package card

import (
	"errors"
	"testing"
)

func TestParseAmount(t *testing.T) {
	testCases := []struct {
		in       string
		expected Amount
		ok       bool
	}{
		{"175.00", 17500, true},
		{"175.5", 17550, true},
		{"175", 17500, true},
		{"0.01", 1, true},
		{"100000.00", 10000000, true},
		{"175.001", 0, false},
		{"-1.00", 0, false},
		{"1e3", 0, false},
		{"", 0, false},
		{".50", 0, false},
		{"5.", 0, false},
		{"1,000.00", 0, false},
		{"99999999999999.00", 0, false},
		{" 1.00", 0, false},
	}
	for _, tc := range testCases {
		got, err := ParseAmount(tc.in)
		if tc.ok != (err == nil) || got != tc.expected {
			t.Errorf("ParseAmount(%q) = %d, %v", tc.in, got, err)
		}
	}
	if s := Amount(17550).String(); s != "175.50" {
		t.Fatalf("String = %s", s)
	}
	if s := Amount(7).String(); s != "0.07" {
		t.Fatalf("String = %s", s)
	}
}

func TestLifecycleTransitions(t *testing.T) {
	testCases := []struct {
		name     string
		from     Status
		do       func(*Card) error
		expected Status
		ok       bool
	}{
		{"freeze active", StatusActive, (*Card).Freeze, StatusFrozen, true},
		{"freeze not activated", StatusNotActivated, (*Card).Freeze, StatusNotActivated, false},
		{"unfreeze frozen", StatusFrozen, (*Card).Unfreeze, StatusActive, true},
		{"unfreeze active", StatusActive, (*Card).Unfreeze, StatusActive, false},
		{"activate new", StatusNotActivated, (*Card).Activate, StatusActive, true},
		{"activate frozen", StatusFrozen, (*Card).Activate, StatusFrozen, false},
		{"block active", StatusActive, func(c *Card) error { return c.Terminate(StatusBlocked) }, StatusBlocked, true},
		{"lose frozen", StatusFrozen, func(c *Card) error { return c.Terminate(StatusLost) }, StatusLost, true},
		{"close new", StatusNotActivated, func(c *Card) error { return c.Terminate(StatusClosed) }, StatusClosed, true},
		{"terminal is final", StatusStolen, func(c *Card) error { return c.Terminate(StatusClosed) }, StatusStolen, false},
		{"closed cannot unfreeze", StatusClosed, (*Card).Unfreeze, StatusClosed, false},
		{"terminate to active refused", StatusActive, func(c *Card) error { return c.Terminate(StatusActive) }, StatusActive, false},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			c := &Card{Status: tc.from}
			err := tc.do(c)
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v", err)
			}
			var se *StateError
			if err != nil && !errors.As(err, &se) {
				t.Fatalf("want a *StateError, got %v", err)
			}
			if c.Status != tc.expected {
				t.Fatalf("status %s, want %s", c.Status, tc.expected)
			}
		})
	}
}
