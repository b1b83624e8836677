package test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/wassette/wassette/internal/wasmtest"
)

// The example components are built once per test process, next to the wassette binary
// (in the folder TestMain removes), or in a temporary folder of their own when
// WASSETTE_BIN names a binary built elsewhere.
// exampleWasm returns the path of examples/<name> built as <name>.wasm.
func exampleWasm(t testing.TB, name string) string {
	t.Helper()
	paths, err := wasmtest.Build("examples/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return paths[0]
}

// fakeWeatherAPI stands in for the weather service on loopback. It records the key of
// every request and echoes it back, so that the test sees the server redact it.
type fakeWeatherAPI struct {
	*httptest.Server
	mu   sync.Mutex
	keys []string
}

func newFakeWeatherAPI(t *testing.T) *fakeWeatherAPI {
	api := &fakeWeatherAPI{}
	api.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.URL.Query().Get("appid")
		api.mu.Lock()
		api.keys = append(api.keys, key)
		api.mu.Unlock()
		if r.URL.Path != "/weather" || r.Header.Get("X-Api-Key") != key {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"city": r.URL.Query().Get("q"), "temp_c": 21, "your_key": key})
	}))
	t.Cleanup(api.Close)
	return api
}

// lastKey returns the key of the latest request, and how many there were.
func (a *fakeWeatherAPI) lastKey() (string, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.keys) == 0 {
		return "", 0
	}
	return a.keys[len(a.keys)-1], len(a.keys)
}

// notifications counts the list_changed notifications a client receives.
type notifications struct {
	ch chan struct{}
}

func watchListChanged(c *client.Client) *notifications {
	n := &notifications{ch: make(chan struct{}, 100)}
	c.OnNotification(func(m mcp.JSONRPCNotification) {
		if m.Method == "notifications/tools/list_changed" {
			n.ch <- struct{}{}
		}
	})
	return n
}

func (n *notifications) wait(t testing.TB, what string) {
	t.Helper()
	select {
	case <-n.ch:
	case <-time.After(60 * time.Second): // a hang guard, not a timing assertion
		t.Fatalf("no notifications/tools/list_changed after %s", what)
	}
}

func toolList(t testing.TB, c *client.Client) []string {
	t.Helper()
	res, err := c.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	return names
}

func mustOK(t testing.TB, c *client.Client, tool string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	res := call(t, c, tool, args)
	if res.IsError {
		t.Fatalf("%s: %s", tool, resultText(res))
	}
	return res
}

// TestServeComponents drives `wassette serve --stdio` with a real MCP client: it loads
// the weather component, gives it an API key from the CLI and network access to a
// loopback stand-in for the weather API, and checks that each call sends the key the
// user set last (secret, then a newer secret, then a policy value that overrides it),
// that a host variable reaches a component only once granted, that a refused host is a
// clear tool error, and that no key appears in any response or on stderr.
func TestServeComponents(t *testing.T) {
	const (
		key1 = "weather-key-one-0123456789"
		key2 = "weather-key-two-abcdefghij"
		key3 = "weather-key-policy-ZYXWVUT"
	)
	weather, echo := exampleWasm(t, "weather"), exampleWasm(t, "echo")
	api := newFakeWeatherAPI(t)
	apiHost := strings.TrimPrefix(api.URL, "http://")

	e := newEnv(t)
	p := startServe(t, e.With("REGION=eu-c1"), "serve", "--stdio", "--timeout", "60s", "--memory-limit", "256Mi")
	c := p.stdioClient(t)
	changes := watchListChanged(c)
	if got := toolList(t, c); slices.Contains(got, "get_weather") || !slices.Contains(got, "load-component") {
		t.Fatalf("tools before load: %v", got)
	}

	res := mustOK(t, c, "load-component", map[string]any{"path": weather})
	if !strings.Contains(resultText(res), `"weather"`) || !strings.Contains(resultText(res), "get_weather") {
		t.Errorf("load-component: %s", resultText(res))
	}
	changes.wait(t, "load-component")
	if got := toolList(t, c); !slices.Contains(got, "get_weather") {
		t.Fatalf("tools after load: %v", got)
	}

	cliSet(t, e, "weather", "API_KEY", key1)
	cliSet(t, e, "weather", "ENDPOINT_URL", api.URL)

	// The model loaded it: its secrets are withheld until the person approves it.
	res = call(t, c, "get_weather", map[string]any{"city": "Paris"})
	if !res.IsError || !strings.Contains(resultText(res), "ran WITHOUT its secrets") ||
		!strings.Contains(resultText(res), "wassette component approve weather") {
		t.Errorf("call before approval: %v %s", res.IsError, resultText(res))
	}
	if out, errOut, code := e.Run(t, "", "component", "approve", "weather"); code != 0 || !strings.Contains(out, "Approved") {
		t.Fatalf("component approve: exit %d %s%s", code, out, errOut)
	}

	// No network grant yet: a clear tool error naming the host, and no request made.
	res = call(t, c, "get_weather", map[string]any{"city": "Paris"})
	if !res.IsError || !strings.Contains(resultText(res), apiHost) || !strings.Contains(resultText(res), "not granted") {
		t.Errorf("call without a network grant: %v %s", res.IsError, resultText(res))
	}
	if _, n := api.lastKey(); n != 0 {
		t.Errorf("the API was reached %d times without a grant", n)
	}

	mustOK(t, c, "grant-network-permission", map[string]any{"component_id": "weather", "host": apiHost})
	weatherKey := func(want string, n int) {
		t.Helper()
		res := mustOK(t, c, "get_weather", map[string]any{"city": "Paris"})
		var out map[string]any
		if err := json.Unmarshal([]byte(resultText(res)), &out); err != nil {
			t.Fatalf("get_weather output %q: %v", resultText(res), err)
		}
		if out["city"] != "Paris" || out["your_key"] != "[REDACTED]" {
			t.Errorf("get_weather output: %v", out)
		}
		if got, count := api.lastKey(); got != want || count != n {
			t.Errorf("request %d: the API got the key %q, want %q (after %d requests)", n, got, want, count)
		}
	}
	weatherKey(key1, 1)

	// A secret changed from the CLI reaches the very next call.
	cliSet(t, e, "weather", "API_KEY", key2)
	weatherKey(key2, 2)

	// A value in the policy wins over the secret.
	if out, errOut, code := e.Run(t, "", "permission", "grant", "environment-variable", "weather", "API_KEY", "--value", key3); code != 0 {
		t.Fatalf("permission grant: exit %d %s%s", code, out, errOut)
	}
	weatherKey(key3, 3)
	res = mustOK(t, c, "get-policy", map[string]any{"component_id": "weather"})
	if !strings.Contains(resultText(res), "source: policy") || !strings.Contains(resultText(res), apiHost) {
		t.Errorf("get-policy:\n%s", resultText(res))
	}

	// A host that is not granted (the endpoint moved): a tool error with the fix.
	other := httptest.NewServer(http.NotFoundHandler())
	defer other.Close()
	cliSet(t, e, "weather", "ENDPOINT_URL", other.URL)
	res = call(t, c, "get_weather", map[string]any{"city": "Paris"})
	otherHost := strings.TrimPrefix(other.URL, "http://")
	if !res.IsError || !strings.Contains(resultText(res), otherHost) || !strings.Contains(resultText(res), "permission grant network") {
		t.Errorf("call to a host not granted: %v %s", res.IsError, resultText(res))
	}

	// A host variable of the server reaches a component only once granted.
	mustOK(t, c, "load-component", map[string]any{"path": echo})
	changes.wait(t, "the second load-component")
	envOf := func() []string {
		t.Helper()
		var out struct{ Env []string }
		if err := json.Unmarshal([]byte(resultText(mustOK(t, c, "env", map[string]any{}))), &out); err != nil {
			t.Fatal(err)
		}
		return out.Env
	}
	if env := envOf(); len(env) != 0 {
		t.Errorf("echo sees %v with nothing granted", env)
	}
	mustOK(t, c, "grant-environment-variable-permission", map[string]any{"component_id": "echo", "key": "REGION"})
	if env := envOf(); !slices.Equal(env, []string{"REGION=eu-c1"}) {
		t.Errorf("echo sees %v after the grant", env)
	}

	// Unloading says what happened to the secrets, and the tool goes away.
	res = mustOK(t, c, "unload-component", map[string]any{"id": "weather"})
	if !strings.Contains(resultText(res), "2 secrets were KEPT") {
		t.Errorf("unload-component: %s", resultText(res))
	}
	changes.wait(t, "unload-component")
	if got := toolList(t, c); slices.Contains(got, "get_weather") || !slices.Contains(got, "env") {
		t.Errorf("tools after unload: %v", got)
	}

	c.Close()
	if code := p.wait(t); code != 0 {
		t.Errorf("exit code %d; stderr:\n%s", code, p.stderr.String())
	}
	<-p.copied
	checkJSONRPCLines(t, p.stdout.Bytes())
	for _, key := range []string{key1, key2, key3} {
		assertNoCanary(t, "stdout", p.stdout.Bytes(), key)
		assertNoCanary(t, "stderr", p.stderr.Bytes(), key)
	}
	for _, want := range []string{`tool=get_weather component_id=weather`, `tool=load-component`} {
		if !strings.Contains(p.stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, p.stderr.String())
		}
	}
}

// TestServeSeesCLIComponents loads and unloads a component from the CLI while a server
// runs: the server's tool list follows, and the client is told.
func TestServeSeesCLIComponents(t *testing.T) {
	echo := exampleWasm(t, "echo")
	e := newEnv(t)
	p := startServe(t, e, "serve", "--stdio")
	c := p.stdioClient(t)
	defer c.Close()
	changes := watchListChanged(c)
	if out, errOut, code := e.Run(t, "", "component", "load", echo); code != 0 {
		t.Fatalf("component load: exit %d %s%s", code, out, errOut)
	}
	changes.wait(t, "component load from the CLI")
	if got := toolList(t, c); !slices.Contains(got, "echo") {
		t.Fatalf("tools: %v", got)
	}
	if res := mustOK(t, c, "echo", map[string]any{"x": 1}); resultText(res) != `{"x":1}` {
		t.Errorf("echo: %s", resultText(res))
	}
	if out, errOut, code := e.Run(t, "", "component", "unload", "echo", "--keep-secrets"); code != 0 {
		t.Fatalf("component unload: exit %d %s%s", code, out, errOut)
	}
	changes.wait(t, "component unload from the CLI")
	if got := toolList(t, c); slices.Contains(got, "echo") {
		t.Errorf("tools after unload: %v", got)
	}
}

func TestServeLimitFlags(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--timeout", "0s"}, "--timeout"},
		{[]string{"serve", "--timeout", "-5s"}, "--timeout"},
		{[]string{"serve", "--timeout", "soon"}, "--timeout"},
		{[]string{"serve", "--memory-limit", "lots"}, "--memory-limit"},
		{[]string{"serve", "--memory-limit", "0"}, "--memory-limit"},
		{[]string{"serve", "--memory-limit", "8Gi"}, "--memory-limit"},
	} {
		out, errOut, code := e.Run(t, "", tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 naming %s", tc.args, code, out, errOut, tc.want)
		}
	}
}
