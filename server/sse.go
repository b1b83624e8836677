package server

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
)

// sseFront stands in front of mcp-go's HTTP+SSE transport. It answers batches as the
// session's revision says (mcp-go answers none), drops the answer to a request the
// client cancelled, and keeps the header rules of streamable HTTP off this transport:
// mcp-go checks the Mcp-Method and Mcp-Name headers (SEP-2243) of any request that
// carries an Mcp-Protocol-Version header of 2026-07-28, but those headers belong to the
// streamable HTTP binding, and a client speaking that revision over HTTP+SSE (the MCP
// Inspector in its auto and modern eras) sends the version header only.
type sseFront struct {
	s   *mcpserver.MCPServer
	sse *mcpserver.SSEServer
	log *slog.Logger

	mu    sync.Mutex
	conns map[string]*sseConn // by session ID
}

// sseConn is what sseFront knows of one SSE session.
type sseConn struct {
	mu       sync.Mutex
	version  string                  // negotiated by initialize
	session  mcpserver.ClientSession // mcp-go's, once a message has been posted
	inflight map[string]bool         // requests being served, by idKey: true if cancelled
}

func newSSEFront(s *mcpserver.MCPServer, opts []mcpserver.SSEOption, log *slog.Logger) *sseFront {
	f := &sseFront{s: s, log: log, conns: map[string]*sseConn{}}
	opts = append(opts, mcpserver.WithSSEContextFunc(func(ctx context.Context, r *http.Request) context.Context {
		if c := f.conn(r.URL.Query().Get("sessionId")); c != nil {
			c.mu.Lock()
			c.session = mcpserver.ClientSessionFromContext(ctx)
			c.mu.Unlock()
		}
		return mcpserver.WithSupportedProtocolVersions(ctx, SSEVersions)
	}))
	f.sse = mcpserver.NewSSEServer(s, opts...)
	return f
}

func (f *sseFront) conn(id string) *sseConn {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns[id]
}

// streamHandler serves GET SSEPath: mcp-go's event stream, through a writer that learns
// the session's ID from the endpoint event and drops cancelled answers.
func (f *sseFront) streamHandler() http.Handler {
	next := f.sse.SSEHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &sseWriter{ResponseWriter: w, f: f}
		defer sw.close()
		next.ServeHTTP(sw, r)
	})
}

// messageHandler serves POST MessagePath.
func (f *sseFront) messageHandler() http.Handler {
	next := f.sse.MessageHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for name := range r.Header {
			if strings.HasPrefix(strings.ToLower(name), "mcp-") {
				r.Header.Del(name)
			}
		}
		id := r.URL.Query().Get("sessionId")
		c := f.conn(id)
		body := readBody(r)
		if c == nil {
			next.ServeHTTP(w, r) // mcp-go answers for a session it does not know
			return
		}
		if isBatch(body) {
			w.WriteHeader(http.StatusAccepted)
			go f.batch(id, c, body)
			return
		}
		if m, ok := parseMessage(body); ok {
			c.mu.Lock()
			switch {
			case m.Method == string(mcp.MethodInitialize) && !m.modern():
				c.version = negotiated(m.Params.ProtocolVersion)
			case m.Method == string(mcp.MethodNotificationCancelled) && len(m.Params.RequestID) > 0:
				k := idKey(m.Params.RequestID)
				if _, ok := c.inflight[k]; ok {
					c.inflight[k] = true
				}
			}
			if m.isRequest() {
				c.inflight[idKey(m.ID)] = false
			}
			c.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

// batch answers a batch posted to session id: on 2025-03-26 with one event carrying the
// array of answers, on other revisions with an Invalid Request error.
func (f *sseFront) batch(id string, c *sseConn, body []byte) {
	c.mu.Lock()
	version, session := c.version, c.session
	c.mu.Unlock()
	elems, ok := splitBatch(body)
	switch {
	case !batchesAllowed(version) || session == nil:
		f.send(id, batchRefusal(version))
		return
	case !ok:
		f.send(id, errorResponse(nil, mcp.INVALID_REQUEST, "invalid JSON-RPC batch: send a non-empty array of messages"))
		return
	}
	ctx := mcpserver.WithSupportedProtocolVersions(f.s.WithContext(context.Background(), session), SSEVersions)
	responses := make([][]byte, len(elems))
	var wg sync.WaitGroup
	for i, e := range elems {
		m, _ := parseMessage(e)
		if m.Method == string(mcp.MethodInitialize) {
			responses[i] = errorResponse(m.ID, mcp.INVALID_REQUEST, "initialize must not be part of a JSON-RPC batch")
			continue
		}
		wg.Go(func() {
			if resp := f.s.HandleMessage(ctx, e); resp != nil {
				responses[i], _ = json.Marshal(resp)
			}
		})
	}
	wg.Wait()
	var out [][]byte
	for _, r := range responses {
		if len(r) > 0 {
			out = append(out, r)
		}
	}
	if len(out) > 0 {
		f.send(id, joinBatch(out))
	}
}

// send queues msg on session id's event stream, waiting (up to a minute) while the
// queue is full.
func (f *sseFront) send(id string, msg []byte) {
	deadline := time.Now().Add(time.Minute)
	for {
		err := f.sse.SendEventToSession(id, json.RawMessage(msg))
		if err == nil || !strings.Contains(err.Error(), "queue full") || time.Now().After(deadline) {
			if err != nil {
				f.log.Warn("an answer could not be sent on the event stream", "session", id, "err", err)
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sseWriter carries one SSE event stream.
type sseWriter struct {
	http.ResponseWriter
	f  *sseFront
	id string
	c  *sseConn
}

func (w *sseWriter) Write(p []byte) (int, error) {
	if w.c == nil {
		// The first event names the endpoint, with the session's ID.
		if _, after, ok := bytes.Cut(p, []byte("sessionId=")); ok {
			id, _, _ := strings.Cut(strings.TrimSpace(string(after)), "&")
			w.id, w.c = id, &sseConn{inflight: map[string]bool{}}
			w.f.mu.Lock()
			w.f.conns[id] = w.c
			w.f.mu.Unlock()
		}
	} else if w.dropAnswer(p) {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// dropAnswer reports whether event p is the answer to a request the client cancelled;
// it forgets the requests it sees answered.
func (w *sseWriter) dropAnswer(p []byte) bool {
	data, ok := bytes.CutPrefix(p, []byte("event: message\ndata:"))
	if !ok {
		return false
	}
	m, ok := parseMessage(bytes.TrimSpace(data))
	if !ok || m.Method != "" || !m.hasID() {
		return false
	}
	k := idKey(m.ID)
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	cancelled := w.c.inflight[k]
	delete(w.c.inflight, k)
	return cancelled
}

func (w *sseWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *sseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *sseWriter) close() {
	if w.c != nil {
		w.f.mu.Lock()
		delete(w.f.conns, w.id)
		w.f.mu.Unlock()
	}
}
