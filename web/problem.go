package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/partner"
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
	// Error repeats Code for the OAuth token endpoint (RFC 6749 5.2).
	OAuthError string `json:"error,omitempty"`
	RequestID  string `json:"request_id,omitempty"`
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

// toProblem is the one place domain errors become HTTP: the table below,
// and 500 with a generic message for anything else (the cause is logged).
func toProblem(err error) *Problem {
	var (
		p     *Problem
		fe    *card.FieldError
		se    *card.StateError
		he    *echo.HTTPError
		scaEr *card.SCARequiredError
	)
	if cp := consentProblem(err); cp != nil {
		return cp
	}
	if sp := spendProblem(err); sp != nil {
		return sp
	}
	if wp := webhookProblem(err); wp != nil {
		return wp
	}
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &fe):
		return fieldProblem(http.StatusUnprocessableEntity, "invalid_field", fe.Field, fe.Reason)
	case errors.As(err, &se):
		return problem(http.StatusConflict, "invalid_state", "the card is "+string(se.From)+"; it cannot become "+string(se.To))
	case errors.As(err, &scaEr):
		return problem(http.StatusPreconditionFailed, "consent_required", "the cardholder must "+scaEr.Action+" the card on the hosted page")
	case errors.Is(err, card.ErrNotFound), errors.Is(err, partner.ErrNotFound):
		return problem(http.StatusNotFound, "not_found", "no such resource")
	case errors.Is(err, card.ErrConflict):
		return problem(http.StatusConflict, "conflict", "the resource changed meanwhile; retry")
	case errors.Is(err, partner.ErrInvalidToken):
		return problem(http.StatusUnauthorized, "invalid_token", "the access token is missing, invalid or expired")
	case errors.As(err, &he):
		return fromEchoError(he)
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
