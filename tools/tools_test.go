package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/wassette/wassette/secretpage"
	"github.com/wassette/wassette/secretstore"
)

var update = flag.Bool("update", false, "rewrite the tool schema snapshots in testdata/")

// allTools returns every tool this package offers, as a server would register them.
func allTools(t *testing.T) []server.ServerTool {
	t.Helper()
	store, err := secretstore.Open(filepath.Join(t.TempDir(), "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	pages := secretpage.New(secretpage.Config{Store: store})
	t.Cleanup(func() { pages.Close() })
	return append(SecretTools(store, nil), NewSecretRequests(nil, pages, store, nil, nil).Tool())
}

// TestToolSnapshots compares what the model sees of each tool (name, description,
// schemas, annotations) with testdata/<name>.json, so every change is a reviewed diff.
// Run `go test ./tools -update` to accept a change.
func TestToolSnapshots(t *testing.T) {
	tools := allTools(t)
	want := map[string]bool{}
	for _, st := range tools {
		name := st.Tool.Name
		want[name+".json"] = true
		got, err := json.MarshalIndent(st.Tool, "", "  ")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got = append(got, '\n')
		path := filepath.Join("testdata", name+".json")
		if *update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		old, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: no snapshot (%v); run `go test ./tools -update` and review the new file", name, err)
			continue
		}
		if !bytes.Equal(old, got) {
			t.Errorf("%s: the tool differs from %s; if the change is intended, run `go test ./tools -update` "+
				"and review the diff.\ngot:\n%s", name, path, got)
		}
	}
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") && !want[e.Name()] {
			t.Errorf("testdata/%s belongs to no tool; delete it", e.Name())
		}
	}
}

// TestToolAnnotations checks that every tool states every hint itself, since mcp-go's
// defaults call every tool destructive and open-world.
func TestToolAnnotations(t *testing.T) {
	s := server.NewMCPServer("test", "0")
	store, err := secretstore.Open(filepath.Join(t.TempDir(), "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	RegisterSecrets(s, store, nil)
	registered := s.ListTools()
	if len(registered) == 0 {
		t.Fatal("no tools registered")
	}
	for name, st := range registered {
		a := st.Tool.Annotations
		if a.Title == "" {
			t.Errorf("%s: no title annotation", name)
		}
		for hint, v := range map[string]*bool{
			"readOnlyHint": a.ReadOnlyHint, "destructiveHint": a.DestructiveHint,
			"idempotentHint": a.IdempotentHint, "openWorldHint": a.OpenWorldHint,
		} {
			if v == nil {
				t.Errorf("%s: %s is not set", name, hint)
			}
		}
		if a.ReadOnlyHint != nil && *a.ReadOnlyHint && a.DestructiveHint != nil && *a.DestructiveHint {
			t.Errorf("%s: read-only and destructive at once", name)
		}
		if st.Tool.Description == "" || st.Tool.RawOutputSchema == nil {
			t.Errorf("%s: needs a description and an output schema", name)
		}
		for prop, p := range st.Tool.InputSchema.Properties {
			if m, _ := p.(map[string]any); m["description"] == nil {
				t.Errorf("%s: argument %s has no description", name, prop)
			}
		}
	}
	want := map[string][3]bool{ // readOnly, destructive, idempotent
		ListSecretsTool:  {true, false, true},
		SetSecretTool:    {false, false, true},
		DeleteSecretTool: {false, true, false},
	}
	for name, w := range want {
		st := registered[name]
		if st == nil {
			t.Errorf("%s is not registered", name)
			continue
		}
		a := st.Tool.Annotations
		got := [3]bool{*a.ReadOnlyHint, *a.DestructiveHint, *a.IdempotentHint}
		if got != w || *a.OpenWorldHint {
			t.Errorf("%s: hints readOnly/destructive/idempotent = %v, openWorld = %v; want %v, false", name, got, *a.OpenWorldHint, w)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness is an in-process client of a server with the secret tools, and what it logs.
type harness struct {
	c     *client.Client
	store *secretstore.Store
	dir   string
	logs  *syncBuffer
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "secrets")
	store, err := secretstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := server.NewMCPServer("test", "0", server.WithOutputSchemaValidation(), server.WithRecovery(),
		server.WithLogger(log))
	RegisterSecrets(s, store, log)
	c, err := client.NewInProcessClient(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var init mcp.InitializeRequest
	init.Params.ProtocolVersion = mcp.LATEST_LEGACY_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "tools-test", Version: "0"}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	return &harness{c: c, store: store, dir: dir, logs: logs}
}

// call calls a tool; a protocol error fails the test, since bad input must come back as
// a tool result.
func (h *harness) call(t *testing.T, tool string, args any) *mcp.CallToolResult {
	t.Helper()
	var req mcp.CallToolRequest
	req.Params.Name = tool
	req.Params.Arguments = args
	res, err := h.c.CallTool(context.Background(), req)
	if err != nil {
		t.Fatalf("%s: protocol error %v; bad input must be a tool result with isError", tool, err)
	}
	return res
}

func text(res *mcp.CallToolResult) string { return resultText(res) }

// structured decodes a result's structured content into v.
func structured(t *testing.T, res *mcp.CallToolResult, v any) {
	t.Helper()
	if res.IsError {
		t.Fatalf("unexpected tool error: %s", text(res))
	}
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("structured content %s: %v", b, err)
	}
}

func wantError(t *testing.T, res *mcp.CallToolResult, substrings ...string) {
	t.Helper()
	if !res.IsError {
		t.Fatalf("want a tool error, got success: %s", text(res))
	}
	for _, s := range substrings {
		if !strings.Contains(text(res), s) {
			t.Errorf("error %q does not contain %q", text(res), s)
		}
	}
}

func TestListSecretsSortsAndMasks(t *testing.T) {
	h := newHarness(t)
	res := h.call(t, ListSecretsTool, map[string]any{"component_id": "weather"})
	var out ListSecretsOutput
	structured(t, res, &out)
	if out.Count != 0 || out.Secrets == nil || len(out.Secrets) != 0 || out.ComponentID != "weather" {
		t.Errorf("empty component: got %+v", out)
	}
	if !strings.Contains(text(res), "no secrets") {
		t.Errorf("text %q", text(res))
	}

	long := "sk-1234567890abcdefXYZ" // 22 characters: shows 3 + 3
	if err := h.store.Set("weather", map[string]secretstore.Value{
		"API_KEY": secretstore.NewValue(long), "TIMEOUT": secretstore.NewValue("30"),
	}); err != nil {
		t.Fatal(err)
	}
	res = h.call(t, ListSecretsTool, map[string]any{"component_id": "weather"})
	structured(t, res, &out)
	want := []MaskedSecret{{"API_KEY", "sk-***XYZ"}, {"TIMEOUT", "***"}}
	if out.Count != 2 || !slices.Equal(out.Secrets, want) {
		t.Errorf("got %+v, want %+v", out, want)
	}
	if strings.Contains(text(res), long) || !strings.Contains(text(res), "API_KEY: sk-***XYZ") {
		t.Errorf("text %q", text(res))
	}
}

func TestSetSecretStoresAndReplaces(t *testing.T) {
	h := newHarness(t)
	const v1, v2 = "first-value-0123456789", "second"
	res := h.call(t, SetSecretTool, map[string]any{"component_id": "weather", "key": "API_KEY", "value": v1})
	var out SetSecretOutput
	structured(t, res, &out)
	if out != (SetSecretOutput{"weather", "API_KEY", secretstore.Mask(v1), false}) {
		t.Errorf("got %+v", out)
	}
	if got, ok, err := h.store.Lookup("weather", "API_KEY"); err != nil || !ok || got.Reveal() != v1 {
		t.Errorf("store has %v %v %v", ok, err, got.Reveal() == v1)
	}
	res = h.call(t, SetSecretTool, map[string]any{"component_id": "weather", "key": "API_KEY", "value": v2})
	structured(t, res, &out)
	if !out.Replaced || out.MaskedValue != "***" {
		t.Errorf("got %+v", out)
	}
	if got, _, _ := h.store.Lookup("weather", "API_KEY"); got.Reveal() != v2 {
		t.Error("value not replaced")
	}
	for _, s := range []string{text(res), h.logs.String()} {
		if strings.Contains(s, v1) || strings.Contains(s, v2) {
			t.Errorf("a value leaked: %q", s)
		}
	}
	// A value with newlines (a PEM key) and non-ASCII text is accepted as is.
	pem := "-----BEGIN KEY-----\nabc\n-----END KEY-----\n"
	res = h.call(t, SetSecretTool, map[string]any{"component_id": "Ünïcode id", "key": "PEM", "value": pem})
	structured(t, res, &out)
	if got, _, _ := h.store.Lookup("Ünïcode id", "PEM"); got.Reveal() != pem {
		t.Error("PEM value not stored verbatim")
	}
}

func TestDeleteSecret(t *testing.T) {
	h := newHarness(t)
	if err := h.store.Set("weather", map[string]secretstore.Value{
		"A": secretstore.NewValue("1"), "B": secretstore.NewValue("2"),
	}); err != nil {
		t.Fatal(err)
	}
	res := h.call(t, DeleteSecretTool, map[string]any{"component_id": "weather", "key": "A"})
	var out DeleteSecretOutput
	structured(t, res, &out)
	if out != (DeleteSecretOutput{"weather", "A", true}) {
		t.Errorf("got %+v", out)
	}
	if s, _ := h.store.Get("weather"); !slices.Equal(s.Keys(), []string{"B"}) {
		t.Errorf("keys left: %v", s.Keys())
	}
	res = h.call(t, DeleteSecretTool, map[string]any{"component_id": "weather", "key": "A"})
	wantError(t, res, `no secret "A"`, "list-secrets")
	res = h.call(t, DeleteSecretTool, map[string]any{"component_id": "weather", "key": "b"})
	wantError(t, res, `no secret "b"`, "case-sensitive")
	res = h.call(t, DeleteSecretTool, map[string]any{"component_id": "nobody", "key": "A"})
	wantError(t, res, `"nobody"`, `no secret "A"`)
}

// TestBadInput sends each kind of bad input to each tool: every one must come back as a
// tool error that says what to fix, never as a protocol error, and the canary value must
// appear nowhere.
func TestBadInput(t *testing.T) {
	const canary = "CANARY-bad-input-7f3a9c"
	h := newHarness(t)
	ok := map[string]map[string]any{
		ListSecretsTool:  {"component_id": "weather"},
		SetSecretTool:    {"component_id": "weather", "key": "API_KEY", "value": canary},
		DeleteSecretTool: {"component_id": "weather", "key": "API_KEY"},
	}
	with := func(tool, name string, v any) map[string]any {
		m := map[string]any{}
		for k, x := range ok[tool] {
			m[k] = x
		}
		if v == nil {
			delete(m, name)
		} else {
			m[name] = v
		}
		return m
	}
	type tc struct {
		name string
		args any
		want []string
	}
	for _, tool := range []string{ListSecretsTool, SetSecretTool, DeleteSecretTool} {
		cases := []tc{
			{"no arguments", nil, []string{`missing required argument "component_id"`}},
			{"arguments a string", canary, []string{"must be a JSON object"}},
			{"arguments an array", []any{canary}, []string{"must be a JSON object"}},
			{"missing component_id", with(tool, "component_id", nil), []string{`missing required argument "component_id"`}},
			{"component_id a number", with(tool, "component_id", 42), []string{`"component_id"`, "must be a string, got a number"}},
			{"component_id an object", with(tool, "component_id", map[string]any{"id": canary}), []string{"got an object"}},
			{"empty component_id", with(tool, "component_id", ""), []string{"invalid component ID", "empty"}},
			{"component_id with control", with(tool, "component_id", "we\x07ther"), []string{"invalid component ID", "control character"}},
			{"component_id too long", with(tool, "component_id", strings.Repeat("a", 129)), []string{"invalid component ID", "129 bytes", "limit is 128"}},
			{"unknown argument", with(tool, "componentId", "weather"), []string{`argument "componentId"`, "component_id"}},
		}
		if tool != ListSecretsTool {
			cases = append(cases,
				tc{"missing key", with(tool, "key", nil), []string{`missing required argument "key"`}},
				tc{"key a boolean", with(tool, "key", true), []string{`"key"`, "got a boolean"}},
				tc{"empty key", with(tool, "key", ""), []string{"invalid secret key", "empty"}},
				tc{"key with =", with(tool, "key", "A=B"), []string{"invalid secret key", "'='"}},
				tc{"key with space", with(tool, "key", "API KEY"), []string{"invalid secret key", "whitespace"}},
				tc{"key with NUL", with(tool, "key", "A\x00"), []string{"invalid secret key", "control character"}},
				tc{"key too long", with(tool, "key", strings.Repeat("K", 257)), []string{"invalid secret key", "257 bytes"}},
			)
		}
		if tool == SetSecretTool {
			cases = append(cases,
				tc{"missing value", with(tool, "value", nil), []string{`missing required argument "value"`}},
				tc{"value null", map[string]any{"component_id": "weather", "key": "K", "value": nil}, []string{`missing required argument "value"`}},
				tc{"value a number", with(tool, "value", 12345), []string{`"value"`, "got a number"}},
				tc{"value an array", with(tool, "value", []string{canary}), []string{`"value"`, "got an array"}},
				tc{"value with NUL", with(tool, "value", canary+"\x00"+canary), []string{"invalid secret value", "NUL"}},
				tc{"value too large", with(tool, "value", canary+strings.Repeat("x", secretstore.MaxValueLen)), []string{"invalid secret value", "limit is 65536"}},
				tc{"invalid key and canary value", with(tool, "key", "BAD KEY"), []string{"invalid secret key"}},
			)
		}
		for _, c := range cases {
			t.Run(tool+"/"+c.name, func(t *testing.T) {
				res := h.call(t, tool, c.args)
				wantError(t, res, c.want...)
				b, _ := json.Marshal(res)
				if strings.Contains(string(b), canary) {
					t.Errorf("the canary value leaked into the result: %s", b)
				}
			})
		}
	}
	if strings.Contains(h.logs.String(), canary) {
		t.Errorf("the canary value leaked into the log:\n%s", h.logs.String())
	}
	if _, err := os.Stat(h.dir); !os.IsNotExist(err) {
		t.Errorf("bad input wrote to the secrets folder (stat: %v)", err)
	}
}

// TestOtherProcessChanges uses a second Store on the same folder, as the CLI in another
// process would, and checks that each side sees the other's changes at once.
func TestOtherProcessChanges(t *testing.T) {
	h := newHarness(t)
	cli, err := secretstore.Open(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	var out ListSecretsOutput
	structured(t, h.call(t, ListSecretsTool, map[string]any{"component_id": "weather"}), &out)
	if out.Count != 0 {
		t.Fatalf("got %+v", out)
	}
	if err := cli.Set("weather", map[string]secretstore.Value{"FROM_CLI": secretstore.NewValue("v")}); err != nil {
		t.Fatal(err)
	}
	structured(t, h.call(t, ListSecretsTool, map[string]any{"component_id": "weather"}), &out)
	if out.Count != 1 || out.Secrets[0].Key != "FROM_CLI" {
		t.Fatalf("the tool did not see the CLI's change: %+v", out)
	}
	h.call(t, SetSecretTool, map[string]any{"component_id": "weather", "key": "FROM_TOOL", "value": "w"})
	if v, ok, err := cli.Lookup("weather", "FROM_TOOL"); err != nil || !ok || v.Reveal() != "w" {
		t.Fatalf("the CLI did not see the tool's change: %v %v", ok, err)
	}
	if err := cli.Delete("weather", "FROM_CLI"); err != nil {
		t.Fatal(err)
	}
	structured(t, h.call(t, ListSecretsTool, map[string]any{"component_id": "weather"}), &out)
	if out.Count != 1 || out.Secrets[0].Key != "FROM_TOOL" {
		t.Fatalf("the tool did not see the CLI's delete: %+v", out)
	}
}

// TestCallsAreLogged checks the one info line per call: tool, component and key, never
// the value.
func TestCallsAreLogged(t *testing.T) {
	h := newHarness(t)
	const value = "logged-value-must-not-appear-0123"
	h.call(t, SetSecretTool, map[string]any{"component_id": "weather", "key": "API_KEY", "value": value})
	h.call(t, DeleteSecretTool, map[string]any{"component_id": "weather", "key": "MISSING"})
	logs := h.logs.String()
	for _, want := range []string{
		`msg="tool call" tool=set-secret component_id=weather key=API_KEY`,
		`tool=delete-secret component_id=weather key=MISSING`, `outcome=error`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, value) {
		t.Errorf("the value leaked into the log:\n%s", logs)
	}
}
