package web

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/vaultpage/vaultpage/decision"
)

// decisionEndpointView is a partner's real-time decision endpoint; the
// secret only in the answer that made it.
type decisionEndpointView struct {
	URL       string `json:"url"`
	TimeoutMS int64  `json:"timeout_ms"`
	Fallback  string `json:"fallback"`
	Secret    string `json:"secret,omitempty"`
	// PreviousSecretUntil is until when the rotated-out secret signs too.
	PreviousSecretUntil *string `json:"previous_secret_until,omitempty"`
	CreatedAt           string  `json:"created_at"`
	UpdatedAt           string  `json:"updated_at"`
}

func viewDecisionEndpoint(e decision.Endpoint, secret string) decisionEndpointView {
	v := decisionEndpointView{URL: e.URL, TimeoutMS: e.Timeout.Milliseconds(), Fallback: string(e.Fallback), Secret: secret,
		CreatedAt: ts(e.CreatedAt), UpdatedAt: ts(e.UpdatedAt)}
	if !e.PreviousUntil.IsZero() {
		p := ts(e.PreviousUntil)
		v.PreviousSecretUntil = &p
	}
	return v
}

type decisionEndpointRequest struct {
	URL          *string `json:"url"`
	TimeoutMS    *int    `json:"timeout_ms"`
	Fallback     *string `json:"fallback"`
	RotateSecret bool    `json:"rotate_secret"`
}

// putDecisionEndpoint is PUT /v3/decision_endpoint: 201 with the signing
// secret when it is new, 200 when it replaces one (the secret kept, or with
// rotate_secret a new one, the old one signing beside it for a day).
func (s *Server) putDecisionEndpoint(c echo.Context) error {
	var req decisionEndpointRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	for name, missing := range map[string]bool{"url": req.URL == nil, "fallback": req.Fallback == nil} {
		if missing {
			return fieldProblem(http.StatusUnprocessableEntity, "invalid_field", name, "is required")
		}
	}
	in := decision.Input{URL: *req.URL, Fallback: decision.Fallback(*req.Fallback), RotateSecret: req.RotateSecret}
	if req.TimeoutMS != nil {
		if in.TimeoutMS = *req.TimeoutMS; in.TimeoutMS == 0 {
			return fieldProblem(http.StatusUnprocessableEntity, "invalid_field", "timeout_ms", "must be 100 to 3000")
		}
	}
	e, secret, err := s.deps.Decisions.Put(c.Request().Context(), partnerOf(c).ID, in)
	if err != nil {
		return err
	}
	if secret == "" {
		return c.JSON(http.StatusOK, viewDecisionEndpoint(e, ""))
	}
	redacted, err := json.Marshal(viewDecisionEndpoint(e, "")) //nolint:gosec // G117: the view without its secret, which is the point.
	if err != nil {
		return err
	}
	c.Set(ctxReplayBody, append(redacted, '\n'))
	status := http.StatusCreated
	if req.RotateSecret && !e.CreatedAt.Equal(e.UpdatedAt) {
		status = http.StatusOK // an endpoint there already, its secret rotated
	}
	return c.JSON(status, viewDecisionEndpoint(e, secret))
}

// getDecisionEndpoint is GET /v3/decision_endpoint.
func (s *Server) getDecisionEndpoint(c echo.Context) error {
	e, err := s.deps.Decisions.Endpoint(c.Request().Context(), partnerOf(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewDecisionEndpoint(e, ""))
}

// deleteDecisionEndpoint is DELETE /v3/decision_endpoint.
func (s *Server) deleteDecisionEndpoint(c echo.Context) error {
	if err := s.deps.Decisions.Delete(c.Request().Context(), partnerOf(c).ID); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
