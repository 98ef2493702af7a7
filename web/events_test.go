package web_test

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vaultpage/vaultpage/events"
	"github.com/vaultpage/vaultpage/web"
)

func TestEventFeedPagesByCursorAndFilters(t *testing.T) {
	e := newEnv(t)
	c := e.activeCard(t, map[string]any{"type": "physical", "shipping_address": shipTo}) // activated through a consent
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

// countingFeed counts the reads of an event feed.
type countingFeed struct {
	events.Feed
	reads, heads atomic.Int64
}

func (f *countingFeed) Events(ctx context.Context, partnerID uuid.UUID, fl events.Filter) ([]events.Event, error) {
	f.reads.Add(1)
	return f.Feed.Events(ctx, partnerID, fl)
}

func (f *countingFeed) LatestSeq(ctx context.Context, partnerID uuid.UUID) (int64, error) {
	f.heads.Add(1)
	return f.Feed.LatestSeq(ctx, partnerID)
}

// openStream opens an event stream and returns its status, its Retry-After,
// a reader of its events and a closer (also run when the test ends).
func (e *env) openStream(t *testing.T, token string) (int, string, sse, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/v3/events/stream", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := e.srv.Client().Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	closer := func() { cancel(); _ = res.Body.Close() }
	t.Cleanup(closer)
	if res.StatusCode != http.StatusOK {
		closer()
		return res.StatusCode, res.Header.Get("Retry-After"), sse{}, func() {}
	}
	return res.StatusCode, "", sse{r: bufio.NewReader(res.Body)}, closer
}

func TestAPartnerHasABoundedNumberOfStreamsThatSharePolling(t *testing.T) {
	var feed *countingFeed
	e := newEnv(t, func(o *options) {
		o.feed = func(f events.Feed) events.Feed { feed = &countingFeed{Feed: f}; return feed }
	})
	var closers []func()
	for i := range web.StreamsPerPartner {
		status, _, _, closeIt := e.openStream(t, e.tokA)
		if status != http.StatusOK {
			t.Fatalf("stream %d: %d", i+1, status)
		}
		closers = append(closers, closeIt)
	}
	status, retry, _, _ := e.openStream(t, e.tokA)
	if status != http.StatusTooManyRequests || retry == "" {
		t.Fatalf("stream %d: %d, Retry-After %q", web.StreamsPerPartner+1, status, retry)
	}
	// Another partner's streams are its own.
	if status, _, _, _ := e.openStream(t, e.tokB); status != http.StatusOK {
		t.Fatalf("another partner's stream: %d", status)
	}
	// Idle streams share one watcher per partner: over a second, ten of
	// them read no events and ask for the newest sequence number about
	// four times for Alpha and four for Beta.
	time.Sleep(300 * time.Millisecond)
	reads, heads := feed.reads.Load(), feed.heads.Load()
	time.Sleep(time.Second)
	if r, h := feed.reads.Load()-reads, feed.heads.Load()-heads; r != 0 || h > 12 {
		t.Fatalf("in a second of %d idle streams: %d event reads, %d head reads", web.StreamsPerPartner+1, r, h)
	}
	// An event reaches every one of Alpha's streams.
	// A closed stream frees its slot once the server sees it gone.
	closers[0]()
	var live sse
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var status int
		if status, _, live, _ = e.openStream(t, e.tokA); status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the closed stream's slot is still taken: %d", status)
		}
	}
	e.card(e.tokA)
	if _, typ, _ := live.next(t); typ != "individual.created" && typ != "card.created" && typ != "account.created" {
		t.Fatalf("the stream got %s", typ)
	}
}

func TestShutdownEndsOpenStreamsAtOnce(t *testing.T) {
	e := newEnv(t)
	live := e.stream(t, "")
	done := make(chan string, 1)
	go func() {
		var last string
		for {
			line, err := live.r.ReadString('\n')
			if err != nil {
				done <- last
				return
			}
			if strings.HasPrefix(line, ":") {
				last = line
			}
		}
	}()
	e.web.EndStreams()
	select {
	case last := <-done:
		if !strings.Contains(last, "shutting down") {
			t.Fatalf("the stream ended after %q", last)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the stream is still open after EndStreams")
	}
	if status, _, _, _ := e.openStream(t, e.tokA); status != http.StatusServiceUnavailable {
		t.Fatalf("a stream after EndStreams: %d", status)
	}
}
