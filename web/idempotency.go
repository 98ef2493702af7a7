package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/vaultpage/vaultpage/idempotency"
)

// captureWriter keeps a copy of what a handler writes.
type captureWriter struct {
	http.ResponseWriter
	buf bytes.Buffer
}

func (w *captureWriter) Write(b []byte) (int, error) {
	w.buf.Write(b)
	return w.ResponseWriter.Write(b)
}

// ctxReplayBody, set by a handler whose response shows a secret once (a
// webhook signing secret), is the body an idempotent replay gets instead:
// the same response without the secret, so that the secret is never kept in
// the database.
const ctxReplayBody = "vaultpage.replay_body"

// idempotent honours Idempotency-Key on POST, PATCH and DELETE: the first
// request runs and its response is kept 24 hours; a repeat with the same body
// gets that response byte for byte; a repeat with another body is a 422; a
// repeat while the first still runs is a 409. Server errors release the key.
func (s *Server) idempotent(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		key := c.Request().Header.Get("Idempotency-Key")
		m := c.Request().Method
		if key == "" || (m != http.MethodPost && m != http.MethodPatch && m != http.MethodDelete) {
			return next(c)
		}
		if len(key) > 255 {
			return fieldProblem(http.StatusBadRequest, "invalid_header", "Idempotency-Key", "must be at most 255 characters")
		}
		body, err := bodyOf(c)
		if err != nil {
			return err
		}
		h := sha256.New()
		h.Write([]byte(m + " " + c.Request().URL.RequestURI() + "\n"))
		h.Write(body)
		hash := h.Sum(nil)
		ctx := c.Request().Context()
		pid := partnerOf(c).ID.String()
		now := s.deps.Now().UTC()
		prev, claimed, err := s.deps.Idempotency.Begin(ctx, pid, key, hash, now, now.Add(-idempotency.TTL))
		if err != nil {
			return err
		}
		if !claimed {
			switch {
			case !bytes.Equal(prev.Hash, hash):
				return problem(http.StatusUnprocessableEntity, "idempotency_key_reused", "this Idempotency-Key was used with another request")
			case prev.State == idempotency.Running:
				return problem(http.StatusConflict, "idempotency_key_in_use", "a request with this Idempotency-Key is still running")
			}
			c.Response().Header().Set("Idempotent-Replayed", "true")
			return c.Blob(prev.Status, prev.ContentType, prev.Body)
		}
		w := &captureWriter{ResponseWriter: c.Response().Writer}
		c.Response().Writer = w
		err = next(c)
		if err != nil {
			// Render the error now, so that its response is what is kept.
			c.Error(err)
		}
		bg := context.WithoutCancel(ctx)
		res := c.Response()
		if res.Status >= 500 {
			return errors.Join(err, s.deps.Idempotency.Release(bg, pid, key))
		}
		kept := w.buf.Bytes()
		if redacted, ok := c.Get(ctxReplayBody).([]byte); ok {
			kept = redacted // the response showed a secret once; a replay does not
		}
		if cerr := s.deps.Idempotency.Complete(bg, pid, key, res.Status, res.Header().Get(echo.HeaderContentType), kept); cerr != nil {
			s.deps.Logger.ErrorContext(ctx, "keeping an idempotent response failed", "err", cerr, "request_id", requestID(c))
		}
		return nil
	}
}
