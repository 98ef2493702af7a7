package web

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/vaultpage/vaultpage/webhook"
)

type endpointView struct {
	ID         string   `json:"id"`
	URL        string   `json:"url"`
	EventTypes []string `json:"event_types"`
	Disabled   bool     `json:"disabled"`
	// Secret is shown when the endpoint is created and when it is rotated,
	// never again.
	Secret    *string `json:"secret,omitempty"`
	CreatedAt string  `json:"created_at"`
	UpdatedAt string  `json:"updated_at"`
}

func viewEndpoint(e webhook.Endpoint, secret string) endpointView {
	v := endpointView{ID: e.ID.String(), URL: e.URL, EventTypes: nonNil(e.EventTypes), Disabled: e.Disabled, CreatedAt: ts(e.CreatedAt), UpdatedAt: ts(e.UpdatedAt)}
	if secret != "" {
		v.Secret = &secret
	}
	return v
}

type deliveryView struct {
	ID            string  `json:"id"`
	EndpointID    string  `json:"endpoint_id"`
	EventID       string  `json:"event_id"`
	Status        string  `json:"status"`
	Attempts      int     `json:"attempts"`
	NextAttemptAt *string `json:"next_attempt_at"`
	LastStatus    *int    `json:"last_status"`
	LastError     *string `json:"last_error"`
	CreatedAt     string  `json:"created_at"`
	UpdatedAt     string  `json:"updated_at"`
}

func viewDelivery(d webhook.Delivery) deliveryView {
	v := deliveryView{ID: d.ID.String(), EndpointID: d.EndpointID.String(), EventID: d.EventID.String(), Status: d.Status, Attempts: d.Attempts,
		CreatedAt: ts(d.CreatedAt), UpdatedAt: ts(d.UpdatedAt)}
	if d.Status == webhook.StatusPending {
		next := ts(d.NextAttemptAt)
		v.NextAttemptAt = &next
	}
	if d.LastStatus != 0 {
		st := d.LastStatus
		v.LastStatus = &st
	}
	if d.LastError != "" {
		le := d.LastError
		v.LastError = &le
	}
	return v
}

type endpointRequest struct {
	URL          *string   `json:"url"`
	EventTypes   *[]string `json:"event_types"`
	Disabled     *bool     `json:"disabled"`
	RotateSecret bool      `json:"rotate_secret"`
}

func (s *Server) createEndpoint(c echo.Context) error {
	var req endpointRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.URL == nil {
		return fieldProblem(http.StatusUnprocessableEntity, "invalid_field", "url", "is required")
	}
	var types []string
	if req.EventTypes != nil {
		types = *req.EventTypes
	}
	e, secret, err := s.deps.Webhooks.Create(c.Request().Context(), partnerOf(c).ID, *req.URL, types)
	if err != nil {
		return err
	}
	return showSecretOnce(c, http.StatusCreated, e, secret)
}

// showSecretOnce answers with the endpoint and its new secret, and gives an
// idempotent replay the endpoint without it.
func showSecretOnce(c echo.Context, status int, e webhook.Endpoint, secret string) error {
	if secret != "" {
		redacted, err := json.Marshal(viewEndpoint(e, "")) //nolint:gosec // G117: the view without its secret, which is the point.
		if err != nil {
			return err
		}
		c.Set(ctxReplayBody, append(redacted, '\n'))
	}
	return c.JSON(status, viewEndpoint(e, secret))
}

func (s *Server) listEndpoints(c echo.Context) error {
	list, err := s.deps.Webhooks.Endpoints(c.Request().Context(), partnerOf(c).ID)
	if err != nil {
		return err
	}
	out := make([]endpointView, 0, len(list))
	for _, e := range list {
		out = append(out, viewEndpoint(e, ""))
	}
	return c.JSON(http.StatusOK, map[string]any{"data": out})
}

func (s *Server) getEndpoint(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	e, err := s.deps.Webhooks.Endpoint(c.Request().Context(), partnerOf(c).ID, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewEndpoint(e, ""))
}

func (s *Server) updateEndpoint(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req endpointRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	e, secret, err := s.deps.Webhooks.Update(c.Request().Context(), partnerOf(c).ID, id,
		webhook.Patch{URL: req.URL, EventTypes: req.EventTypes, Disabled: req.Disabled, RotateSecret: req.RotateSecret})
	if err != nil {
		return err
	}
	return showSecretOnce(c, http.StatusOK, e, secret)
}

func (s *Server) deleteEndpoint(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if err := s.deps.Webhooks.Delete(c.Request().Context(), partnerOf(c).ID, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) testEndpoint(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	d, err := s.deps.Webhooks.Test(c.Request().Context(), partnerOf(c).ID, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, viewDelivery(d))
}

func (s *Server) listDeliveries(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	list, err := s.deps.Webhooks.Deliveries(c.Request().Context(), partnerOf(c).ID, id, c.QueryParam("status"))
	if err != nil {
		return err
	}
	out := make([]deliveryView, 0, len(list))
	for _, d := range list {
		out = append(out, viewDelivery(d))
	}
	return c.JSON(http.StatusOK, map[string]any{"data": out})
}

func (s *Server) retryDelivery(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	d, err := s.deps.Webhooks.Retry(c.Request().Context(), partnerOf(c).ID, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewDelivery(d))
}
