package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// call runs a tool and fails the test on an error from Call.
func call(t *testing.T, m *Module, tool, args string, opts CallOptions) Result {
	t.Helper()
	res, err := m.Call(context.Background(), tool, json.RawMessage(args), opts)
	if err != nil {
		t.Fatalf("Call(%s): %v", tool, err)
	}
	return res
}

// callOK runs a tool that must succeed and decodes its output into v.
func callOK(t *testing.T, m *Module, tool, args string, opts CallOptions, v any) {
	t.Helper()
	res := call(t, m, tool, args, opts)
	if res.IsError() {
		t.Fatalf("Call(%s): tool failed with exit code %d: %s", tool, res.ExitCode, res.Stderr)
	}
	if err := json.Unmarshal(res.Output, v); err != nil {
		t.Fatalf("Call(%s): output %s: %v", tool, res.Output, err)
	}
}

// callFails runs a tool that must fail (non-zero exit) and returns its message.
func callFails(t *testing.T, m *Module, tool, args string, opts CallOptions) string {
	t.Helper()
	res := call(t, m, tool, args, opts)
	if !res.IsError() {
		t.Fatalf("Call(%s) succeeded with %s, want a tool error", tool, res.Output)
	}
	if res.Output != nil {
		t.Errorf("Call(%s) failed but has output %s", tool, res.Output)
	}
	return res.Stderr
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	tools, err := module(t, "echo").Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []Tool{
		{Name: "echo", Description: "Returns the call arguments unchanged.", InputSchema: json.RawMessage(`{"type":"object"}`)},
		{Name: "env", Description: "Returns the program arguments and the environment the component was started with.", InputSchema: json.RawMessage(`{"type":"object"}`)},
	}
	if fmt.Sprintf("%s", tools) != fmt.Sprintf("%s", want) {
		t.Errorf("Describe() = %s\nwant %s", tools, want)
	}

	tools, err = module(t, "weather").Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(tools) != 1 || tools[0].Name != "get_weather" || !strings.Contains(string(tools[0].InputSchema), `"required":["city"]`) {
		t.Errorf("Describe(weather) = %s", tools)
	}
}

func TestDescribeNonProtocolModule(t *testing.T) {
	t.Parallel()
	// A valid command that prints nothing.
	m, err := sharedRuntime(t).Compile(context.Background(), wasmStartOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	_, err = m.Describe(context.Background())
	if !errors.Is(err, ErrProtocol) {
		t.Fatalf("Describe() error = %v, want ErrProtocol", err)
	}
}

func TestCallEcho(t *testing.T) {
	t.Parallel()
	m := module(t, "echo")
	var got map[string]any
	callOK(t, m, "echo", ` {"a": [1, "two"]} `, CallOptions{}, &got)
	if fmt.Sprint(got) != "map[a:[1 two]]" {
		t.Errorf("echo = %v", got)
	}
	got = nil
	callOK(t, m, "echo", "", CallOptions{}, &got)
	if len(got) != 0 {
		t.Errorf("echo with no arguments = %v, want {}", got)
	}
}

type envOutput struct {
	Argv []string `json:"argv"`
	Env  []string `json:"env"`
}

func TestEnvIsExactlyOptsEnv(t *testing.T) {
	// Not parallel: t.Setenv.
	t.Setenv("WASSETTE_TEST_HOST_SECRET", "host-only")
	m := module(t, "echo")

	var out envOutput
	callOK(t, m, "env", "", CallOptions{}, &out)
	if len(out.Env) != 0 {
		t.Errorf("env with no Env = %q, want empty", out.Env)
	}
	if !slices.Equal(out.Argv, []string{argv0, "env"}) {
		t.Errorf("argv = %q, want [%s env]", out.Argv, argv0)
	}

	env := []string{"API_KEY=k1", "EMPTY=", "WITH_EQUALS=a=b"}
	callOK(t, m, "env", "", CallOptions{Env: env}, &out)
	if !slices.Equal(out.Env, env) {
		t.Errorf("env = %q, want exactly %q", out.Env, env)
	}
}

func TestFreshInstancePerCall(t *testing.T) {
	t.Parallel()
	m := module(t, "misbehave")
	for i := 0; i < 3; i++ {
		var n int
		callOK(t, m, "count", "", CallOptions{}, &n)
		if n != 1 {
			t.Fatalf("call %d: counter = %d, want 1 (state leaked between calls)", i, n)
		}
	}
}

func TestToolErrors(t *testing.T) {
	t.Parallel()
	m := module(t, "misbehave")
	if msg := callFails(t, m, "fail", "", CallOptions{}); !strings.Contains(msg, "this tool always fails") {
		t.Errorf("stderr = %q", msg)
	}
	res := call(t, m, "no_such_tool", "", CallOptions{})
	if res.ExitCode != 2 || !strings.Contains(res.Stderr, `unknown tool "no_such_tool"`) {
		t.Errorf("unknown tool: %+v", res)
	}
}

func TestInvalidCallOptions(t *testing.T) {
	t.Parallel()
	m := module(t, "echo")
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, tool, args string
		opts             CallOptions
		want             string
	}{
		{"bad tool name", "a b", "", CallOptions{}, "invalid tool name"},
		{"describe flag as tool", DescribeFlag, "", CallOptions{}, "must not start with '-'"},
		{"args not object", "echo", "[1]", CallOptions{}, "must be a JSON object"},
		{"args invalid", "echo", "{", CallOptions{}, "must be a JSON object"},
		{"env without =", "echo", "", CallOptions{Env: []string{"SECRETVALUE"}}, "entry #0 is not of the form KEY=VALUE"},
		{"env empty key", "echo", "", CallOptions{Env: []string{"=SECRETVALUE"}}, "not of the form KEY=VALUE"},
		{"env duplicate", "echo", "", CallOptions{Env: []string{"K=SECRETVALUE", "K=SECRETVALUE"}}, `"K" is given more than once`},
		{"mount relative", "echo", "", CallOptions{Mounts: []Mount{{HostPath: "rel", GuestPath: "/d"}}}, "must be absolute"},
		{"mount missing", "echo", "", CallOptions{Mounts: []Mount{{HostPath: filepath.Join(dir, "missing"), GuestPath: "/d"}}}, "no such file"},
		{"mount file", "echo", "", CallOptions{Mounts: []Mount{{HostPath: file, GuestPath: "/d"}}}, "not a directory"},
		{"mount guest relative", "echo", "", CallOptions{Mounts: []Mount{{HostPath: dir, GuestPath: "d"}}}, "clean absolute path"},
		{"mount guest unclean", "echo", "", CallOptions{Mounts: []Mount{{HostPath: dir, GuestPath: "/d/../e"}}}, "clean absolute path"},
		{"mount guest duplicate", "echo", "", CallOptions{Mounts: []Mount{{HostPath: dir, GuestPath: "/d"}, {HostPath: dir, GuestPath: "/d"}}}, "more than one mount"},
		{"bad host", "echo", "", CallOptions{AllowedHosts: []string{"https://example.com/"}}, "not a URL"},
	}
	for _, tt := range tests {
		_, err := m.Call(context.Background(), tt.tool, json.RawMessage(tt.args), tt.opts)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error = %v, want it to contain %q", tt.name, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "SECRETVALUE") {
			t.Errorf("%s: error %q reveals an environment value", tt.name, err)
		}
	}
}

func TestMounts(t *testing.T) {
	t.Parallel()
	m := module(t, "misbehave")
	ro, rw := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(ro, "in.txt"), []byte("hello from the host"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := CallOptions{Mounts: []Mount{
		{HostPath: ro, GuestPath: "/in"},
		{HostPath: rw, GuestPath: "/out", Writable: true},
	}}

	var s string
	callOK(t, m, "read", `{"path":"/in/in.txt"}`, opts, &s)
	if s != "hello from the host" {
		t.Errorf("read = %q", s)
	}

	msg := callFails(t, m, "write", `{"path":"/in/new.txt","data":"x"}`, opts)
	if !strings.Contains(strings.ToLower(msg), "read-only file system") {
		t.Errorf("write to a read-only mount: stderr = %q, want a read-only file system error", msg)
	}
	if _, err := os.Stat(filepath.Join(ro, "new.txt")); !os.IsNotExist(err) {
		t.Errorf("the write to the read-only mount reached the host: %v", err)
	}

	callOK(t, m, "write", `{"path":"/out/new.txt","data":"written by the guest"}`, opts, &s)
	if b, err := os.ReadFile(filepath.Join(rw, "new.txt")); err != nil || string(b) != "written by the guest" {
		t.Errorf("host file = %q, %v", b, err)
	}

	// Nothing outside the mounts is visible.
	callFails(t, m, "read", `{"path":"/etc/passwd"}`, opts)
	callFails(t, m, "read", `{"path":"/in/../../etc/passwd"}`, opts)
}

func TestNoMountsNoFileSystem(t *testing.T) {
	t.Parallel()
	m := module(t, "misbehave")
	for _, p := range []string{"/", ".", "/tmp", "/etc"} {
		callFails(t, m, "list", fmt.Sprintf(`{"path":%q}`, p), CallOptions{})
	}
	callFails(t, m, "read", `{"path":"/etc/passwd"}`, CallOptions{})
	callFails(t, m, "write", `{"path":"/x","data":"x"}`, CallOptions{})
}

type fetchOutput struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
	Type   string `json:"type"`
}

func TestNetwork(t *testing.T) {
	t.Parallel()
	m := module(t, "misbehave")
	big := strings.Repeat("b", 2048)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "other server")
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			fmt.Fprint(w, big)
		case "/redirect":
			http.Redirect(w, r, other.URL+"/", http.StatusFound)
		case "/redirect-local":
			http.Redirect(w, r, "http://localhost:"+other.URL[strings.LastIndexByte(other.URL, ':')+1:]+"/", http.StatusFound)
		case "/missing":
			http.NotFound(w, r)
		default:
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprintf(w, "hello %s", r.URL.Query().Get("who"))
		}
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	otherHost := strings.TrimPrefix(other.URL, "http://")
	fetch := func(path string) string { return fmt.Sprintf(`{"url":%q}`, srv.URL+path) }

	granted := CallOptions{ComponentID: "netcomp", AllowedHosts: []string{host}}
	var out fetchOutput
	callOK(t, m, "fetch", fetch("/?who=agent"), granted, &out)
	if out.Status != 200 || out.Body != "hello agent" || out.Type != "text/plain" {
		t.Errorf("fetch = %+v", out)
	}
	callOK(t, m, "fetch", fetch("/missing"), granted, &out)
	if out.Status != 404 {
		t.Errorf("fetch /missing status = %d, want 404", out.Status)
	}

	// Host patterns without a port allow any port.
	callOK(t, m, "fetch", fetch("/"), CallOptions{AllowedHosts: []string{"127.0.0.1"}}, &out)

	// Not granted: no hosts, another port, another host.
	wantMsg := "wassette permission grant network netcomp " + host
	for _, hosts := range [][]string{nil, {otherHost}, {"localhost"}, {"*.example.com"}} {
		msg := callFails(t, m, "fetch", fetch("/"), CallOptions{ComponentID: "netcomp", AllowedHosts: hosts})
		if !strings.Contains(msg, "network access to "+host+" is not granted") || !strings.Contains(msg, wantMsg) {
			t.Errorf("hosts %q: stderr = %q, want a refusal naming %s and %q", hosts, msg, host, wantMsg)
		}
	}

	// A redirect to a host that was not granted is refused too.
	msg := callFails(t, m, "fetch", fetch("/redirect"), granted)
	if !strings.Contains(msg, "redirect refused") || !strings.Contains(msg, otherHost) {
		t.Errorf("redirect: stderr = %q", msg)
	}
	callOK(t, m, "fetch", fetch("/redirect"), CallOptions{AllowedHosts: []string{host, otherHost}}, &out)
	if out.Body != "other server" {
		t.Errorf("redirect with both hosts granted: %+v", out)
	}

	// A host granted by name that resolves to a loopback address is refused, before
	// any connection; the same host granted by its address is reached.
	port := host[strings.LastIndexByte(host, ':')+1:]
	byName := CallOptions{ComponentID: "netcomp", AllowedHosts: []string{"localhost:" + port}}
	msg = callFails(t, m, "fetch", fmt.Sprintf(`{"url":"http://localhost:%s/?who=SECRET"}`, port), byName)
	if !strings.Contains(msg, "network access to localhost:"+port+" is refused: it resolves to") ||
		!strings.Contains(msg, "a loopback address") || strings.Contains(msg, "SECRET") {
		t.Errorf("localhost by name: stderr = %q", msg)
	}
	// A redirect from a granted host to a name that resolves to loopback is refused.
	msg = callFails(t, m, "fetch", fetch("/redirect-local"), CallOptions{ComponentID: "netcomp", AllowedHosts: []string{host, "localhost"}})
	if !strings.Contains(msg, "redirect refused: network access to localhost:") || !strings.Contains(msg, "a loopback address") {
		t.Errorf("redirect to localhost: stderr = %q", msg)
	}

	// The response body cap.
	capped := granted
	capped.Limits.HTTPResponseBytes = 1024
	msg = callFails(t, m, "fetch", fetch("/big"), capped)
	if !strings.Contains(msg, "larger than the 1 KiB limit") {
		t.Errorf("big response: stderr = %q", msg)
	}
	callOK(t, m, "fetch", fetch("/big"), granted, &out)
	if out.Body != big {
		t.Errorf("big response under the default cap: %d bytes", len(out.Body))
	}

	// Other schemes are refused.
	msg = callFails(t, m, "fetch", `{"url":"file:///etc/passwd"}`, granted)
	if !strings.Contains(msg, "only http and https") {
		t.Errorf("file URL: stderr = %q", msg)
	}
}

func TestWeatherExample(t *testing.T) {
	t.Parallel()
	m := module(t, "weather")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != "/weather" || q.Get("appid") != "secret-key" || r.Header.Get("X-Api-Key") != "secret-key" {
			http.Error(w, `{"message":"invalid API key"}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"name":%q,"main":{"temp":21.5}}`, q.Get("q"))
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	opts := CallOptions{
		ComponentID:  "weather",
		Env:          []string{"API_KEY=secret-key", "ENDPOINT_URL=" + srv.URL},
		AllowedHosts: []string{u.Host},
	}

	var out struct {
		Name string `json:"name"`
		Main struct {
			Temp float64 `json:"temp"`
		} `json:"main"`
	}
	callOK(t, m, "get_weather", `{"city":"São Paulo"}`, opts, &out)
	if out.Name != "São Paulo" || out.Main.Temp != 21.5 {
		t.Errorf("get_weather = %+v", out)
	}

	noKey := opts
	noKey.Env = []string{"ENDPOINT_URL=" + srv.URL}
	if msg := callFails(t, m, "get_weather", `{"city":"Paris"}`, noKey); !strings.Contains(msg, "API_KEY not configured") {
		t.Errorf("without API_KEY: stderr = %q", msg)
	}

	wrongKey := opts
	wrongKey.Env = []string{"API_KEY=wrong", "ENDPOINT_URL=" + srv.URL}
	if msg := callFails(t, m, "get_weather", `{"city":"Paris"}`, wrongKey); !strings.Contains(msg, "HTTP 401") {
		t.Errorf("with a wrong key: stderr = %q", msg)
	}

	noNet := opts
	noNet.AllowedHosts = nil
	if msg := callFails(t, m, "get_weather", `{"city":"Paris"}`, noNet); !strings.Contains(msg, "wassette permission grant network weather "+u.Host) {
		t.Errorf("without network: stderr = %q", msg)
	}
}

func TestRunawayCallsAreStopped(t *testing.T) {
	t.Parallel()
	m := module(t, "misbehave")
	tests := []struct {
		tool   string
		limits Limits
		want   error
		msg    string
	}{
		{"loop", Limits{Timeout: 300 * time.Millisecond}, ErrTimeout, "ran longer than 300ms"},
		{"sleep", Limits{Timeout: 300 * time.Millisecond}, ErrTimeout, "ran longer than 300ms"},
		// However slow the machine, the allocation reaches the memory limit first.
		{"alloc", Limits{MemoryBytes: 32 << 20, Timeout: 10 * time.Minute}, ErrMemoryLimit, "more than 32 MiB of memory"},
		{"flood", Limits{OutputBytes: 64 << 10}, ErrOutputLimit, "more than 64 KiB to stdout"},
		{"flood_stderr", Limits{OutputBytes: 64 << 10}, ErrOutputLimit, "more than 64 KiB to stderr"},
		// The module's initial memory does not fit in one page.
		{"count", Limits{MemoryBytes: 1}, ErrMemoryLimit, "more than the 64 KiB limit"},
	}
	for _, tt := range tests {
		_, err := m.Call(context.Background(), tt.tool, nil, CallOptions{Limits: tt.limits})
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: error = %v, want %v mentioning %q", tt.tool, err, tt.want, tt.msg)
		} else {
			t.Logf("%s: %v", tt.tool, err)
		}
		// The module still works.
		var n int
		callOK(t, m, "count", "", CallOptions{}, &n)
		if n != 1 {
			t.Errorf("after %s: counter = %d, want 1", tt.tool, n)
		}
	}
}

func TestCallerContext(t *testing.T) {
	t.Parallel()
	m := module(t, "misbehave")
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(100 * time.Millisecond)
		cancel()
	}()
	_, err := m.Call(ctx, "loop", nil, CallOptions{})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Errorf("canceled call: error = %v, want context.Canceled", err)
	}
}

func TestConcurrentCallsSeeOnlyTheirEnv(t *testing.T) {
	t.Parallel()
	m := module(t, "echo")
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			env := []string{fmt.Sprintf("CALLER=%d", i), fmt.Sprintf("SECRET_%d=s%d", i, i)}
			res, err := m.Call(context.Background(), "env", nil, CallOptions{Env: env})
			if err != nil {
				errs <- err
				return
			}
			var out envOutput
			if err := json.Unmarshal(res.Output, &out); err != nil {
				errs <- err
				return
			}
			if !slices.Equal(out.Env, env) {
				errs <- fmt.Errorf("call %d saw env %q, want %q", i, out.Env, env)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestModuleClose(t *testing.T) {
	t.Parallel()
	m, err := sharedRuntime(t).Compile(context.Background(), wasmBytes(t, "echo"))
	if err != nil {
		t.Fatal(err)
	}
	call(t, m, "echo", "", CallOptions{})
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Call(context.Background(), "echo", nil, CallOptions{}); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Call after Close: error = %v", err)
	}
	if err := m.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestRuntimeCloseStopsCalls closes a Runtime under calls that run guest code and
// calls that call the host without end. Close must stop them and wait for them
// before it frees anything they use: with -race, a Close that frees an instance's
// files or memory under its running code is reported as a data race.
func TestRuntimeCloseStopsCalls(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rt, err := New(ctx, Config{CacheDir: testCache})
	if err != nil {
		t.Fatal(err)
	}
	m, err := rt.Compile(ctx, wasmBytes(t, "misbehave"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	opts := CallOptions{Mounts: []Mount{{HostPath: dir, GuestPath: "/m", Writable: true}}, Limits: Limits{Timeout: 10 * time.Minute}}
	calls := []struct{ tool, args, marker string }{
		{"spin", `{"path":"/m/spin-1"}`, "spin-1"},
		{"spin", `{"path":"/m/spin-2"}`, "spin-2"},
		{"loop", "", ""},
		{"sleep", "", ""},
	}
	done := make(chan error, len(calls))
	for _, c := range calls {
		go func() {
			_, err := m.Call(ctx, c.tool, json.RawMessage(c.args), opts)
			done <- err
		}()
	}
	// Close while the spinning calls are inside their loops: each wrote its marker
	// first. (The loop and sleep calls may or may not have started; either way
	// they must be stopped or refused.)
	deadline := time.Now().Add(5 * time.Minute)
	for _, c := range calls {
		for c.marker != "" {
			if _, err := os.Stat(filepath.Join(dir, c.marker)); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not start", c.marker)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := rt.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for range calls {
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Errorf("call during Close: error = %v, want ErrClosed", err)
		}
	}
	if _, err := m.Call(ctx, "count", nil, CallOptions{}); !errors.Is(err, ErrClosed) {
		t.Errorf("call after Runtime.Close: %v, want ErrClosed", err)
	}
}
