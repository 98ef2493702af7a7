// Package static holds the hosted pages' stylesheet, scripts and icon,
// embedded in the binary and served from vaultpage's own origin.
package static

import "embed"

// Files are the static assets, served under /static/.
//
//go:embed *.css *.js *.png
var Files embed.FS
