// Command testreport reads `go test -json` on standard input and writes
// what a person running the tests needs: one line per package, the whole
// output of every failing test, and one line per group of skipped tests
// saying what they need (PostgreSQL, SoftHSM2, Chromium, axe-core), so that
// a green run that skipped half the suite says so. It exits 1 when a test
// or a package failed. `make test` pipes through it.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
)

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(1)
	}
}

// event is one line of test2json output.
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

// location is the "file.go:12: " a test's log line starts with.
var location = regexp.MustCompile(`^\s*[\w./-]+\.go:\d+: `)

func run(in io.Reader, dst io.Writer) error {
	out := bufio.NewWriter(dst)
	say := func(format string, a ...any) { _, _ = fmt.Fprintf(out, format, a...) } // Flush reports a write error
	var (
		outputs = map[string][]string{} // package/test → its output lines
		skips   = map[string]int{}      // skip reason → tests
		failed  bool
		counts  = map[string]int{} // pass, fail, skip → tests (subtests included)
	)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			say("%s\n", sc.Text()) // the build's own messages
			continue
		}
		key := e.Package + "/" + e.Test
		if e.Test != "" && (e.Action == "pass" || e.Action == "fail" || e.Action == "skip") {
			counts[e.Action]++
		}
		switch e.Action {
		case "output":
			outputs[key] = append(outputs[key], e.Output)
		case "skip":
			if e.Test == "" {
				break
			}
			reason := "skipped"
			for _, l := range outputs[key] {
				if m := location.FindString(l); m != "" {
					reason = strings.TrimSpace(strings.TrimPrefix(l, m))
				}
			}
			skips[reason]++
		case "fail":
			failed = true
			if e.Test != "" {
				say("--- FAIL: %s (%s)\n%s", e.Test, e.Package, strings.Join(outputs[key], ""))
			} else {
				say("FAIL\t%s\t%.1fs\n", e.Package, e.Elapsed)
			}
		case "pass":
			if e.Test == "" {
				say("ok\t%s\t%.1fs\n", e.Package, e.Elapsed)
			}
		}
		if e.Action == "pass" || e.Action == "skip" {
			delete(outputs, key)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(skips) > 0 {
		reasons := make([]string, 0, len(skips))
		for r := range skips {
			reasons = append(reasons, r)
		}
		sort.Strings(reasons)
		say("skipped:\n")
		for _, r := range reasons {
			say("  %d× %s\n", skips[r], r)
		}
	}
	say("%d tests passed, %d failed, %d skipped (subtests counted)\n", counts["pass"], counts["fail"], counts["skip"])
	if err := out.Flush(); err != nil {
		return err
	}
	if failed {
		return errors.New("some tests failed")
	}
	return nil
}
