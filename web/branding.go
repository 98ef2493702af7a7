package web

import (
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/vaultpage/vaultpage/partner"
)

// brandingRequest is PUT /v3/branding: the whole branding, replaced.
type brandingRequest struct {
	Color          string   `json:"color"`
	LogoPNG        string   `json:"logo_png"` // standard base64
	FrameAncestors []string `json:"frame_ancestors"`
}

type brandingView struct {
	Color          string   `json:"color"`
	LogoURL        *string  `json:"logo_url"`
	FrameAncestors []string `json:"frame_ancestors"`
}

func (s *Server) viewBranding(c echo.Context, b partner.Branding) brandingView {
	v := brandingView{Color: b.Color, FrameAncestors: b.FrameAncestors}
	if v.FrameAncestors == nil {
		v.FrameAncestors = []string{}
	}
	if u := logoURL(partnerOf(c).ID, b); u != "" {
		abs := strings.TrimRight(s.deps.PublicURL, "/") + u
		v.LogoURL = &abs
	}
	return v
}

// getBranding is GET /v3/branding.
func (s *Server) getBranding(c echo.Context) error {
	b, err := s.deps.Partners.Branding(c.Request().Context(), partnerOf(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.viewBranding(c, b))
}

// putBranding is PUT /v3/branding.
func (s *Server) putBranding(c echo.Context) error {
	var req brandingRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	b := partner.Branding{Color: req.Color, FrameAncestors: req.FrameAncestors}
	if req.LogoPNG != "" {
		logo, err := base64.StdEncoding.DecodeString(req.LogoPNG)
		if err != nil {
			return fieldProblem(http.StatusUnprocessableEntity, "invalid_field", "logo_png", "must be standard base64")
		}
		b.Logo = logo
	}
	b, err := s.deps.Partners.SetBranding(c.Request().Context(), partnerOf(c).ID, b)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.viewBranding(c, b))
}
