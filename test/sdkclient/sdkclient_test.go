// Package sdkclient drives the wassette binary with the official MCP Go SDK, with the
// SDK's defaults, over stdio, SSE and streamable HTTP. It is a module of its own so that
// the SDK stays out of wassette's dependencies; run it with
//
//	cd test/sdkclient && go test -race -count=1 ./...
package sdkclient

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Built once by TestMain.
var (
	wassette      string // the binary
	echoWasm      string // examples/echo
	misbehaveWasm string // component/runtime/testdata/misbehave: has a tool that sleeps
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wassette-sdkclient-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		if err := build(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// build builds the binary and the two components from the repository root.
func build(dir string) error {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return err
	}
	wassette = filepath.Join(dir, "wassette")
	cmd := exec.Command("go", "build", "-o", wassette, ".")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build wassette: %v\n%s", err, out)
	}
	wasm := filepath.Join(dir, "wasm")
	cmd = exec.Command("go", "build", "-o", wasm+string(filepath.Separator), "./examples/echo", "./component/runtime/testdata/misbehave")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build the components: %v\n%s", err, out)
	}
	echoWasm, misbehaveWasm = filepath.Join(dir, "echo.wasm"), filepath.Join(dir, "misbehave.wasm")
	if err := os.Rename(filepath.Join(wasm, "echo"), echoWasm); err != nil {
		return err
	}
	return os.Rename(filepath.Join(wasm, "misbehave"), misbehaveWasm)
}

// lockedBuffer keeps what a process writes to stderr.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// env is a temporary home for one server: data, config and cache folders.
func env(t *testing.T) []string {
	d := t.TempDir()
	return append(os.Environ(),
		"HOME="+d, "XDG_DATA_HOME="+filepath.Join(d, "data"), "XDG_CONFIG_HOME="+filepath.Join(d, "config"),
		"XDG_CACHE_HOME="+filepath.Join(d, "cache"), "WASSETTE_DATA_DIR="+filepath.Join(d, "wassette"))
}

var listening = regexp.MustCompile(`msg=listening addr=(\S+)`)

// connect starts `wassette serve` on transport and connects a client with the SDK's
// defaults to it. It returns the session, the server's stderr and a channel that
// receives each notifications/tools/list_changed.
func connect(t *testing.T, transport string) (*mcp.ClientSession, *lockedBuffer, chan struct{}) {
	t.Helper()
	return connectEnv(t, transport, env(t))
}

// connectEnv is connect with the server's environment given.
func connectEnv(t *testing.T, transport string, vars []string) (*mcp.ClientSession, *lockedBuffer, chan struct{}) {
	t.Helper()
	ctx := context.Background()
	stderr := &lockedBuffer{}
	changed := make(chan struct{}, 16)
	client := mcp.NewClient(&mcp.Implementation{Name: "wassette-sdkclient-test", Version: "0"}, &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
	})
	var tr mcp.Transport
	if transport == "stdio" {
		cmd := exec.Command(wassette, "serve", "--stdio")
		cmd.Env, cmd.Stderr = vars, stderr
		tr = &mcp.CommandTransport{Command: cmd}
	} else {
		cmd := exec.Command(wassette, "serve", "--"+transport, "--bind", "127.0.0.1:0")
		cmd.Env, cmd.Stderr = vars, stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		addr := ""
		for deadline := time.Now().Add(60 * time.Second); addr == ""; time.Sleep(20 * time.Millisecond) {
			if m := listening.FindStringSubmatch(stderr.String()); m != nil {
				addr = m[1]
			} else if time.Now().After(deadline) {
				t.Fatalf("the server did not start; stderr:\n%s", stderr)
			}
		}
		if transport == "sse" {
			tr = &mcp.SSEClientTransport{Endpoint: "http://" + addr + "/sse"}
		} else {
			tr = &mcp.StreamableClientTransport{Endpoint: "http://" + addr + "/mcp"}
		}
	}
	cs, err := client.Connect(ctx, tr, nil)
	if err != nil {
		t.Fatalf("connect: %v; stderr:\n%s", err, stderr)
	}
	t.Cleanup(func() { cs.Close() })
	return cs, stderr, changed
}

func callTool(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res
}

func text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

func toolNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	var names []string
	for tool, err := range cs.Tools(context.Background(), nil) {
		if err != nil {
			t.Fatalf("tools/list: %v", err)
		}
		names = append(names, tool.Name)
	}
	return names
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, ch chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(60 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestGoSDK runs the same session over each transport: the tools, the secret tools, a
// component loaded and called, a slow call cancelled (the work stops), cheap requests
// answered while slow calls run, and a ping after it all.
func TestGoSDK(t *testing.T) {
	for _, transport := range []string{"stdio", "sse", "streamable-http"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			cs, stderr, changed := connect(t, transport)
			ctx := context.Background()
			if res := cs.InitializeResult(); res == nil || res.ProtocolVersion == "" {
				t.Fatalf("no negotiated revision: %+v", res)
			}
			t.Logf("negotiated protocol revision %s", cs.InitializeResult().ProtocolVersion)

			names := toolNames(t, cs)
			for _, want := range []string{"list-secrets", "set-secret", "delete-secret", "load-component", "list-components"} {
				if !contains(names, want) {
					t.Errorf("tools/list lacks %s: %v", want, names)
				}
			}
			if err := cs.Ping(ctx, nil); err != nil {
				t.Errorf("ping: %v", err)
			}

			// The secret tools; the value never comes back, in any encoding.
			canary := "sk-sdkclient-canary-0123456789"
			res := callTool(t, cs, "set-secret", map[string]any{"component_id": "echo", "key": "API_KEY", "value": canary})
			if res.IsError {
				t.Fatalf("set-secret: %s", text(res))
			}
			res = callTool(t, cs, "list-secrets", map[string]any{"component_id": "echo"})
			if res.IsError || !strings.Contains(text(res), "API_KEY") || !strings.Contains(text(res), "sk-***789") {
				t.Errorf("list-secrets: %s", text(res))
			}
			for _, form := range []string{canary, base64.StdEncoding.EncodeToString([]byte(canary)), hex.EncodeToString([]byte(canary))} {
				if strings.Contains(text(res), form) {
					t.Errorf("list-secrets shows the value")
				}
			}

			// A component: loading it announces new tools; calling one works.
			res = callTool(t, cs, "load-component", map[string]any{"path": echoWasm})
			if res.IsError {
				t.Fatalf("load-component: %s", text(res))
			}
			waitFor(t, changed, "notifications/tools/list_changed after load-component")
			if names := toolNames(t, cs); !contains(names, "echo") {
				t.Fatalf("tools/list after load-component: %v", names)
			}
			res = callTool(t, cs, "echo", map[string]any{"greeting": "hello from the Go SDK"})
			if res.IsError || !strings.Contains(text(res), "hello from the Go SDK") {
				t.Errorf("echo: %s", text(res))
			}
			res = callTool(t, cs, "delete-secret", map[string]any{"component_id": "echo", "key": "API_KEY"})
			if res.IsError {
				t.Errorf("delete-secret: %s", text(res))
			}

			// A slow call, cancelled: the call ends at once and the server stops its work.
			res = callTool(t, cs, "load-component", map[string]any{"path": misbehaveWasm})
			if res.IsError {
				t.Fatalf("load-component misbehave: %s", text(res))
			}
			waitFor(t, changed, "notifications/tools/list_changed after the second load")
			cancelSlowCall(t, cs, stderr)
			if err := cs.Ping(ctx, nil); err != nil {
				t.Errorf("ping after the cancel: %v", err)
			}

			// Cheap requests while slow calls are running.
			slowCtx, stopSlow := context.WithCancel(ctx)
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() { cs.CallTool(slowCtx, &mcp.CallToolParams{Name: "sleep", Arguments: map[string]any{}}) })
			}
			time.Sleep(500 * time.Millisecond) // let them start
			if err := cs.Ping(ctx, nil); err != nil {
				t.Errorf("ping with slow calls running: %v", err)
			}
			if res := callTool(t, cs, "list-secrets", map[string]any{"component_id": "echo"}); res.IsError {
				t.Errorf("list-secrets with slow calls running: %s", text(res))
			}
			stopSlow()
			wg.Wait()
			if err := cs.Ping(ctx, nil); err != nil {
				t.Errorf("ping at the end: %v", err)
			}
			if res := callTool(t, cs, "count", map[string]any{}); res.IsError {
				t.Errorf("a call after the cancels: %s", text(res))
			}
			if strings.Contains(stderr.String(), canary) {
				t.Error("the secret value is in the server's log")
			}
		})
	}
}

// sleepLine is the server's log line for a call of the sleep tool, which ends only when
// the call is stopped.
var sleepLine = regexp.MustCompile(`msg="tool call" tool=sleep component_id=misbehave .*`)

// cancelSlowCall starts a call of the sleep tool, cancels it, and checks that the call
// returns at once with an error and that the server stopped it. The client gives the
// call a moment to reach the server before cancelling; if it was cancelled before the
// server saw it, it tries again with a longer moment.
func cancelSlowCall(t *testing.T, cs *mcp.ClientSession, stderr *lockedBuffer) {
	t.Helper()
	for _, pause := range []time.Duration{500 * time.Millisecond, 2 * time.Second, 8 * time.Second} {
		before := len(sleepLine.FindAllString(stderr.String(), -1))
		callCtx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := cs.CallTool(callCtx, &mcp.CallToolParams{Name: "sleep", Arguments: map[string]any{}})
			errc <- err
		}()
		time.Sleep(pause)
		cancel()
		select {
		case err := <-errc:
			if err == nil {
				t.Fatal("the cancelled call returned a result")
			}
		case <-time.After(60 * time.Second):
			t.Fatal("the cancelled call did not return")
		}
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if lines := sleepLine.FindAllString(stderr.String(), -1); len(lines) > before {
				if !strings.Contains(lines[before], "interrupted") {
					t.Errorf("the cancelled call ended otherwise: %s", lines[before])
				}
				return
			}
		}
	}
	t.Fatalf("the server never logged the end of a cancelled call:\n%s", stderr)
}
