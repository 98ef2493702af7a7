// Package panscan finds card numbers in bytes: every run of 13 to 19 ASCII
// digits that starts with a given prefix and passes the Luhn check. Tests use
// it to prove that databases, write-ahead logs and captured logs hold no PAN
// in clear.
package panscan

import (
	"bytes"

	"github.com/vaultpage/vaultpage/internal/luhn"
)

// Find returns the Luhn-valid digit runs of 13 to 19 digits starting with
// prefix, including runs embedded in longer digit strings.
func Find(data []byte, prefix string) []string {
	var out []string
	p := []byte(prefix)
	for i := 0; i+13 <= len(data); i++ {
		if !bytes.HasPrefix(data[i:], p) {
			continue
		}
		for n := 13; n <= 19 && i+n <= len(data); n++ {
			d := data[i : i+n]
			if !isDigit(d[n-1]) {
				break
			}
			if allDigits(d) && luhn.Valid(d) {
				out = append(out, string(d))
			}
		}
	}
	return out
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func allDigits(b []byte) bool {
	for _, c := range b {
		if !isDigit(c) {
			return false
		}
	}
	return true
}
