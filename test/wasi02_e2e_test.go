package test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/wassette/wassette/internal/cmtest"
)

// corpusWasm returns the path of a component of the WASI 0.2 test corpus.
func corpusWasm(t testing.TB, name string) string { return cmtest.Path(t, name) }

// TestWASI02Component drives a WASI 0.2 component through the CLI and an MCP client,
// as a person and an agent would: load, give it a secret, invoke its tool from the
// CLI, list and call it over stdio (output schema, structured result, a bad argument),
// and unload it.
func TestWASI02Component(t *testing.T) {
	e := newEnv(t)
	out, _ := must(t, e, 0, "", "component", "load", corpusWasm(t, "js-env"))
	if !strings.HasPrefix(out, "Component 'js-env' loaded from file://") || !strings.Contains(out, "4 tool(s)") {
		t.Errorf("load printed %q", out)
	}
	cliSet(t, e, "js-env", "REGION", "eu-1")
	out, _ = must(t, e, 0, "", "tool", "invoke", "get-config", "--args", `{"key":"REGION"}`)
	if strings.TrimSpace(out) != "eu-1" {
		t.Errorf("tool invoke get-config printed %q", out)
	}
	_, stderr := must(t, e, 1, "", "tool", "invoke", "get-env", "--args", `{"key":7}`)
	if !strings.Contains(stderr, "key: expected a string") {
		t.Errorf("a bad argument: %q", stderr)
	}

	p := startServe(t, e, "serve", "--stdio")
	c := p.stdioClient(t)
	tools, err := c.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
		if tool.Name == "get-env" {
			schema, _ := json.Marshal(tool)
			if !strings.Contains(string(schema), `"outputSchema":{"properties":{"result":{"anyOf":[{"type":"null"},{"type":"string"}]}}`) {
				t.Errorf("get-env as listed: %s", schema)
			}
		}
	}
	for _, want := range []string{"get-env", "get-config", "list-env", "list-config"} {
		if !slices.Contains(names, want) {
			t.Errorf("tools/list lacks %s: %v", want, names)
		}
	}
	res := mustOK(t, c, "get-env", map[string]any{"key": "REGION"})
	if resultText(res) != "eu-1" {
		t.Errorf("get-env text %q", resultText(res))
	}
	if sc, _ := json.Marshal(res.StructuredContent); string(sc) != `{"result":"eu-1"}` {
		t.Errorf("get-env structured content %s", sc)
	}
	res = call(t, c, "get-config", map[string]any{"key": []any{"x"}})
	if !res.IsError || !strings.Contains(resultText(res), "key: expected a string") {
		t.Errorf("bad argument over MCP: %v %s", res.IsError, resultText(res))
	}
	p.stop(t)

	out, _ = must(t, e, 0, "", "component", "unload", "js-env", "--delete-secrets")
	if !strings.Contains(out, "js-env") {
		t.Errorf("unload printed %q", out)
	}
	out, _ = must(t, e, 0, "", "tool", "list")
	if strings.Contains(out, "get-env") {
		t.Errorf("tool list after unload:\n%s", out)
	}
}
