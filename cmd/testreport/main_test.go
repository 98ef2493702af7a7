package main

import (
	"strings"
	"testing"
)

func TestTheReportNamesEachSkipReasonOnceAndFailsOnAFailure(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"run","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"    a_test.go:9: PostgreSQL tests skipped: set X\n"}`,
		`{"Action":"skip","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:3: PostgreSQL tests skipped: set X\n"}`,
		`{"Action":"skip","Package":"p","Test":"TestB"}`,
		`{"Action":"pass","Package":"p","Elapsed":1.5}`,
		`{"Action":"output","Package":"q","Test":"TestC","Output":"    c_test.go:7: want 1, got 2\n"}`,
		`{"Action":"fail","Package":"q","Test":"TestC"}`,
		`{"Action":"fail","Package":"q","Elapsed":0.2}`,
	}, "\n")
	var out strings.Builder
	err := run(strings.NewReader(in), &out)
	if err == nil {
		t.Fatal("a failing test passed the report")
	}
	for _, want := range []string{"ok\tp\t1.5s", "--- FAIL: TestC (q)\n    c_test.go:7: want 1, got 2", "FAIL\tq", "  2× PostgreSQL tests skipped: set X", "0 tests passed, 1 failed, 2 skipped"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, out.String())
		}
	}
}
