package tools

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/wassette/wassette/internal/wasmtest"
	"github.com/wassette/wassette/secretpage"
	"github.com/wassette/wassette/secretstore"
)

const pageCanary = "sk-page-canary-7f3a9c21e4b85d60"

// wire records every JSON-RPC message between the test client and the server.
type wire struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *wire) tee(r io.Reader) io.Reader {
	return io.TeeReader(r, writerFunc(func(p []byte) (int, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.b.Write(p)
	}))
}

func (w *wire) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// elicitor answers URL elicitations as a person's client would: it calls open with the
// URL (in the background, as a browser opens after consent) and answers action.
type elicitor struct {
	action mcp.ElicitationResponseAction
	open   func(url string)
	got    chan mcp.ElicitationParams
}

func (e *elicitor) Elicit(_ context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	e.got <- req.Params
	if e.action == mcp.ElicitationResponseActionAccept && e.open != nil {
		go e.open(req.Params.URL)
	}
	return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{Action: e.action}}, nil
}

// pageHarness is a server with the secret tools, request-secret and the component tools,
// served over stdio pipes to an mcp-go client.
type pageHarness struct {
	c     *client.Client
	store *secretstore.Store
	comps *Components
	wire  *wire
	logs  *syncBuffer
	done  chan mcp.JSONRPCNotification
}

func newPageHarness(t *testing.T, urlMode bool, e *elicitor) *pageHarness {
	t.Helper()
	data := t.TempDir()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mgr, store, policies := openManager(t, data, log, nil)
	s := server.NewMCPServer("wassette", "0", server.WithToolCapabilities(true), server.WithOutputSchemaValidation(),
		server.WithRecovery(), server.WithLogger(log))
	RegisterSecrets(s, store, log)
	comps := RegisterComponents(s, mgr, policies, store, log)
	pages := secretpage.New(secretpage.Config{Store: store, Log: log})
	t.Cleanup(func() { pages.Close() })
	comps.RequireDeclaredSecrets(RegisterRequestSecret(s, pages, store, mgr, log))

	w := &wire{}
	cr, sw := io.Pipe() // server -> client
	sr, cw := io.Pipe() // client -> server
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = server.NewStdioServer(s).Listen(ctx, w.tee(sr), sw)
	}()
	var opts []client.ClientOption
	if e != nil {
		opts = append(opts, client.WithElicitationHandler(e))
	}
	c := client.NewClient(transport.NewIO(w.tee(cr), cw, io.NopCloser(strings.NewReader(""))), opts...)
	h := &pageHarness{c: c, store: store, comps: comps, wire: w, logs: logs, done: make(chan mcp.JSONRPCNotification, 8)}
	c.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method == string(mcp.MethodNotificationElicitationComplete) {
			h.done <- n
		}
	})
	t.Cleanup(func() {
		c.Close()
		cancel()
		cw.Close()
		sw.Close()
		<-served
		for _, form := range []string{pageCanary, base64.StdEncoding.EncodeToString([]byte(pageCanary)), hex.EncodeToString([]byte(pageCanary))} {
			if strings.Contains(w.String(), form) || strings.Contains(logs.String(), form) {
				t.Errorf("the value (as %q) went over MCP or into the logs", form)
			}
		}
	})
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var init mcp.InitializeRequest
	init.Params.ProtocolVersion = mcp.ProtocolVersion20251125
	init.Params.ClientInfo = mcp.Implementation{Name: "request-secret-test", Version: "0"}
	if urlMode {
		init.Params.Capabilities.Elicitation = &mcp.ElicitationCapability{URL: &struct{}{}}
	}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *pageHarness) call(t *testing.T, tool string, args map[string]any) (*mcp.CallToolResult, error) {
	t.Helper()
	var req mcp.CallToolRequest
	req.Params.Name = tool
	req.Params.Arguments = args
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute) // a load compiles, slowly on a busy machine
	defer cancel()
	return h.c.CallTool(ctx, req)
}

// submit posts value on the page at pageURL as the page's own form does.
func submit(t *testing.T, pageURL, value string) int {
	t.Helper()
	u, err := url.Parse(pageURL)
	if err != nil {
		t.Error(err)
		return 0
	}
	token := u.Path[strings.LastIndex(u.Path, "/")+1:]
	form := url.Values{"token": {token}, "value": {value}}
	req, _ := http.NewRequest("POST", pageURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://"+u.Host)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestRequestSecretURLMode(t *testing.T) {
	e := &elicitor{action: mcp.ElicitationResponseActionAccept, got: make(chan mcp.ElicitationParams, 1)}
	e.open = func(u string) {
		if code := submit(t, u, pageCanary); code != 200 {
			t.Errorf("submitting on the page: %d", code)
		}
	}
	h := newPageHarness(t, true, e)
	res, err := h.call(t, RequestSecretTool, map[string]any{"component_id": "weather", "key": "API_KEY", "reason": "get_weather needs it"})
	if err != nil || res.IsError {
		t.Fatalf("request-secret: %v %v", err, res)
	}
	var out RequestSecretOutput
	structured(t, res, &out)
	if !out.Set || out.Status != "stored" || out.MaskedValue != secretstore.Mask(pageCanary) || out.URL != "" {
		t.Fatalf("result %+v", out)
	}
	params := <-e.got
	if params.Mode != mcp.ElicitationModeURL || !strings.HasPrefix(params.URL, "http://127.0.0.1:") || params.ElicitationID == "" ||
		!strings.Contains(params.Message, "API_KEY") || !strings.Contains(params.Message, "get_weather needs it") {
		t.Fatalf("elicitation %+v", params)
	}
	select {
	case n := <-h.done:
		if n.Params.AdditionalFields["elicitationId"] != params.ElicitationID {
			t.Errorf("completion for %v, want %s", n.Params.AdditionalFields, params.ElicitationID)
		}
	case <-time.After(5 * time.Minute):
		t.Error("no notifications/elicitation/complete")
	}
	if v, ok, _ := h.store.Lookup("weather", "API_KEY"); !ok || v.Reveal() != pageCanary {
		t.Fatal("the value was not stored")
	}
	if code := submit(t, params.URL, "sk-another-value-000000000"); code != http.StatusGone {
		t.Fatalf("a second submission: %d", code)
	}
}

func TestRequestSecretDeclined(t *testing.T) {
	e := &elicitor{action: mcp.ElicitationResponseActionDecline, got: make(chan mcp.ElicitationParams, 1)}
	h := newPageHarness(t, true, e)
	res, err := h.call(t, RequestSecretTool, map[string]any{"component_id": "weather", "key": "API_KEY"})
	if err != nil || res.IsError {
		t.Fatalf("request-secret: %v %v", err, res)
	}
	var out RequestSecretOutput
	structured(t, res, &out)
	if out.Set || out.Status != "declined" {
		t.Fatalf("result %+v", out)
	}
	if code := submit(t, (<-e.got).URL, pageCanary); code != http.StatusGone {
		t.Fatalf("a declined page took a value: %d", code)
	}
}

func TestRequestSecretWithoutURLMode(t *testing.T) {
	h := newPageHarness(t, false, nil)
	res, err := h.call(t, RequestSecretTool, map[string]any{"component_id": "weather", "key": "API_KEY"})
	if err != nil || res.IsError {
		t.Fatalf("request-secret: %v %v", err, res)
	}
	var out RequestSecretOutput
	structured(t, res, &out)
	if out.Set || out.Status != "awaiting_person" || !strings.HasPrefix(out.URL, "http://127.0.0.1:") || out.ExpiresAt == "" {
		t.Fatalf("result %+v", out)
	}
	if text := resultText(res); !strings.Contains(text, out.URL) || !strings.Contains(text, "NOT to type or paste") {
		t.Fatalf("text: %s", text)
	}
	if code := submit(t, out.URL, pageCanary); code != 200 {
		t.Fatalf("submit: %d", code)
	}
	res, _ = h.call(t, ListSecretsTool, map[string]any{"component_id": "weather"})
	if !strings.Contains(resultText(res), "API_KEY: "+secretstore.Mask(pageCanary)) {
		t.Fatalf("list-secrets after the page: %s", resultText(res))
	}
}

func TestRequestSecretBadArguments(t *testing.T) {
	h := newPageHarness(t, false, nil)
	for _, args := range []map[string]any{
		{"component_id": "weather", "key": "A B"},
		{"component_id": "", "key": "API_KEY"},
		{"component_id": "weather", "key": "API_KEY", "reason": "two\nlines"},
		{"component_id": "weather", "key": "API_KEY", "value": "a value argument is refused"},
	} {
		res, err := h.call(t, RequestSecretTool, args)
		if err != nil || !res.IsError {
			t.Errorf("%v: %v %+v, want an isError result", args["key"], err, res)
		}
	}
}

// TestDeclaredSecretMissing: a call of a tool whose declared secret is missing does not
// run: a URL-mode client gets -32042 with the page, another an isError result naming
// request-secret; a tool that needs nothing runs; once the value is stored, the call runs.
func TestDeclaredSecretMissing(t *testing.T) {
	paths, err := wasmtest.Build("component/testdata/needskey")
	if err != nil {
		t.Fatal(err)
	}
	for _, urlMode := range []bool{false, true} {
		h := newPageHarness(t, urlMode, &elicitor{got: make(chan mcp.ElicitationParams, 1)})
		res, err := h.call(t, LoadComponentTool, map[string]any{"path": paths[0]})
		if err != nil || res.IsError {
			t.Fatalf("load: %v %v", err, res)
		}
		missing := func() bool {
			t.Helper()
			res, _ := h.call(t, ListComponentsTool, nil)
			var out ListComponentsOutput
			structured(t, res, &out)
			ds := out.Components[0].DeclaredSecrets
			if len(ds) != 1 || ds[0].Key != "API_KEY" || ds[0].Description == "" {
				t.Fatalf("declared secrets %+v", ds)
			}
			if ds[0].Missing != strings.Contains(resultText(res), "missing secret API_KEY") {
				t.Fatalf("the text disagrees with the structured content: %s", resultText(res))
			}
			return ds[0].Missing
		}
		if !missing() {
			t.Fatal("list-components: API_KEY is not shown missing")
		}
		if res, err := h.call(t, "no_key", nil); err != nil || res.IsError {
			t.Fatalf("no_key: %v %v", err, res)
		}
		res, err = h.call(t, "needs_key", nil)
		var pageURL string
		if urlMode {
			var required mcp.URLElicitationRequiredError
			if !errors.As(err, &required) || len(required.Elicitations) != 1 {
				t.Fatalf("URL mode: %v %+v, want URLElicitationRequiredError", err, res)
			}
			el := required.Elicitations[0]
			if el.Mode != mcp.ElicitationModeURL || el.ElicitationID == "" || !strings.Contains(el.Message, "API_KEY") {
				t.Fatalf("elicitation %+v", el)
			}
			pageURL = el.URL
		} else {
			if err != nil || !res.IsError || !strings.Contains(resultText(res), RequestSecretTool) ||
				!strings.Contains(resultText(res), "API_KEY") || !strings.Contains(resultText(res), "any non-empty text works") {
				t.Fatalf("without URL mode: %v %+v", err, res)
			}
			res, err = h.call(t, RequestSecretTool, map[string]any{"component_id": "needskey", "key": "API_KEY"})
			var out RequestSecretOutput
			structured(t, res, &out)
			pageURL = out.URL
		}
		if code := submit(t, pageURL, pageCanary); code != 200 {
			t.Fatalf("submit: %d", code)
		}
		if urlMode {
			select {
			case <-h.done:
			case <-time.After(5 * time.Minute):
				t.Error("no notifications/elicitation/complete after the -32042 page was used")
			}
		}
		if missing() {
			t.Fatal("list-components: API_KEY is still shown missing once set")
		}
		res, err = h.call(t, "needs_key", nil)
		if err != nil || res.IsError || !strings.Contains(resultText(res), `"api_key_set":true`) {
			t.Fatalf("needs_key after the value was stored: %v %+v", err, res)
		}
	}
}

// TestRequestSecretProgress: while the call waits for the person, a call that asked for
// progress gets notifications/progress, so a client that resets its timeout on progress
// keeps waiting.
func TestRequestSecretProgress(t *testing.T) {
	old := progressEvery
	progressEvery = 20 * time.Millisecond
	t.Cleanup(func() { progressEvery = old })
	e := &elicitor{action: mcp.ElicitationResponseActionAccept, got: make(chan mcp.ElicitationParams, 1)}
	e.open = func(u string) {
		time.Sleep(300 * time.Millisecond) // the person takes a while
		if code := submit(t, u, pageCanary); code != 200 {
			t.Errorf("submitting on the page: %d", code)
		}
	}
	h := newPageHarness(t, true, e)
	progress := make(chan struct{}, 100)
	h.c.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method == "notifications/progress" && n.Params.AdditionalFields["progressToken"] == "tok-1" {
			progress <- struct{}{}
		}
	})
	var req mcp.CallToolRequest
	req.Params.Name = RequestSecretTool
	req.Params.Arguments = map[string]any{"component_id": "weather", "key": "API_KEY"}
	req.Params.Meta = &mcp.Meta{ProgressToken: "tok-1"}
	res, err := h.c.CallTool(context.Background(), req)
	if err != nil || res.IsError {
		t.Fatalf("request-secret: %v %v", err, res)
	}
	select {
	case <-progress:
	case <-time.After(5 * time.Minute):
		t.Fatal("no progress notification while waiting")
	}
}
