package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
)

// MaxMessageBytes bounds one JSON-RPC message: a stdio line or an HTTP request body.
// A secret value is at most 64 KiB, so this leaves ample room; anything larger is
// refused with a JSON-RPC error instead of being buffered.
const MaxMessageBytes = 4 << 20

// ServeStdio serves s to one client that writes JSON-RPC messages, one per line, to in
// and reads the answers from out. It returns nil when in ends or ctx is done, and an
// error only if in cannot be read or out written.
//
// out carries JSON-RPC messages and nothing else. Lines longer than MaxMessageBytes are
// dropped and answered with an error, blank lines are skipped, and malformed messages get
// a JSON-RPC parse error; none of these stop the server.
//
// Every request runs on its own goroutine, so a ping or a list-secrets is answered while
// component calls are running. A request the client cancels (notifications/cancelled)
// is stopped and gets no answer. Until initialize has been answered, only initialize,
// ping and server/discover are served to a client of the initialize-based revisions;
// requests that carry the 2026-07-28 revision in _meta need no initialize. Batches are
// answered as their revision says: 2025-03-26 with an array of responses, the others
// with an Invalid Request error.
//
// When in ends, the requests already read are answered (for up to 30s) before
// ServeStdio returns.
func ServeStdio(ctx context.Context, s *mcpserver.MCPServer, in io.Reader, out io.Writer, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := &stdioConn{
		s:        s,
		out:      out,
		log:      log,
		session:  newStdioSession(),
		inflight: map[string]*stdioRequest{},
		calls:    map[string]chan message{},
	}
	c.session.conn = c
	if err := s.RegisterSession(ctx, c.session); err != nil {
		return fmt.Errorf("serving MCP on stdio: %w (only one stdio server may run at a time)", err)
	}
	defer s.UnregisterSession(context.WithoutCancel(ctx), c.session.SessionID())
	c.ctx = mcpserver.WithSupportedProtocolVersions(s.WithContext(ctx, c.session), StdioVersions)

	go c.forwardNotifications(ctx)

	readErr := make(chan error, 1)
	go func() { readErr <- readMessages(in, c.handleLine, c.oversize, log) }()

	var err error
	select {
	case err = <-readErr:
		// The requests still running get their answers first.
		done := make(chan struct{})
		go func() { c.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
		case <-time.After(drainTimeout):
			log.Warn("stdin ended; stopping requests still running", "timeout", drainTimeout)
		}
	case <-ctx.Done():
	}
	cancel()
	if werr := c.writeErr(); werr != nil {
		return fmt.Errorf("serving MCP on stdio: writing stdout: %w", werr)
	}
	if err != nil {
		return fmt.Errorf("serving MCP on stdio: %w", err)
	}
	return nil
}

// drainTimeout bounds how long the server waits, once stdin has ended, for the answers
// to the requests it has read.
const drainTimeout = 30 * time.Second

// stdioConn is one stdio client.
type stdioConn struct {
	s       *mcpserver.MCPServer
	ctx     context.Context // carries the session
	log     *slog.Logger
	session *stdioSession
	wg      sync.WaitGroup // requests running

	outMu  sync.Mutex
	out    io.Writer
	outErr error

	mu          sync.Mutex
	inflight    map[string]*stdioRequest // by idKey
	initialized bool                     // initialize was answered
	version     string                   // negotiated by initialize
	calls       map[string]chan message  // our requests to the client awaiting a response, by idKey
	lastCall    atomic.Int64
}

// call sends the client a request (such as elicitation/create) and decodes its result
// into result. It returns when the response arrives or ctx is done.
func (c *stdioConn) call(ctx context.Context, method string, params, result any) error {
	id := fmt.Sprintf("wassette-%d", c.lastCall.Add(1))
	req, err := json.Marshal(struct {
		JSONRPC string `json:"jsonrpc"`
		ID      string `json:"id"`
		Method  string `json:"method"`
		Params  any    `json:"params"`
	}{"2.0", id, method, params})
	if err != nil {
		return err
	}
	rawID, _ := json.Marshal(id)
	key := idKey(rawID)
	reply := make(chan message, 1)
	c.mu.Lock()
	c.calls[key] = reply
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.calls, key)
		c.mu.Unlock()
	}()
	c.write(req)
	select {
	case m := <-reply:
		if len(m.Error) > 0 && string(m.Error) != "null" {
			var e mcp.JSONRPCErrorDetails
			if json.Unmarshal(m.Error, &e) != nil {
				return fmt.Errorf("the client answered %s with an unreadable error", method)
			}
			return fmt.Errorf("the client answered %s with error %d: %s", method, e.Code, e.Message)
		}
		return json.Unmarshal(m.Result, result)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stdioRequest is a request being served.
type stdioRequest struct {
	cancelled atomic.Bool
}

// write writes one message as one line.
func (c *stdioConn) write(b []byte) {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	if c.outErr != nil {
		return
	}
	line := make([]byte, 0, len(b)+1)
	line = append(append(line, bytes.TrimSpace(b)...), '\n')
	if _, err := c.out.Write(line); err != nil {
		c.outErr = err
	}
}

func (c *stdioConn) writeErr() error {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	return c.outErr
}

func (c *stdioConn) oversize(n int) {
	c.write(errorResponse(nil, mcp.INVALID_REQUEST, "message of %d bytes dropped: the limit is %d bytes", n, MaxMessageBytes))
}

// handleLine serves one line: a message or a batch.
func (c *stdioConn) handleLine(line []byte) {
	if !isBatch(line) {
		c.handle(line, func(resp []byte) { c.write(resp) })
		return
	}
	c.mu.Lock()
	version := c.version
	c.mu.Unlock()
	elems, ok := splitBatch(line)
	if !ok || !batchesAllowed(version) {
		if !ok && version != "" {
			c.write(errorResponse(nil, mcp.INVALID_REQUEST, "invalid JSON-RPC batch: send a non-empty array of messages"))
			return
		}
		c.write(batchRefusal(version))
		return
	}
	// The answers to a batch go out together, as one array, once every request in it is
	// answered.
	var mu sync.Mutex
	var responses [][]byte
	var pending sync.WaitGroup
	for _, e := range elems {
		pending.Add(1)
		var once sync.Once
		c.handle(e, func(resp []byte) {
			once.Do(func() {
				mu.Lock()
				responses = append(responses, resp)
				mu.Unlock()
				pending.Done()
			})
		}, pending.Done)
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		pending.Wait()
		if len(responses) > 0 {
			c.write(joinBatch(responses))
		}
	}()
}

// handle serves one message. answer receives its response, if it gets one; noAnswer,
// if given, is called instead when it gets none (a notification, a response, a
// cancelled request).
func (c *stdioConn) handle(raw []byte, answer func([]byte), noAnswer ...func()) {
	none := func() {
		for _, f := range noAnswer {
			f()
		}
	}
	m, ok := parseMessage(raw)
	switch {
	case !ok:
		// Not a JSON object: mcp-go answers with its parse error.
		c.respond(raw, nil, answer, none)
		return
	case m.Method == "" && m.hasID() && (len(m.Result) > 0 || len(m.Error) > 0):
		// A response to one of our requests (see call); one to nothing we asked is dropped.
		c.mu.Lock()
		reply := c.calls[idKey(m.ID)]
		c.mu.Unlock()
		if reply != nil {
			select {
			case reply <- m:
			default:
			}
		}
		none()
		return
	case m.Method == "":
		// Neither request nor notification nor response: mcp-go answers.
		c.respond(raw, nil, answer, none)
		return
	case m.isNotification():
		if m.Method == string(mcp.MethodNotificationCancelled) && len(m.Params.RequestID) > 0 {
			c.mu.Lock()
			if r := c.inflight[idKey(m.Params.RequestID)]; r != nil {
				r.cancelled.Store(true)
			}
			c.mu.Unlock()
		}
		// mcp-go cancels the request's context; notifications are cheap, so serve them
		// in order, on the reading goroutine.
		c.respond(raw, nil, answer, none)
		return
	}
	if !m.modern() {
		c.mu.Lock()
		ready := c.initialized
		c.mu.Unlock()
		if !ready && !allowedBeforeInit(m.Method) {
			answer(notInitialized(m))
			return
		}
	}
	key := idKey(m.ID)
	r := &stdioRequest{}
	c.mu.Lock()
	c.inflight[key] = r
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.respond(raw, r, func(resp []byte) {
			if m.Method == string(mcp.MethodInitialize) && !m.modern() {
				c.initializedBy(resp)
			}
			answer(resp)
		}, none)
		c.mu.Lock()
		if c.inflight[key] == r {
			delete(c.inflight, key)
		}
		c.mu.Unlock()
	}()
}

// respond runs raw through mcp-go and passes on its response, unless r was cancelled.
func (c *stdioConn) respond(raw []byte, r *stdioRequest, answer func([]byte), none func()) {
	resp := c.s.HandleMessage(c.ctx, raw)
	if resp == nil || (r != nil && r.cancelled.Load()) {
		none()
		return
	}
	b, err := json.Marshal(resp)
	if err != nil {
		c.log.Error("encoding a response", "err", err)
		b = errorResponse(nil, mcp.INTERNAL_ERROR, "the response could not be encoded")
	}
	answer(b)
}

// initializedBy records a successful initialize response: from now on the session is
// initialized, at the revision it names.
func (c *stdioConn) initializedBy(resp []byte) {
	var r struct {
		Result *struct {
			ProtocolVersion string `json:"protocolVersion"`
		} `json:"result"`
	}
	if json.Unmarshal(resp, &r) != nil || r.Result == nil {
		return
	}
	c.mu.Lock()
	c.initialized, c.version = true, r.Result.ProtocolVersion
	c.mu.Unlock()
}

// forwardNotifications writes the notifications mcp-go sends the session (such as
// notifications/tools/list_changed) until ctx is done.
func (c *stdioConn) forwardNotifications(ctx context.Context) {
	for {
		select {
		case n := <-c.session.notes:
			b, err := json.Marshal(n)
			if err == nil {
				c.write(b)
			}
		case <-ctx.Done():
			return
		}
	}
}

// readMessages calls handle with each line of in, without its newline, skipping blank
// ones. A line over MaxMessageBytes is discarded as it is read and reported to oversize
// with its length. It returns nil at the end of in.
func readMessages(in io.Reader, handle func([]byte), oversize func(int), log *slog.Logger) error {
	r := bufio.NewReaderSize(in, 64<<10)
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > MaxMessageBytes {
			n := len(line) + len(chunk)
			line = nil
			for errors.Is(err, bufio.ErrBufferFull) {
				chunk, err = r.ReadSlice('\n')
				n += len(chunk)
			}
			log.Warn("dropped an oversize message on stdin", "bytes", n, "limit", MaxMessageBytes)
			oversize(n)
		} else {
			line = append(line, chunk...)
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if t := bytes.TrimSpace(line); len(t) > 0 {
				handle(bytes.Clone(t))
			}
			line = line[:0]
		}
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return fmt.Errorf("reading stdin: %w", err)
		}
	}
}

// stdioSession is the one session of a stdio server.
type stdioSession struct {
	conn        *stdioConn
	notes       chan mcp.JSONRPCNotification
	initialized atomic.Bool

	mu         sync.Mutex
	clientInfo mcp.Implementation
	clientCaps mcp.ClientCapabilities
	version    string
}

func newStdioSession() *stdioSession {
	return &stdioSession{notes: make(chan mcp.JSONRPCNotification, 100)}
}

func (s *stdioSession) SessionID() string                                   { return "stdio" }
func (s *stdioSession) NotificationChannel() chan<- mcp.JSONRPCNotification { return s.notes }
func (s *stdioSession) Initialize()                                         { s.initialized.Store(true) }
func (s *stdioSession) Initialized() bool                                   { return s.initialized.Load() }

// RequestElicitation sends the client elicitation/create (mcp-go calls it, as for URL-mode
// elicitation) and waits for its answer.
func (s *stdioSession) RequestElicitation(ctx context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	var res mcp.ElicitationResult
	if err := s.conn.call(ctx, string(mcp.MethodElicitationCreate), req.Params, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

func (s *stdioSession) GetClientInfo() mcp.Implementation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clientInfo
}

func (s *stdioSession) SetClientInfo(i mcp.Implementation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clientInfo = i
}

func (s *stdioSession) GetClientCapabilities() mcp.ClientCapabilities {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clientCaps
}

func (s *stdioSession) SetClientCapabilities(c mcp.ClientCapabilities) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clientCaps = c
}

// ProtocolVersion is the revision initialize negotiated (mcp-go asks for it).
func (s *stdioSession) ProtocolVersion() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version
}

// SetProtocolVersion records the revision initialize negotiated (mcp-go sets it).
func (s *stdioSession) SetProtocolVersion(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version = v
}
