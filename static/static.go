// Package static holds the hosted pages' stylesheet, scripts and icon,
// embedded in the binary and served from vaultpage's own origin.
package static

import (
	"crypto/sha512"
	"embed"
	"encoding/base64"
	"io/fs"
)

// Files are the static assets, served under /static/.
//
//go:embed *.css *.js *.png
var Files embed.FS

// Integrity returns each asset's Subresource Integrity value, by file
// name: "sha384-" and the base64 of its SHA-384, as a <script> or a
// stylesheet's <link> names it, so that the browser runs or applies only
// the bytes vaultpage shipped. Errors: none but a broken embedding.
func Integrity() (map[string]string, error) {
	entries, err := fs.ReadDir(Files, ".")
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(entries))
	for _, e := range entries {
		b, err := fs.ReadFile(Files, e.Name())
		if err != nil {
			return nil, err
		}
		sum := sha512.Sum384(b)
		out[e.Name()] = "sha384-" + base64.StdEncoding.EncodeToString(sum[:])
	}
	return out, nil
}
