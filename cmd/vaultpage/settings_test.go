package main

import (
	"flag"
	"io"
	"os"
	"strings"
	"testing"
)

func TestEverySettingIsDocumentedOnceForHelpAndTheREADME(t *testing.T) {
	read := map[string]bool{}
	getenv := func(name string) string {
		read[name] = true
		return map[string]string{"VAULTPAGE_ENV": "production", "VAULTPAGE_SMTP_ADDR": "smtp.example:587"}[name]
	}
	fs := flag.NewFlagSet("vaultpage serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	_, _ = loadConfig(fs, nil, getenv) // production without keys: refused, but every variable is read
	for name := range read {
		if !documented(name) {
			t.Errorf("%s is read but not in settings", name)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var help strings.Builder
	usageWith(fs, &help)
	fs.Usage()
	for _, s := range settings {
		name := strings.TrimSuffix(s.env, "..9")
		if !read[name] && !read[strings.TrimSuffix(name, "_1")+"_1"] {
			t.Errorf("%s is in settings but never read", s.env)
		}
		if !strings.Contains(string(readme), "`"+name) {
			t.Errorf("%s is not in the README's table", name)
		}
		if !strings.Contains(help.String(), s.env) || (s.flag != "" && !strings.Contains(help.String(), "--"+s.flag)) {
			t.Errorf("-h does not list %s", s.env)
		}
		if s.flag != "" && fs.Lookup(s.flag) == nil {
			t.Errorf("%s names the flag --%s, which does not exist", s.env, s.flag)
		}
	}
}
