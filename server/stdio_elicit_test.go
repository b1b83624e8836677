package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
)

// TestServeStdioElicitation: a tool that asks the client for a URL-mode elicitation gets
// the client's answer over stdio, and the call's result follows it.
func TestServeStdioElicitation(t *testing.T) {
	s := New("test", nil)
	s.AddTool(mcp.NewTool("ask"), func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		res, err := s.RequestURLElicitation(ctx, mcpserver.ClientSessionFromContext(ctx), "el-1", "http://127.0.0.1:1/x", "open it")
		if err != nil {
			return nil, err
		}
		return mcp.NewToolResultText("answer: " + string(res.Action)), nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in, out, done := stdioPipes(t, ctx, s)
	r := bufio.NewReader(out)
	send := func(msg string) {
		t.Helper()
		if _, err := fmt.Fprintln(in, msg); err != nil {
			t.Fatal(err)
		}
	}
	read := func() map[string]any {
		t.Helper()
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%v: %q", err, line)
		}
		return m
	}
	send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"elicitation":{"url":{}}},"clientInfo":{"name":"t","version":"0"}}}`)
	read()
	send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	send(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"ask","arguments":{}}}`)
	req := read()
	params, _ := req["params"].(map[string]any)
	if req["method"] != "elicitation/create" || params["mode"] != "url" || params["elicitationId"] != "el-1" || req["id"] == nil {
		t.Fatalf("request to the client: %v", req)
	}
	id, _ := json.Marshal(req["id"])
	send(`{"jsonrpc":"2.0","id":99,"result":{"action":"decline"}}`) // answers nothing we asked: dropped
	send(`{"jsonrpc":"2.0","id":` + string(id) + `,"result":{"action":"accept"}}`)
	res := read()
	if res["id"] != float64(2) || !strings.Contains(fmt.Sprint(res["result"]), "answer: accept") {
		t.Fatalf("tools/call answer: %v", res)
	}
	in.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
