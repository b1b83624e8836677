package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/wassette/wassette/component"
	"github.com/wassette/wassette/internal/policyview"
	"github.com/wassette/wassette/internal/wasmtest"
	"github.com/wassette/wassette/policy"
	"github.com/wassette/wassette/secretpage"
	"github.com/wassette/wassette/secretstore"
)

// compileCache is the compilation cache the tests' Managers share, so that each module
// is compiled once per test binary.
var compileCache string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wassette-tools-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	compileCache = filepath.Join(dir, "cache")
	code := m.Run()
	wasmtest.Cleanup()
	os.RemoveAll(dir)
	os.Exit(code)
}

// exampleWasm returns the path of examples/<name> built as <name>.wasm.
func exampleWasm(t testing.TB, name string) string {
	t.Helper()
	paths, err := wasmtest.Build("examples/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return paths[0]
}

const listChanged = "notifications/tools/list_changed"

// compHarness is an in-process client of a server with every built-in tool and the
// tools of the loaded components.
type compHarness struct {
	*harness
	data     string
	s        *server.MCPServer
	mgr      *component.Manager
	comps    *Components
	policies *policy.Store
	changes  chan struct{} // one value per list_changed notification
}

// openManager opens a Manager over data/components, as `serve` does, with the shared
// compilation cache.
func openManager(t *testing.T, data string, log *slog.Logger, environ []string) (*component.Manager, *secretstore.Store, *policy.Store) {
	t.Helper()
	store, err := secretstore.Open(filepath.Join(data, "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	policies, err := policy.Open(filepath.Join(data, "components"))
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := component.Open(context.Background(), component.Config{
		Dir: filepath.Join(data, "components"), CacheDir: compileCache,
		Secrets: store, Policies: policies, Environ: append([]string{}, environ...),
		Reserved: BuiltinToolNames(), Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mgr.Close(context.Background()) })
	return mgr, store, policies
}

func newCompHarness(t *testing.T, environ ...string) *compHarness {
	t.Helper()
	data := t.TempDir()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := context.Background()
	mgr, store, policies := openManager(t, data, log, environ)
	s := server.NewMCPServer("test", "0", server.WithToolCapabilities(true), server.WithOutputSchemaValidation(),
		server.WithRecovery(), server.WithLogger(log))
	RegisterSecrets(s, store, log)
	comps := RegisterComponents(s, mgr, policies, store, log)
	comps.environ = func() []string { return environ }
	pages := secretpage.New(secretpage.Config{Store: store, Log: log})
	t.Cleanup(func() { pages.Close() })
	comps.RequireDeclaredSecrets(RegisterRequestSecret(s, pages, store, mgr, log))
	c, err := client.NewInProcessClient(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	h := &compHarness{
		harness: &harness{c: c, store: store, dir: filepath.Join(data, "secrets"), logs: logs},
		data:    data, s: s, mgr: mgr, comps: comps, policies: policies, changes: make(chan struct{}, 100),
	}
	c.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method == listChanged {
			h.changes <- struct{}{}
		}
	})
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var init mcp.InitializeRequest
	init.Params.ProtocolVersion = mcp.LATEST_LEGACY_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "tools-test", Version: "0"}
	res, err := c.Initialize(ctx, init)
	if err != nil {
		t.Fatal(err)
	}
	if res.Capabilities.Tools == nil || !res.Capabilities.Tools.ListChanged {
		t.Fatalf("tools capability %+v: want listChanged", res.Capabilities.Tools)
	}
	return h
}

// waitChange waits for a list_changed notification.
func (h *compHarness) waitChange(t *testing.T, what string) {
	t.Helper()
	select {
	case <-h.changes:
	case <-time.After(30 * time.Second): // a hang guard, not a timing assertion
		t.Fatalf("no %s notification after %s", listChanged, what)
	}
}

// drainChanges forgets the notifications received so far.
func (h *compHarness) drainChanges() {
	for {
		select {
		case <-h.changes:
		default:
			return
		}
	}
}

// toolNames returns the names tools/list shows.
func (h *compHarness) toolNames(t *testing.T) []string {
	t.Helper()
	res, err := h.c.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	return names
}

func (h *compHarness) load(t *testing.T, name string, extra map[string]any) LoadComponentOutput {
	t.Helper()
	args := map[string]any{"path": exampleWasm(t, name)}
	for k, v := range extra {
		args[k] = v
	}
	var out LoadComponentOutput
	structured(t, h.call(t, LoadComponentTool, args), &out)
	return out
}

// approve approves the module loaded under id, as a person does with
// `wassette component approve`.
func (h *compHarness) approve(t *testing.T, id string) {
	t.Helper()
	if _, err := h.mgr.Approve(id, ""); err != nil {
		t.Fatal(err)
	}
}

// setSecrets stores secrets for id, as the CLI would.
func (h *compHarness) setSecrets(t *testing.T, id string, kv ...string) {
	t.Helper()
	m := map[string]secretstore.Value{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = secretstore.NewValue(kv[i+1])
	}
	if err := h.store.Set(id, m); err != nil {
		t.Fatal(err)
	}
}

// builtinTools returns the component and permission tools, as RegisterComponents adds them.
func builtinTools(t *testing.T) []server.ServerTool {
	t.Helper()
	c := newComponents(server.NewMCPServer("test", "0"), nil, nil, nil, nil)
	return append(c.componentTools(), c.policyTools()...)
}

// TestComponentToolSnapshots compares what the model sees of each component and
// permission tool with testdata/component-tools/<name>.json. Run `go test ./tools
// -update` to accept a change.
func TestComponentToolSnapshots(t *testing.T) {
	dir := filepath.Join("testdata", "component-tools")
	want := map[string]bool{}
	for _, st := range builtinTools(t) {
		name := st.Tool.Name
		want[name+".json"] = true
		got, err := json.MarshalIndent(st.Tool, "", "  ")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got = append(got, '\n')
		path := filepath.Join(dir, name+".json")
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
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
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !want[e.Name()] {
			t.Errorf("%s/%s belongs to no tool; delete it", dir, e.Name())
		}
	}
}

// TestComponentToolHints checks that every tool on a full server, built-in or a
// component's, states every hint, and that each has the hints it should.
func TestComponentToolHints(t *testing.T) {
	h := newCompHarness(t)
	h.load(t, "echo", nil)
	registered := h.s.ListTools()
	var names []string
	for name := range registered {
		names = append(names, name)
	}
	slices.Sort(names)
	if want := append(BuiltinToolNames(), "echo", "env"); !slices.Equal(names, slices.Sorted(slices.Values(want))) {
		t.Fatalf("tools %v, want the built-in ones and echo's", names)
	}
	type hint struct{ readOnly, destructive, idempotent, openWorld bool }
	want := map[string]hint{
		LoadComponentTool:                       {false, false, true, true},
		UnloadComponentTool:                     {false, true, false, false},
		ListComponentsTool:                      {true, false, true, false},
		GetPolicyTool:                           {true, false, true, false},
		GrantStoragePermissionTool:              {false, false, true, false},
		GrantNetworkPermissionTool:              {false, false, true, false},
		GrantEnvironmentVariablePermissionTool:  {false, false, true, false},
		RevokeStoragePermissionTool:             {false, true, false, false},
		RevokeNetworkPermissionTool:             {false, true, false, false},
		RevokeEnvironmentVariablePermissionTool: {false, true, false, false},
		ResetPermissionTool:                     {false, true, true, false},
		ListSecretsTool:                         {true, false, true, false},
		SetSecretTool:                           {false, false, true, false},
		DeleteSecretTool:                        {false, true, false, false},
		RequestSecretTool:                       {false, false, false, false},
		"echo":                                  {false, true, false, true}, // components: conservative
		"env":                                   {false, true, false, true},
	}
	for name, st := range registered {
		a := st.Tool.Annotations
		if a.Title == "" || st.Tool.Description == "" {
			t.Errorf("%s: needs a title and a description", name)
		}
		if a.ReadOnlyHint == nil || a.DestructiveHint == nil || a.IdempotentHint == nil || a.OpenWorldHint == nil {
			t.Errorf("%s: a hint is not set: %+v", name, a)
			continue
		}
		got := hint{*a.ReadOnlyHint, *a.DestructiveHint, *a.IdempotentHint, *a.OpenWorldHint}
		if w, ok := want[name]; !ok || got != w {
			t.Errorf("%s: hints %+v, want %+v", name, got, w)
		}
		if name == "echo" || name == "env" {
			if !strings.Contains(a.Title, `"echo"`) {
				t.Errorf("%s: the title %q does not name the component", name, a.Title)
			}
			continue
		}
		if st.Tool.RawOutputSchema == nil {
			t.Errorf("%s: no output schema", name)
		}
		for prop, p := range st.Tool.InputSchema.Properties {
			if m, _ := p.(map[string]any); m["description"] == nil {
				t.Errorf("%s: argument %s has no description", name, prop)
			}
		}
	}
	// A model must not be able to set a policy value: the grant takes no value.
	props := registered[GrantEnvironmentVariablePermissionTool].Tool.InputSchema.Properties
	if _, ok := props["value"]; ok || len(props) != 2 {
		t.Errorf("%s takes %v; want component_id and key only", GrantEnvironmentVariablePermissionTool, props)
	}
}

func TestLoadListCallUnload(t *testing.T) {
	h := newCompHarness(t)
	before := h.toolNames(t)
	if slices.Contains(before, "echo") {
		t.Fatal("echo listed before it was loaded")
	}
	out := h.load(t, "echo", nil)
	if out.ComponentID != "echo" || out.Replaced || !strings.HasPrefix(out.Digest, "sha256:") ||
		!strings.HasPrefix(out.Source, "file://") || len(out.Tools) != 2 || out.Tools[0].Name != "echo" || out.Tools[1].Name != "env" {
		t.Errorf("load: %+v", out)
	}
	h.waitChange(t, "load-component")
	if got := h.toolNames(t); !slices.Contains(got, "echo") || !slices.Contains(got, "env") {
		t.Fatalf("tools/list after load: %v", got)
	}

	// The component's tool, with its declared schema, works through the server.
	res, err := h.c.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range res.Tools {
		if tool.Name == "echo" && (tool.Description != "Returns the call arguments unchanged." || tool.Annotations.Title == "") {
			t.Errorf("echo on the wire: %+v", tool)
		}
	}
	r := h.call(t, "echo", map[string]any{"city": "Paris", "n": 2})
	if r.IsError || text(r) != `{"city":"Paris","n":2}` {
		t.Errorf("echo: %v %s", r.IsError, text(r))
	}
	r = h.call(t, "echo", nil)
	if r.IsError || text(r) != `{}` {
		t.Errorf("echo without arguments: %v %s", r.IsError, text(r))
	}

	var list ListComponentsOutput
	r = h.call(t, ListComponentsTool, map[string]any{})
	structured(t, r, &list)
	if list.Count != 1 || list.Components[0].ComponentID != "echo" || list.Components[0].Digest != out.Digest ||
		len(list.Components[0].Tools) != 2 || list.Components[0].LoadedAt == "" {
		t.Errorf("list-components: %+v", list)
	}
	if !strings.Contains(text(r), "echo: file://") {
		t.Errorf("list-components text: %s", text(r))
	}

	// Loading again under the same ID replaces it: the same tools, no clash. A file://
	// URI with a pin names the same module.
	var again LoadComponentOutput
	structured(t, h.call(t, LoadComponentTool, map[string]any{
		"path": "file://" + filepath.ToSlash(exampleWasm(t, "echo")), "id": "echo", "sha256": out.Digest,
	}), &again)
	if !again.Replaced || again.Digest != out.Digest || !strings.Contains(text(h.call(t, ListComponentsTool, nil)), "1 component loaded") {
		t.Errorf("second load: %+v", again)
	}

	// Unload keeps the secrets by default, and says so.
	h.setSecrets(t, "echo", "A", "1", "B", "2")
	h.drainChanges()
	var un UnloadComponentOutput
	r = h.call(t, UnloadComponentTool, map[string]any{"id": "echo"})
	structured(t, r, &un)
	if un.SecretsKept != 2 || un.SecretsDeleted || !slices.Equal(un.ToolsRemoved, []string{"echo", "env"}) {
		t.Errorf("unload: %+v", un)
	}
	for _, want := range []string{"2 secrets were KEPT", "delete_secrets", "delete-secret"} {
		if !strings.Contains(text(r), want) {
			t.Errorf("unload text lacks %q: %s", want, text(r))
		}
	}
	if s, _ := h.store.Get("echo"); s.Len() != 2 {
		t.Errorf("secrets after unload: %v", s.Keys())
	}
	h.waitChange(t, "unload-component")
	if got := h.toolNames(t); slices.Contains(got, "echo") || slices.Contains(got, "env") {
		t.Errorf("tools/list after unload: %v", got)
	}
	structured(t, h.call(t, ListComponentsTool, nil), &list)
	if list.Count != 0 || list.Components == nil {
		t.Errorf("list-components after unload: %+v", list)
	}

	// With delete_secrets, they go too.
	h.load(t, "echo", nil)
	r = h.call(t, UnloadComponentTool, map[string]any{"id": "echo", "delete_secrets": true})
	structured(t, r, &un)
	if !un.SecretsDeleted || un.SecretsKept != 0 || !strings.Contains(text(r), "2 secrets were deleted") {
		t.Errorf("unload with delete_secrets: %+v %s", un, text(r))
	}
	if s, _ := h.store.Get("echo"); s.Len() != 0 {
		t.Errorf("secrets after unload with delete_secrets: %v", s.Keys())
	}
}

func TestLoadBadInput(t *testing.T) {
	h := newCompHarness(t)
	echo := exampleWasm(t, "echo")
	notWasm := filepath.Join(t.TempDir(), "notes.wasm")
	os.WriteFile(notWasm, []byte("hello"), 0o600)
	for _, tc := range []struct {
		name string
		args any
		want []string
	}{
		{"no arguments", nil, []string{`missing required argument "path"`}},
		{"path a number", map[string]any{"path": 3}, []string{`"path"`, "must be a string"}},
		{"empty path", map[string]any{"path": " "}, []string{`"path"`, "empty"}},
		{"missing file", map[string]any{"path": filepath.Join(t.TempDir(), "nope.wasm")}, []string{"no file at", "Nothing was loaded"}},
		{"not wasm", map[string]any{"path": notWasm}, []string{"Nothing was loaded"}},
		{"bad scheme", map[string]any{"path": "ftp://example.com/x.wasm"}, []string{"ftp", "https://"}},
		{"bad id", map[string]any{"path": echo, "id": "ec\x01ho"}, []string{"invalid component ID", "control character"}},
		{"empty id", map[string]any{"path": echo, "id": ""}, []string{"invalid component ID"}},
		{"bad sha256", map[string]any{"path": echo, "sha256": "abc"}, []string{"sha256"}},
		{"wrong sha256", map[string]any{"path": echo, "sha256": strings.Repeat("0", 64)}, []string{"digest mismatch", "Nothing was loaded"}},
		{"unknown argument", map[string]any{"path": echo, "value": "x"}, []string{`argument "value"`, "path, component_id, id and sha256"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, h.call(t, LoadComponentTool, tc.args), tc.want...)
		})
	}
	if n := len(h.mgr.List()); n != 0 {
		t.Errorf("bad loads left %d components", n)
	}

	// The same module under a second ID declares the same tool names: a clear error,
	// and the first component keeps its tools.
	h.load(t, "echo", nil)
	wantError(t, h.call(t, LoadComponentTool, map[string]any{"path": echo, "id": "echo2"}),
		`"echo"`, `"echo2"`, "both declare tool", "Nothing was loaded")
	if _, ok := h.mgr.Get("echo2"); ok {
		t.Error("echo2 was loaded despite the clash")
	}
	if r := h.call(t, "echo", map[string]any{"x": 1}); r.IsError {
		t.Errorf("echo after the clash: %s", text(r))
	}

	for _, tc := range []struct {
		name string
		args any
		want []string
	}{
		{"no id", nil, []string{`missing required argument "component_id"`}},
		{"id and component_id differ", map[string]any{"component_id": "echo", "id": "other"}, []string{"component_id only"}},
		{"unknown id", map[string]any{"id": "nope"}, []string{`"nope" is not loaded`, "list-components"}},
		{"bad id", map[string]any{"id": strings.Repeat("a", 129)}, []string{"invalid component ID"}},
		{"delete_secrets a string", map[string]any{"id": "echo", "delete_secrets": "yes"}, []string{`"delete_secrets"`, "true or false"}},
	} {
		t.Run("unload/"+tc.name, func(t *testing.T) {
			wantError(t, h.call(t, UnloadComponentTool, tc.args), tc.want...)
		})
	}
	if _, ok := h.mgr.Get("echo"); !ok {
		t.Error("a bad unload removed echo")
	}
	// A component tool's arguments must be an object.
	var req mcp.CallToolRequest
	req.Params.Name = "echo"
	req.Params.Arguments = []any{1, 2}
	r, err := h.c.CallTool(context.Background(), req)
	if err != nil {
		t.Fatalf("protocol error %v", err)
	}
	wantError(t, r, "must be a JSON object")
}

// getPolicy calls get-policy and decodes the view.
func (h *compHarness) getPolicy(t *testing.T, id string) (policyview.View, *mcp.CallToolResult) {
	t.Helper()
	r := h.call(t, GetPolicyTool, map[string]any{"component_id": id})
	var v policyview.View
	structured(t, r, &v)
	return v, r
}

func TestPolicyTools(t *testing.T) {
	h := newCompHarness(t, "REGION=eu-west", "OTHER=x")
	h.load(t, "echo", nil)
	v, _ := h.getPolicy(t, "echo")
	if v.HasPolicy || len(v.Permissions.Network) != 0 || len(v.Environment) != 0 || v.ComponentID != "echo" {
		t.Errorf("empty policy: %+v", v)
	}

	grant := func(tool string, args map[string]any) PermissionOutput {
		t.Helper()
		args["component_id"] = "echo"
		var out PermissionOutput
		structured(t, h.call(t, tool, args), &out)
		return out
	}
	folder := t.TempDir()
	if out := grant(GrantNetworkPermissionTool, map[string]any{"host": "127.0.0.1:8080"}); !out.Granted || !out.Changed ||
		out.Permission != "network" || out.Target != "127.0.0.1:8080" {
		t.Errorf("grant network: %+v", out)
	}
	if out := grant(GrantNetworkPermissionTool, map[string]any{"host": "127.0.0.1:8080"}); out.Changed {
		t.Errorf("second grant changed the policy: %+v", out)
	}
	if out := grant(GrantStoragePermissionTool, map[string]any{"uri": "fs://" + folder, "access": []string{"read"}}); !out.Changed ||
		!slices.Equal(out.Access, []string{"read"}) {
		t.Errorf("grant storage: %+v", out)
	}
	// A plain absolute path names the same folder; adding write merges with read.
	if out := grant(GrantStoragePermissionTool, map[string]any{"uri": folder, "access": []string{"write"}}); !out.Changed ||
		out.Target != "fs://"+filepath.ToSlash(folder) || !slices.Equal(out.Access, []string{"read", "write"}) {
		t.Errorf("grant storage write: %+v", out)
	}
	if out := grant(GrantEnvironmentVariablePermissionTool, map[string]any{"key": "REGION"}); !out.Changed || out.Target != "REGION" {
		t.Errorf("grant env: %+v", out)
	}

	// get-policy returns exactly the view `wassette policy get` prints.
	v, r := h.getPolicy(t, "echo")
	p, has, err := h.policies.Get("echo")
	if err != nil || !has {
		t.Fatal(err, has)
	}
	path, _ := h.policies.Path("echo")
	sec, _ := h.store.Get("echo")
	wantView := policyview.Build("echo", path, true, p, sec, []string{"REGION=eu-west", "OTHER=x"}, h.comps.module("echo"))
	gotJSON, _ := json.Marshal(v)
	wantJSON, _ := json.Marshal(wantView)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("get-policy:\n%s\nwant:\n%s", gotJSON, wantJSON)
	}
	if len(v.Environment) != 1 || v.Environment[0].Key != "REGION" || v.Environment[0].Source != "host" {
		t.Errorf("environment: %+v", v.Environment)
	}
	if !strings.Contains(text(r), "component_id: echo") || !strings.Contains(text(r), "127.0.0.1:8080") {
		t.Errorf("get-policy text:\n%s", text(r))
	}

	// A value the user set in the policy survives a grant by the model, masked in the view.
	const userValue = "user-set-policy-value-0123456789"
	if err := h.policies.Update("echo", func(p *policy.Policy) error {
		v := userValue
		return p.GrantEnvironment("API_KEY", &v)
	}); err != nil {
		t.Fatal(err)
	}
	if out := grant(GrantEnvironmentVariablePermissionTool, map[string]any{"key": "API_KEY"}); out.Changed {
		t.Errorf("grant over a user value: %+v", out)
	}
	p, _, _ = h.policies.Get("echo")
	if i := slices.IndexFunc(p.Permissions.Environment.Allow, func(e policy.EnvironmentAllow) bool { return e.Key == "API_KEY" }); i < 0 ||
		p.Permissions.Environment.Allow[i].Value == nil || *p.Permissions.Environment.Allow[i].Value != userValue {
		t.Error("the grant removed the user's policy value")
	}
	_, r = h.getPolicy(t, "echo")
	if b, _ := json.Marshal(r); bytes.Contains(b, []byte(userValue)) || !bytes.Contains(b, []byte(secretstore.Mask(userValue))) {
		t.Errorf("get-policy shows the policy value unmasked, or not at all: %s", b)
	}

	// Revoke each; a second revoke is an error naming what is not granted.
	for _, tc := range []struct {
		tool, arg, value, item string
	}{
		{RevokeNetworkPermissionTool, "host", "127.0.0.1:8080", "127.0.0.1:8080"},
		{RevokeStoragePermissionTool, "uri", folder, "fs://" + filepath.ToSlash(folder)},
		{RevokeEnvironmentVariablePermissionTool, "key", "REGION", "REGION"},
	} {
		out := grant(tc.tool, map[string]any{tc.arg: tc.value})
		if out.Granted || !out.Changed || out.Target != tc.item {
			t.Errorf("%s: %+v", tc.tool, out)
		}
		wantError(t, h.call(t, tc.tool, map[string]any{"component_id": "echo", tc.arg: tc.value}),
			`"echo" has no`, `"`+tc.item+`"`, "get-policy")
	}
	v, _ = h.getPolicy(t, "echo")
	if len(v.Permissions.Network) != 0 || len(v.Permissions.Storage) != 0 || len(v.Permissions.Environment) != 1 {
		t.Errorf("after revokes: %+v", v.Permissions)
	}

	var reset ResetPermissionOutput
	structured(t, h.call(t, ResetPermissionTool, map[string]any{"component_id": "echo"}), &reset)
	if !reset.HadPolicy || reset.PolicyFile != path {
		t.Errorf("reset: %+v", reset)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the policy file is still there: %v", err)
	}
	r = h.call(t, ResetPermissionTool, map[string]any{"component_id": "echo"})
	structured(t, r, &reset)
	if reset.HadPolicy || !strings.Contains(text(r), "had no policy") {
		t.Errorf("second reset: %+v %s", reset, text(r))
	}
}

func TestPolicyToolsBadInput(t *testing.T) {
	h := newCompHarness(t)
	h.load(t, "echo", nil)
	dir := t.TempDir()
	for _, tc := range []struct {
		tool string
		args map[string]any
		want []string
	}{
		{GetPolicyTool, map[string]any{}, []string{`missing required argument "component_id"`}},
		{GetPolicyTool, map[string]any{"component_id": "nope"}, []string{`"nope" is not loaded`, "list-components"}},
		{GetPolicyTool, map[string]any{"component_id": "a\x00"}, []string{"invalid component ID"}},
		{ResetPermissionTool, map[string]any{"component_id": "nope"}, []string{`"nope" is not loaded`}},
		{GrantNetworkPermissionTool, map[string]any{"component_id": "echo"}, []string{`missing required argument "host"`}},
		{GrantNetworkPermissionTool, map[string]any{"component_id": "echo", "host": "https://api.example.com/v1"}, []string{"not a host name", "not a URL"}},
		{GrantNetworkPermissionTool, map[string]any{"component_id": "echo", "host": "example.com:99999"}, []string{"port"}},
		{GrantNetworkPermissionTool, map[string]any{"component_id": "nope", "host": "example.com"}, []string{`"nope" is not loaded`, "load-component"}},
		{GrantStoragePermissionTool, map[string]any{"component_id": "echo", "uri": "relative/dir", "access": []string{"read"}}, []string{"absolute path"}},
		{GrantStoragePermissionTool, map[string]any{"component_id": "echo", "uri": "http://x/y", "access": []string{"read"}}, []string{"fs://"}},
		{GrantStoragePermissionTool, map[string]any{"component_id": "echo", "uri": dir}, []string{`missing required argument "access"`}},
		{GrantStoragePermissionTool, map[string]any{"component_id": "echo", "uri": dir, "access": []string{"exec"}}, []string{`"exec"`, `"read" and "write"`}},
		{GrantStoragePermissionTool, map[string]any{"component_id": "echo", "uri": dir, "access": []string{}}, []string{"must not be empty"}},
		{GrantStoragePermissionTool, map[string]any{"component_id": "echo", "uri": dir, "access": "read"}, []string{"must be an array"}},
		{GrantStoragePermissionTool, map[string]any{"component_id": "nope", "uri": dir, "access": []string{"read"}}, []string{`"nope" is not loaded`}},
		{GrantEnvironmentVariablePermissionTool, map[string]any{"component_id": "echo", "key": "A B"}, []string{"invalid secret key", "whitespace"}},
		{GrantEnvironmentVariablePermissionTool, map[string]any{"component_id": "echo", "key": "API_KEY", "value": "x"}, []string{`argument "value"`}},
		{GrantEnvironmentVariablePermissionTool, map[string]any{"component_id": "nope", "key": "K"}, []string{`"nope" is not loaded`}},
		{RevokeNetworkPermissionTool, map[string]any{"component_id": "echo", "host": "api.example.com"}, []string{`no network permission for "api.example.com"`}},
		{RevokeNetworkPermissionTool, map[string]any{"component_id": "echo", "host": "not a host"}, []string{"not a host name"}},
		{RevokeStoragePermissionTool, map[string]any{"component_id": "echo", "uri": dir}, []string{"no storage permission for", dir}},
		{RevokeEnvironmentVariablePermissionTool, map[string]any{"component_id": "echo", "key": "HOME"}, []string{`no environment-variable permission for "HOME"`}},
		{RevokeEnvironmentVariablePermissionTool, map[string]any{"component_id": "nope", "key": "HOME"}, []string{`"nope" is not loaded`}},
	} {
		t.Run(tc.tool, func(t *testing.T) {
			wantError(t, h.call(t, tc.tool, tc.args), tc.want...)
		})
	}
	if _, err := os.Stat(filepath.Join(h.data, "components", "echo.policy.yaml")); !os.IsNotExist(err) {
		t.Errorf("bad input wrote a policy (stat: %v)", err)
	}
	if _, has, _ := h.policies.Get("nope"); has {
		t.Error("bad input wrote a policy for an unknown component")
	}
}

// envOf calls echo's env tool and returns the component's environment.
func (h *compHarness) envOf(t *testing.T) []string {
	t.Helper()
	r := h.call(t, "env", map[string]any{})
	if r.IsError {
		t.Fatalf("env: %s", text(r))
	}
	var out struct{ Env []string }
	if err := json.Unmarshal([]byte(text(r)), &out); err != nil {
		t.Fatalf("env output %s: %v", text(r), err)
	}
	slices.Sort(out.Env)
	return out.Env
}

// TestComponentEnvironment checks what a component sees: its secrets (redacted in what
// the model gets back), and a host variable only once it is granted.
func TestComponentEnvironment(t *testing.T) {
	const secret = "component-secret-0123456789"
	h := newCompHarness(t, "REGION=eu-west", "HOME=/root")
	if out := h.load(t, "echo", nil); out.Approved {
		t.Errorf("a module the model loaded is approved: %+v", out)
	}
	if env := h.envOf(t); len(env) != 0 {
		t.Errorf("a component with nothing granted sees %v", env)
	}
	// The model loaded it: the secret is withheld, and the result says so after the
	// output, with what the user must run.
	h.setSecrets(t, "echo", "TOKEN", secret)
	r := h.call(t, "env", map[string]any{})
	if r.IsError || len(r.Content) != 2 || !strings.Contains(text(r), "ran WITHOUT its secrets and policy values (TOKEN)") ||
		!strings.Contains(text(r), "wassette component approve echo") {
		t.Errorf("call of an unapproved module: %+v", r.Content)
	}
	if first := r.Content[0].(mcp.TextContent).Text; first != `{"argv":["component","env"],"env":[]}` {
		t.Errorf("unapproved module's output: %s", first)
	}
	h.approve(t, "echo")
	if env := h.envOf(t); !slices.Equal(env, []string{"TOKEN=" + secretstore.Redacted}) {
		t.Errorf("env with a secret: %v", env)
	}
	h.call(t, GrantEnvironmentVariablePermissionTool, map[string]any{"component_id": "echo", "key": "REGION"})
	if env := h.envOf(t); !slices.Equal(env, []string{"REGION=eu-west", "TOKEN=" + secretstore.Redacted}) {
		t.Errorf("env after the grant: %v", env)
	}
	h.call(t, RevokeEnvironmentVariablePermissionTool, map[string]any{"component_id": "echo", "key": "REGION"})
	if env := h.envOf(t); slices.ContainsFunc(env, func(s string) bool { return strings.HasPrefix(s, "REGION=") }) {
		t.Errorf("env after the revoke: %v", env)
	}
	if strings.Contains(h.logs.String(), secret) {
		t.Error("the secret reached the log")
	}
}

// TestComponentNetwork calls the weather component against a local stand-in for its
// API: a refused host is a tool error that names it; once granted, the API gets the key.
func TestComponentNetwork(t *testing.T) {
	const key = "weather-api-key-0123456789"
	var mu sync.Mutex
	var gotKeys []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotKeys = append(gotKeys, r.URL.Query().Get("appid"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"city":"` + r.URL.Query().Get("q") + `","temp":21}`))
	}))
	defer api.Close()
	host := strings.TrimPrefix(api.URL, "http://")

	h := newCompHarness(t)
	h.load(t, "weather", nil)
	h.approve(t, "weather")
	r := h.call(t, "get_weather", map[string]any{"city": "Paris"})
	wantError(t, r, "API_KEY")
	h.setSecrets(t, "weather", "API_KEY", key, "ENDPOINT_URL", api.URL)
	r = h.call(t, "get_weather", map[string]any{"city": "Paris"})
	wantError(t, r, host, "not granted", "wassette permission grant network weather "+host,
		`call grant-network-permission with component_id "weather" and host "`+host+`"`)
	wantError(t, h.call(t, "get_weather", map[string]any{}), `"city"`)

	h.call(t, GrantNetworkPermissionTool, map[string]any{"component_id": "weather", "host": host})
	r = h.call(t, "get_weather", map[string]any{"city": "Paris"})
	if r.IsError || text(r) != `{"city":"Paris","temp":21}` {
		t.Fatalf("get_weather: %v %s", r.IsError, text(r))
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(gotKeys, []string{key}) {
		t.Errorf("the API got keys %q", gotKeys)
	}
	for _, s := range []string{h.logs.String()} {
		if strings.Contains(s, key) {
			t.Error("the key reached the log")
		}
	}
	if !strings.Contains(h.logs.String(), `msg="tool call" tool=get_weather component_id=weather`) {
		t.Errorf("no log line for the component call:\n%s", h.logs.String())
	}
}

// TestSyncPicksUpOtherProcess loads and unloads a component through a second Manager
// on the same folder, as the CLI does from another process: Sync adds and removes its
// tools, and clients hear of it.
func TestSyncPicksUpOtherProcess(t *testing.T) {
	h := newCompHarness(t)
	secrets, _ := secretstore.Open(filepath.Join(h.data, "secrets"))
	policies, _ := policy.Open(filepath.Join(h.data, "components"))
	cli, err := component.Open(context.Background(), component.Config{
		Dir: filepath.Join(h.data, "components"), CacheDir: compileCache,
		Secrets: secrets, Policies: policies, Environ: []string{},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close(context.Background())
	if _, err := cli.Load(context.Background(), exampleWasm(t, "echo"), component.LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	if changed, err := h.comps.Sync(); err != nil || !changed {
		t.Fatalf("Sync: %v %v", changed, err)
	}
	h.waitChange(t, "a load by another process")
	if got := h.toolNames(t); !slices.Contains(got, "echo") {
		t.Fatalf("tools/list: %v", got)
	}
	if r := h.call(t, "echo", map[string]any{"a": true}); r.IsError || text(r) != `{"a":true}` {
		t.Errorf("echo: %s", text(r))
	}
	if changed, _ := h.comps.Sync(); changed {
		t.Error("a second Sync reported a change")
	}
	if _, err := cli.Unload(context.Background(), "echo", false); err != nil {
		t.Fatal(err)
	}
	h.drainChanges()
	// list-components syncs by itself.
	var list ListComponentsOutput
	structured(t, h.call(t, ListComponentsTool, nil), &list)
	if list.Count != 0 {
		t.Errorf("list-components: %+v", list)
	}
	h.waitChange(t, "an unload by another process")
	if got := h.toolNames(t); slices.Contains(got, "echo") {
		t.Errorf("tools/list after the unload: %v", got)
	}

	// Watch does the same on its own.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.comps.Watch(ctx, 10*time.Millisecond, nil)
	}()
	if _, err := cli.Load(context.Background(), exampleWasm(t, "echo"), component.LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	h.waitChange(t, "a load seen by Watch")
	cancel()
	<-done
	if got := h.toolNames(t); !slices.Contains(got, "echo") {
		t.Errorf("tools/list after Watch: %v", got)
	}
}

// TestComponentCallsAreLogged checks the one info line per built-in call, with the
// names that matter and never a path or value.
func TestComponentCallsAreLogged(t *testing.T) {
	h := newCompHarness(t)
	h.load(t, "echo", nil)
	h.call(t, GrantNetworkPermissionTool, map[string]any{"component_id": "echo", "host": "api.example.com"})
	h.call(t, UnloadComponentTool, map[string]any{"id": "nope"})
	logs := h.logs.String()
	for _, want := range []string{
		`msg="tool call" tool=load-component duration=`,
		`msg="tool call" tool=grant-network-permission component_id=echo host=api.example.com`,
		`msg="tool call" tool=unload-component id=nope`, `outcome=error`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, exampleWasm(t, "echo")) && strings.Contains(logs, `tool=load-component path=`) {
		t.Errorf("the load path was logged as an argument:\n%s", logs)
	}
}

// TestComponentToolNeverReplacesAnother checks that a component tool whose name another
// tool on the server already has is not offered, rather than replacing that tool.
func TestComponentToolNeverReplacesAnother(t *testing.T) {
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	mgr, store, policies := openManager(t, t.TempDir(), log, nil)
	s := server.NewMCPServer("test", "0", server.WithToolCapabilities(true))
	mine := mcp.NewTool("echo", mcp.WithDescription("the server's own echo"))
	s.AddTool(mine, func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText("mine"), nil
	})
	comps := RegisterComponents(s, mgr, policies, store, log)
	if _, err := mgr.Load(context.Background(), exampleWasm(t, "echo"), component.LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	comps.Refresh()
	if got := s.GetTool("echo"); got == nil || got.Tool.Description != "the server's own echo" {
		t.Errorf("the server's echo was replaced: %+v", got)
	}
	if s.GetTool("env") == nil {
		t.Error("the component's other tool is missing")
	}
	if !strings.Contains(logs.String(), "component tool not offered") {
		t.Errorf("no warning:\n%s", logs.String())
	}
}
