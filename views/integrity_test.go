package views

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// Every script and stylesheet a page loads names its integrity
// (Page.Integrity), so that a page added later cannot load one the
// browser does not check.
func TestEveryScriptAndStylesheetNamesItsIntegrity(t *testing.T) {
	files, err := filepath.Glob("*.templ")
	if err != nil || len(files) == 0 {
		t.Fatalf("templ files: %v %v", files, err)
	}
	tag := regexp.MustCompile(`<script[^>]*\ssrc=[^>]*>|<link[^>]*rel="stylesheet"[^>]*>`)
	seen := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range tag.FindAll(b, -1) {
			seen++
			if !regexp.MustCompile(`\sintegrity=\{ p\.Integrity\["[a-z_]+\.(js|css)"\] \}`).Match(m) {
				t.Errorf("%s: %s names no integrity", f, m)
			}
		}
	}
	if seen == 0 {
		t.Fatal("no script or stylesheet found: the pattern is wrong")
	}
}
