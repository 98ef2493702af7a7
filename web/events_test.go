package web_test

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestEventFeedPagesByCursorAndFilters(t *testing.T) {
	e := newEnv(t)
	c := e.activeCard(t, nil)
	acct := c["account_id"].(string)
	for _, amt := range []string{"10.00", "20.00", "30.00"} {
		e.post("/v3/accounts/"+acct+"/fundings", e.tokA, map[string]string{"amount": amt})
	}
	e.authorize(t, c["id"].(string), "5.00")
	all := e.do(http.MethodGet, "/v3/events?limit=100", e.tokA, "", nil).json(t)
	types := map[string]int{}
	for _, ev := range all["data"].([]any) {
		types[ev.(map[string]any)["type"].(string)]++
	}
	if types["account.funded"] != 3 || types["authorization.approved"] != 1 || types["consent.approved"] != 1 ||
		types["card.created"] != 1 || types["card.status_changed"] != 1 {
		t.Fatalf("event types: %v", types)
	}
	funded := e.do(http.MethodGet, "/v3/events?type=account.funded&limit=2", e.tokA, "", nil).json(t)
	page := funded["data"].([]any)
	if len(page) != 2 || page[0].(map[string]any)["data"].(map[string]any)["amount"] != "10.00" {
		t.Fatalf("first page of fundings: %v", funded)
	}
	next := e.do(http.MethodGet, "/v3/events?type=account.funded&limit=2&cursor="+funded["next_cursor"].(string), e.tokA, "", nil).json(t)
	if rest := next["data"].([]any); len(rest) != 1 || rest[0].(map[string]any)["data"].(map[string]any)["amount"] != "30.00" {
		t.Fatalf("second page: %v", next)
	}
	caughtUp := e.do(http.MethodGet, "/v3/events?type=account.funded&cursor="+next["next_cursor"].(string), e.tokA, "", nil).json(t)
	if len(caughtUp["data"].([]any)) != 0 || caughtUp["next_cursor"] != next["next_cursor"] {
		t.Fatalf("caught up: %v", caughtUp)
	}
	id := page[0].(map[string]any)["id"].(string)
	if got := e.do(http.MethodGet, "/v3/events/"+id, e.tokA, "", nil); got.status != http.StatusOK || got.json(t)["type"] != "account.funded" {
		t.Fatalf("get event: %d %s", got.status, got.body)
	}
	expectProblem(t, e.do(http.MethodGet, "/v3/events/"+id, e.tokB, "", nil), http.StatusNotFound, "not_found", "")
	if other := e.do(http.MethodGet, "/v3/events", e.tokB, "", nil).json(t); len(other["data"].([]any)) != 0 {
		t.Fatal("another partner sees Alpha's events")
	}
	expectProblem(t, e.do(http.MethodGet, "/v3/events?cursor=abc", e.tokA, "", nil), http.StatusBadRequest, "invalid_query", "cursor")
}

// sse reads Server-Sent Events from a live response.
type sse struct {
	r *bufio.Reader
}

func (s sse) next(t *testing.T) (id, typ, data string) {
	t.Helper()
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "" && typ != "":
			return id, typ, data
		case strings.HasPrefix(line, "id: "):
			id = line[4:]
		case strings.HasPrefix(line, "event: "):
			typ = line[7:]
		case strings.HasPrefix(line, "data: "):
			data = line[6:]
		}
	}
}

func (e *env) stream(t *testing.T, lastEventID string) sse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/v3/events/stream", nil)
	req.Header.Set("Authorization", "Bearer "+e.tokA)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = res.Body.Close() })
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	return sse{r: bufio.NewReader(res.Body)}
}

func TestLiveEventStreamResumesFromLastEventID(t *testing.T) {
	e := newEnv(t)
	c := e.activeCard(t, nil)
	acct := c["account_id"].(string)
	e.post("/v3/accounts/"+acct+"/fundings", e.tokA, map[string]string{"amount": "1.00"})

	// Without Last-Event-ID the stream starts from now: the next event is new.
	live := e.stream(t, "")
	e.post("/v3/accounts/"+acct+"/fundings", e.tokA, map[string]string{"amount": "2.00"})
	id, typ, data := live.next(t)
	if typ != "account.funded" || !strings.Contains(data, `"amount":"2.00"`) {
		t.Fatalf("live: %s %s", typ, data)
	}
	seq, err := strconv.Atoi(id)
	if err != nil {
		t.Fatalf("SSE id %q is not a sequence number", id)
	}
	// Events made while disconnected arrive on reconnecting with Last-Event-ID.
	e.post("/v3/accounts/"+acct+"/fundings", e.tokA, map[string]string{"amount": "3.00"})
	e.post("/v3/accounts/"+acct+"/fundings", e.tokA, map[string]string{"amount": "4.00"})
	resumed := e.stream(t, strconv.Itoa(seq))
	for _, want := range []string{"3.00", "4.00"} {
		nid, _, d := resumed.next(t)
		if !strings.Contains(d, `"amount":"`+want+`"`) {
			t.Fatalf("resumed: %s, want amount %s", d, want)
		}
		n, _ := strconv.Atoi(nid)
		if n <= seq {
			t.Fatalf("sequence went from %d to %d", seq, n)
		}
		seq = n
	}
}
