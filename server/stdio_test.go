package server

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/wassette/wassette/secretstore"
	"github.com/wassette/wassette/tools"
)

// stdioPipes runs ServeStdio on pipes; it returns the server's stdin, a reader of its
// stdout, and a channel that receives ServeStdio's result.
func stdioPipes(t testing.TB, ctx context.Context, s *mcpserver.MCPServer) (io.WriteCloser, *io.PipeReader, chan error) {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := ServeStdio(ctx, s, inR, outW, nil)
		outW.Close()
		done <- err
	}()
	return inW, outR, done
}

func secretServer(t testing.TB) *mcpserver.MCPServer {
	t.Helper()
	store, err := secretstore.Open(filepath.Join(t.TempDir(), "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	s := New("test", nil)
	tools.RegisterSecrets(s, store, nil)
	return s
}

// TestServeStdioBadLines feeds an oversize line, blank lines and garbage, then a ping
// on a last line without a newline: every line gets its answer, stdout holds JSON-RPC
// only, and ServeStdio returns nil at the end of its input.
func TestServeStdioBadLines(t *testing.T) {
	in, out, done := stdioPipes(t, context.Background(), secretServer(t))
	go func() {
		w := bufio.NewWriter(in)
		w.WriteString(`{"jsonrpc":"2.0","id":"big","method":"ping","params":{"pad":"`)
		w.WriteString(strings.Repeat("x", MaxMessageBytes))
		w.WriteString("\"}}\n\n   \r\n")
		w.WriteString("not json\n")
		w.WriteString(`{"jsonrpc":"2.0","id":"last","method":"ping"}`)
		w.Flush()
		in.Close()
	}()
	var got []map[string]any
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil || m["jsonrpc"] != "2.0" {
			t.Errorf("stdout line is not JSON-RPC 2.0: %q", sc.Text())
		}
		got = append(got, m)
	}
	if err := <-done; err != nil {
		t.Errorf("ServeStdio: %v", err)
	}
	var oversize, parse, last int
	for _, m := range got {
		e, _ := m["error"].(map[string]any)
		switch {
		case m["id"] == "last" && m["result"] != nil:
			last++
		case e != nil && e["code"] == float64(mcp.INVALID_REQUEST) && strings.Contains(e["message"].(string), "limit"):
			oversize++
		case e != nil && e["code"] == float64(mcp.PARSE_ERROR):
			parse++
		default:
			t.Errorf("unexpected answer %v", m)
		}
	}
	if oversize != 1 || parse != 1 || last != 1 {
		t.Errorf("answers: %d oversize, %d parse errors, %d pings; want 1 each (blank lines are skipped)", oversize, parse, last)
	}
}

func TestServeStdioCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	in, out, done := stdioPipes(t, ctx, secretServer(t))
	defer in.Close()
	go io.Copy(io.Discard, out)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeStdio after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ServeStdio did not return after its context was cancelled")
	}
}

// BenchmarkStdioRoundTrip measures one tools/call round trip over stdio (in process,
// through pipes): list-secrets on a component with 5 secrets, against a trivial echo tool
// registered on the same server (only here, never in the product).
//
//	go test ./server -run '^$' -bench StdioRoundTrip -benchmem
func BenchmarkStdioRoundTrip(b *testing.B) {
	store, err := secretstore.Open(filepath.Join(b.TempDir(), "secrets"))
	if err != nil {
		b.Fatal(err)
	}
	vals := map[string]secretstore.Value{}
	for _, k := range []string{"API_KEY", "ENDPOINT", "TIMEOUT", "RETRIES", "REGION"} {
		vals[k] = secretstore.NewValue("value-of-" + k + "-0123456789")
	}
	if err := store.Set("weather", vals); err != nil {
		b.Fatal(err)
	}
	// The store re-reads a file changed in the last two seconds on every lookup (its
	// guard against same-tick edits); measure the steady state of a file at rest.
	time.Sleep(2100 * time.Millisecond)
	s := New("bench", nil)
	secretTools := tools.SecretTools(store, nil)
	s.AddTools(secretTools...)
	// Two baselines, in this benchmark's server only. "echo" is the trivial tool: it
	// returns its argument as text. "echo-list" is the protocol cost of list-secrets'
	// answer without its work: the same definition and output schema, returning a result
	// computed once, so list-secrets / echo-list is what the secret path itself adds.
	s.AddTool(mcp.NewTool("echo", mcp.WithString("component_id")),
		func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText(req.GetString("component_id", "")), nil
		})
	list := secretTools[0]
	if list.Tool.Name != tools.ListSecretsTool {
		b.Fatalf("first secret tool is %s", list.Tool.Name)
	}
	var listReq mcp.CallToolRequest
	listReq.Params.Name = tools.ListSecretsTool
	listReq.Params.Arguments = map[string]any{"component_id": "weather"}
	fixed, err := list.Handler(context.Background(), listReq)
	if err != nil || fixed.IsError {
		b.Fatal(fixed, err)
	}
	echoList := list.Tool
	echoList.Name = "echo-list"
	s.AddTool(echoList, func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) { return fixed, nil })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in, out, done := stdioPipes(b, ctx, s)
	c := client.NewClient(transport.NewIO(out, in, io.NopCloser(strings.NewReader(""))))
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	var init mcp.InitializeRequest
	init.Params.ProtocolVersion = mcp.LATEST_LEGACY_PROTOCOL_VERSION
	if _, err := c.Initialize(ctx, init); err != nil {
		b.Fatal(err)
	}
	for _, tool := range []string{tools.ListSecretsTool, "echo-list", "echo"} {
		b.Run(tool, func(b *testing.B) {
			var req mcp.CallToolRequest
			req.Params.Name = tool
			req.Params.Arguments = map[string]any{"component_id": "weather"}
			for b.Loop() {
				res, err := c.CallTool(ctx, req)
				if err != nil || res.IsError {
					b.Fatal(res, err)
				}
			}
		})
	}
	c.Close()
	cancel()
	<-done
}
