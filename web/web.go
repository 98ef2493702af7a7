// Package web is vaultpage's HTTP edge and the only package that imports
// Echo: the partner API under /v3, the hosted cardholder pages, the SDK
// launch endpoints, the operational probes and the development-only routes.
// Handlers parse and validate, call one service method with the request's
// context, and render; echo.Context never leaves this package.
package web

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"
)

// Deps are the services the HTTP edge calls.
type Deps struct {
	Logger  *slog.Logger
	Version string
	// Ready reports whether the service can take traffic (the store
	// answers).
	Ready func(ctx context.Context) error
}

// Server is the HTTP edge.
type Server struct {
	deps Deps
	echo *echo.Echo
}

// New builds the HTTP edge with every route registered.
func New(d Deps) *Server {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	s := &Server{deps: d, echo: e}
	s.routes()
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok", "version": s.deps.Version})
}

func (s *Server) readyz(c echo.Context) error {
	if err := s.deps.Ready(c.Request().Context()); err != nil {
		s.deps.Logger.WarnContext(c.Request().Context(), "not ready", "err", err)
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}
