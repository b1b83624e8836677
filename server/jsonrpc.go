package server

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"
)

// The protocol revisions each transport offers, newest first. Every transport serves the
// stateless revision 2026-07-28 (requests carry their version in _meta) beside the
// initialize-based ones; streamable HTTP starts at 2025-03-26, the revision that defined
// it.
var (
	// StdioVersions are the revisions served on stdio.
	StdioVersions = []string{
		mcp.ProtocolVersion20260728, mcp.ProtocolVersion20251125, mcp.ProtocolVersion20250618,
		mcp.ProtocolVersion20250326, mcp.ProtocolVersion20241105,
	}
	// SSEVersions are the revisions served on the HTTP+SSE transport.
	SSEVersions = StdioVersions
	// StreamableHTTPVersions are the revisions served on streamable HTTP.
	StreamableHTTPVersions = []string{
		mcp.ProtocolVersion20260728, mcp.ProtocolVersion20251125, mcp.ProtocolVersion20250618,
		mcp.ProtocolVersion20250326,
	}
)

// message is what the transports need to know of one JSON-RPC message before mcp-go
// handles it.
type message struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Result  json.RawMessage `json:"result"`
	Error   json.RawMessage `json:"error"`
	Params  struct {
		Meta struct {
			ProtocolVersion string `json:"io.modelcontextprotocol/protocolVersion"`
		} `json:"_meta"`
		ProtocolVersion string          `json:"protocolVersion"` // of initialize
		RequestID       json.RawMessage `json:"requestId"`       // of notifications/cancelled
	} `json:"params"`
}

// parseMessage reads raw as one message; ok is false if it is not a JSON object.
func parseMessage(raw []byte) (m message, ok bool) {
	if err := json.Unmarshal(raw, &m); err != nil {
		return message{}, false
	}
	return m, true
}

// hasID reports whether the message carries an id (a request or a response).
func (m message) hasID() bool { return len(m.ID) > 0 && string(m.ID) != "null" }

// isRequest reports whether the message is a request (a method and an id).
func (m message) isRequest() bool { return m.Method != "" && m.hasID() }

// isNotification reports whether the message is a notification (a method, no id).
func (m message) isNotification() bool { return m.Method != "" && !m.hasID() }

// modern reports whether the message declares, in _meta, a protocol revision of
// 2026-07-28 or later: such a request carries its own version and needs no session.
func (m message) modern() bool { return mcp.IsModernProtocol(m.Params.Meta.ProtocolVersion) }

// idKey is the canonical form of a JSON-RPC id, for matching a cancellation to its
// request.
func idKey(id json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, id) != nil {
		return string(id)
	}
	return b.String()
}

// isBatch reports whether raw is a JSON array (a JSON-RPC batch).
func isBatch(raw []byte) bool {
	t := bytes.TrimLeft(raw, " \t\r\n")
	return len(t) > 0 && t[0] == '['
}

// batchesAllowed reports whether protocol revision v lets a client send JSON-RPC
// batches. Only 2025-03-26 does: 2024-11-05 never mentioned them and 2025-06-18 removed
// them.
func batchesAllowed(v string) bool { return v == mcp.ProtocolVersion20250326 }

// negotiated is the revision the server answers an initialize request for version
// with, as mcp-go negotiates it.
func negotiated(version string) string { return mcp.NegotiateLegacyVersion(version) }

// errorResponse is a JSON-RPC error response; id may be nil (null).
func errorResponse(id json.RawMessage, code int, format string, args ...any) []byte {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	b, _ := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}{JSONRPC: mcp.JSONRPC_VERSION, ID: id, Error: struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{code, fmt.Sprintf(format, args...)}})
	return b
}

// batchRefusal is the answer to a batch on a revision without batches, or to an empty
// or malformed one.
func batchRefusal(version string) []byte {
	if version == "" {
		return errorResponse(nil, mcp.INVALID_REQUEST,
			"JSON-RPC batches are not accepted before initialize; send one message at a time")
	}
	return errorResponse(nil, mcp.INVALID_REQUEST,
		"JSON-RPC batches are not part of protocol revision %s (only 2025-03-26 has them); "+
			"send one message at a time", version)
}

// splitBatch returns the elements of a batch; ok is false if raw is not a non-empty
// JSON array.
func splitBatch(raw []byte) (elems []json.RawMessage, ok bool) {
	if err := json.Unmarshal(raw, &elems); err != nil || len(elems) == 0 {
		return nil, false
	}
	return elems, true
}

// joinBatch encodes responses as one JSON array.
func joinBatch(responses [][]byte) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, r := range responses {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(bytes.TrimSpace(r))
	}
	b.WriteByte(']')
	return b.Bytes()
}

// notInitialized answers a request that an initialize-based client sent before its
// initialize was answered.
func notInitialized(m message) []byte {
	return errorResponse(m.ID, mcp.INVALID_REQUEST,
		"%s before initialize: the session is not initialized; send initialize (and wait for its "+
			"answer) first, or, on protocol revision 2026-07-28, carry the revision in _meta", m.Method)
}

// allowedBeforeInit reports whether an initialize-based client may send method before
// initialize is answered: initialize itself, and ping (lifecycle: "The client SHOULD NOT
// send requests other than pings before the server has responded to the initialize
// request"), and server/discover, the probe a client of both eras sends first (without
// the 2026-07-28 _meta it is answered "method not found", which tells such a client to
// fall back to initialize).
func allowedBeforeInit(method string) bool {
	switch mcp.MCPMethod(method) {
	case mcp.MethodInitialize, mcp.MethodPing, mcp.MethodServerDiscover:
		return true
	}
	return false
}
