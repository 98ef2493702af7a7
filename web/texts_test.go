package web

import "testing"

func TestEveryTextIsInEveryLanguage(t *testing.T) {
	for lang, m := range texts {
		for key, v := range m {
			if v == "" {
				t.Errorf("%s: %q is empty", lang, key)
			}
			for other, om := range texts {
				if _, ok := om[key]; !ok {
					t.Errorf("%q is in %s but not in %s", key, lang, other)
				}
			}
		}
	}
	if len(texts) < 2 {
		t.Fatalf("%d languages", len(texts))
	}
}
