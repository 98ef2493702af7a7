package web

import (
	"regexp"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"
)

var pathParam = regexp.MustCompile(`:([a-z_]+)`)

// QueryParams lists, for every partner API operation the server routes
// ("GET /v3/cards/{id}", in OpenAPI's path syntax), the query parameters it
// takes, sorted.
func (s *Server) QueryParams() map[string][]string {
	out := map[string][]string{}
	for _, r := range s.echo.Routes() {
		if !strings.HasPrefix(r.Path, "/v3/") || strings.HasSuffix(r.Path, "*") || r.Method == echo.RouteNotFound {
			continue
		}
		names := []string{}
		for n := range s.query[r.Method+" "+r.Path] {
			names = append(names, n)
		}
		sort.Strings(names)
		out[r.Method+" "+pathParam.ReplaceAllString(r.Path, "{$1}")] = names
	}
	return out
}
