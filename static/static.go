// Package static holds the hosted pages' stylesheet and scripts, embedded in
// the binary and served from vaultpage's own origin.
package static

import "embed"

// Files are the static assets, served under /static/.
//
//go:embed *.css *.js
var Files embed.FS
