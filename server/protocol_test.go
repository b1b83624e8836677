package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/wassette/wassette/secretstore"
	"github.com/wassette/wassette/tools"
)

// slowServer is a server with the secret tools and a "slow" tool that runs until its
// call is cancelled. started receives a value when a slow call begins, stopped when one
// has seen its cancellation and returned.
type slowServer struct {
	s                *mcpserver.MCPServer
	started, stopped chan struct{}
	running          atomic.Int32
}

func newSlowServer(t testing.TB) *slowServer {
	t.Helper()
	store, err := secretstore.Open(filepath.Join(t.TempDir(), "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	ss := &slowServer{s: New("test", nil), started: make(chan struct{}, 1000), stopped: make(chan struct{}, 1000)}
	tools.RegisterSecrets(ss.s, store, nil)
	ss.s.AddTool(mcp.NewTool("slow"), func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		ss.running.Add(1)
		ss.started <- struct{}{}
		<-ctx.Done()
		ss.running.Add(-1)
		ss.stopped <- struct{}{}
		return mcp.NewToolResultError("the call was interrupted"), nil
	})
	return ss
}

func wait(t testing.TB, ch chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(60 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// stdioClient drives ServeStdio line by line.
type stdioClient struct {
	t    testing.TB
	in   io.WriteCloser
	out  *bufio.Scanner
	done chan error
}

func newStdioClient(t testing.TB, s *mcpserver.MCPServer) *stdioClient {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	in, out, done := stdioPipes(t, ctx, s)
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 2*MaxMessageBytes)
	return &stdioClient{t: t, in: in, out: sc, done: done}
}

func (c *stdioClient) send(lines ...string) {
	c.t.Helper()
	for _, l := range lines {
		if _, err := io.WriteString(c.in, l+"\n"); err != nil {
			c.t.Fatal(err)
		}
	}
}

// next returns the next line the server writes.
func (c *stdioClient) next() string {
	c.t.Helper()
	if !c.out.Scan() {
		c.t.Fatalf("stdout ended: %v", c.out.Err())
	}
	return c.out.Text()
}

// until returns the lines up to and including the first that contains s.
func (c *stdioClient) until(s string) []string {
	c.t.Helper()
	var lines []string
	for {
		l := c.next()
		lines = append(lines, l)
		if strings.Contains(l, s) {
			return lines
		}
	}
}

// rest closes stdin and returns every line written until stdout ends.
func (c *stdioClient) rest() []string {
	c.t.Helper()
	c.in.Close()
	var lines []string
	for c.out.Scan() {
		lines = append(lines, c.out.Text())
	}
	if err := <-c.done; err != nil {
		c.t.Errorf("ServeStdio: %v", err)
	}
	return lines
}

func initialize(version string, id int) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"initialize","params":{"protocolVersion":%q,"capabilities":{},"clientInfo":{"name":"t","version":"0"}}}`, id, version)
}

const initialized = `{"jsonrpc":"2.0","method":"notifications/initialized"}`

func call(id int, tool string, args string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":%s}}`, id, tool, args)
}

func cancelled(id int) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":%d,"reason":"test"}}`, id)
}

func ping(id int) string { return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"ping"}`, id) }

// answer decodes one JSON-RPC response.
type answer struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func decode(t testing.TB, s string) answer {
	t.Helper()
	var a answer
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		t.Fatalf("not a JSON-RPC response: %q", s)
	}
	return a
}

// TestStdioBeforeInitialize: an initialize-based client gets an Invalid Request error
// for tools/list before initialize, a ping is answered, and after initialize the same
// request is served.
func TestStdioBeforeInitialize(t *testing.T) {
	c := newStdioClient(t, newSlowServer(t).s)
	c.send(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	if a := decode(t, c.next()); a.Error == nil || a.Error.Code != mcp.INVALID_REQUEST ||
		!strings.Contains(a.Error.Message, "initialize") || string(a.ID) != "1" {
		t.Errorf("tools/list before initialize: %+v", a)
	}
	c.send(ping(2))
	if a := decode(t, c.next()); a.Error != nil || string(a.ID) != "2" {
		t.Errorf("ping before initialize: %+v", a)
	}
	c.send(initialize(mcp.ProtocolVersion20251125, 3))
	c.next()
	c.send(initialized, `{"jsonrpc":"2.0","id":4,"method":"tools/list"}`)
	if a := decode(t, c.next()); a.Error != nil || !strings.Contains(string(a.Result), `"slow"`) {
		t.Errorf("tools/list after initialize: %+v", a)
	}
	// A request of revision 2026-07-28 needs no initialize.
	c2 := newStdioClient(t, newSlowServer(t).s)
	c2.send(`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`)
	if a := decode(t, c2.next()); a.Error != nil {
		t.Errorf("2026-07-28 tools/list: %+v", a)
	}
}

// TestStdioBatches: a batch on 2025-03-26 is answered with one array; on 2025-06-18 and
// before initialize, with a single Invalid Request error.
func TestStdioBatches(t *testing.T) {
	c := newStdioClient(t, newSlowServer(t).s)
	c.send(`[` + ping(1) + `]`)
	if a := decode(t, c.next()); a.Error == nil || a.Error.Code != mcp.INVALID_REQUEST || string(a.ID) != "null" {
		t.Errorf("batch before initialize: %+v", a)
	}
	c.send(initialize(mcp.ProtocolVersion20250326, 2))
	c.next()
	c.send(initialized, `[`+ping(3)+`,`+initialized+`,`+call(4, "list-secrets", `{"component_id":"x"}`)+`]`)
	var got []answer
	if err := json.Unmarshal([]byte(c.next()), &got); err != nil || len(got) != 2 {
		t.Fatalf("batch answer: %v %+v", err, got)
	}
	ids := []string{string(got[0].ID), string(got[1].ID)}
	if !(ids[0] == "3" && ids[1] == "4" || ids[0] == "4" && ids[1] == "3") {
		t.Errorf("batch answered ids %v", ids)
	}

	c2 := newStdioClient(t, newSlowServer(t).s)
	c2.send(initialize(mcp.ProtocolVersion20250618, 1))
	c2.next()
	c2.send(`[` + ping(2) + `]`)
	if a := decode(t, c2.next()); a.Error == nil || a.Error.Code != mcp.INVALID_REQUEST || !strings.Contains(a.Error.Message, "2025-06-18") {
		t.Errorf("batch on 2025-06-18: %+v", a)
	}
}

// TestStdioCancelledGetsNoAnswer: a cancelled call is stopped and never answered; the
// server keeps answering.
func TestStdioCancelledGetsNoAnswer(t *testing.T) {
	ss := newSlowServer(t)
	c := newStdioClient(t, ss.s)
	c.send(initialize(mcp.ProtocolVersion20251125, 1))
	c.next()
	c.send(initialized, call(7, "slow", `{}`))
	wait(t, ss.started, "the slow call to start")
	c.send(cancelled(7))
	wait(t, ss.stopped, "the cancelled call to stop")
	c.send(ping(8))
	for _, l := range append(c.until(`"id":8`), c.rest()...) {
		if a := decode(t, l); string(a.ID) == "7" {
			t.Errorf("the cancelled request was answered: %s", l)
		}
	}
}

// TestStdioCheapWhileBusy: with more slow component calls in flight than mcp-go's stdio
// worker pool and queue hold (5 + 100), ping and list-secrets are still answered.
func TestStdioCheapWhileBusy(t *testing.T) {
	ss := newSlowServer(t)
	c := newStdioClient(t, ss.s)
	c.send(initialize(mcp.ProtocolVersion20251125, 1))
	c.next()
	c.send(initialized)
	const n = 120
	for i := range n {
		c.send(call(100+i, "slow", `{}`))
	}
	for range n {
		wait(t, ss.started, "the slow calls to start")
	}
	c.send(ping(2), call(3, "list-secrets", `{"component_id":"x"}`))
	for seen := map[string]bool{}; !seen["2"] || !seen["3"]; {
		seen[string(decode(t, c.next()).ID)] = true
	}
	if got := ss.running.Load(); got != n {
		t.Errorf("%d slow calls running while ping and list-secrets were answered, want %d", got, n)
	}
	for i := range n {
		c.send(cancelled(100 + i))
	}
	for range n {
		wait(t, ss.stopped, "the slow calls to stop")
	}
}

// httpServer serves ss over tr with cfg; it returns the base URL.
func httpServer(t *testing.T, s *mcpserver.MCPServer, cfg HTTPConfig) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, s, cfg, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(4 * ShutdownTimeout):
			t.Error("Serve did not return")
		}
	})
	return "http://" + ln.Addr().String()
}

// post sends body to url with headers and returns the status, the headers and the body.
func post(t testing.TB, url, body string, headers ...string) (int, http.Header, string) {
	t.Helper()
	return do(t, http.MethodPost, url, body, headers...)
}

func do(t testing.TB, method, url, body string, headers ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

const sessionHeader = "Mcp-Session-Id"

// startSession initializes a streamable HTTP session at revision version.
func startSession(t testing.TB, url, version string) string {
	t.Helper()
	code, h, body := post(t, url, initialize(version, 1))
	id := h.Get(sessionHeader)
	if code != http.StatusOK || id == "" {
		t.Fatalf("initialize: %d %s", code, body)
	}
	if code, _, body := post(t, url, initialized, sessionHeader, id); code != http.StatusAccepted {
		t.Fatalf("initialized: %d %s", code, body)
	}
	return id
}

// TestStreamableSessions: the transport's session rules.
func TestStreamableSessions(t *testing.T) {
	url := httpServer(t, newSlowServer(t).s, HTTPConfig{Transport: StreamableHTTP}) + StreamableHTTPPath
	if code, _, body := post(t, url, ping(1)); code != http.StatusBadRequest {
		t.Errorf("a request without a session: %d %s", code, body)
	}
	unknown := "wassette-00000000000000000000000000000000"
	if code, _, _ := post(t, url, ping(1), sessionHeader, unknown); code != http.StatusNotFound {
		t.Errorf("an unknown session: %d", code)
	}
	if code, _, _ := post(t, url, ping(1), sessionHeader, "mcp-session-7f1d2a9e-1111-4000-8000-000000000000"); code != http.StatusNotFound {
		t.Errorf("a well-formed mcp-go session id never issued: %d", code)
	}
	if code, _, _ := do(t, http.MethodGet, url, ""); code != http.StatusBadRequest {
		t.Errorf("GET without a session: %d", code)
	}
	if code, _, _ := do(t, http.MethodDelete, url, ""); code != http.StatusBadRequest {
		t.Errorf("DELETE without a session: %d", code)
	}
	id := startSession(t, url, mcp.ProtocolVersion20251125)
	if code, _, body := post(t, url, ping(2), sessionHeader, id); code != http.StatusOK || !strings.Contains(body, `"result"`) {
		t.Errorf("ping in the session: %d %s", code, body)
	}
	if code, _, _ := do(t, http.MethodDelete, url, "", sessionHeader, id); code != http.StatusOK {
		t.Errorf("DELETE: %d", code)
	}
	for _, m := range []string{http.MethodPost, http.MethodGet, http.MethodDelete} {
		if code, _, _ := do(t, m, url, ping(3), sessionHeader, id); code != http.StatusNotFound {
			t.Errorf("%s after DELETE: %d", m, code)
		}
	}
}

// TestStreamableSessionCap: at the cap a new session ends the least recently used idle
// one; when none is idle, initialize gets 503.
func TestStreamableSessionCap(t *testing.T) {
	url := httpServer(t, newSlowServer(t).s, HTTPConfig{Transport: StreamableHTTP, MaxSessions: 2}) + StreamableHTTPPath
	a := startSession(t, url, mcp.ProtocolVersion20251125)
	b := startSession(t, url, mcp.ProtocolVersion20251125)
	post(t, url, ping(1), sessionHeader, a) // b is now the least recently used
	c := startSession(t, url, mcp.ProtocolVersion20251125)
	if code, _, _ := post(t, url, ping(2), sessionHeader, b); code != http.StatusNotFound {
		t.Errorf("the evicted session answers %d, want 404", code)
	}
	for _, id := range []string{a, c} {
		if code, _, _ := post(t, url, ping(3), sessionHeader, id); code != http.StatusOK {
			t.Errorf("session %s answers %d", id, code)
		}
	}
	// Open event streams keep a and c busy: no session can be ended.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, id := range []string{a, c} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set(sessionHeader, id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET stream: %v %v", resp, err)
		}
		defer resp.Body.Close()
	}
	code, h, body := post(t, url, initialize(mcp.ProtocolVersion20251125, 4))
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || !strings.Contains(body, "too many sessions") {
		t.Errorf("initialize at the cap with every session busy: %d %v %s", code, h, body)
	}
}

// TestStreamableIdleTimeout: an unused session ends.
func TestStreamableIdleTimeout(t *testing.T) {
	url := httpServer(t, newSlowServer(t).s, HTTPConfig{Transport: StreamableHTTP, SessionIdleTimeout: 100 * time.Millisecond}) + StreamableHTTPPath
	id := startSession(t, url, mcp.ProtocolVersion20251125)
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, _, _ := do(t, http.MethodDelete, url, "", sessionHeader, id) // DELETE does not keep it alive
		if code == http.StatusNotFound {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the idle session still exists (DELETE answers %d)", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestStreamableBatches: 2025-03-26 answers a batch with an array; 2025-06-18 and
// 2026-07-28 refuse it with -32600.
func TestStreamableBatches(t *testing.T) {
	url := httpServer(t, newSlowServer(t).s, HTTPConfig{Transport: StreamableHTTP}) + StreamableHTTPPath
	id := startSession(t, url, mcp.ProtocolVersion20250326)
	code, _, body := post(t, url, `[`+ping(2)+`,`+call(3, "list-secrets", `{"component_id":"x"}`)+`]`, sessionHeader, id)
	var got []answer
	if err := json.Unmarshal([]byte(body), &got); code != http.StatusOK || err != nil || len(got) != 2 {
		t.Errorf("batch on 2025-03-26: %d %s", code, body)
	}
	if code, _, body := post(t, url, `[`+initialized+`]`, sessionHeader, id); code != http.StatusAccepted {
		t.Errorf("batch of notifications: %d %s", code, body)
	}
	id2 := startSession(t, url, mcp.ProtocolVersion20250618)
	code, _, body = post(t, url, `[`+ping(2)+`]`, sessionHeader, id2, "MCP-Protocol-Version", mcp.ProtocolVersion20250618)
	if a := decode(t, body); code != http.StatusBadRequest || a.Error == nil || a.Error.Code != mcp.INVALID_REQUEST {
		t.Errorf("batch on 2025-06-18: %d %s", code, body)
	}
	code, _, body = post(t, url, `[`+ping(2)+`]`, "MCP-Protocol-Version", mcp.ProtocolVersion20260728)
	if a := decode(t, body); code != http.StatusBadRequest || a.Error == nil || a.Error.Code != mcp.INVALID_REQUEST {
		t.Errorf("batch on 2026-07-28: %d %s", code, body)
	}
}

// TestStreamableCancelledGetsNoAnswer: a call cancelled with notifications/cancelled is
// stopped, and its POST ends with an event stream that carries no answer.
func TestStreamableCancelledGetsNoAnswer(t *testing.T) {
	ss := newSlowServer(t)
	url := httpServer(t, ss.s, HTTPConfig{Transport: StreamableHTTP}) + StreamableHTTPPath
	id := startSession(t, url, mcp.ProtocolVersion20251125)
	type result struct {
		code int
		h    http.Header
		body string
	}
	res := make(chan result, 1)
	go func() {
		code, h, body := post(t, url, call(7, "slow", `{}`), sessionHeader, id)
		res <- result{code, h, body}
	}()
	wait(t, ss.started, "the slow call to start")
	if code, _, body := post(t, url, cancelled(7), sessionHeader, id); code != http.StatusAccepted {
		t.Fatalf("notifications/cancelled: %d %s", code, body)
	}
	wait(t, ss.stopped, "the cancelled call to stop")
	r := <-res
	if r.code != http.StatusOK || !strings.HasPrefix(r.h.Get("Content-Type"), "text/event-stream") || strings.Contains(r.body, `"id":7`) {
		t.Errorf("the cancelled call's POST: %d %v %q", r.code, r.h, r.body)
	}
	if code, _, _ := post(t, url, ping(8), sessionHeader, id); code != http.StatusOK {
		t.Errorf("ping after the cancel: %d", code)
	}
}

// TestStreamableModernClientMessages: on 2026-07-28, the official Go SDK sends ping
// without _meta and notifications/cancelled; both are accepted.
func TestStreamableModernClientMessages(t *testing.T) {
	url := httpServer(t, newSlowServer(t).s, HTTPConfig{Transport: StreamableHTTP}) + StreamableHTTPPath
	v := "MCP-Protocol-Version"
	if code, _, body := post(t, url, ping(1), v, mcp.ProtocolVersion20260728); code != http.StatusOK || decode(t, body).Error != nil {
		t.Errorf("ping: %d %s", code, body)
	}
	if code, _, body := post(t, url, cancelled(1), v, mcp.ProtocolVersion20260728); code != http.StatusAccepted {
		t.Errorf("notifications/cancelled: %d %s", code, body)
	}
	list := `{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`
	if code, _, body := post(t, url, list, v, mcp.ProtocolVersion20260728, "Mcp-Method", "tools/list"); code != http.StatusOK || decode(t, body).Error != nil {
		t.Errorf("tools/list: %d %s", code, body)
	}
}

// TestStreamableCheapWhileBusy: ping and list-secrets are answered while slow calls
// are running.
func TestStreamableCheapWhileBusy(t *testing.T) {
	ss := newSlowServer(t)
	url := httpServer(t, ss.s, HTTPConfig{Transport: StreamableHTTP}) + StreamableHTTPPath
	id := startSession(t, url, mcp.ProtocolVersion20251125)
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { post(t, url, call(100+i, "slow", `{}`), sessionHeader, id) })
	}
	for range n {
		wait(t, ss.started, "the slow calls to start")
	}
	if code, _, _ := post(t, url, ping(1), sessionHeader, id); code != http.StatusOK {
		t.Errorf("ping: %d", code)
	}
	if code, _, body := post(t, url, call(2, "list-secrets", `{"component_id":"x"}`), sessionHeader, id); code != http.StatusOK || !strings.Contains(body, "no secrets") {
		t.Errorf("list-secrets: %d %s", code, body)
	}
	if got := ss.running.Load(); got != n {
		t.Errorf("%d slow calls running, want %d", got, n)
	}
	for i := range n {
		post(t, url, cancelled(100+i), sessionHeader, id)
	}
	wg.Wait()
}

// sseClient reads an SSE stream's messages.
type sseClient struct {
	t        *testing.T
	messages chan string
	endpoint string
}

func newSSEClient(t *testing.T, base string) *sseClient {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+SSEPath, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	c := &sseClient{t: t, messages: make(chan string, 100)}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 2*MaxMessageBytes)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		if e, ok := strings.CutPrefix(line, "event: "); ok {
			event = e
		}
		if d, ok := strings.CutPrefix(line, "data: "); ok && event == "endpoint" {
			c.endpoint = base + strings.TrimSpace(d)
			break
		}
	}
	go func() {
		defer resp.Body.Close()
		defer close(c.messages)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data:"); ok {
				c.messages <- strings.TrimSpace(d)
			}
		}
	}()
	return c
}

func (c *sseClient) post(body string, headers ...string) {
	c.t.Helper()
	if code, _, b := post(c.t, c.endpoint, body, headers...); code != http.StatusAccepted {
		c.t.Fatalf("POST %s: %d %s", body, code, b)
	}
}

// until returns the messages up to and including the first that contains s.
func (c *sseClient) until(s string) []string {
	c.t.Helper()
	var got []string
	timeout := time.After(60 * time.Second)
	for {
		select {
		case m, ok := <-c.messages:
			if !ok {
				c.t.Fatalf("the stream ended; got %v", got)
			}
			got = append(got, m)
			if strings.Contains(m, s) {
				return got
			}
		case <-timeout:
			c.t.Fatalf("no message with %s; got %v", s, got)
		}
	}
}

// TestSSEProtocol: over HTTP+SSE, batches are answered per revision, a cancelled call
// gets no answer, and a client of revision 2026-07-28 that sends the version header
// (as the MCP Inspector does) is served.
func TestSSEProtocol(t *testing.T) {
	ss := newSlowServer(t)
	base := httpServer(t, ss.s, HTTPConfig{Transport: SSE, KeepAlive: -1})

	c := newSSEClient(t, base)
	c.post(initialize(mcp.ProtocolVersion20250326, 1))
	c.until(`"id":1`)
	c.post(initialized)
	c.post(`[` + ping(2) + `,` + call(3, "list-secrets", `{"component_id":"x"}`) + `]`)
	msgs := c.until(`"id":`)
	var got []answer
	if err := json.Unmarshal([]byte(msgs[len(msgs)-1]), &got); err != nil || len(got) != 2 {
		t.Errorf("batch on 2025-03-26: %v", msgs)
	}

	c.post(call(7, "slow", `{}`))
	wait(t, ss.started, "the slow call to start")
	c.post(cancelled(7))
	wait(t, ss.stopped, "the cancelled call to stop")
	c.post(ping(8))
	c.post(ping(9))
	for _, m := range c.until(`"id":9`) {
		if strings.Contains(m, `"id":7`) {
			t.Errorf("the cancelled call was answered: %s", m)
		}
	}

	c2 := newSSEClient(t, base)
	c2.post(initialize(mcp.ProtocolVersion20251125, 1))
	c2.until(`"id":1`)
	c2.post(`[` + ping(2) + `]`)
	if a := decode(t, c2.until(`"error"`)[0]); a.Error.Code != mcp.INVALID_REQUEST || !strings.Contains(a.Error.Message, "2025-11-25") {
		t.Errorf("batch on 2025-11-25: %+v", a)
	}

	c3 := newSSEClient(t, base)
	c3.post(`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`,
		"MCP-Protocol-Version", mcp.ProtocolVersion20260728)
	if a := decode(t, c3.until(`"id":1`)[0]); a.Error != nil || !strings.Contains(string(a.Result), "list-secrets") {
		t.Errorf("2026-07-28 tools/list over SSE: %+v", a)
	}
}

// TestHTTPBodyTimeout: a body trickled one byte at a time is cut off with 408 and the
// connection is closed.
func TestHTTPBodyTimeout(t *testing.T) {
	for _, tr := range []Transport{SSE, StreamableHTTP} {
		t.Run(tr.String(), func(t *testing.T) {
			base := httpServer(t, newSlowServer(t).s, HTTPConfig{Transport: tr, BodyTimeout: 200 * time.Millisecond})
			conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			path := StreamableHTTPPath
			if tr == SSE {
				path = MessagePath + "?sessionId=x"
			}
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
				path, strings.TrimPrefix(base, "http://"))
			stop := make(chan struct{})
			defer close(stop)
			go func() { // one byte every 5 s, until the server hangs up
				tick := time.NewTicker(5 * time.Second)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
						if _, err := conn.Write([]byte(" ")); err != nil {
							return
						}
					}
				}
			}()
			conn.SetReadDeadline(time.Now().Add(60 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no response to a trickled body: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
				t.Errorf("trickled body: %d close=%v %s", resp.StatusCode, resp.Close, body)
			}
		})
	}
}

// TestHTTPMaxConnections: past the cap, a new connection waits until one closes;
// /healthz is answered once it does.
func TestHTTPMaxConnections(t *testing.T) {
	base := httpServer(t, newSlowServer(t).s, HTTPConfig{Transport: StreamableHTTP, MaxConnections: 2})
	addr := strings.TrimPrefix(base, "http://")
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		// A complete request keeps the connection accepted and open (keep-alive).
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", HealthPath, addr)
		if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	quick := &http.Client{Timeout: 300 * time.Millisecond}
	if resp, err := quick.Get(base + HealthPath); err == nil {
		resp.Body.Close()
		t.Errorf("a third connection was served while two were open")
	}
	held[0].Close()
	patient := &http.Client{Timeout: 60 * time.Second}
	resp, err := patient.Get(base + HealthPath)
	if err != nil {
		t.Fatalf("healthz after a connection closed: %v", err)
	}
	resp.Body.Close()
	held[1].Close()
}
