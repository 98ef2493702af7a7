package web

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"maps"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/vaultpage/vaultpage/idempotency"
)

// heldWriter holds what a handler writes until the transaction that holds
// its work has committed: a partner never hears of work that could still
// roll back. Headers go to the real writer's map, which nothing has sent yet.
type heldWriter struct {
	real   http.ResponseWriter
	status int
	buf    bytes.Buffer
}

func (w *heldWriter) Header() http.Header { return w.real.Header() }

func (w *heldWriter) WriteHeader(status int) { w.status = status }

func (w *heldWriter) Write(b []byte) (int, error) { return w.buf.Write(b) }

// send writes the held response.
func (w *heldWriter) send() error {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.real.WriteHeader(w.status)
	_, err := w.real.Write(w.buf.Bytes())
	return err
}

// ctxReplayBody, set by a handler whose response shows a secret once (a
// webhook signing secret, a consent token), is the body an idempotent
// replay gets instead: the same response without the secret, so that the
// secret is never kept in the database.
const ctxReplayBody = "vaultpage.replay_body"

// errServerSide rolls back a keyed request that failed on the server's
// side: its work, its claim and its response go, and a retry runs afresh.
var errServerSide = errors.New("web: the request failed on the server's side")

// idempotent honours Idempotency-Key on POST, PATCH and DELETE: the first
// request runs and its response is kept 24 hours; a repeat with the same body
// gets that response byte for byte; a repeat with another body is a 422; a
// repeat while the first still runs is a 409. The claim, the work and the
// response commit in one transaction (idempotency.Store), and the
// response is sent once they have: a request that fails on the server's
// side, or whose process dies, leaves nothing behind, and its retry runs
// as if it were the first.
func (s *Server) idempotent(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error { return s.keyed(c, next) }
}

// keyed runs next as idempotent does.
func (s *Server) keyed(c echo.Context, next echo.HandlerFunc) error {
	key := c.Request().Header.Get("Idempotency-Key")
	m := c.Request().Method
	if key == "" || (m != http.MethodPost && m != http.MethodPatch && m != http.MethodDelete) {
		return next(c)
	}
	if err := keyProblem(key); err != nil {
		return err
	}
	body, err := bodyOf(c)
	if err != nil {
		return err
	}
	// Keyed: a body may carry card data (a simulated authorisation by
	// card number), and an unkeyed digest of it would be a hash of the
	// PAN that anyone with the database could brute-force.
	h := hmac.New(sha256.New, s.idemKey)
	h.Write([]byte(m + " " + c.Request().URL.RequestURI() + "\n"))
	h.Write(body)
	hash := h.Sum(nil)
	req, res := c.Request(), c.Response()
	pid := partnerOf(c).ID.String()
	now := s.deps.Now().UTC()
	headers := res.Header().Clone()
	held := &heldWriter{real: res.Writer}
	var (
		prev   *idempotency.Request
		failed error // the handler's server-side error
	)
	err = s.deps.Idempotency.InTx(req.Context(), func(ctx context.Context) error {
		p, claimed, err := s.deps.Idempotency.Claim(ctx, pid, key, hash, now, now.Add(-idempotency.TTL))
		if err != nil || !claimed {
			prev = &p
			return err
		}
		c.SetRequest(req.WithContext(ctx))
		res.Writer = held
		defer func() { c.SetRequest(req); res.Writer = held.real }()
		// An error undoes what the handler wrote, as the service's own
		// transaction would have without a key; the claim and the
		// error's response are kept.
		if err := s.deps.Idempotency.Attempt(ctx, func(context.Context) error { return next(c) }); err != nil {
			if toProblem(err).Status >= 500 {
				failed = err // rendered once the transaction has rolled back
				return errServerSide
			}
			c.Error(err) // rendered now, so that its response is what is kept
		}
		if res.Status >= 500 {
			return errServerSide
		}
		kept := held.buf.Bytes()
		if redacted, ok := c.Get(ctxReplayBody).([]byte); ok {
			kept = redacted // the response showed a secret once; a replay does not
		}
		return s.deps.Idempotency.Complete(ctx, pid, key, res.Status, res.Header().Get(echo.HeaderContentType), kept)
	})
	switch {
	case errors.Is(err, errServerSide) && failed != nil && !res.Committed:
		return failed // nothing was kept; rendered now, outside the transaction
	case errors.Is(err, errServerSide):
		return held.send() // the server error the handler wrote; nothing was kept
	case err != nil && !res.Committed:
		return err // the claim itself failed: nothing ran
	case err != nil:
		// The work ran but did not commit: the partner hears of the
		// failure, not of the work, and may retry with the same key.
		maps.Copy(res.Header(), headers)
		for k := range res.Header() {
			if _, ok := headers[k]; !ok {
				res.Header().Del(k)
			}
		}
		res.Committed, res.Status, res.Size = false, 0, 0
		return err
	case prev == nil:
		return held.send()
	}
	switch {
	case prev.State == idempotency.Running:
		return problem(http.StatusConflict, "idempotency_key_in_use", "a request with this Idempotency-Key is still running")
	case !bytes.Equal(prev.Hash, hash):
		return problem(http.StatusUnprocessableEntity, "idempotency_key_reused", "this Idempotency-Key was used with another request")
	}
	res.Header().Set("Idempotent-Replayed", "true")
	return c.Blob(prev.Status, prev.ContentType, prev.Body)
}

// keyProblem is the problem with an Idempotency-Key, nil for none.
func keyProblem(key string) error {
	if len(key) > 255 || hasControl(key) {
		return fieldProblem(http.StatusBadRequest, "invalid_header", "Idempotency-Key", "must be at most 255 characters, none a control character")
	}
	return nil
}

// keyAnswered tells whether the request's Idempotency-Key holds a response
// already (false without a key): a handler that does work before keyed
// claims the key skips it for a replay.
func (s *Server) keyAnswered(c echo.Context) (bool, error) {
	key := c.Request().Header.Get("Idempotency-Key")
	if key == "" {
		return false, nil
	}
	return s.deps.Idempotency.Answered(c.Request().Context(), partnerOf(c).ID.String(), key, s.deps.Now().UTC().Add(-idempotency.TTL))
}
