package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
)

// Defaults of the streamable HTTP session limits.
const (
	// DefaultMaxSessions is how many streamable HTTP sessions may exist at once.
	DefaultMaxSessions = 1000
	// DefaultSessionIdleTimeout is how long a streamable HTTP session may go unused
	// before it ends.
	DefaultSessionIdleTimeout = 10 * time.Minute
)

// streamable stands in front of mcp-go's streamable HTTP handler. mcp-go mints session
// IDs but, by default, checks none of them; streamable keeps the table of sessions and
// applies the transport's session rules to every request of an initialize-based
// client (revisions 2025-03-26 to 2025-11-25):
//
//   - initialize starts a session; at the cap, the least recently used idle session ends
//     to make room, and if every session is busy the answer is 503;
//   - any other POST, a GET or a DELETE without Mcp-Session-Id gets 400, and one naming
//     a session that does not exist (never did, or ended) gets 404;
//   - DELETE ends the session, and so does idleness;
//   - a batch is answered as the session's revision says;
//   - a request the client cancels with notifications/cancelled gets no answer.
//
// Requests of revision 2026-07-28 have no session and go to mcp-go as they are, but for
// two messages the official Go SDK sends that this revision does not have: a ping
// without _meta is answered, and notifications/cancelled is accepted (on this revision
// closing the request's stream cancels it, which mcp-go honours).
type streamable struct {
	next  http.Handler
	table *sessionTable
	log   *slog.Logger
}

func newStreamable(s *mcpserver.MCPServer, opts []mcpserver.StreamableHTTPOption, maxSessions int,
	idle time.Duration, log *slog.Logger) (*streamable, *mcpserver.StreamableHTTPServer) {
	if maxSessions <= 0 {
		maxSessions = DefaultMaxSessions
	}
	if idle <= 0 {
		idle = DefaultSessionIdleTimeout
	}
	t := &sessionTable{m: map[string]*httpSession{}, max: maxSessions, idle: idle, log: log}
	opts = append(opts,
		mcpserver.WithSessionIdManager(t),
		mcpserver.WithStreamableHTTPProtocolVersions(StreamableHTTPVersions...),
	)
	sh := mcpserver.NewStreamableHTTPServer(s, opts...)
	t.end = func(id string) { endInMCPGo(sh, id) }
	return &streamable{next: sh, table: t, log: log}, sh
}

// endInMCPGo makes mcp-go drop what it keeps for session id, as a DELETE from the client
// would.
func endInMCPGo(h http.Handler, id string) {
	r, err := http.NewRequest(http.MethodDelete, StreamableHTTPPath, nil)
	if err != nil {
		return
	}
	r.Host = "127.0.0.1"
	r.Header.Set(mcpserver.HeaderKeySessionID, id)
	h.ServeHTTP(&recorder{}, r)
}

func (h *streamable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if mcp.IsModernProtocol(r.Header.Get(mcp.HeaderProtocolVersion)) {
		h.modern(w, r)
		return
	}
	switch r.Method {
	case http.MethodPost:
		h.post(w, r)
	case http.MethodGet, http.MethodDelete:
		h.stream(w, r)
	default:
		h.next.ServeHTTP(w, r)
	}
}

// modern serves a request of revision 2026-07-28 (by its header).
func (h *streamable) modern(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		h.next.ServeHTTP(w, r) // mcp-go answers GET and DELETE with 405, as the revision says
		return
	}
	body := readBody(r)
	if isBatch(body) {
		writeJSON(w, http.StatusBadRequest, batchRefusal(mcp.ProtocolVersion20260728))
		return
	}
	m, ok := parseMessage(body)
	if ok && !m.modern() {
		switch {
		case m.Method == string(mcp.MethodPing) && m.hasID():
			writeJSON(w, http.StatusOK, []byte(`{"jsonrpc":"2.0","id":`+string(m.ID)+`,"result":{}}`))
			return
		case m.Method == string(mcp.MethodNotificationCancelled) && !m.hasID():
			w.WriteHeader(http.StatusAccepted)
			return
		}
	}
	h.next.ServeHTTP(w, r)
}

// post serves a POST of an initialize-based client.
func (h *streamable) post(w http.ResponseWriter, r *http.Request) {
	body := readBody(r)
	if isBatch(body) {
		h.batch(w, r, body)
		return
	}
	m, _ := parseMessage(body)
	if m.modern() {
		h.next.ServeHTTP(w, r)
		return
	}
	if m.Method == string(mcp.MethodInitialize) {
		h.initialize(w, r, m)
		return
	}
	sess, ok := h.session(w, r)
	if !ok {
		return
	}
	defer h.table.release(sess)
	if m.Method == string(mcp.MethodNotificationCancelled) && len(m.Params.RequestID) > 0 {
		sess.cancel(idKey(m.Params.RequestID))
	}
	if !m.isRequest() {
		h.next.ServeHTTP(w, r)
		return
	}
	cw := &cancelWriter{ResponseWriter: w}
	key := idKey(m.ID)
	sess.track(key, cw)
	defer sess.untrack(key, cw)
	h.next.ServeHTTP(cw, r)
}

// initialize starts a session, making room for it first if the table is full.
func (h *streamable) initialize(w http.ResponseWriter, r *http.Request, m message) {
	if !h.table.reserve() {
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, errorResponse(m.ID, mcp.INTERNAL_ERROR,
			"too many sessions: all %d are in use; try again later, or end unused sessions with DELETE", h.table.max))
		return
	}
	defer h.table.unreserve()
	h.next.ServeHTTP(w, r)
	if id := w.Header().Get(mcpserver.HeaderKeySessionID); id != "" {
		h.table.started(id, negotiated(m.Params.ProtocolVersion))
	}
}

// session finds the session a request names, or answers 400 (none named) or 404
// (unknown). The session is held until release.
func (h *streamable) session(w http.ResponseWriter, r *http.Request) (*httpSession, bool) {
	id := r.Header.Get(mcpserver.HeaderKeySessionID)
	if id == "" {
		writeJSON(w, http.StatusBadRequest, errorResponse(nil, mcp.INVALID_REQUEST,
			"missing %s header: send initialize first and then the session ID it returned with every request",
			mcpserver.HeaderKeySessionID))
		return nil, false
	}
	sess := h.table.hold(id)
	if sess == nil {
		writeJSON(w, http.StatusNotFound, errorResponse(nil, -32001,
			"session not found: it ended (DELETE, idle for %s, or the server restarted) or never existed; "+
				"send initialize to start a new one", h.table.idle))
		return nil, false
	}
	return sess, true
}

// stream serves a GET (the server's event stream) or a DELETE (end of the session).
func (h *streamable) stream(w http.ResponseWriter, r *http.Request) {
	sess, ok := h.session(w, r)
	if !ok {
		return
	}
	if r.Method == http.MethodDelete {
		h.table.release(sess)
		h.table.remove(sess.id)
		h.next.ServeHTTP(w, r)
		return
	}
	defer h.table.release(sess)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	sess.addStream(cancel)
	h.next.ServeHTTP(w, r.WithContext(ctx))
}

// batch answers a JSON-RPC batch: each message goes through post, and the answers come
// back as one JSON array.
func (h *streamable) batch(w http.ResponseWriter, r *http.Request, body []byte) {
	sess, ok := h.session(w, r)
	if !ok {
		return
	}
	version := sess.version
	h.table.release(sess)
	elems, ok := splitBatch(body)
	switch {
	case !batchesAllowed(version):
		writeJSON(w, http.StatusBadRequest, batchRefusal(version))
		return
	case !ok:
		writeJSON(w, http.StatusBadRequest, errorResponse(nil, mcp.INVALID_REQUEST, "invalid JSON-RPC batch: send a non-empty array of messages"))
		return
	}
	responses := make([][]byte, len(elems))
	var wg sync.WaitGroup
	for i, e := range elems {
		if m, _ := parseMessage(e); m.Method == string(mcp.MethodInitialize) {
			responses[i] = errorResponse(m.ID, mcp.INVALID_REQUEST, "initialize must not be part of a JSON-RPC batch")
			continue
		}
		sub := withBody(r.Clone(r.Context()), e)
		wg.Go(func() {
			rec := &recorder{}
			h.post(rec, sub)
			responses[i] = rec.response()
		})
	}
	wg.Wait()
	var out [][]byte
	for _, resp := range responses {
		if len(resp) > 0 {
			out = append(out, resp)
		}
	}
	if len(out) == 0 {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	writeJSON(w, http.StatusOK, joinBatch(out))
}

// writeJSON writes body as an application/json response.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// cancelWriter carries mcp-go's answer to one request, unless the client cancelled the
// request: then the answer is dropped, and the client gets an event stream that ends
// without it.
type cancelWriter struct {
	http.ResponseWriter
	cancelled atomic.Bool

	mu          sync.Mutex
	wroteHeader bool
	stream      bool // an event stream
	dropping    bool // everything written is dropped
}

func (w *cancelWriter) WriteHeader(code int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writeHeader(code)
}

func (w *cancelWriter) writeHeader(code int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	w.stream = strings.HasPrefix(w.Header().Get("Content-Type"), "text/event-stream")
	if w.cancelled.Load() && !w.stream && code == http.StatusOK {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Del("Content-Length")
		w.dropping = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *cancelWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writeHeader(http.StatusOK)
	if w.dropping || (w.stream && w.cancelled.Load() && isResponseEvent(p)) {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

func (w *cancelWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *cancelWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// isResponseEvent reports whether p is one server-sent event carrying a JSON-RPC
// response.
func isResponseEvent(p []byte) bool {
	for line := range bytes.SplitSeq(p, []byte("\n")) {
		data, ok := bytes.CutPrefix(line, []byte("data:"))
		if !ok {
			continue
		}
		m, ok := parseMessage(bytes.TrimSpace(data))
		if ok && m.Method == "" && m.hasID() {
			return true
		}
	}
	return false
}

// recorder is a ResponseWriter that keeps what is written; it cannot stream, so mcp-go
// answers it with one JSON message.
type recorder struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header {
	if r.h == nil {
		r.h = http.Header{}
	}
	return r.h
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(p)
}

// response returns the JSON-RPC message recorded, if any: the body of a JSON answer,
// or the response in an event stream.
func (r *recorder) response() []byte {
	body := bytes.TrimSpace(r.body.Bytes())
	if len(body) == 0 {
		return nil
	}
	if !strings.HasPrefix(r.Header().Get("Content-Type"), "text/event-stream") {
		if json.Valid(body) {
			return body
		}
		return errorResponse(nil, mcp.INTERNAL_ERROR, "HTTP %d: %s", r.status, clip(string(body)))
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, MaxMessageBytes+1024)
	for sc.Scan() {
		data, ok := bytes.CutPrefix(sc.Bytes(), []byte("data:"))
		if !ok {
			continue
		}
		data = bytes.TrimSpace(data)
		if m, ok := parseMessage(data); ok && m.Method == "" && m.hasID() {
			return bytes.Clone(data)
		}
	}
	return nil
}

// sessionTable is the table of streamable HTTP sessions. It is the SessionIdManager
// mcp-go asks to mint and check session IDs.
type sessionTable struct {
	max  int
	idle time.Duration
	log  *slog.Logger
	end  func(id string) // makes mcp-go drop the session

	mu       sync.Mutex
	m        map[string]*httpSession
	reserved int // initialize requests under way
}

// httpSession is one streamable HTTP session.
type httpSession struct {
	id      string
	version string // negotiated by initialize

	// guarded by the table's mu
	last time.Time // end of the last request
	busy int       // requests and streams open

	mu      sync.Mutex
	streams []context.CancelFunc     // cancel the open event streams
	reqs    map[string]*cancelWriter // requests being served, by idKey
}

// Generate mints the ID of a new session (mcp-go calls it for initialize).
func (t *sessionTable) Generate() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	id := "wassette-" + hex.EncodeToString(b[:])
	t.mu.Lock()
	t.m[id] = &httpSession{id: id, last: time.Now(), reqs: map[string]*cancelWriter{}}
	t.mu.Unlock()
	return id
}

// Validate reports whether id names a session (mcp-go calls it for every request).
func (t *sessionTable) Validate(id string) (isTerminated bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m[id] == nil {
		return false, errors.New("session not found")
	}
	return false, nil
}

// Terminate ends a session (mcp-go calls it for DELETE).
func (t *sessionTable) Terminate(id string) (isNotAllowed bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, id)
	return false, nil
}

// reserve makes room for one more session, ending the least recently used idle one if
// the table is full. It reports false if every session is busy.
func (t *sessionTable) reserve() bool {
	t.mu.Lock()
	var victim *httpSession
	if len(t.m)+t.reserved >= t.max {
		for _, s := range t.m {
			if s.busy == 0 && (victim == nil || s.last.Before(victim.last)) {
				victim = s
			}
		}
		if victim == nil {
			t.mu.Unlock()
			t.log.Warn("refused a new streamable HTTP session: every session is in use", "max_sessions", t.max)
			return false
		}
		delete(t.m, victim.id)
	}
	t.reserved++
	t.mu.Unlock()
	if victim != nil {
		t.log.Debug("ended the least recently used session to make room", "session", victim.id, "max_sessions", t.max)
		t.end(victim.id)
	}
	return true
}

func (t *sessionTable) unreserve() {
	t.mu.Lock()
	t.reserved--
	t.mu.Unlock()
}

// started records the revision a new session negotiated.
func (t *sessionTable) started(id, version string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.m[id]; s != nil {
		s.version = version
	}
}

// hold finds session id and marks it busy; release undoes it. nil means no such
// session.
func (t *sessionTable) hold(id string) *httpSession {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.m[id]
	if s != nil {
		s.busy++
	}
	return s
}

func (t *sessionTable) release(s *httpSession) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s.busy--
	s.last = time.Now()
}

// remove takes session id out of the table and closes its open event streams.
func (t *sessionTable) remove(id string) {
	t.mu.Lock()
	s := t.m[id]
	delete(t.m, id)
	t.mu.Unlock()
	if s == nil {
		return
	}
	s.mu.Lock()
	streams := s.streams
	s.streams = nil
	s.mu.Unlock()
	for _, cancel := range streams {
		cancel()
	}
}

// len is the number of sessions.
func (t *sessionTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// sweep ends the sessions idle for longer than the idle timeout.
func (t *sessionTable) sweep(now time.Time) {
	t.mu.Lock()
	var expired []string
	for id, s := range t.m {
		if s.busy == 0 && now.Sub(s.last) > t.idle {
			expired = append(expired, id)
			delete(t.m, id)
		}
	}
	t.mu.Unlock()
	for _, id := range expired {
		t.end(id)
	}
	if len(expired) > 0 {
		t.log.Debug("ended idle sessions", "count", len(expired), "idle_timeout", t.idle)
	}
	if len(expired) >= freeAfter {
		// Many sessions ended at once, as after a burst of clients: give their memory
		// back now rather than at the runtime's next periodic collection, minutes away
		// on an idle server.
		debug.FreeOSMemory()
	}
}

// freeAfter is how many sessions one sweep must end for their memory to be returned to
// the operating system at once.
const freeAfter = 256

// sweeper calls sweep until ctx is done.
func (t *sessionTable) sweeper(ctx context.Context) {
	every := max(t.idle/4, 50*time.Millisecond)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			t.sweep(now)
		}
	}
}

func (s *httpSession) addStream(cancel context.CancelFunc) {
	s.mu.Lock()
	s.streams = append(s.streams, cancel)
	s.mu.Unlock()
}

func (s *httpSession) track(key string, w *cancelWriter) {
	s.mu.Lock()
	s.reqs[key] = w
	s.mu.Unlock()
}

func (s *httpSession) untrack(key string, w *cancelWriter) {
	s.mu.Lock()
	if s.reqs[key] == w {
		delete(s.reqs, key)
	}
	s.mu.Unlock()
}

// cancel marks the request with key as cancelled: its answer will be dropped.
func (s *httpSession) cancel(key string) {
	s.mu.Lock()
	w := s.reqs[key]
	s.mu.Unlock()
	if w != nil {
		w.cancelled.Store(true)
	}
}
