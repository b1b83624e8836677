package test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// recorder keeps every byte a process writes to one stream.
type recorder struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.b.Write(p)
}

func (r *recorder) Bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.b.Bytes())
}

func (r *recorder) String() string { return string(r.Bytes()) }

// serveProc is a running `wassette serve`, with everything it writes recorded.
type serveProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *io.PipeReader // stdout, for a stdio client; recorded whether read or not
	stdout recorder
	stderr recorder
	copied chan struct{} // closed when stdout has been read to its end
	exited chan struct{}
	err    error // from Wait, once exited is closed
}

// startServe starts `wassette <args>` (args start with "serve"); the test kills it at the
// end if it is still running.
func startServe(t testing.TB, e *wassetteEnv, args ...string) *serveProc {
	t.Helper()
	p := &serveProc{cmd: e.Command(context.Background(), args...), copied: make(chan struct{}), exited: make(chan struct{})}
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	p.out = pr
	go func() { // record all of stdout; forward it to p.out while someone reads it
		defer close(p.copied)
		buf := make([]byte, 32<<10)
		forward := true
		for {
			n, err := stdout.Read(buf)
			if n > 0 {
				p.stdout.Write(buf[:n])
				if forward {
					if _, werr := pw.Write(buf[:n]); werr != nil {
						forward = false
					}
				}
			}
			if err != nil {
				pw.Close()
				return
			}
		}
	}()
	go func() {
		<-p.copied
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		pr.Close()
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// wait waits for the process to exit and returns its exit code.
func (p *serveProc) wait(t testing.TB) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("wassette serve did not exit; stderr:\n%s", p.stderr.String())
	}
	var exit *exec.ExitError
	if errors.As(p.err, &exit) {
		return exit.ExitCode()
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
	return 0
}

// stop sends SIGTERM and returns the exit code.
func (p *serveProc) stop(t testing.TB) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	return p.wait(t)
}

var listeningRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

// addr waits for the "listening addr=..." log line and returns the address.
func (p *serveProc) addr(t testing.TB) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := listeningRE.FindStringSubmatch(p.stderr.String()); m != nil {
			return m[1]
		}
		select {
		case <-p.exited:
			t.Fatalf("wassette serve exited before listening; stderr:\n%s", p.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("no listening line on stderr:\n%s", p.stderr.String())
	return ""
}

// stdioClient returns an initialized mcp-go client over the process's stdin and stdout.
func (p *serveProc) stdioClient(t testing.TB) *client.Client {
	t.Helper()
	c := client.NewClient(transport.NewIO(p.out, p.stdin, io.NopCloser(strings.NewReader(""))))
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	initialize(t, c)
	return c
}

// httpClient returns an initialized mcp-go client of an HTTP transport.
func httpClient(t testing.TB, transportFlag, addr string, headers map[string]string) *client.Client {
	t.Helper()
	var c *client.Client
	var err error
	if transportFlag == "--sse" {
		c, err = client.NewSSEMCPClient("http://"+addr+"/sse", transport.WithHeaders(headers))
	} else {
		c, err = client.NewStreamableHttpClient("http://"+addr+"/mcp", transport.WithHTTPHeaders(headers))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	initialize(t, c)
	return c
}

// initialize runs the initialize handshake the way MCP clients of today do.
func initialize(t testing.TB, c *client.Client) *mcp.InitializeResult {
	t.Helper()
	var init mcp.InitializeRequest
	init.Params.ProtocolVersion = mcp.LATEST_LEGACY_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "wassette-e2e", Version: "0"}
	res, err := c.Initialize(context.Background(), init)
	if err != nil {
		t.Fatalf("initialize: %v", err)
	}
	return res
}

// call calls a tool; a protocol-level error fails the test.
func call(t testing.TB, c *client.Client, tool string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	var req mcp.CallToolRequest
	req.Params.Name = tool
	req.Params.Arguments = args
	res, err := c.CallTool(context.Background(), req)
	if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	return res
}

func resultText(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// listKeys calls list-secrets and returns "KEY=masked" for each secret.
func listKeys(t testing.TB, c *client.Client, id string) []string {
	t.Helper()
	res := call(t, c, "list-secrets", map[string]any{"component_id": id})
	if res.IsError {
		t.Fatalf("list-secrets %s: %s", id, resultText(res))
	}
	var out struct {
		Secrets []struct {
			Key         string `json:"key"`
			MaskedValue string `json:"masked_value"`
		} `json:"secrets"`
	}
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	keys := []string{}
	for _, s := range out.Secrets {
		keys = append(keys, s.Key+"="+s.MaskedValue)
	}
	return keys
}

// checkJSONRPCLines fails the test unless every line of out is one JSON-RPC 2.0 message.
func checkJSONRPCLines(t testing.TB, out []byte) (lines []map[string]any) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Errorf("stdout line is not JSON: %.200q", sc.Text())
			continue
		}
		_, hasID := m["id"]
		_, hasMethod := m["method"]
		_, hasResult := m["result"]
		_, hasError := m["error"]
		if m["jsonrpc"] != "2.0" || !(hasMethod || (hasID && hasResult != hasError)) {
			t.Errorf("stdout line is not a JSON-RPC 2.0 message: %.200q", sc.Text())
		}
		lines = append(lines, m)
	}
	if err := sc.Err(); err != nil {
		t.Errorf("reading stdout: %v", err)
	}
	return lines
}

// canaryForms is a secret and the encodings in which a leak would still be one.
func canaryForms(secret string) map[string]string {
	b := []byte(secret)
	return map[string]string{
		"plain":         secret,
		"base64":        base64.StdEncoding.EncodeToString(b),
		"base64-raw":    base64.RawStdEncoding.EncodeToString(b),
		"base64url":     base64.URLEncoding.EncodeToString(b),
		"base64url-raw": base64.RawURLEncoding.EncodeToString(b),
		"hex":           hex.EncodeToString(b),
		"HEX":           strings.ToUpper(hex.EncodeToString(b)),
	}
}

// assertNoCanary fails the test if data holds secret in any of canaryForms.
func assertNoCanary(t testing.TB, where string, data []byte, secret string) {
	t.Helper()
	for form, s := range canaryForms(secret) {
		if bytes.Contains(data, []byte(s)) {
			t.Errorf("the canary secret (%s form) appears in %s", form, where)
		}
	}
}
