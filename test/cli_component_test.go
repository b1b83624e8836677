package test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestComponentCLI drives the component and tool commands as a person would: load,
// list, invoke with a secret and a network grant, and unload with the secrets question.
func TestComponentCLI(t *testing.T) {
	e := newEnv(t)
	api := newFakeWeatherAPI(t)
	host := strings.TrimPrefix(api.URL, "http://")
	const key = "sk-cli-weather-key-0123456789"

	out, _ := must(t, e, 0, "", "component", "load", exampleWasm(t, "weather"))
	if !strings.HasPrefix(out, "Component 'weather' loaded from file://") || !strings.Contains(out, "1 tool(s): get_weather") {
		t.Errorf("load printed %q", out)
	}
	out, _ = must(t, e, 0, "", "component", "list", "-o", "json")
	var list struct {
		Components []struct {
			ID     string `json:"component_id"`
			Digest string `json:"digest"`
			Tools  []struct{ Name string }
		} `json:"components"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Components) != 1 ||
		list.Components[0].ID != "weather" || !strings.HasPrefix(list.Components[0].Digest, "sha256:") {
		t.Fatalf("component list -o json: %v\n%s", err, out)
	}
	out, _ = must(t, e, 0, "", "tool", "list")
	if !strings.Contains(out, "get_weather  weather") {
		t.Errorf("tool list:\n%s", out)
	}

	// Without its secrets, the tool reports what is missing: exit 1, message on stderr.
	_, stderr := must(t, e, 1, "", "tool", "invoke", "get_weather", "--args", `{"city":"Paris"}`)
	if !strings.Contains(stderr, "API_KEY not configured") {
		t.Errorf("missing key: %q", stderr)
	}
	must(t, e, 0, key+"\n", "secret", "set", "weather", "API_KEY", "-")
	must(t, e, 0, "", "secret", "set", "weather", "ENDPOINT_URL", api.URL)
	// Without a network grant the host is refused, naming the command that grants it.
	_, stderr = must(t, e, 1, "", "tool", "invoke", "get_weather", "--args", `{"city":"Paris"}`)
	if !strings.Contains(stderr, "wassette permission grant network weather") {
		t.Errorf("refused host: %q", stderr)
	}
	must(t, e, 0, "", "permission", "grant", "network", "weather", host)
	out, stderr = must(t, e, 0, `{"city":"Paris"}`, "tool", "invoke", "get_weather", "--args", "-")
	if got, n := api.lastKey(); got != key || n != 1 {
		t.Errorf("the weather API received key %q (%d requests), want the secret", got, n)
	}
	// The fake API echoes the key back: what is printed has it redacted.
	if !strings.Contains(out, `"city":"Paris"`) || !strings.Contains(out, "[REDACTED]") {
		t.Errorf("invoke printed %q", out)
	}
	assertNoCanary(t, "tool invoke stdout", []byte(out), key)
	assertNoCanary(t, "tool invoke stderr", []byte(stderr), key)

	for _, args := range [][]string{
		{"tool", "invoke", "get_weather", "--args", "[1]"},
		{"tool", "invoke", "get_weather", "--memory-limit", "lots"},
		{"component", "load", "x.wasm", "--id", "bad\tid"},
		{"component", "unload", "weather", "--keep-secrets", "--delete-secrets"},
	} {
		if _, stderr, code := e.Run(t, "", args...); code != 2 {
			t.Errorf("wassette %q: exit %d, want 2\n%s", args, code, stderr)
		}
	}
	if _, stderr, code := e.Run(t, "", "tool", "invoke", "no_such_tool"); code != 1 || !strings.Contains(stderr, "wassette tool list") {
		t.Errorf("unknown tool: exit %d, %q", code, stderr)
	}

	// Unload asks about the secrets; no answer keeps them, and it says so.
	out, stderr = must(t, e, 0, "", "component", "unload", "weather")
	if !strings.Contains(stderr, `Component "weather" has 2 secret(s). Delete them too? [y/N]`) ||
		!strings.Contains(out, "Its 2 secret(s) were kept") {
		t.Errorf("unload: stdout %q, stderr %q", out, stderr)
	}
	if out, _ := must(t, e, 0, "", "secret", "list", "weather"); strings.Count(out, "\n") != 2 {
		t.Errorf("secrets after unload:\n%s", out)
	}
	if out, _ := must(t, e, 0, "", "policy", "get", "weather", "-o", "json"); !strings.Contains(out, `"has_policy": false`) {
		t.Errorf("unload left the policy:\n%s", out)
	}
	// Loading again and answering yes deletes them.
	must(t, e, 0, "", "component", "load", exampleWasm(t, "weather"))
	out, _ = must(t, e, 0, "y\n", "component", "unload", "weather")
	if !strings.Contains(out, "Its secrets were deleted") {
		t.Errorf("unload with yes: %q", out)
	}
	if out, _ := must(t, e, 0, "", "secret", "list"); out != "" {
		t.Errorf("secrets left after deleting them:\n%s", out)
	}
	if out, _ := must(t, e, 0, "", "component", "list"); out != "" {
		t.Errorf("components left:\n%s", out)
	}
	if _, stderr, code := e.Run(t, "", "component", "unload", "weather"); code != 1 || !strings.Contains(stderr, "not loaded") {
		t.Errorf("unloading twice: exit %d, %q", code, stderr)
	}
}
