package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/consent"
	"github.com/vaultpage/vaultpage/decision"
	"github.com/vaultpage/vaultpage/events"
	"github.com/vaultpage/vaultpage/partner"
	"github.com/vaultpage/vaultpage/spend"
	"github.com/vaultpage/vaultpage/webhook"
)

// Problem is an RFC 9457 problem detail with vaultpage's stable code and,
// for validation errors, the offending field.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Code   string `json:"code"`
	Field  string `json:"field,omitempty"`
	// OAuthError and OAuthDescription are the token endpoint's RFC 6749
	// 5.2 error and error_description.
	OAuthError       string `json:"error,omitempty"`
	OAuthDescription string `json:"error_description,omitempty"`
	RequestID        string `json:"request_id,omitempty"`
	// retryAfter, when set, becomes a Retry-After header (seconds).
	retryAfter int
	// cause is logged, never shown.
	cause error
}

func (p *Problem) Unwrap() error { return p.cause }

func (p *Problem) Error() string {
	if p.Detail != "" {
		return p.Code + ": " + p.Detail
	}
	return p.Code
}

// problem builds a Problem; the type URI names the code.
func problem(status int, code, detail string) *Problem {
	return &Problem{Type: "https://vaultpage.dev/problems/" + code, Title: http.StatusText(status), Status: status, Code: code, Detail: detail}
}

func fieldProblem(status int, code, field, detail string) *Problem {
	p := problem(status, code, detail)
	p.Field = field
	return p
}

// Domain errors say what kind of failure they are through these methods;
// every domain package's FieldError and StateError has one.
type (
	// fieldError is a request field that failed validation: 422
	// invalid_field, the field named.
	fieldError interface {
		error
		InvalidField() (field, reason string)
	}
	// stateError is a transition a lifecycle does not allow: 409
	// invalid_state.
	stateError interface {
		error
		InvalidState() string
	}
)

// sentinels are the domain's named errors and what each answers.
var sentinels = []struct {
	err          error
	status       int
	code, detail string
}{
	{card.ErrNotFound, http.StatusNotFound, "not_found", "no such resource"},
	{partner.ErrNotFound, http.StatusNotFound, "not_found", "no such resource"},
	{consent.ErrNotFound, http.StatusNotFound, "not_found", "no such resource"},
	{spend.ErrNotFound, http.StatusNotFound, "not_found", "no such resource"},
	{webhook.ErrNotFound, http.StatusNotFound, "not_found", "no such resource"},
	{decision.ErrNotFound, http.StatusNotFound, "not_found", "no decision endpoint is registered"},
	{events.ErrNotFound, http.StatusNotFound, "not_found", "no such resource"},
	{card.ErrConflict, http.StatusConflict, "conflict", "the resource changed meanwhile; retry"},
	{consent.ErrConflict, http.StatusConflict, "conflict", "the consent changed meanwhile; retry"},
	{consent.ErrActionNotAllowed, http.StatusConflict, "invalid_state", "the card's status does not allow that action"},
	{partner.ErrInvalidToken, http.StatusUnauthorized, "invalid_token", "the access token is missing, invalid or expired"},
	{spend.ErrInsufficientFunds, http.StatusConflict, "insufficient_funds", "the account's available balance does not cover the amount"},
	{spend.ErrReferenceReused, http.StatusConflict, "network_reference_reused", "the network reference names an authorisation of another card, amount, currency or merchant"},
	{spend.ErrSandboxOnly, http.StatusForbidden, "sandbox_only", "simulations run only in development and sandbox"},
	{card.ErrSandboxOnly, http.StatusForbidden, "sandbox_only", "simulations run only in development and sandbox"},
	{consent.ErrSandboxOnly, http.StatusForbidden, "sandbox_only", "simulations run only in development and sandbox environments"},
	{consent.ErrSessionEnded, http.StatusGone, "gone", "this page is no longer open"},
	{consent.ErrTokenInvalid, http.StatusGone, "gone", "this page is no longer open"},
}

// toProblem is the one place errors become HTTP: a *Problem as it is, a
// domain error by its kind (fieldError, stateError, the sentinels), an Echo
// error by its status, and 500 with a generic message for anything else (the
// cause is logged, never shown).
func toProblem(err error) *Problem {
	var (
		p     *Problem
		fe    fieldError
		se    stateError
		he    *echo.HTTPError
		scaEr *card.SCARequiredError
	)
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &fe):
		field, reason := fe.InvalidField()
		return fieldProblem(http.StatusUnprocessableEntity, "invalid_field", field, reason)
	case errors.As(err, &se):
		return problem(http.StatusConflict, "invalid_state", se.InvalidState())
	case errors.As(err, &scaEr):
		return problem(http.StatusPreconditionFailed, "consent_required", "the cardholder must "+scaEr.Action+" the card on the hosted page")
	case errors.Is(err, consent.ErrBusy):
		p := problem(http.StatusServiceUnavailable, "service_unavailable", "too many requests are being checked at once; retry shortly")
		p.retryAfter = 2
		return p
	case errors.As(err, &he):
		return fromEchoError(he)
	}
	for _, k := range sentinels {
		if errors.Is(err, k.err) {
			return problem(k.status, k.code, k.detail)
		}
	}
	return &Problem{Type: "about:blank", Title: http.StatusText(http.StatusInternalServerError), Status: http.StatusInternalServerError,
		Code: "internal_error", Detail: "something went wrong on our side; the request id identifies it", cause: err}
}

func fromEchoError(he *echo.HTTPError) *Problem {
	switch he.Code {
	case http.StatusNotFound:
		return problem(http.StatusNotFound, "not_found", "no such route")
	case http.StatusMethodNotAllowed:
		return problem(http.StatusMethodNotAllowed, "method_not_allowed", "this route does not take that method")
	case http.StatusRequestEntityTooLarge:
		return problem(http.StatusRequestEntityTooLarge, "body_too_large", "the request body is larger than "+strconv.Itoa(maxBody)+" bytes")
	case http.StatusTooManyRequests:
		return problem(http.StatusTooManyRequests, "rate_limited", "too many requests; retry later")
	}
	if he.Code >= 400 && he.Code < 500 {
		return problem(he.Code, "bad_request", http.StatusText(he.Code))
	}
	return &Problem{Type: "about:blank", Title: http.StatusText(he.Code), Status: he.Code, Code: "internal_error", cause: he}
}
