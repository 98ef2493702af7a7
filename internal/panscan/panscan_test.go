package panscan

import (
	"slices"
	"testing"
)

func TestFind(t *testing.T) {
	testCases := []struct {
		name  string
		data  string
		found string // a number Find must report, or "" for none at all
	}{
		{"plain", `{"pan":"4895370012345671"}`, "4895370012345671"},
		{"embedded in a longer run", "99489537001234567100", "4895370012345671"},
		{"13 digits", "x4895370000001x", "4895370000001"},
		{"19 digits", "4895370000000000001", "4895370000000000001"},
		{"no window passes the check", "4895370000000000", ""},
		{"other prefix", "4111111111111111", ""},
		{"broken by spaces", "4895 3700 1234 5671", ""},
		{"too short", "489537001234", ""},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			got := Find([]byte(tc.data), "489537")
			if tc.found == "" && len(got) != 0 {
				t.Fatalf("Find = %v, want nothing", got)
			}
			if tc.found != "" && !slices.Contains(got, tc.found) {
				t.Fatalf("Find = %v, want it to contain %s", got, tc.found)
			}
		})
	}
}
