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
// the JSON-RPC error mcp-go gives them; none of these stop the server.
//
// mcp-go keeps a single stdio session per process, so only one ServeStdio may run at a
// time.
func ServeStdio(ctx context.Context, s *mcpserver.MCPServer, in io.Reader, out io.Writer, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &lockedWriter{w: out}
	pr, pw := io.Pipe()
	go func() {
		err := copyMessages(in, pw, w, log)
		if err == nil {
			// mcp-go drops the requests still queued when its input ends, so let the
			// answers to those already sent be written first.
			w.drain(ctx, drainTimeout)
		}
		pw.CloseWithError(err)
	}()
	defer pr.Close()

	stdio := mcpserver.NewStdioServer(s)
	stdio.SetErrorLogger(stdLogger(log, slog.LevelWarn))
	err := stdio.Listen(ctx, pr, w)
	if ctx.Err() != nil || errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("serving MCP on stdio: %w", err)
	}
	return nil
}

// drainTimeout bounds how long the server waits, once stdin has ended, for the answers
// to the requests it has read.
const drainTimeout = 30 * time.Second

// lockedWriter serialises whole writes, so an error written here never interleaves with
// a message written by mcp-go (which writes each message with one Write call). It also
// counts the requests sent to mcp-go that have not been answered yet.
type lockedWriter struct {
	mu      sync.Mutex
	w       io.Writer
	pending int // requests forwarded and not answered yet
}

// envelope is what it takes to tell a request from a response.
type envelope struct {
	ID     json.RawMessage `json:"id"`
	Method *string         `json:"method"`
}

func (e envelope) hasID() bool { return len(e.ID) > 0 && string(e.ID) != "null" }

func (l *lockedWriter) Write(p []byte) (int, error) {
	var e envelope
	answer := json.Unmarshal(p, &e) == nil && e.hasID() && e.Method == nil
	l.mu.Lock()
	defer l.mu.Unlock()
	if answer && l.pending > 0 {
		l.pending--
	}
	return l.w.Write(p)
}

// sent records a line forwarded to mcp-go; a request is expected to get an answer.
func (l *lockedWriter) sent(line []byte) {
	var e envelope
	if json.Unmarshal(line, &e) == nil && e.hasID() && e.Method != nil {
		l.mu.Lock()
		l.pending++
		l.mu.Unlock()
	}
}

// drain waits until every request sent has been answered, ctx is done or timeout passes.
func (l *lockedWriter) drain(ctx context.Context, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		l.mu.Lock()
		n := l.pending
		l.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// copyMessages copies the lines of in to dst, each ending in a newline, skipping blank
// ones. A line over MaxMessageBytes is discarded as it is read and answered on out with
// a JSON-RPC error. It returns nil at the end of in.
func copyMessages(in io.Reader, dst io.Writer, out *lockedWriter, log *slog.Logger) error {
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
			if _, werr := out.Write(oversizeError(n)); werr != nil {
				return werr
			}
		} else {
			line = append(line, chunk...)
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if len(bytes.TrimSpace(line)) > 0 {
				if line[len(line)-1] != '\n' {
					line = append(line, '\n') // a last line without newline still counts
				}
				out.sent(line)
				if _, werr := dst.Write(line); werr != nil {
					return werr
				}
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

// oversizeError is the JSON-RPC error line that answers a message over the size limit.
// Its id is null: the message was not parsed, so its id is unknown.
func oversizeError(n int) []byte {
	b, _ := json.Marshal(mcp.JSONRPCError{
		JSONRPC: mcp.JSONRPC_VERSION,
		ID:      mcp.NewRequestId(nil),
		Error: mcp.JSONRPCErrorDetails{
			Code:    mcp.INVALID_REQUEST,
			Message: fmt.Sprintf("message of %d bytes dropped: the limit is %d bytes", n, MaxMessageBytes),
		},
	})
	return append(b, '\n')
}
