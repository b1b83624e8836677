package test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/wassette/wassette/secretstore"
	"github.com/wassette/wassette/tools"
)

// cliSet runs `wassette secret set id key value` as its own process.
func cliSet(t testing.TB, e *wassetteEnv, id, key, value string) {
	t.Helper()
	if out, errOut, code := e.Run(t, "", "secret", "set", id, key, value); code != 0 {
		t.Fatalf("secret set: exit %d\n%s%s", code, out, errOut)
	}
}

// cliList runs `wassette secret list id` and returns its output.
func cliList(t testing.TB, e *wassetteEnv, id string) string {
	t.Helper()
	out, errOut, code := e.Run(t, "", "secret", "list", id)
	if code != 0 {
		t.Fatalf("secret list: exit %d\n%s%s", code, out, errOut)
	}
	return out
}

// secretsFlow drives the tools through c while the CLI edits the same secrets from other
// processes, and checks that each side sees the other's changes at once.
func secretsFlow(t *testing.T, e *wassetteEnv, c *client.Client) {
	t.Helper()
	tl, err := c.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, tool := range tl.Tools {
		names = append(names, tool.Name)
		if tool.Annotations.ReadOnlyHint == nil || tool.Annotations.DestructiveHint == nil {
			t.Errorf("%s: hints missing on the wire", tool.Name)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, tools.BuiltinToolNames()) { // no component is loaded yet
		t.Fatalf("tools: %v", names)
	}

	const apiKey = "sk-1234567890abcdefghij" // masked as sk-***hij
	res := call(t, c, "set-secret", map[string]any{"component_id": "weather", "key": "API_KEY", "value": apiKey})
	if res.IsError || !strings.Contains(resultText(res), "sk-***hij") || strings.Contains(resultText(res), apiKey) {
		t.Fatalf("set-secret: %s", resultText(res))
	}
	if got := listKeys(t, c, "weather"); !slices.Equal(got, []string{"API_KEY=sk-***hij"}) {
		t.Fatalf("list-secrets: %v", got)
	}
	// The CLI sees the tool's change...
	if out := cliList(t, e, "weather"); !strings.Contains(out, "API_KEY") || strings.Contains(out, apiKey) {
		t.Errorf("secret list after set-secret:\n%s", out)
	}
	// ... and the server sees the CLI's, mid-session, on the very next call.
	cliSet(t, e, "weather", "FROM_CLI", "cli-value")
	if got := listKeys(t, c, "weather"); !slices.Equal(got, []string{"API_KEY=sk-***hij", "FROM_CLI=***"}) {
		t.Fatalf("list-secrets after secret set: %v", got)
	}
	res = call(t, c, "delete-secret", map[string]any{"component_id": "weather", "key": "FROM_CLI"})
	if res.IsError {
		t.Fatalf("delete-secret: %s", resultText(res))
	}
	if out := cliList(t, e, "weather"); strings.Contains(out, "FROM_CLI") {
		t.Errorf("secret list still shows the deleted key:\n%s", out)
	}
	if out, errOut, code := e.Run(t, "", "secret", "delete", "weather", "API_KEY"); code != 0 {
		t.Fatalf("secret delete: %d %s%s", code, out, errOut)
	}
	if got := listKeys(t, c, "weather"); len(got) != 0 {
		t.Errorf("list-secrets after secret delete: %v", got)
	}
	res = call(t, c, "delete-secret", map[string]any{"component_id": "weather", "key": "API_KEY"})
	if !res.IsError || !strings.Contains(resultText(res), `"API_KEY"`) {
		t.Errorf("deleting a missing key: %v %s", res.IsError, resultText(res))
	}
}

// TestServeStdio drives `wassette serve --stdio` with mcp-go's client over the
// process's stdin and stdout, while the CLI changes secrets from other processes.
func TestServeStdio(t *testing.T) {
	e := newEnv(t)
	p := startServe(t, e, "serve", "--stdio")
	c := p.stdioClient(t)
	secretsFlow(t, e, c)
	c.Close() // closes stdin: the server exits cleanly
	if code := p.wait(t); code != 0 {
		t.Errorf("exit code %d; stderr:\n%s", code, p.stderr.String())
	}
	<-p.copied
	lines := checkJSONRPCLines(t, p.stdout.Bytes())
	if len(lines) < 8 {
		t.Errorf("only %d messages on stdout", len(lines))
	}
	if !strings.Contains(p.stderr.String(), `msg="tool call" tool=set-secret component_id=weather key=API_KEY`) {
		t.Errorf("no info line for the tool call on stderr:\n%s", p.stderr.String())
	}
}

func TestServeInitialize(t *testing.T) {
	e := newEnv(t)
	p := startServe(t, e, "serve") // stdio is the default
	c := p.stdioClient(t)
	defer c.Close()
	res := initialize(t, c)
	if res.ServerInfo.Name != "wassette" || res.ServerInfo.Version == "" || !strings.Contains(res.Instructions, "list-secrets") {
		t.Errorf("initialize: %+v", res)
	}
	if res.Capabilities.Tools == nil {
		t.Error("no tools capability")
	}
}

func TestServeUsage(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"serve", "--stdio", "--sse"}, 2, "choose one transport"},
		{[]string{"serve", "--sse", "--streamable-http"}, 2, "choose one transport"},
		{[]string{"serve", "--stdio", "--bind", "127.0.0.1:1"}, 2, "--bind"},
		{[]string{"serve", "extra"}, 2, "unknown command"},
		{[]string{"serve", "--sse", "--bind", "0.0.0.0:0"}, 1, "without a bearer token"},
		{[]string{"serve", "--streamable-http", "--bind", ":0"}, 1, "WASSETTE_AUTH_TOKEN"},
		{[]string{"serve", "--streamable-http", "--bind", "nonsense"}, 1, "host:port"},
	} {
		out, errOut, code := e.Run(t, "", tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d and %q", tc.args, code, out, errOut, tc.code, tc.want)
		}
	}
}

// TestServeHTTP runs the same flow over each HTTP transport, then checks the DNS
// rebinding protection, the bearer token and a graceful stop on SIGTERM.
func TestServeHTTP(t *testing.T) {
	for _, flag := range []string{"--sse", "--streamable-http"} {
		t.Run(flag[2:], func(t *testing.T) {
			e := newEnv(t)
			p := startServe(t, e, "serve", flag, "--bind", "127.0.0.1:0")
			addr := p.addr(t)
			c := httpClient(t, flag, addr, nil)
			secretsFlow(t, e, c)

			path := "/mcp"
			if flag == "--sse" {
				path = "/message"
			}
			if code := post(t, addr, path, "", http.Header{"Origin": {"http://evil.example"}}); code != http.StatusForbidden {
				t.Errorf("foreign Origin: status %d, want 403", code)
			}
			if code := post(t, addr, path, "evil.example", nil); code != http.StatusForbidden {
				t.Errorf("foreign Host: status %d, want 403", code)
			}
			if code := get(t, addr, "/healthz", nil); code != http.StatusOK {
				t.Errorf("healthz: %d", code)
			}
			c.Close()
			if code := p.stop(t); code != 0 {
				t.Errorf("exit code after SIGTERM: %d\n%s", code, p.stderr.String())
			}
		})
	}
}

func TestServeHTTPToken(t *testing.T) {
	const token = "e2e-token-0f9c2b7d1a"
	for _, flag := range []string{"--sse", "--streamable-http"} {
		t.Run(flag[2:], func(t *testing.T) {
			e := newEnv(t).With("WASSETTE_AUTH_TOKEN=" + token)
			p := startServe(t, e, "serve", flag, "--bind", "127.0.0.1:0")
			addr := p.addr(t)
			for _, path := range []string{"/sse", "/message", "/mcp", "/healthz"} {
				if code := post(t, addr, path, "", nil); code != http.StatusUnauthorized {
					t.Errorf("POST %s without token: %d, want 401", path, code)
				}
				if code := post(t, addr, path, "", http.Header{"Authorization": {"Bearer wrong"}}); code != http.StatusUnauthorized {
					t.Errorf("POST %s with a wrong token: %d, want 401", path, code)
				}
			}
			if code := get(t, addr, "/healthz", http.Header{"Authorization": {"Bearer " + token}}); code != http.StatusOK {
				t.Errorf("healthz with token: %d", code)
			}
			c := httpClient(t, flag, addr, map[string]string{"Authorization": "Bearer " + token})
			if got := listKeys(t, c, "weather"); len(got) != 0 {
				t.Errorf("list: %v", got)
			}
			c.Close()
			p.stop(t)
			if strings.Contains(p.stderr.String(), token) {
				t.Errorf("the token appears on stderr:\n%s", p.stderr.String())
			}
		})
	}
}

func post(t testing.TB, addr, path, host string, h http.Header) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+path, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	if h != nil {
		req.Header = h
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if host != "" {
		req.Host = host
	}
	return do(t, req)
}

func get(t testing.TB, addr, path string, h http.Header) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	if h != nil {
		req.Header = h
	}
	return do(t, req)
}

func do(t testing.TB, req *http.Request) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestServeCanary pushes a canary secret through set-secret, valid and not, with debug
// logging, and checks that it appears in no response, notification, log line or
// stderr, in plain, base64 or hex form: only its masked form may show.
func TestServeCanary(t *testing.T) {
	const canary = "CANARY-5b0e7a91c2d34f68-SECRET"
	e := newEnv(t)
	p := startServe(t, e, "--log-level", "debug", "serve", "--stdio")
	c := p.stdioClient(t)
	c.OnNotification(func(n mcp.JSONRPCNotification) {
		b, _ := json.Marshal(n)
		assertNoCanary(t, "a notification", b, canary)
	})
	calls := []struct {
		args    map[string]any
		isError bool
	}{
		{map[string]any{"component_id": "weather", "key": "API_KEY", "value": canary}, false},
		{map[string]any{"component_id": "weather", "key": "API_KEY", "value": canary}, false}, // replace
		{map[string]any{"component_id": "weather", "key": "BAD KEY", "value": canary}, true},
		{map[string]any{"component_id": "we\x01ther", "key": "K", "value": canary}, true},
		{map[string]any{"component_id": "weather", "key": "K", "value": canary + "\x00"}, true},
		{map[string]any{"component_id": "weather", "key": "K", "value": canary + strings.Repeat("z", 70000)}, true},
		{map[string]any{"component_id": "weather", "key": "K", "value": canary, "extra": canary}, true},
		{map[string]any{"component_id": "weather", "value": canary}, true},
	}
	for i, tc := range calls {
		res := call(t, c, "set-secret", tc.args)
		if res.IsError != tc.isError {
			t.Errorf("call %d: isError %v: %s", i, res.IsError, resultText(res))
		}
		b, _ := json.Marshal(res)
		assertNoCanary(t, fmt.Sprintf("the result of call %d", i), b, canary)
	}
	if got := listKeys(t, c, "weather"); !slices.Equal(got, []string{"API_KEY=" + secretstore.Mask(canary)}) {
		t.Errorf("list: %v", got)
	}
	call(t, c, "delete-secret", map[string]any{"component_id": "weather", "key": "API_KEY"})
	c.Close()
	p.wait(t)
	<-p.copied
	assertNoCanary(t, "stdout", p.stdout.Bytes(), canary)
	assertNoCanary(t, "stderr", p.stderr.Bytes(), canary)
	if !strings.Contains(p.stdout.String(), secretstore.Mask(canary)) {
		t.Error("the masked form never showed")
	}
	if !strings.Contains(p.stderr.String(), "level=DEBUG") {
		t.Error("no debug lines: the check did not cover debug logging")
	}
}

// hashTree returns the SHA-256 of every file under dir.
func hashTree(t testing.TB, dir string) map[string][32]byte {
	t.Helper()
	sums := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		sums[path] = sha256.Sum256(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

// TestServeStdioFaultTolerance sends 1,000 malformed messages, unknown methods and
// oversize lines: each is answered with an error or ignored, the server keeps serving,
// and the secrets files are unchanged.
func TestServeStdioFaultTolerance(t *testing.T) {
	e := newEnv(t)
	store, err := secretstore.Open(e.SecretsDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Set("weather", map[string]secretstore.Value{"API_KEY": secretstore.NewValue("keep-me")}); err != nil {
		t.Fatal(err)
	}
	before := hashTree(t, e.SecretsDir())

	p := startServe(t, e, "serve", "--stdio")
	var in bytes.Buffer
	in.WriteString(`{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"fuzz","version":"0"}}}` + "\n")
	in.WriteString(`{"jsonrpc":"2.0","method":"notifications/initialized"}` + "\n")
	garbage := []string{
		`not json`, `{`, `{"jsonrpc":"2.0","id":1,`, `[]`, `[1,2,3]`, `123`, `"string"`, `null`, `true`,
		"\xff\xfe\xfd", `{"jsonrpc":"2.0","id":1,"method":` + strings.Repeat("[", 20000),
	}
	want := map[string]bool{} // ids that must get an error
	oversize := 0
	for i := 0; i < 1000; i++ {
		id := fmt.Sprintf("bad-%d", i)
		var line string
		switch i % 10 {
		case 0, 1:
			line = garbage[i%len(garbage)]
		case 2:
			line, want[id] = fmt.Sprintf(`{"jsonrpc":"2.0","id":%q,"method":"no/such/method-%d"}`, id, i), true
		case 3:
			line, want[id] = fmt.Sprintf(`{"jsonrpc":"1.0","id":%q,"method":"ping"}`, id), true
		case 4:
			line, want[id] = fmt.Sprintf(`{"jsonrpc":"2.0","id":%q,"method":"tools/call","params":{"name":"no-such-tool"}}`, id), true
		case 5: // tool errors: isError results
			line, want[id] = fmt.Sprintf(`{"jsonrpc":"2.0","id":%q,"method":"tools/call","params":{"name":"set-secret","arguments":"weather"}}`, id), true
		case 6:
			line, want[id] = fmt.Sprintf(`{"jsonrpc":"2.0","id":%q,"method":"tools/call","params":{"name":"delete-secret","arguments":{"component_id":"weather","key":"NOPE=1"}}}`, id), true
		case 7:
			line = fmt.Sprintf(`{"jsonrpc":"2.0","method":"notifications/unknown-%d","params":{"x":1}}`, i)
		case 8:
			line, want[id] = fmt.Sprintf(`{"jsonrpc":"2.0","id":%q,"method":"tools/call","params":{"name":"set-secret","arguments":{"component_id":"","key":"K","value":"v"}}}`, id), true
		case 9:
			if i%100 == 9 { // ten lines over the 4 MiB limit
				line = fmt.Sprintf(`{"jsonrpc":"2.0","id":%q,"method":"tools/call","params":{"name":"set-secret","arguments":{"component_id":"weather","key":"BIG","value":"%s"}}}`,
					id, strings.Repeat("A", 4<<20))
				oversize++
			} else {
				line = fmt.Sprintf(`{"jsonrpc":"2.0","id":%q,"method":"tools/call","params":{"name":"list-secrets","arguments":{"component_id":"weather","x":[1,{"y":null}]}}}`, id)
				want[id] = true
			}
		}
		in.WriteString(line + "\n")
	}
	in.WriteString(`{"jsonrpc":"2.0","id":"final","method":"tools/call","params":{"name":"list-secrets","arguments":{"component_id":"weather"}}}` + "\n")

	go func() {
		p.stdin.Write(in.Bytes())
		p.stdin.Close()
	}()
	go io.Copy(io.Discard, p.out)
	if code := p.wait(t); code != 0 {
		t.Errorf("exit code %d\n%.2000s", code, p.stderr.String())
	}
	<-p.copied
	lines := checkJSONRPCLines(t, p.stdout.Bytes())
	var final map[string]any
	nullErrors := 0
	for _, m := range lines {
		id, _ := m["id"].(string)
		if id == "final" {
			final = m
			continue
		}
		if id == "init" {
			continue
		}
		if m["id"] == nil && m["error"] != nil {
			nullErrors++
			continue
		}
		if !want[id] {
			t.Errorf("unexpected answer: %.300v", m)
			continue
		}
		delete(want, id)
		if m["error"] == nil {
			if r, _ := m["result"].(map[string]any); r["isError"] != true {
				t.Errorf("%s: succeeded: %.300v", id, m)
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("%d bad requests got no answer", len(want))
	}
	if nullErrors != 200+oversize {
		t.Errorf("%d errors without id; want one per garbage or oversize line (%d)", nullErrors, 200+oversize)
	}
	r, _ := final["result"].(map[string]any)
	if sc, _ := r["structuredContent"].(map[string]any); sc == nil || sc["count"] != float64(1) {
		t.Errorf("the valid call after the bad ones failed: %v", final)
	}
	after := hashTree(t, e.SecretsDir())
	if len(after) != len(before) {
		t.Errorf("secrets files changed: %d before, %d after", len(before), len(after))
	}
	for path, sum := range before {
		if after[path] != sum {
			t.Errorf("%s changed", path)
		}
	}
}

// TestServeConcurrentClients runs 50 streamable HTTP clients, each making 100 set, list
// and delete calls on its own component, and checks that no call fails and no update
// is lost.
func TestServeConcurrentClients(t *testing.T) {
	const clients, calls = 50, 100
	e := newEnv(t)
	p := startServe(t, e, "serve", "--streamable-http", "--bind", "127.0.0.1:0")
	addr := p.addr(t)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for n := range clients {
		wg.Go(func() {
			id := fmt.Sprintf("component-%02d", n)
			c := httpClient(t, "--streamable-http", addr, nil)
			defer c.Close()
			model := map[string]bool{}
			for i := range calls {
				var res *mcp.CallToolResult
				var req mcp.CallToolRequest
				switch i % 4 {
				case 0, 1: // set KEY_i
					req.Params.Name = "set-secret"
					req.Params.Arguments = map[string]any{"component_id": id, "key": fmt.Sprintf("KEY_%03d", i), "value": fmt.Sprintf("v%d", i)}
					model[fmt.Sprintf("KEY_%03d", i)] = true
				case 2: // list
					req.Params.Name = "list-secrets"
					req.Params.Arguments = map[string]any{"component_id": id}
				case 3: // delete the key set three calls ago
					req.Params.Name = "delete-secret"
					req.Params.Arguments = map[string]any{"component_id": id, "key": fmt.Sprintf("KEY_%03d", i-3)}
					delete(model, fmt.Sprintf("KEY_%03d", i-3))
				}
				res, err := c.CallTool(context.Background(), req)
				if err != nil || res.IsError {
					errs <- fmt.Errorf("%s call %d (%s): %v %v", id, i, req.Params.Name, err, res)
					return
				}
				if req.Params.Name == "list-secrets" {
					b, _ := json.Marshal(res.StructuredContent)
					var out struct{ Count int }
					json.Unmarshal(b, &out)
					if out.Count != len(model) {
						errs <- fmt.Errorf("%s call %d: list shows %d secrets, want %d", id, i, out.Count, len(model))
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	store, err := secretstore.Open(e.SecretsDir())
	if err != nil {
		t.Fatal(err)
	}
	for n := range clients {
		s, err := store.Get(fmt.Sprintf("component-%02d", n))
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for i := 0; i < calls; i += 4 {
			want = append(want, fmt.Sprintf("KEY_%03d", i+1)) // KEY_i+0 is deleted at i+3
		}
		if !slices.Equal(s.Keys(), want) {
			t.Errorf("component-%02d: keys %v, want %v", n, s.Keys(), want)
		}
	}
	p.stop(t)
}
