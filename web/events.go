package web

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vaultpage/vaultpage/events"
)

type eventView struct {
	ID         string            `json:"id"`
	Sequence   int64             `json:"sequence"`
	Type       string            `json:"type"`
	ResourceID string            `json:"resource_id"`
	Data       map[string]string `json:"data"`
	CreatedAt  string            `json:"created_at"`
}

func viewEvent(e events.Event) eventView {
	return eventView{ID: e.ID.String(), Sequence: e.Seq, Type: e.Type, ResourceID: e.ResourceID.String(), Data: e.Data, CreatedAt: ts(e.CreatedAt)}
}

// eventFilter reads cursor (a sequence number), type and limit.
func eventFilter(c echo.Context, cursor string) (events.Filter, error) {
	f := events.Filter{Type: c.QueryParam("type"), Limit: 20}
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return f, fieldProblem(http.StatusBadRequest, "invalid_query", "limit", "must be a whole number from 1 to 100")
		}
		f.Limit = n
	}
	if cursor != "" {
		n, err := strconv.ParseInt(cursor, 10, 64)
		if err != nil || n < 0 {
			return f, fieldProblem(http.StatusBadRequest, "invalid_query", "cursor", "is not a cursor this API gave")
		}
		f.After = n
	}
	return f, nil
}

// listEvents is GET /v3/events: oldest first after the cursor; next_cursor
// is where to continue (the same cursor when there was nothing new).
func (s *Server) listEvents(c echo.Context) error {
	f, err := eventFilter(c, c.QueryParam("cursor"))
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if _, err := s.deps.Events.Sequence(ctx); err != nil {
		return err
	}
	list, err := s.deps.Events.Events(ctx, partnerOf(c).ID, f)
	if err != nil {
		return err
	}
	out := struct {
		Data       []eventView `json:"data"`
		NextCursor string      `json:"next_cursor"`
	}{Data: make([]eventView, 0, len(list)), NextCursor: strconv.FormatInt(f.After, 10)}
	for _, e := range list {
		out.Data = append(out.Data, viewEvent(e))
		out.NextCursor = strconv.FormatInt(e.Seq, 10)
	}
	return c.JSON(http.StatusOK, out)
}

// getEvent is GET /v3/events/:id.
func (s *Server) getEvent(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	e, err := s.deps.Events.Event(c.Request().Context(), partnerOf(c).ID, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewEvent(e))
}

// Live feed pacing.
const (
	streamPoll      = 250 * time.Millisecond
	streamHeartbeat = 15 * time.Second
	streamMax       = time.Hour // then the client reconnects with Last-Event-ID
)

// streamEvents is GET /v3/events/stream: Server-Sent Events, one per
// event, with the sequence number as the SSE id. A reconnecting client
// sends Last-Event-ID and misses nothing; without it (or ?cursor) the
// stream starts with the events after now. A partner has at most
// StreamsPerPartner open (429 past it); their polling is shared (see
// streamHub), and on shutdown every stream ends at once with a comment
// saying so, for the client to reconnect, to another instance if need be.
func (s *Server) streamEvents(c echo.Context) error {
	cursor := c.Request().Header.Get("Last-Event-ID")
	if cursor == "" {
		cursor = c.QueryParam("cursor")
	}
	f, err := eventFilter(c, cursor)
	if err != nil {
		return err
	}
	f.Limit = 100
	ctx := c.Request().Context()
	pid := partnerOf(c).ID
	switch s.streams.join(pid) {
	case joinShuttingDown:
		p := problem(http.StatusServiceUnavailable, "service_unavailable", "this instance is shutting down; reconnect")
		p.retryAfter = 1
		return p
	case joinFull:
		p := problem(http.StatusTooManyRequests, "too_many_streams",
			"at most "+strconv.Itoa(StreamsPerPartner)+" event streams may be open at once; close one, or poll GET /v3/events")
		p.retryAfter = 5
		return p
	}
	defer s.streams.leave(pid)
	if _, err := s.deps.Events.Sequence(ctx); err != nil {
		return err
	}
	if cursor == "" { // from now on: after the newest event
		if f.After, err = s.deps.Events.LatestSeq(ctx, pid); err != nil {
			return err
		}
	}
	w := c.Response()
	h := w.Header()
	h.Set(echo.HeaderContentType, "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w.Writer)
	write := func(b []byte) error {
		_ = rc.SetWriteDeadline(time.Now().Add(streamHeartbeat + 10*time.Second))
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}
	if err := write([]byte(": vaultpage events\nretry: 2000\n\n")); err != nil {
		return nil
	}
	// catchUp sends every event after f.After, a page at a time.
	catchUp := func() error {
		for {
			page, err := s.deps.Events.Events(ctx, pid, f)
			if err != nil {
				return err
			}
			for _, e := range page {
				data, err := json.Marshal(viewEvent(e))
				if err != nil {
					return err
				}
				msg := "id: " + strconv.FormatInt(e.Seq, 10) + "\nevent: " + e.Type + "\ndata: " + string(data) + "\n\n"
				if err := write([]byte(msg)); err != nil {
					return err
				}
				f.After = e.Seq
			}
			if len(page) < f.Limit {
				return nil
			}
		}
	}
	beat := time.NewTicker(streamHeartbeat)
	defer beat.Stop()
	end := time.NewTimer(streamMax)
	defer end.Stop()
	seen := int64(-1) // the partner's newest sequence number when last caught up
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.streams.closing:
			_ = write([]byte(": vaultpage is shutting down; reconnect with Last-Event-ID\n\n"))
			return nil
		case <-end.C:
			return nil
		case <-beat.C:
			if err := write([]byte(": keep-alive\n\n")); err != nil {
				return nil
			}
		case <-s.streams.changed(pid, seen):
			seen = s.streams.head(pid)
			if err := catchUp(); err != nil {
				return nil
			}
		}
	}
}
